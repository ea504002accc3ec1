"""(a) The encoder's own limit: forward throughput on ready batches, and the CPU stages.

Batches are preprocessed and collated before the clock starts, so the
forward rate is the model (with its host-device copies) and nothing else;
the per-pair milliseconds of decode, variant and preprocessing show where
a CPU-bound extraction spends its time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from auditkit.data.base import SourceImage
from auditkit.encoders.base import Encoder
from auditkit.seeds import image_seed
from auditkit.transforms.base import Variant


def preprocess_all(
    encoder: Encoder, images: Sequence[SourceImage], variants: Sequence[Variant], seed: int = 0
) -> tuple[list[Any], dict[str, float]]:
    """Model inputs of every (image, variant) pair, with the time of each CPU stage.

    Does what one extraction worker does per item (decode, variant,
    preprocessing), single-threaded, so the per-pair milliseconds show which
    stage the CPU spends its time on.

    Examples
    --------
    >>> items, ms = preprocess_all(encoder, probe.images, variants)  # doctest: +SKIP
    >>> ms["preprocess_ms"]                                           # doctest: +SKIP
    """
    if any(v.post is not None for v in variants):
        raise ValueError("variants with a post step are not benchmarked; use the JPEG grid")
    load = transform = prep = 0.0
    items = []
    for image in images:
        t0 = time.perf_counter()
        pil = image.load()
        load += time.perf_counter() - t0
        seed_i = image_seed(seed, image.sha256)
        for variant in variants:
            t1 = time.perf_counter()
            out = variant.apply(pil, seed_i)
            t2 = time.perf_counter()
            items.append(encoder.preprocess(out))
            t3 = time.perf_counter()
            transform += t2 - t1
            prep += t3 - t2
    pairs = max(1, len(items))
    return items, {
        "load_ms": 1e3 * load / pairs,
        "transform_ms": 1e3 * transform / pairs,
        "preprocess_ms": 1e3 * prep / pairs,
    }


def forward_throughput(
    encoder: Encoder,
    items: Sequence[Any],
    batch_sizes: Sequence[int],
    repeats: int = 3,
    warmup: int = 2,
    min_seconds: float = 0.0,
) -> dict[str, Any]:
    """Images per second of ``encoder.embed_batch`` alone, per batch size.

    Batches are collated before the clock starts, so this is the model
    (with its host-device copies) and nothing else. Each batch size gets
    ``warmup`` untimed batches, then ``repeats`` timed passes over all items
    (the last batch filled by wrapping round), more while the passes have
    taken less than ``min_seconds`` in all; the median pass counts.

    Examples
    --------
    >>> res = forward_throughput(encoder, items, [8, 16])  # doctest: +SKIP
    >>> res["forward_ips"] > 0                               # doctest: +SKIP
    True
    """
    if not items:
        raise ValueError("no preprocessed items to time")
    n = len(items)
    passes: dict[int, list[float]] = {}
    for bs in batch_sizes:
        n_batches = -(-n // bs)
        batches = [
            encoder.collate([items[(i * bs + j) % n] for j in range(bs)]) for i in range(n_batches)
        ]
        with torch.inference_mode():
            for _ in range(warmup):
                encoder.embed_batch(batches[0])
            passes[bs] = []
            spent = 0.0
            while len(passes[bs]) < repeats or spent < min_seconds:
                t0 = time.perf_counter()
                for batch in batches:
                    encoder.embed_batch(batch)  # returns numpy: the device has synchronised
                took = time.perf_counter() - t0
                spent += took
                passes[bs].append(n_batches * bs / took)
        del batches
    return summarise_forward(passes)


def summarise_forward(passes: dict[int, list[float]]) -> dict[str, Any]:
    """Median and best images/s per batch size; the best batch size by median."""
    per_size: dict[int, dict[str, Any]] = {
        bs: {"ips_median": statistics.median(p), "ips_best": max(p), "passes": p}
        for bs, p in passes.items()
    }
    best = max(per_size, key=lambda b: per_size[b]["ips_median"])
    return {
        "per_batch_size": per_size,
        "best_batch_size": best,
        "forward_ips": per_size[best]["ips_median"],
    }
