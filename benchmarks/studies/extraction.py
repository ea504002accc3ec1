"""(b) auditkit's end-to-end extraction from a cold cache, and its ratio to the forward limit.

:func:`forward_and_pipeline` alternates rounds of (a) and (b) so that both
see the same machine load.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from auditkit.cache import EmbeddingCache, cache_key
from auditkit.data.base import SourceImage
from auditkit.encoders.base import Encoder
from auditkit.extract import Extractor
from auditkit.transforms.base import Variant

from .forward import forward_throughput, preprocess_all, summarise_forward


def pipeline_throughput(
    encoder: Encoder,
    images: Sequence[SourceImage],
    variants: Sequence[Variant],
    repeats: int = 3,
    batch_size: int | None = None,
    num_workers: int | None = None,
) -> dict[str, Any]:
    """Pairs per second of ``Extractor.embed`` from a cold disk cache, as audits run it.

    Each repeat gets a fresh extractor and a fresh cache in a temporary
    directory; the median repeat counts.

    Examples
    --------
    >>> res = pipeline_throughput(encoder, probe.images, variants, repeats=1)  # doctest: +SKIP
    >>> res["computed"] == len(probe.images) * len(variants)                   # doctest: +SKIP
    True
    """
    runs: list[float] = []
    last = None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="auditkit-bench-") as tmp:
            cache = EmbeddingCache(tmp)
            ex = Extractor(encoder, cache=cache, batch_size=batch_size, num_workers=num_workers)
            t0 = time.perf_counter()
            table = ex.embed(images, variants)
            runs.append(time.perf_counter() - t0)
            last = (ex, table, cache.stats.writes)
    if last is None:
        raise ValueError(f"repeats={repeats!r}: expected at least 1")
    ex, table, writes = last
    pairs = len(images) * len(variants)
    if ex.stats.computed != pairs:
        raise RuntimeError(
            f"extraction computed {ex.stats.computed} of {pairs} pairs: "
            f"failures {ex.stats.failed[:3]!r}"
        )
    return summarise_pipeline(
        {
            "pairs": pairs,
            "runs_s": runs,
            "batch_size": ex.backend.batch_size,
            "effective_batch": min(effective_batch(ex.backend.batch_size, len(variants)), pairs),
            "workers": ex.backend.num_workers,
            "batches": ex.stats.batches,
            "computed": ex.stats.computed,
            "cache_writes": writes,
            "dim": int(table.X.shape[1]),
        }
    )


def summarise_pipeline(result: dict[str, Any]) -> dict[str, Any]:
    """Median pairs/s over ``result["runs_s"]`` (and the best run)."""
    runs = result["runs_s"]
    seconds = statistics.median(runs)
    return {
        **result,
        "seconds": seconds,
        "pipeline_ips": result["pairs"] / seconds,
        "pipeline_ips_best": result["pairs"] / min(runs),
    }


def forward_and_pipeline(
    encoder: Encoder,
    images: Sequence[SourceImage],
    variants: Sequence[Variant],
    batch_sizes: Sequence[int] | None,
    repeats: int = 3,
    batch_size: int | None = None,
    num_workers: int | None = None,
    seed: int = 0,
    run_pipeline: bool = True,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(a) and (b) in alternating rounds, so that both see the same machine load.

    ``batch_sizes=None`` skips (a), ``run_pipeline=False`` skips (b). (a)
    also times the pipeline's own batch size, for a like-for-like ratio.

    Examples
    --------
    >>> fwd, pipe = forward_and_pipeline(encoder, images, variants, [8])  # doctest: +SKIP
    >>> pipe["pipeline_ips"] / fwd["forward_ips"]                        # doctest: +SKIP
    0.9
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: expected at least 1")
    forward = pipeline = None
    passes: dict[int, list[float]] = {}
    items, stages = preprocess_all(encoder, images, variants, seed) if batch_sizes else ([], {})
    pipeline_batch = batch_size or encoder.default_batch_size
    # A set smaller than one batch runs as one smaller batch.
    own = min(effective_batch(pipeline_batch, len(variants)), len(images) * len(variants))
    sizes = sorted({*(batch_sizes or ()), own})
    for round_ in range(repeats):
        if batch_sizes:
            one = forward_throughput(
                encoder, items, sizes, repeats=1, warmup=2 if round_ == 0 else 0
            )
            for bs, res in one["per_batch_size"].items():
                passes.setdefault(bs, []).extend(res["passes"])
        if run_pipeline:
            one_run = pipeline_throughput(encoder, images, variants, 1, pipeline_batch, num_workers)
            pipeline = (
                one_run
                if pipeline is None
                else summarise_pipeline(
                    {**pipeline, "runs_s": pipeline["runs_s"] + one_run["runs_s"]}
                )
            )
    if batch_sizes:
        forward = {**summarise_forward(passes), "stages": stages}
    return forward, pipeline


def effective_batch(batch_size: int, n_variants: int) -> int:
    """Pairs per forward pass of the Extractor: whole images' variants fill a batch.

    Examples
    --------
    >>> effective_batch(32, 6), effective_batch(32, 1), effective_batch(32, 40)
    (30, 32, 40)
    """
    return max(1, batch_size // n_variants) * n_variants


def cache_write_ms(dim: int, n: int = 200) -> float:
    """Milliseconds per ``EmbeddingCache.put`` of one float32 vector of ``dim``."""
    rng = np.random.default_rng(0)
    entries = {
        cache_key("f" * 64, f"{i:064x}", "v", "float32"): rng.normal(size=dim).astype(np.float32)
        for i in range(n)
    }
    with tempfile.TemporaryDirectory(prefix="auditkit-bench-") as tmp:
        cache = EmbeddingCache(tmp)
        t0 = time.perf_counter()
        cache.put_many("f" * 64, entries)
        return 1e3 * (time.perf_counter() - t0) / n
