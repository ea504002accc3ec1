"""A session's reports: the ``results.json`` document of each encoder, its card and the index.

What a document says about its run (provenance, the encoder entry, the
reference rows) is read from the session's typed stores, never built here:
a warm run whose measurements were all read back builds no extractor, and
its provenance says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from auditkit.baseline import architecture, comparable
from auditkit.encoders.spec import EncoderSpec, parse_spec
from auditkit.errors import AuditkitError
from auditkit.layout import ReportLayout
from auditkit.numerics import pixel_libraries
from auditkit.provenance import git_commit, interpreter, package_versions, utc_timestamp
from auditkit.results import AuditResult, build_document, write_json_atomic
from auditkit.session import AuditSession

log = logging.getLogger("auditkit")


def provenance(session: AuditSession, spec: str) -> dict[str, Any]:
    """What ``spec``'s results were produced with, from what the session built."""
    run = session.run
    data: dict[str, Any] = {"source": run.data or "builtin"}
    digest = None
    try:
        ps = session.probe_set()
        digest = ps.digest
        data.update(
            name=ps.name, hash=ps.digest, n_images=len(ps), classes=ps.class_counts(),
            skipped=ps.skipped_counts(),
            skipped_files=[{"path": s.path, "reason": s.reason} for s in ps.skipped[:200]],
        )
    except Exception as exc:  # the error is already a case result
        data["error"] = str(exc)
    extract: dict[str, Any] = {"requested": 0, "memory_hits": 0, "disk_hits": 0,
                               "computed": 0, "failed": []}
    extractor = session.built_extractor(spec)
    if extractor is not None:
        stats = extractor.stats
        extract = {
            "requested": stats.requested, "memory_hits": stats.memory_hits,
            "disk_hits": stats.disk_hits, "computed": stats.computed,
            "failed": [{"image": i, "reason": r} for i, r in stats.failed[:200]],
        }
    encoder = session.built_encoder(spec)
    return {
        "versions": package_versions(),
        # Pillow, its libjpeg and OpenCV make the variants: the style and camera
        # figures move with them (README, *Measured here*).
        "pixel_libraries": pixel_libraries(),
        **interpreter(),
        "git_commit": git_commit(run.root),
        "seed": run.seed,
        "profile": run.profile,
        # What a later run must share to be compared with this one as its baseline.
        "comparable": comparable(run, digest),
        "split_seed": run.split_seed,
        "data": data,
        "device": session.device,
        "precision": (encoder.precision if encoder is not None else None) or "float32",
        "extraction": extract,
        "measurements_reused": sorted(session.reused.get(spec, [])),
        "thresholds": dict(run.project.get("thresholds", {})),
        "started": session.started,
        "finished": utc_timestamp(),
    }


def encoder_entry(session: AuditSession, spec: str) -> dict[str, Any]:
    """The ``encoder`` block of ``spec``'s document."""
    entry: dict[str, Any] = {"spec": spec, "fingerprint": None,
                             "reference": session.is_reference(spec),
                             "architecture": architecture(spec)}
    encoder = session.built_encoder(spec)
    error = session.encoder_error(spec)
    if encoder is not None:
        entry.update(
            canonical=encoder.spec, fingerprint=encoder.fingerprint,
            weights_sha256=encoder.weights_sha256, weights_source=encoder.weights_source,
        )
        if not encoder.cacheable:
            entry["not_stored"] = encoder.unstorable_reason
    elif error is not None:
        entry["error"] = str(error)
    return entry


def references_of(session: AuditSession, spec: str) -> dict[str, list[AuditResult]]:
    """Results of this run's reference rows for ``spec``'s card.

    The configured references (``pixels``) and, when it ran too, the
    ``random:`` control of the same architecture (a fine-tune's control is
    its base architecture's): together they show what is there to be found
    and how much of the leakage comes from training.
    """
    wanted = list(session.run.references)
    control = _control(session, spec)
    if control is not None:
        wanted += [s for s in session.results if _canonical(session, s) == control]
    return {ref: session.results[ref] for ref in dict.fromkeys(wanted)
            if ref != spec and ref in session.results}


def _parsed(session: AuditSession, spec: str) -> EncoderSpec | None:
    try:
        return session.run.specs.get(spec) or parse_spec(spec)
    except AuditkitError:
        return None


def _canonical(session: AuditSession, spec: str) -> str | None:
    parsed = _parsed(session, spec)
    return parsed.canonical if parsed is not None else None


def _control(session: AuditSession, spec: str) -> str | None:
    parsed = _parsed(session, spec)
    control = parsed.control() if parsed is not None else None
    return control.canonical if control is not None else None


def write_reports(session: AuditSession) -> dict[str, Path]:
    """Write ``results.json`` and ``card.html`` per encoder, and the index; returns the cards."""
    from auditkit.report import write_card, write_index

    run = session.run
    layout = ReportLayout(run.report_dir)
    cards, entries = {}, []
    for spec, results in session.results.items():
        merged = session.merged.get(spec, {})
        doc = build_document(merged.get("encoder") or encoder_entry(session, spec),
                             merged.get("provenance") or provenance(session, spec), results,
                             references_of(session, spec))
        write_json_atomic(layout.results(spec), doc)
        if run.update_baseline and run.baseline is not None:
            run.baseline.write(spec, session.is_reference(spec), doc)
        try:
            cards[spec] = write_card(doc, layout.folder(spec), run.template_dir)
            entries.append((doc, cards[spec]))
        except Exception as exc:  # results.json is already safe
            log.error("card for %s could not be rendered: %s", spec, exc)
    if entries:
        try:
            write_index(run.report_dir, entries, run.template_dir)
        except Exception as exc:  # the cards are already written
            log.error("index could not be rendered: %s", exc)
    return cards
