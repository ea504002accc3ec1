"""pytest-xdist: what a worker sends the controller, and how the controller folds it in."""

from __future__ import annotations

from typing import Any

from auditkit.documents import encoder_entry, provenance
from auditkit.results import AuditResult
from auditkit.session import AuditSession


def worker_payload(session: AuditSession) -> dict[str, Any]:
    """What a worker sends the controller at its end: JSON-able, nothing else."""
    return {
        spec: {
            "results": [r.to_json() for r in results],
            "encoder": encoder_entry(session, spec),
            "provenance": provenance(session, spec),
        }
        for spec, results in session.results.items()
    }


def merge_worker_payload(session: AuditSession, payload: dict[str, Any]) -> None:
    """Fold one worker's results into the controller's session."""
    for spec, part in payload.items():
        session.results.setdefault(spec, []).extend(
            AuditResult.from_json(r) for r in part["results"])
        # Worker order depends on scheduling; a fixed order makes -n runs comparable.
        session.results[spec].sort(key=lambda r: (r.audit, r.case))
        mine = session.merged.setdefault(spec, {})
        if "encoder" not in mine or mine["encoder"].get("fingerprint") is None:
            mine["encoder"] = part["encoder"]
        mine["provenance"] = merge_provenance(mine.get("provenance"), part["provenance"])


def merge_provenance(mine: dict[str, Any] | None, theirs: dict[str, Any]) -> dict[str, Any]:
    """One provenance for several workers: first start, last finish, summed extraction."""
    if not mine:
        return dict(theirs)
    out = dict(mine)
    out["started"] = min(mine.get("started") or "", theirs.get("started") or "") or None
    out["finished"] = max(mine.get("finished") or "", theirs.get("finished") or "") or None
    a, b = mine.get("extraction") or {}, theirs.get("extraction") or {}
    extraction = {k: a.get(k, 0) + b.get(k, 0)
                  for k in ("requested", "memory_hits", "disk_hits", "computed")
                  if k in a or k in b}
    extraction["failed"] = (a.get("failed") or []) + (b.get("failed") or [])
    out["extraction"] = extraction
    out["measurements_reused"] = sorted({*(mine.get("measurements_reused") or []),
                                         *(theirs.get("measurements_reused") or [])})
    out["workers"] = (mine.get("workers") or 1) + 1
    return out
