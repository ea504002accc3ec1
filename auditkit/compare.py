"""Baseline comparison: did a candidate (a fine-tuned checkpoint) leak more than its base?

A case regresses when its metric moved the wrong way by more than a
tolerance, judged with the intervals so that a difference inside the noise
is not a regression.

Base and candidate are usually measured on the same images with the same
seed. Every audit then resamples the same groups in each bootstrap
replicate, and stores its replicates with the id of that resampling
(``details["replicates"]``, :func:`auditkit.stats.resampling_id`). When both
sides carry replicates of one draw, the change's interval is **paired**: the
``1 - ALPHA`` percentile interval of the replicate-by-replicate difference.
The two sides' errors on shared images are positively correlated and cancel
in the difference, so this interval is narrower than treating them as
independent, and it is the right one. Otherwise (results stored before
replicates were kept, or runs that resampled different groups, seeds or
sizes) the comparison falls back to combining the two cases' intervals as
independent normal errors (half-width / 1.96 each), and says why. The
independent interval is recorded beside a paired one for comparison.

For a ``max`` case (leakage, delta: lower is better) the change is
``candidate - base``; for a ``min`` case (a capability) it is
``base - candidate``. Then, like a ``max`` threshold on the change:

* ``regression``  the whole interval of the change lies above the tolerance;
* ``ok``          the whole interval lies at or below it;
* ``inconclusive`` otherwise;
* ``new`` / ``missing``: the case exists on one side only; ``error`` when
  either side could not be measured;
* ``not_applicable``: either side's probe set lacked the audit's input (no
  camera labels, too few query groups). That says nothing about the model,
  so it is not an error; like ``inconclusive`` it fails only a strict gate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from auditkit.results import AuditResult
from auditkit.stats import ALPHA, replicates_of

DEFAULT_TOLERANCE = 0.05

#: Comparison outcomes, from best to worst.
OUTCOMES = ("ok", "new", "missing", "not_applicable", "inconclusive", "regression", "error")

_Z = 1.959963984540054


@dataclass
class Comparison:
    """One case compared with its baseline."""

    audit: str
    case: str
    metric: str
    direction: str
    outcome: str
    reason: str
    base_value: float | None = None
    base_ci: tuple[float, float] | None = None
    base_verdict: str | None = None
    value: float | None = None
    ci: tuple[float, float] | None = None
    verdict: str | None = None
    change: float | None = None
    change_ci: tuple[float, float] | None = None
    tolerance: float = DEFAULT_TOLERANCE
    #: How ``change_ci`` was made: ``paired`` (replicate by replicate) or ``independent``;
    #: None when no change was computed.
    pairing: str | None = None
    #: Why the comparison could not pair, when ``pairing`` is ``independent``.
    pairing_reason: str = ""
    #: The independent interval of the change, kept beside a paired one to show both widths.
    independent_ci: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("base_ci", "ci", "change_ci", "independent_ci"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data


def _key(r: AuditResult) -> tuple[str, str]:
    return r.audit, r.case


def _half_se(ci: tuple[float, float]) -> float:
    return (ci[1] - ci[0]) / (2 * _Z)


def compare_case(base: AuditResult | None, cand: AuditResult | None,
                 tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Compare one case of a candidate with the same case of its baseline.

    Examples
    --------
    >>> c = compare_case(base_result, candidate_result, tolerance=0.05)  # doctest: +SKIP
    >>> c.outcome, c.change, c.change_ci                                 # doctest: +SKIP
    ('regression', 0.21, (0.12, 0.30))
    """
    ref = cand or base
    assert ref is not None, "compare_case needs at least one side"
    out = Comparison(audit=ref.audit, case=ref.case, metric=ref.metric, direction=ref.direction,
                     outcome="ok", reason="", tolerance=tolerance)
    if base is not None:
        out.base_value, out.base_ci, out.base_verdict = base.value, base.ci, base.verdict
    if cand is not None:
        out.value, out.ci, out.verdict = cand.value, cand.ci, cand.verdict
    if base is None:
        out.outcome, out.reason = "new", "the baseline has no such case"
        return out
    if cand is None:
        out.outcome, out.reason = "missing", "the candidate did not run this case"
        return out
    lacking = [(side, r) for side, r in (("baseline", base), ("candidate", cand))
               if r.verdict == "not_applicable"]
    if lacking and "error" not in (base.verdict, cand.verdict):
        sides = " and ".join(name for name, _ in lacking)
        why = (lacking[0][1].details or {}).get("reason") or "the probe set lacks the audit's input"
        out.outcome, out.reason = "not_applicable", f"not applicable on the {sides}: {why}"
        return out
    # Spelt out as ``is None`` tests so the type checker narrows what follows.
    if ("error" in (base.verdict, cand.verdict) or base.value is None or cand.value is None
            or base.ci is None or cand.ci is None):
        side = "baseline" if base.verdict == "error" or base.value is None else "candidate"
        out.outcome, out.reason = "error", f"the {side} could not be measured"
        return out
    if base.metric != cand.metric:
        out.outcome = "error"
        out.reason = f"metrics differ: baseline {base.metric!r}, candidate {cand.metric!r}"
        return out
    if base.value == cand.value and tuple(base.ci) == tuple(cand.ci):
        # The same measurement twice (same embeddings, same splits): no noise to allow for.
        out.change, out.change_ci = 0.0, (0.0, 0.0)
        out.outcome, out.reason = "ok", "identical to the baseline"
        return out
    sign = 1.0 if cand.direction == "max" else -1.0
    change = sign * (cand.value - base.value)
    half = _Z * math.hypot(_half_se(base.ci), _half_se(cand.ci))
    out.independent_ci = (change - half, change + half)
    paired, why = _paired_replicates(base, cand)
    if paired is None:
        out.pairing, out.pairing_reason = "independent", why
        lo, hi = out.independent_ci
    else:
        out.pairing = "paired"
        lo, hi = (float(q) for q in np.quantile(sign * paired, [ALPHA / 2, 1 - ALPHA / 2]))
    out.change, out.change_ci = change, (lo, hi)
    worse = "rose" if cand.direction == "max" else "fell"
    span = f"{cand.metric} {worse} by {change:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    if lo > tolerance:
        out.outcome, out.reason = "regression", f"{span}: beyond the tolerance {tolerance:g}"
    elif hi <= tolerance:
        out.outcome, out.reason = "ok", f"{span}: within the tolerance {tolerance:g}"
    else:
        out.outcome = "inconclusive"
        out.reason = f"{span}: the interval straddles the tolerance {tolerance:g}"
    return out


