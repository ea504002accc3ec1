"""The embedding cache under kills, races, changed weights and damaged files.

Whatever happens to the cache, an extraction through it must give the same
embeddings, bit for bit, as one without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from auditkit.cache import EmbeddingCache, is_abandoned
from auditkit.cli import main
from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.encoders.options import LoadOptions
from auditkit.extract import Extractor
from auditkit.shards import decode_head
from auditkit.transforms.quality import jpeg_grid

REPO = Path(__file__).resolve().parents[1]
N_IMAGES, N_VARIANTS = 24, 2
TOTAL = N_IMAGES * N_VARIANTS
STALL_AFTER = 10  # complete entries written (5 shards of 2) before the worker stalls mid-write

# One extraction, run in a child process. "stall": after STALL_AFTER entries,
# write half of the next shard and hang before renaming it (what a kill in the
# middle of a write leaves behind). "race": wait for a go signal, so that two
# workers fill the same cache at the same time.
WORKER = f"""
import json, os, sys, time
from pathlib import Path
import numpy as np
import auditkit.shards as shards_module
from auditkit.cache import EmbeddingCache
from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.extract import Extractor
from auditkit.transforms.quality import jpeg_grid

root, out, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
images = builtin_probe_set(seed=0, max_images={N_IMAGES}).images
variants = jpeg_grid()[:{N_VARIANTS}]
if mode == "stall":
    import auditkit.extract as extract_module
    # A write per forward batch of 2, so that the kill finds complete shards before it.
    extract_module.FLUSH_ENTRIES = 2
    real_encode, real_replace, rows = shards_module.encode_shard, os.replace, [0]
    def encode(keys, array):
        rows[0] += len(keys)
        name, chunks = real_encode(keys, array)
        blob = b"".join(chunks)
        return name, ([blob[: len(blob) // 2]] if rows[0] > {STALL_AFTER} else chunks)
    def replace(src, dst):
        if rows[0] > {STALL_AFTER}:
            out.with_suffix(".stalled").write_text(src)
            time.sleep(300)
        real_replace(src, dst)
    shards_module.encode_shard, os.replace = encode, replace
else:
    out.with_suffix(".ready").write_text("")
    while not out.with_suffix(".go").exists():
        time.sleep(0.005)
extractor = Extractor(build_encoder("pixels"), EmbeddingCache(root), batch_size=2, num_workers=0)
table = extractor.embed(images, variants)
np.save(out, table.X)
stats = extractor.stats
out.with_suffix(".json").write_text(json.dumps([stats.computed, stats.disk_hits]))
"""


def _spawn(root: Path, out: Path, mode: str) -> subprocess.Popen[bytes]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(out), mode],
                            cwd=REPO, env=env, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
    """Wait for (reap) the worker and return the end of its stderr."""
    _, err = proc.communicate(timeout=timeout)
    return err.decode(errors="replace")[-2000:]


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}: {_finish(proc)}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"worker never wrote {path.name}: {_finish(proc)}")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def workload():
    return builtin_probe_set(seed=0, max_images=N_IMAGES).images, jpeg_grid()[:N_VARIANTS]


@pytest.fixture(scope="module")
def clean(workload) -> np.ndarray:
    """The embeddings of a run with no disk cache at all."""
    images, variants = workload
    return Extractor(build_encoder("pixels"), cache=None, num_workers=0).embed(images, variants).X


def _temporary(root: Path) -> list[Path]:
    return sorted(root.rglob(".*.tmp"))


def _shards(root: Path) -> list[Path]:
    return sorted(root.rglob("*.aks"))


def _keys(root: Path) -> set[str]:
    """Every key stored, each once (two racing writers may both store one)."""
    cache = EmbeddingCache(root)
    return set().union(*(cache.keys(folder) for folder in cache.info()))


def _rows(root: Path) -> int:
    return sum(row["entries"] for row in EmbeddingCache(root).info().values())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and pids are POSIX here")
def test_killed_mid_write_then_resumed_reads_nothing_wrong(tmp_path, workload, clean, capsys):
    root = tmp_path / "cache"
    proc = _spawn(root, tmp_path / "stall", "stall")
    _wait_for(tmp_path / "stall.stalled", proc)
    os.kill(proc.pid, signal.SIGKILL)
    _finish(proc)  # reaped: its pid is gone, as after any crash
    assert proc.returncode == -signal.SIGKILL

    # What the kill left: complete shards, and one half-written temporary file.
    assert len(_keys(root)) == STALL_AFTER and len(_shards(root)) == STALL_AFTER // 2
    (torn,) = _temporary(root)
    assert torn.name.endswith(".tmp") and is_abandoned(torn)
    info = EmbeddingCache(root).info()
    (row,) = info.values()
    assert row == {"entries": STALL_AFTER, "bytes": row["bytes"], "shards": STALL_AFTER // 2,
                   "legacy": 0, "temporary": 1, "newer_format": 0}
    assert main(["cache", "info", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "removed 1 temporary file(s) left by interrupted writes" in out
    assert f"{STALL_AFTER:>8} entries" in out and "in progress" not in out
    assert not torn.exists()

    images, variants = workload
    resumed = Extractor(build_encoder("pixels"), EmbeddingCache(root), num_workers=0)
    table = resumed.embed(images, variants)
    assert np.array_equal(table.X, clean)  # bit for bit
    assert (resumed.stats.disk_hits, resumed.stats.computed) == (STALL_AFTER, TOTAL - STALL_AFTER)
    assert _temporary(root) == [] and len(_keys(root)) == TOTAL == _rows(root)
    assert EmbeddingCache(root).verify() == []


@pytest.mark.skipif(sys.platform == "win32", reason="pids are POSIX here")
def test_two_processes_filling_one_cache_match_a_serial_run(tmp_path, workload, clean):
    root = tmp_path / "cache"
    outs = [tmp_path / "first.npy", tmp_path / "second.npy"]
    procs = [_spawn(root, out, "race") for out in outs]
    for out, proc in zip(outs, procs, strict=True):
        _wait_for(out.with_suffix(".ready"), proc)
    for out in outs:
        out.with_suffix(".go").write_text("")
    for proc in procs:
        err = _finish(proc)
        assert proc.returncode == 0, err
    stats = [json.loads(out.with_suffix(".json").read_text()) for out in outs]
    print(f"(computed, disk hits) per process: {stats}")
    for out in outs:
        assert np.array_equal(np.load(out), clean)
    assert all(computed + hits == TOTAL for computed, hits in stats)
    # A key both computed is in two shards: the same value, read once.
    assert _temporary(root) == [] and len(_keys(root)) == TOTAL
    assert EmbeddingCache(root).verify() == []
    reread = Extractor(build_encoder("pixels"), EmbeddingCache(root), num_workers=0)
    assert np.array_equal(reread.embed(*workload).X, clean)
    assert reread.stats.disk_hits == TOTAL


def test_writes_in_progress_are_left_alone_and_old_ones_swept(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put("fp", "a" * 64, np.ones(4, np.float32))
    folder = tmp_path / "fp" / "shards"
    mine = folder / f".{'b' * 8}.{_host()}-{os.getpid()}.x1.tmp"  # this process: alive
    other_host = folder / f".{'c' * 8}.00000000-1.x2.tmp"  # a pid that means nothing here
    unnamed = folder / ".partial.tmp"  # no writer in the name (e.g. a measurement)
    old = folder / ".dddddddd.00000000-1.x3.tmp"
    for path in (mine, other_host, unnamed, old):
        path.write_bytes(b"AKEMB1\n{half")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))

    (shard,) = _shards(tmp_path)
    assert cache.info()["fp"] == {"entries": 1, "bytes": shard.stat().st_size, "shards": 1,
                                  "legacy": 0, "temporary": 4, "newer_format": 0}
    assert cache.sweep() == 1
    assert sorted(p.name for p in _temporary(tmp_path)) == sorted(
        p.name for p in (mine, other_host, unnamed))
    assert cache.get("fp", "a" * 64) is not None and cache.stats.corrupt == 0


def _host() -> str:
    from auditkit import cache as cache_module

    return cache_module._HOST


def test_same_spec_with_other_weights_misses_the_cache(tmp_path):
    images, variants = builtin_probe_set(seed=0, max_images=2).images, jpeg_grid()[:1]

    def run(seed: int) -> tuple[Extractor, np.ndarray]:
        encoder = build_encoder("random:timm:resnet18", LoadOptions(seed=seed))
        extractor = Extractor(encoder, EmbeddingCache(tmp_path), num_workers=0)
        return extractor, extractor.embed(images, variants).X

    first, x0 = run(0)
    second, x1 = run(1)
    assert first.encoder.spec == second.encoder.spec
    assert first.encoder.weights_sha256 != second.encoder.weights_sha256
    assert (second.stats.disk_hits, second.stats.computed) == (0, 2)
    assert not np.allclose(x0, x1)
    third, again = run(0)
    assert third.stats.disk_hits == 2 and np.array_equal(again, x0)


def test_torchscript_file_overwritten_in_place_misses_the_cache(tmp_path):
    images, variants = builtin_probe_set(seed=0, max_images=2).images, jpeg_grid()[:1]
    path = tmp_path / "model.pt"
    path.with_name("model.pt.json").write_text(json.dumps({"input_size": [3, 32, 32]}))

    def save(seed: int) -> None:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1),
                                    torch.nn.Flatten())
        with pytest.warns(FutureWarning, match="deprecated"):  # TorchScript, torch >= 2.14
            torch.jit.script(model).save(str(path))

    def run() -> tuple[Extractor, np.ndarray]:
        extractor = Extractor(build_encoder(f"torchscript:{path}"), EmbeddingCache(tmp_path / "c"),
                              num_workers=0)
        return extractor, extractor.embed(images, variants).X

    save(0)
    _, before = run()
    save(1)  # retrained, same file name: the spec string does not change
    after_run, after = run()
    assert (after_run.stats.disk_hits, after_run.stats.computed) == (0, 2)
    assert not np.allclose(before, after)


def test_a_flipped_bit_is_recomputed_to_the_clean_value(tmp_path, workload, clean, caplog):
    # The kinds of damage are in tests/test_cache.py; this is the way back.
    images, variants = workload
    images = images[:3]
    Extractor(build_encoder("pixels"), EmbeddingCache(tmp_path), num_workers=0).embed(
        images, variants)
    victim = _shards(tmp_path)[0]
    blob = bytearray(victim.read_bytes())
    layout, _ = decode_head(bytes(blob))
    blob[layout.rows_at + layout.row_nbytes // 2] ^= 0x01  # one bit of one float of one row
    victim.write_bytes(bytes(blob))

    ex = Extractor(build_encoder("pixels"), EmbeddingCache(tmp_path), num_workers=0)
    table = ex.embed(images, variants)
    assert np.array_equal(table.X, clean[: 3 * N_VARIANTS])
    assert ex.cache is not None and ex.cache.stats.corrupt == 1
    assert (ex.stats.disk_hits, ex.stats.computed) == (3 * N_VARIANTS - 1, 1)
    assert "1 damaged row(s)" in caplog.text and "recomputed" in caplog.text
    assert not victim.exists()  # its intact rows were rewritten to a new shard
    assert EmbeddingCache(tmp_path).verify() == []
    again = Extractor(build_encoder("pixels"), EmbeddingCache(tmp_path), num_workers=0)
    assert np.array_equal(again.embed(images, variants).X, clean[: 3 * N_VARIANTS])
    assert again.stats.disk_hits == 3 * N_VARIANTS


def test_info_verify_finds_and_removes_corrupt_entries(tmp_path, capsys):
    cache = EmbeddingCache(tmp_path)
    for i in range(3):
        cache.put("fpabc", f"{i}" * 64, np.full(8, i, np.float32))
    (victim,) = [p for p in _shards(tmp_path)
                 if decode_head(p.read_bytes())[1].tolist() == [b"1" * 64]]
    victim.write_bytes(victim.read_bytes()[:-3] + b"xyz")  # its row digest

    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "       3 entries" in capsys.readouterr().out  # a plain info reads no entry
    assert main(["cache", "info", "--verify", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "verified every entry: 1 corrupt, removed" in out and str(victim) in out
    assert "       2 entries" in out
    assert cache.get("fpabc", "0" * 64) is not None and cache.get("fpabc", "1" * 64) is None


def test_clear_refuses_a_fingerprint_that_leaves_the_cache(tmp_path, capsys):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    cache_dir = tmp_path / "cache"
    EmbeddingCache(cache_dir).put("fpabc", "1" * 64, np.ones(3, np.float32))
    escape = ["--fingerprint", "../precious"]
    assert main(["cache", "clear", "--cache-dir", str(cache_dir), *escape]) == 2
    assert "not alphanumeric" in capsys.readouterr().err
    assert (outside / "keep.txt").exists() and len(_shards(cache_dir)) == 1
    assert main(["cache", "clear", "--cache-dir", str(cache_dir), "--fingerprint", "fpabc"]) == 0
    assert _shards(cache_dir) == []


class _NaNOnSecond:
    """Pixels, but the second image of every batch comes out NaN."""

    def __init__(self) -> None:
        self.inner = build_encoder("pixels")

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def embed_batch(self, batch):
        out = np.array(self.inner.embed_batch(batch))
        if len(out) > 1:
            out[1] = np.nan
        return out


def test_non_finite_embeddings_are_failures_never_cached(tmp_path, workload, clean):
    images, variants = workload
    ex = Extractor(_NaNOnSecond(), EmbeddingCache(tmp_path), batch_size=2, num_workers=0)
    table = ex.embed(images[:4], variants[:1])
    assert len(table) == 2 and np.isfinite(table.X).all()
    assert [image for image, _ in ex.stats.failed] == [images[1].id, images[3].id]
    assert "embedding has NaN or infinite values" in ex.stats.failed[0][1]
    assert len(_keys(tmp_path)) == 2
