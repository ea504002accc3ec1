"""benchmarks/gpu.sh --dry-run: what needs no GPU runs, the GPU steps' arguments are checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.sh"


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and coreutils' timeout")
def test_the_dry_run_measures_the_cpu_probe_and_prints_rows_to_paste(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_BENCH_DIR": str(tmp_path)}
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in ("extraction", "audit", "probe_cuda"):
        assert f"{step} skipped (needs cuda; --dry-run), arguments checked" in out
    assert "issue 15, 5(c): benchmarks/gpu.sh --dry-run" in out
    assert "| measure | figure |" in out
    assert "| probe fit on the CPU, N=300 D=768 K=6" in out
    assert (tmp_path / "probe_cpu.json").exists()


def test_an_unknown_flag_is_refused(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--fast"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr
