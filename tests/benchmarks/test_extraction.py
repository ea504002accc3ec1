"""(b) Extraction against the forward limit, on the pixels encoder (never its speed)."""

from __future__ import annotations

import pytest
from studies.extraction import effective_batch, forward_and_pipeline
from studies.inputs import select_variants
from studies.table import summary

from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.transforms.quality import jpeg_grid


@pytest.fixture(scope="module")
def images():
    return builtin_probe_set(seed=0, max_images=6).images[:4]


def test_forward_and_pipeline_on_pixels(images):
    encoder = build_encoder("pixels")
    variants = select_variants(["jpeg/q75-420"])
    forward, pipeline = forward_and_pipeline(
        encoder, images, variants, [2, 4], repeats=1, batch_size=4, num_workers=0
    )
    assert set(forward["per_batch_size"]) == {2, 4}  # the pipeline's batch (4) is among them
    assert all(r["ips_median"] > 0 for r in forward["per_batch_size"].values())
    assert forward["best_batch_size"] in (2, 4)
    assert {"load_ms", "transform_ms", "preprocess_ms"} <= set(forward["stages"])
    assert pipeline["computed"] == pipeline["cache_writes"] == len(images) == pipeline["pairs"]
    assert pipeline["effective_batch"] == 4 and pipeline["pipeline_ips"] > 0
    ratio = summary({"forward": forward, "pipeline": pipeline})["ratio_same_batch"]
    assert ratio is not None and ratio > 0


def test_forward_only_skips_the_pipeline(images):
    encoder = build_encoder("pixels")
    forward, pipeline = forward_and_pipeline(
        encoder, images, jpeg_grid()[:2], [2], repeats=1, batch_size=4, run_pipeline=False
    )
    assert pipeline is None
    assert set(forward["per_batch_size"]) == {2, 4}  # 2 variants: 2 whole images per batch of 4


@pytest.mark.parametrize(
    ("batch", "variants", "pairs"),
    [
        (32, 1, 32),  # one variant: the batch size itself
        (32, 6, 30),  # the JPEG grid: five whole images
        (32, 40, 40),  # more variants than the batch: one whole image
    ],
)
def test_effective_batch(batch, variants, pairs):
    assert effective_batch(batch, variants) == pairs


def test_a_set_smaller_than_a_batch_is_compared_at_its_own_size(images):
    encoder = build_encoder("pixels")
    forward, pipeline = forward_and_pipeline(
        encoder, images, jpeg_grid()[:1], [2], repeats=1, batch_size=32, num_workers=0
    )
    # Four pairs run as one batch of four, so (a) times batches of four too.
    assert set(forward["per_batch_size"]) == {2, 4}
    assert pipeline["effective_batch"] == 4 and pipeline["batches"] == 1


def test_the_forward_limit_is_timed_for_at_least_min_seconds(images):
    from studies.forward import forward_throughput, preprocess_all

    encoder = build_encoder("pixels")
    items, _ = preprocess_all(encoder, images, jpeg_grid()[:1], 0)
    passes = forward_throughput(encoder, items, [2], repeats=3, warmup=0, min_seconds=0.2)[
        "per_batch_size"][2]["passes"]
    # Each pass of 4 pixel embeddings takes well under a millisecond.
    assert len(passes) > 3
    assert sum(4 / ips for ips in passes) >= 0.2
    assert len(forward_throughput(encoder, items, [2], repeats=3, warmup=0)[
        "per_batch_size"][2]["passes"]) == 3
