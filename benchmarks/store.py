"""The sharded embedding store against the file-per-entry store (issue 15, benchmark 5b).

For each size N (entries of D float32), in the same run and on the same disk:

``put``   N entries written through ``put_many`` in batches of ``--batch``
          (what extraction does: one call per backend batch); the old store
          writes one file per entry.
``disk``  bytes per entry: apparent (file sizes) and allocated (st_blocks).
``get``   a warm read of all N (page cache warm, a fresh store object, so the
          index is built and every row's digest checked): ``get_many`` in
          chunks of ``--chunk`` keys, and one ``get`` per key (the Extractor's path).
``peak``  peak RSS of a fresh process reading the whole new store in chunks,
          before and after ``compact`` (many small shards, then few large
          ones), and its anonymous memory sampled after each chunk: the
          process's own memory is the index (16 bytes an entry) and one
          chunk; RSS adds the mapped shard pages the read touched.

Usage::

    nice -n 10 python benchmarks/store.py --sizes 10000 100000 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.cache import EmbeddingCache
from auditkit.entry_files import EntryFiles
from auditkit.provenance import machine_info

FP = "benchfingerprint"

# ru_maxrss survives fork and exec on Linux (the parent's peak): the child
# resets its high-water mark (clear_refs 5) and reads VmHWM instead. VmHWM
# counts the pages of the memory-mapped shards that a read touched (page
# cache, shared, given back under pressure) as well as the process's own
# memory; RssAnon, sampled after every chunk, is the latter alone.
PEAK = """
import sys, time
from auditkit.cache import EmbeddingCache
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
root, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keys = [l for l in open(sys.argv[4]).read().split()]
open("/proc/self/clear_refs", "w").write("5")
base, anon_base = status("VmHWM"), status("RssAnon")
cache = EmbeddingCache(root)
t = time.perf_counter()
got, anon = 0, anon_base
for i in range(0, n, chunk):
    got += len(cache.get_many("benchfingerprint", keys[i:i + chunk]))
    anon = max(anon, status("RssAnon"))
print(got, base, status("VmHWM"), time.perf_counter() - t, anon_base, anon)
"""


def _keys(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def _disk(root: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) under ``root``."""
    files = size = blocks = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            st = os.stat(os.path.join(dirpath, name))
            files, size, blocks = files + 1, size + st.st_size, blocks + st.st_blocks * 512
    return files, size, blocks


def _warm(root: Path) -> None:
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def _peak(root: Path, n: int, chunk: int, keys_file: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", PEAK, str(root), str(n), str(chunk),
                          str(keys_file)], capture_output=True, text=True, env=env, check=True)
    got, base, peak, seconds, anon_base, anon = out.stdout.split()
    assert int(got) == n, out
    return {"rss_before_read_mb": int(base) / 1024, "peak_rss_mb": int(peak) / 1024,
            "anon_before_read_mb": int(anon_base) / 1024,
            "peak_anon_sampled_mb": int(anon) / 1024, "read_s": float(seconds)}


def bench(n: int, dim: int, batch: int, chunk: int, workdir: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    keys = _keys(n)
    order = keys[:]
    random.Random(0).shuffle(order)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    out: dict[str, Any] = {"n": n, "dim": dim, "batch": batch, "chunk": chunk}
    for kind in ("shards", "files"):
        root = workdir / f"{kind}-{n}"
        store: Any = EmbeddingCache(root) if kind == "shards" else EntryFiles(root)
        t = time.perf_counter()
        for i in range(0, n, batch):
            store.put_many(FP, dict(zip(keys[i:i + batch], vectors[i:i + batch], strict=True)))
        put_s = time.perf_counter() - t
        files, size, blocks = _disk(root)
        _warm(root)
        fresh: Any = EmbeddingCache(root) if kind == "shards" else EntryFiles(root)
        t = time.perf_counter()
        got = 0
        for i in range(0, n, chunk):
            got += len(fresh.get_many(FP, order[i:i + chunk]))
        get_many_s = time.perf_counter() - t
        assert got == n, (kind, got)
        fresh = EmbeddingCache(root) if kind == "shards" else EntryFiles(root)
        sample = order[: min(n, 20000)]
        t = time.perf_counter()
        for key in sample:
            assert fresh.get(FP, key) is not None
        get_one_us = (time.perf_counter() - t) / len(sample) * 1e6
        row = {"put_s": put_s, "put_us_per_entry": put_s / n * 1e6, "files": files,
               "bytes_per_entry": size / n, "allocated_bytes_per_entry": blocks / n,
               "get_many_s": get_many_s, "get_many_us_per_entry": get_many_s / n * 1e6,
               "get_one_us_per_entry": get_one_us}
        if kind == "shards":
            keys_file = workdir / "keys.txt"
            keys_file.write_text("\n".join(order))
            row["peak_many_shards"] = {"shards": files, **_peak(root, n, chunk, keys_file)}
            before_after = EmbeddingCache(root).compact()[FP[:16]]
            _warm(root)
            row["peak_compacted"] = {"shards": before_after[1], **_peak(root, n, chunk, keys_file)}
        out[kind] = row
        print(f"N={n:>8} {kind:>6}: put {row['put_us_per_entry']:7.1f} us/entry, "
              f"{row['bytes_per_entry']:7.0f} B/entry ({row['allocated_bytes_per_entry']:.0f} "
              f"allocated), warm get_many {row['get_many_us_per_entry']:6.2f} us/entry, "
              f"get {get_one_us:6.1f} us/entry", flush=True)
        shutil.rmtree(root)
    for name in ("put_us_per_entry", "get_many_us_per_entry", "get_one_us_per_entry"):
        out[f"speedup_{name}"] = out["files"][name] / out["shards"][name]
    print(f"N={n:>8} speed-up (files / shards): put {out['speedup_put_us_per_entry']:.1f}x, "
          f"warm get_many {out['speedup_get_many_us_per_entry']:.1f}x, "
          f"get {out['speedup_get_one_us_per_entry']:.1f}x", flush=True)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--batch", type=int, default=256, help="entries per put_many (default 256)")
    p.add_argument("--chunk", type=int, default=10_000, help="keys per get_many (default 10000)")
    p.add_argument("--dir", type=Path, default=None, help="where the stores go (default: tmp)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    info = machine_info("cpu")
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in args.sizes:
            results.append(bench(n, args.dim, args.batch, args.chunk, Path(tmp)))
    info["loadavg_end"] = list(os.getloadavg())
    doc = {"machine": info, "results": results}
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
