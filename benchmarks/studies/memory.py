"""(f) Peak resident memory of extraction, each probe-set size in a fresh process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from auditkit.cache import EmbeddingCache
from auditkit.data import load_probe_set
from auditkit.extract import Extractor

from . import ENTRY_POINT, ROOT
from .inputs import build, select_variants


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's ``VmHWM`` where there is one: ``getrusage().ru_maxrss`` carries
    the parent's peak across fork and exec, so a child started by a big
    parent would report the parent's peak, not its own.

    Examples
    --------
    >>> peak_rss_mb() > 0
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Linux reports kilobytes, macOS bytes.
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def memory_child(
    spec: str, n_images: int, device: str, variant_ids: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """In a fresh process: peak RSS before and after extracting ``n_images`` built-in images.

    "Before" covers the interpreter, torch, the model and the rendered probe
    set; the growth during extraction is what extraction itself holds.
    """
    encoder = build(spec, device, seed)
    probe = load_probe_set(None, seed=seed, max_images=n_images)
    variants = select_variants(variant_ids)
    before = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="auditkit-bench-") as tmp:
        ex = Extractor(encoder, cache=EmbeddingCache(tmp))
        table = ex.embed(probe.images, variants)
    after = peak_rss_mb()
    return {
        "n_images": len(probe),
        "pairs": len(table),
        "batch_size": ex.batch_size,
        "workers": ex.num_workers,
        "rss_before_extract_mb": before,
        "peak_rss_mb": after,
        "extract_growth_mb": after - before,
        # Held twice after embed(): the extractor's memory dict and the stacked table.
        "embeddings_mb": table.X.nbytes / 2**20,
    }


def peak_memory(
    spec: str,
    sizes: Sequence[int],
    device: str,
    variant_ids: Sequence[str],
    seed: int = 0,
    threads: int | None = None,
) -> dict[int, Any]:
    """:func:`memory_child` for each size, each in its own interpreter."""
    out: dict[int, Any] = {}
    for n in sizes:
        cmd = [
            sys.executable,
            str(ENTRY_POINT),
            "--encoder",
            spec,
            "--device",
            device,
            "--variants",
            *variant_ids,
            "--seed",
            str(seed),
            "--memory-child",
            str(n),
        ]
        if threads:
            cmd += ["--threads", str(threads)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"memory run for {n} images exited {done.returncode}: "
                f"{(done.stdout + done.stderr)[-2000:]}"
            )
        out[n] = json.loads(done.stdout.strip().splitlines()[-1])
    return out
