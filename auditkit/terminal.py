"""The terminal summary: one table per encoder, then the card path."""

from __future__ import annotations

from pathlib import Path

from auditkit.layout import ReportLayout
from auditkit.profiles import profile_note
from auditkit.results import AuditResult
from auditkit.session import AuditSession


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def baseline_notes(session: AuditSession) -> list[str]:
    """What the terminal should say about the baseline of each encoder."""
    run = session.run
    if run.base is not None:
        return [f"{spec} compared with the base {run.base.spec} measured in this run "
                f"(tolerance {run.base.tolerance:g})"
                for spec in run.all_specs if not run.is_reference(spec)]
    baseline = run.baseline
    if baseline is None:
        return []
    notes = []
    for spec in run.all_specs:
        path = baseline.path_for(spec, run.is_reference(spec))
        if path is None:
            continue
        if baseline.results_for(spec, run.is_reference(spec)) is None:
            verb = "wrote it now" if run.update_baseline else (
                "cases were judged against their thresholds only; "
                "--audit-update-baseline writes one")
            notes.append(f"no baseline yet for {spec} at {path}: {verb}")
        else:
            notes.append(f"{spec} compared with the baseline {path} "
                         f"(tolerance {baseline.tolerance:g})")
            mismatches = _mismatches(session.results.get(spec, []))
            if mismatches:
                notes.append(f"WARNING: {spec}'s baseline was not made like this run, "
                             f"compared anyway: {'; '.join(mismatches)}")
    return notes


def _mismatches(results: list[AuditResult]) -> list[str]:
    """The baseline differences the compared cases recorded, each once."""
    found = [m for r in results for m in (r.details.get("baseline") or {}).get("mismatches", [])]
    return list(dict.fromkeys(found))


def summary_lines(session: AuditSession, cards: dict[str, Path]) -> list[str]:
    """The auditkit section of the terminal summary."""
    lines = baseline_notes(session)
    profile_line = profile_note(session.run)
    if profile_line:
        lines.insert(0, profile_line)
    errors: dict[str, set[str]] = {}
    for spec, results in session.results.items():
        role = " (reference)" if session.is_reference(spec) else ""
        lines.append(f"encoder {spec}{role}")
        # Columns as wide as this encoder's longest names, so rows line up.
        aw = max((len(r.audit) for r in results), default=16)
        cw = max((len(r.case) for r in results), default=20)
        for r in results:
            ci = f"[{_num(r.ci[0])}, {_num(r.ci[1])}]" if r.ci else ""
            sign = "<=" if r.direction == "max" else ">="
            thr = f"{sign} {r.threshold:g}" if r.threshold is not None else ""
            lines.append(
                f"  {r.audit:<{aw}} {r.case:<{cw}} {r.metric:<9} {_num(r.value):>7} {ci:<17} "
                f"{thr:<8} {r.verdict.replace('_', ' ').upper()}"
            )
            base = r.details.get("baseline")
            if base:
                change = "" if base.get("change") is None else f" ({base['change']:+.3f})"
                lines.append(f"  {'':<{aw}} vs baseline {_num(base.get('base_value'))}{change}: "
                             f"{base['outcome'].upper()} — {base['reason']}")
            if r.verdict == "error":
                errors.setdefault(spec, set()).add(str(r.details.get("reason", "")))
        if spec in cards:
            lines.append(f"  card: {cards[spec]}")
    if cards:
        lines.append(f"index: {ReportLayout(session.run.report_dir).index}")
    # Errors last, once each: they are what the reader must act on.
    for spec, messages in errors.items():
        for message in sorted(messages):
            lines.append(f"error ({spec}): " + message)
    return lines
