"""(c, d) What the audit-run study reads back from a run's results.json and cache."""

from __future__ import annotations

import json

import numpy as np
from studies.cold_warm import extraction_counts

from auditkit.cache import EmbeddingCache
from auditkit.layout import ReportLayout


def test_extraction_counts_reads_results_and_counts_entries(tmp_path):
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
    out = ReportLayout(tmp_path / "report").folder("random:timm:x")
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps(doc))
    counts = extraction_counts("random:timm:x", tmp_path / "cache", tmp_path / "report")
    assert counts["unique_keys"] == 5
    assert counts["extraction"]["computed"] == 5 and counts["n_images"] == 3
