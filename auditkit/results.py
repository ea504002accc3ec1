"""Audit results and the ``results.json`` schema.

``results.json`` (one per encoder) holds::

    {
      "schema_version": 1,
      "encoder": {"spec": ..., "fingerprint": ..., "weights_sha256": ..., "weights_source": ...},
      "provenance": {"auditkit": ..., "versions": {...}, "git_commit": ..., "seed": ...,
                     "data": {"name": ..., "hash": ..., "n_images": ..., "skipped": {...}},
                     "device": ..., "started": ..., "finished": ...},
      "audits": [{"audit", "case", "metric", "value", "ci", "chance", "threshold",
                  "direction", "verdict", "n", "details", "card"}, ...]
    }
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

#: What a card keeps of a reference encoder's case.
REFERENCE_KEYS = ("audit", "case", "metric", "value", "ci", "chance", "verdict", "n")

#: The verdicts an audit case can have, from best to worst. ``not_applicable``: the
#: probe set lacks the audit's input (no camera labels, one class), so nothing was measured.
VERDICTS = ("pass", "not_applicable", "inconclusive", "fail", "error")

#: ``direction`` says which side of the threshold is acceptable.
DIRECTIONS = ("max", "min")

AUDIT_KEYS = (
    "audit",
    "case",
    "metric",
    "value",
    "ci",
    "chance",
    "threshold",
    "direction",
    "verdict",
    "n",
    "details",
)
#: Keys a document may lack: written since a later release, absent in older documents.
OPTIONAL_AUDIT_KEYS = ("card",)


@dataclass
class AuditResult:
    """The outcome of one audit case (one encoder, one audit, one threshold).

    ``value`` and ``ci`` are in the units of ``metric`` (``leakage`` is the
    normalised leakage (acc - chance) / (1 - chance); ``chance`` is the raw
    chance accuracy). ``verdict`` is one of :data:`VERDICTS`; ``details``
    carries what a reader needs to judge the case (accuracy, confusion
    matrix, detectable leakage, reasons).
    """

    audit: str
    case: str
    metric: str
    value: float | None
    ci: tuple[float, float] | None
    chance: float | None
    threshold: float | None
    direction: str
    verdict: str
    n: int
    details: dict[str, Any] = field(default_factory=dict)
    #: The card partial that shows this case (from the audit's registry record),
    #: so the report never needs to know audit names.
    card: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction {self.direction!r} is not one of {DIRECTIONS}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci"] = list(self.ci) if self.ci is not None else None
        return _finite(data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditResult:
        missing = [k for k in AUDIT_KEYS if k not in data]
        if missing:
            raise ValueError(f"audit entry is missing keys {missing!r}: got {sorted(data)!r}")
        ci = data["ci"]
        return cls(
            audit=data["audit"],
            case=data["case"],
            metric=data["metric"],
            value=data["value"],
            ci=(float(ci[0]), float(ci[1])) if ci is not None else None,
            chance=data["chance"],
            threshold=data["threshold"],
            direction=data["direction"],
            verdict=data["verdict"],
            n=int(data["n"]),
            details=dict(data.get("details") or {}),
            card=data.get("card"),
        )


def _finite(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively; numpy to Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return _finite(obj.tolist())
    return obj


def build_document(
    encoder: Mapping[str, Any],
    provenance: Mapping[str, Any],
    results: Iterable[AuditResult],
    references: Mapping[str, Iterable[AuditResult]] | None = None,
) -> dict[str, Any]:
    """Assemble the ``results.json`` document for one encoder.

    ``references`` are the cases of reference encoders of the same run (the
    ``pixels`` baseline, the ``random:`` control of the same architecture),
    kept in short form so the card can show them beside this encoder's.
    """
    doc = {
        "schema_version": SCHEMA_VERSION,
        "encoder": _finite(dict(encoder)),
        "provenance": _finite(dict(provenance)),
        "audits": [r.to_json() for r in results],
    }
    if references:
        doc["references"] = {
            spec: [_finite({k: getattr(r, k) for k in REFERENCE_KEYS}) for r in cases]
            for spec, cases in references.items()
        }
    return doc


def validate_document(doc: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first thing wrong with ``doc``."""
    if not isinstance(doc, Mapping):
        raise ValueError(f"expected a JSON object at the top, got {type(doc).__name__}")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version is {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    for key in ("encoder", "provenance", "audits"):
        if key not in doc:
            raise ValueError(f"results document has no {key!r} key")
    if not isinstance(doc["encoder"], Mapping) or not isinstance(doc["audits"], list):
        raise ValueError("'encoder' must be an object and 'audits' a list")
    for key in ("spec", "fingerprint"):
        if key not in doc["encoder"]:
            raise ValueError(f"encoder entry has no {key!r} key")
    for entry in doc["audits"]:
        if not isinstance(entry, Mapping):
            raise ValueError(f"audit entry {entry!r} is not an object")
        AuditResult.from_json(entry)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (mode 0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp makes owner-only files; results and cards are meant to be shared.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def load_document(path: Path) -> dict[str, Any]:
    """Read and validate a ``results.json``; errors name the file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        validate_document(doc)
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"{str(path)!r} is not a valid auditkit results.json: {exc}") from exc
    return doc
