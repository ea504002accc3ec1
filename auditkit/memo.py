"""Measurements kept on disk, so that a rerun on unchanged inputs costs no probe fits.

A measurement is a function of the encoder (its fingerprint), the probe set
(its digest), the audit, the run and split seeds, the settings audits read from
``[tool.auditkit]``, the further inputs the audit's registry record declares
(camera labels, the variant keys of the style catalogue with the code of
registered transforms, the bytes of style folders), the environment
(:func:`auditkit.numerics.measurement_environment`: device kind and
precision settings, the libraries that make pixels and fit probes), and
auditkit's own code. The key hashes all of them; the code enters as a hash
of every module's source, so any change to auditkit invalidates every stored
measurement rather than serving a stale one.
Thresholds are not part of it: verdicts are always judged afresh.

Entries live beside the encoder's embeddings
(``<cache>/<fingerprint[:16]>/measurements/<key>.json``), so clearing an
encoder's cache clears its measurements too. Each carries a BLAKE2b checksum
of its content (:func:`auditkit.cache.checksum`); an entry that fails it
(edited, torn) is logged, deleted and measured again. Errors are never stored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditkit import seeds
from auditkit.cache import checksum
from auditkit.encoders.base import stable_hash
from auditkit.results import write_json_atomic
from auditkit.verdicts import Measurement

log = logging.getLogger("auditkit")

FORMAT = "auditkit-measurement-v3"

#: ``[tool.auditkit]`` keys that only judge or select, never change a measurement.
NOT_MEASURED = frozenset({"thresholds", "encoders", "references", "baseline_tolerance"})


@functools.cache
def code_hash() -> str:
    """SHA-256 over the source of every auditkit module (path and bytes)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def measurement_key(fingerprint: str, audit: str, data_digest: str, seed: int,
                    config: Mapping[str, Any], inputs: Mapping[str, Any] | None = None,
                    environment: Mapping[str, Any] | None = None, *,
                    split_seed: int | None = None) -> str:
    """The key of one audit's measurements.

    ``seed`` is the run seed and ``split_seed`` the seed of the audit's
    splits and bootstraps (None: the run seed). ``environment`` is
    :func:`~auditkit.numerics.measurement_environment` of the device the
    encoder runs on.

    Examples
    --------
    >>> k = measurement_key("f", "jpeg_quality", "d", 0, {"thresholds": {}})
    >>> k == measurement_key("f", "jpeg_quality", "d", 0, {"thresholds": {"x": 1}})
    True
    """
    settings = {k: v for k, v in config.items() if k not in NOT_MEASURED}
    parts: list[Any] = [FORMAT, code_hash(), fingerprint, audit, data_digest, seed, settings,
                        {"split_seed": seeds.split_seed(seed, split_seed)}]
    if inputs:
        # What the audit declared it consumed (its registry record's ``inputs``).
        parts.append(dict(inputs))
    if environment:
        parts.append({"environment": dict(environment)})
    return stable_hash(*parts)


def _content_checksum(key: str, measurements: Any) -> str:
    # Over a canonical rendering, so that what JSON reads back checks the same
    # (floats round-trip exactly; NaN is written and read as NaN).
    body = json.dumps([key, measurements], sort_keys=True, separators=(",", ":"))
    return checksum(body.encode()).hex()


def _plain(obj: Any) -> Any:
    """numpy values to Python ones, recursively; NaN stays NaN (JSON ``NaN`` reads back)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _plain(obj.tolist())
    return obj


class MeasurementMemo:
    """Read and write measurements under an embedding cache root.

    Examples
    --------
    >>> memo = MeasurementMemo(Path(tempfile.mkdtemp()))        # doctest: +SKIP
    >>> memo.put("f" * 64, key, {"leakage": m})                  # doctest: +SKIP
    >>> memo.get("f" * 64, key)["leakage"].value == m.value      # doctest: +SKIP
    True
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0

    def _path(self, fingerprint: str, key: str) -> Path:
        return self.root / fingerprint[:16] / "measurements" / f"{key}.json"

    def get(self, fingerprint: str, key: str) -> dict[str, Measurement] | None:
        path = self._path(fingerprint, key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("key") != key:
                raise ValueError("not a measurement entry for this key")
            if data.get("checksum") != _content_checksum(key, data["measurements"]):
                raise ValueError("checksum mismatch (edited or corrupt)")
            out = {}
            for name, m in data["measurements"].items():
                m["ci"] = tuple(m["ci"])
                out[name] = Measurement(**m)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("measurement cache: %s is unreadable (%s); measuring again", path, exc)
            path.unlink(missing_ok=True)
            return None
        self.hits += 1
        return out

    def put(self, fingerprint: str, key: str, measurements: Mapping[str, Measurement]) -> None:
        plain = {
            name: _plain({
                "metric": m.metric, "value": m.value, "ci": list(m.ci), "chance": m.chance,
                "n": m.n, "detectable": m.detectable, "degenerate": m.degenerate,
                "details": m.details,
            })
            for name, m in measurements.items()
        }
        try:
            payload = {"format": FORMAT, "key": key, "measurements": plain,
                       "checksum": _content_checksum(key, plain)}
            write_json_atomic(self._path(fingerprint, key), payload)
        except (OSError, TypeError, ValueError) as exc:
            # Storing is an optimisation; the measurement itself stands.
            log.warning("measurement cache: cannot store %s (%s)", key, exc)
