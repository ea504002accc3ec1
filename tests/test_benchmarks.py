"""Structure and sanity of benchmarks/pipeline.py on tiny inputs (never its speed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from auditkit.cache import EmbeddingCache
from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.results import encoder_slug
from auditkit.transforms.quality import jpeg_grid

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("auditkit_bench_pipeline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def images():
    return builtin_probe_set(seed=0, max_images=6).images[:4]


def test_synthetic_probe_data_groups_hold_one_class(bench):
    X, y, groups = bench.synthetic_probe_data(600, 8, 3, seed=1)
    assert X.shape == (600, 8)
    assert len(np.unique(groups)) == 120  # N / 5 groups
    for g in np.unique(groups):
        assert len(np.unique(y[groups == g])) == 1
    assert sorted(np.bincount(y).tolist()) == [200, 200, 200]


@pytest.fixture
def one_thread():
    # Tiny torch ops spend their time waking intra-op threads on a busy machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_probe_comparison_same_objective_same_accuracy(bench, one_thread):
    res = bench.probe_comparison(n=600, d=16, k=3, seed=0, full=True, repeats=1, signal=0.5)
    assert res["n_train"] + res["n_test"] == 600
    assert res["probe_fit_s"] > 0 and res["sklearn_fit_s"] > 0 and res["probe_search_fit_s"] > 0
    # A clear signal: both well above chance (1/3), and equal within the benchmark's tolerance.
    assert res["auditkit_acc"] > 0.6 and res["sklearn_acc"] > 0.6
    assert res["acc_diff"] <= 0.01 and res["equal_accuracy"]
    assert res["probe_search_C"] in (0.01, 0.1, 1.0, 10.0, 100.0)


def test_forward_and_pipeline_on_pixels(bench, images):
    encoder = build_encoder("pixels")
    variants = bench.select_variants(["jpeg/q75-420"])
    forward, pipeline = bench.forward_and_pipeline(
        encoder, images, variants, [2, 4], repeats=1, batch_size=4, num_workers=0
    )
    assert set(forward["per_batch_size"]) == {2, 4}  # the pipeline's batch (4) is among them
    assert all(r["ips_median"] > 0 for r in forward["per_batch_size"].values())
    assert forward["best_batch_size"] in (2, 4)
    assert {"load_ms", "transform_ms", "preprocess_ms"} <= set(forward["stages"])
    assert pipeline["computed"] == pipeline["cache_writes"] == len(images) == pipeline["pairs"]
    assert pipeline["effective_batch"] == 4 and pipeline["pipeline_ips"] > 0
    ratio = bench.summary({"forward": forward, "pipeline": pipeline})["ratio_same_batch"]
    assert ratio is not None and ratio > 0


def test_forward_only_skips_the_pipeline(bench, images):
    encoder = build_encoder("pixels")
    forward, pipeline = bench.forward_and_pipeline(
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
def test_effective_batch(bench, batch, variants, pairs):
    assert bench.effective_batch(batch, variants) == pairs


def test_extraction_counts_reads_results_and_counts_entries(bench, tmp_path):
    fingerprint = "ab" * 32
    cache = EmbeddingCache(tmp_path / "cache")
    for i in range(5):
        cache.put(fingerprint, f"{i:064x}", np.ones(3, np.float32))
    cache.put("cd" * 32, "f" * 64, np.ones(3, np.float32))  # another encoder: not counted
    measurements = tmp_path / "cache" / fingerprint[:16] / "measurements"
    measurements.mkdir()
    (measurements / "x.json").write_text("{}")  # stored measurements are not entries
    doc = {
        "encoder": {"fingerprint": fingerprint},
        "provenance": {
            "extraction": {
                "requested": 9,
                "memory_hits": 4,
                "disk_hits": 0,
                "computed": 5,
                "failed": [],
            },
            "data": {"n_images": 3},
            "measurements_reused": [],
        },
    }
    out = tmp_path / "report" / encoder_slug("random:timm:x")
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps(doc))
    counts = bench.extraction_counts("random:timm:x", tmp_path / "cache", tmp_path / "report")
    assert counts["unique_keys"] == 5
    assert counts["extraction"]["computed"] == 5 and counts["n_images"] == 3


def test_select_variants_rejects_unknown_ids(bench):
    assert len(bench.select_variants(["all"])) == 6
    with pytest.raises(SystemExit, match="jpeg/q10-420"):
        bench.select_variants(["jpeg/q10-420"])


def test_command_line_writes_the_headline_keys(bench, tmp_path):
    out = tmp_path / "bench.json"
    code = bench.main(
        [
            "--encoder",
            "pixels",
            "--images",
            "4",
            "--batch-sizes",
            "2",
            "--repeats",
            "1",
            "--skip",
            "audit",
            "--skip",
            "memory",
            "--skip",
            "probe",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    res = json.loads(out.read_text())
    for key in ("forward_ips", "pipeline_ips", "ratio", "ratio_same_batch"):
        assert res[key] > 0, key
    for key in (
        "cold_s",
        "warm_s",
        "forward_passes",
        "unique_keys",
        "probe_fit_s",
        "sklearn_fit_s",
        "peak_rss_mb",
    ):
        assert res[key] is None, key  # skipped steps are reported as not measured
    assert res["machine"]["cpu_count"] >= 1 and res["machine"]["versions"]["torch"]
    assert res["images"] == 4 and res["errors"] == []


def test_peak_rss_is_positive(bench):
    assert bench.peak_rss_mb() > 0


def test_a_set_smaller_than_a_batch_is_compared_at_its_own_size(bench, images):
    encoder = build_encoder("pixels")
    forward, pipeline = bench.forward_and_pipeline(
        encoder, images, jpeg_grid()[:1], [2], repeats=1, batch_size=32, num_workers=0
    )
    # Four pairs run as one batch of four, so (a) times batches of four too.
    assert set(forward["per_batch_size"]) == {2, 4}
    assert pipeline["effective_batch"] == 4 and pipeline["batches"] == 1
