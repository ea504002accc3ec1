"""(c) Cold and warm wall time of ``pytest audits/``, and (d) forward passes against cache keys.

Each run is a subprocess in the checkout, on one fresh cache shared by the
cold and the warm run; the counts come from the runs' ``results.json`` and
the ``.emb`` files on disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditkit.cache import EmbeddingCache
from auditkit.layout import ReportLayout

from . import ROOT

#: Exit statuses of ``pytest audits/`` that are verdicts, not errors (all passed, some failed).
AUDIT_OK = (0, 1)


def run_audits(
    spec: str,
    cache_dir: Path,
    report_dir: Path,
    device: str | None = None,
    max_images: int | None = None,
    data: str | None = None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """One ``pytest audits/`` run for ``spec`` as a subprocess: wall time and exit status.

    No ``--audit-reference``: with ``--encoder`` the configured references
    do not join, so only ``spec`` is audited.
    """
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "audits/",
        f"--encoder={spec}",
        f"--audit-cache-dir={cache_dir}",
        f"--audit-report-dir={report_dir}",
        "-p",
        "no:cacheprovider",
        "-q",
        *extra,
    ]
    if device:
        cmd.append(f"--audit-device={device}")
    if max_images:
        cmd.append(f"--audit-max-images={max_images}")
    if data:
        cmd.append(f"--audit-data={data}")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    lines = done.stdout.strip().splitlines()
    out = {
        "seconds": seconds,
        "exit": done.returncode,
        "command": " ".join(cmd),
        "outcome": lines[-1].strip("= ") if lines else "",
    }
    if done.returncode not in AUDIT_OK:
        why = (
            f"killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"exited {done.returncode}"
        )
        out["error"] = f"{why}: {(done.stdout + done.stderr)[-3000:]}"
    return out


def extraction_counts(spec: str, cache_dir: Path, report_dir: Path) -> dict[str, Any]:
    """Embeddings computed by a run (its results.json) against the keys in the store."""
    doc = json.loads(ReportLayout(report_dir).results(spec).read_text(encoding="utf-8"))
    fingerprint = doc["encoder"]["fingerprint"]
    extraction = doc["provenance"]["extraction"]
    entries = len(EmbeddingCache(cache_dir).keys(fingerprint))
    return {
        "fingerprint": fingerprint,
        "extraction": {
            k: extraction.get(k) for k in ("requested", "memory_hits", "disk_hits", "computed")
        },
        "failed": len(extraction.get("failed") or []),
        "measurements_reused": doc["provenance"].get("measurements_reused", []),
        "unique_keys": entries,
        "n_images": doc["provenance"].get("data", {}).get("n_images"),
    }


def audit_benchmark(
    spec: str, device: str | None = None, max_images: int | None = None, data: str | None = None
) -> dict[str, Any]:
    """Cold then warm ``pytest audits/`` on one fresh cache; forward passes vs unique keys.

    A ``--collect-only`` run first gives the fixed start-up cost (interpreter,
    imports, collection) that the warm run cannot go below.
    """
    with tempfile.TemporaryDirectory(prefix="auditkit-bench-") as tmp:
        cache_dir = Path(tmp) / "cache"
        startup = run_audits(
            spec,
            cache_dir,
            Path(tmp) / "collect",
            device,
            max_images,
            data,
            extra=["--collect-only"],
        )
        cold = run_audits(spec, cache_dir, Path(tmp) / "cold", device, max_images, data)
        if "error" in cold:
            return {"cold": cold, "error": f"cold run {cold['error']}"}
        cold_counts = extraction_counts(spec, cache_dir, Path(tmp) / "cold")
        warm = run_audits(spec, cache_dir, Path(tmp) / "warm", device, max_images, data)
        if "error" in warm:
            return {"cold": cold, "warm": warm, "error": f"warm run {warm['error']}"}
        warm_counts = extraction_counts(spec, cache_dir, Path(tmp) / "warm")
    forward = cold_counts["extraction"]["computed"]
    return {
        "max_images": max_images,
        "n_images": cold_counts["n_images"],
        "cold_s": cold["seconds"],
        "warm_s": warm["seconds"],
        "startup_s": startup["seconds"],
        "cold_exit": cold["exit"],
        "warm_exit": warm["exit"],
        "cold_outcome": cold["outcome"],
        "forward_passes": forward,
        "unique_keys": cold_counts["unique_keys"],
        "embedded_once": forward == cold_counts["unique_keys"],
        "cold_extraction": cold_counts["extraction"],
        "cold_failed": cold_counts["failed"],
        "warm_extraction": warm_counts["extraction"],
        "warm_measurements_reused": len(warm_counts["measurements_reused"]),
        "command": cold["command"],
    }