def _paired_replicates(base: AuditResult, cand: AuditResult) -> tuple[np.ndarray | None, str]:
    """``candidate - base`` replicate by replicate, or None and why they do not pair."""
    stored = [(r.details or {}).get("replicates") for r in (base, cand)]
    sides = [replicates_of(s, base.metric) for s in stored]
    if sides[0] is None or sides[1] is None:
        missing = " and ".join(n for n, s in zip(("baseline", "candidate"), sides, strict=True)
                               if s is None)
        return None, (f"no bootstrap replicates stored in the {missing} (results from an older "
                      "auditkit, or an audit that keeps none)")
    draws = [s.get("draw") if isinstance(s, Mapping) else None for s in stored]
    if draws[0] != draws[1] or len(sides[0]) != len(sides[1]):
        return None, ("the runs resampled different groups, seeds or bootstrap sizes "
                      f"(draws {draws[0]!r} and {draws[1]!r})")
    return sides[1] - sides[0], ""


def compare_results(base: Iterable[AuditResult], candidate: Iterable[AuditResult],
                    tolerance: float = DEFAULT_TOLERANCE) -> list[Comparison]:
    """Every case of either side, matched by (audit, case), candidate order first."""
    base_by = {_key(r): r for r in base}
    cand_by = {_key(r): r for r in candidate}
    keys = list(dict.fromkeys([*cand_by, *base_by]))
    return [compare_case(base_by.get(k), cand_by.get(k), tolerance) for k in keys]


def results_of(doc: Mapping[str, Any]) -> list[AuditResult]:
    return [AuditResult.from_json(a) for a in doc["audits"]]


#: Comparison outcomes that fail a gate; ``inconclusive`` and ``not_applicable`` join
#: them under ``strict``.
GATE_FAILS = ("regression", "error", "missing")
STRICT_FAILS = ("inconclusive", "not_applicable")


def gate_failures(comparisons: Iterable[Comparison], strict: bool = False) -> list[str]:
    """Why a gate must fail, one message per case; empty when it may pass.

    A regression fails, and so do a case that could not be measured (it
    could hide one) and a case the candidate did not run (a gate that drops a
    case must not pass it unseen). An inconclusive comparison, or one the
    probe set could not carry (``not_applicable``), fails only when
    ``strict``: "could not tell" is then not good enough.

    Examples
    --------
    >>> gate_failures([missing_case])                    # doctest: +SKIP
    ['camera_model max_leakage=0.1: missing (the candidate did not run this case)']
    """
    failing = (*GATE_FAILS, *STRICT_FAILS) if strict else GATE_FAILS
    return [f"{c.audit} {c.case}: {c.outcome} ({c.reason})"
            for c in comparisons if c.outcome in failing]


def comparison_lines(comparisons: list[Comparison]) -> list[str]:
    """A plain-text table of comparisons for terminals and CI logs.

    The ``pairing`` column says how each change's interval was made; a
    closing line gives each reason an interval could not be paired.
    """

    def num(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"

    lines = [f"{'audit':<26} {'case':<18} {'base':>7} {'candidate':>9} {'change':>8} "
             f"{'interval':<17} {'pairing':<11} outcome"]
    for c in comparisons:
        ci = f"[{c.change_ci[0]:+.3f}, {c.change_ci[1]:+.3f}]" if c.change_ci else ""
        change = "–" if c.change is None else f"{c.change:+.3f}"
        lines.append(f"{c.audit:<26} {c.case:<18} {num(c.base_value):>7} {num(c.value):>9} "
                     f"{change:>8} {ci:<17} {c.pairing or '':<11} {c.outcome.upper()}")
    counts = {o: sum(c.outcome == o for c in comparisons) for o in OUTCOMES}
    lines.append(", ".join(f"{n} {o}" for o, n in counts.items() if n))
    # Why some intervals could not pair, once per reason: they are wider than they need be.
    for why in dict.fromkeys(c.pairing_reason for c in comparisons if c.pairing_reason):
        lines.append(f"independent intervals: {why}")
    return lines
