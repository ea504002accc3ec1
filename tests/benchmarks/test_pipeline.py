"""The benchmark's command line: runs the chosen studies and writes their JSON."""

from __future__ import annotations

import json

import pipeline


def test_command_line_writes_the_headline_keys(tmp_path):
    out = tmp_path / "bench.json"
    code = pipeline.main(
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
