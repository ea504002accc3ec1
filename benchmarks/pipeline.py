"""How close auditkit's extraction comes to the encoder's own limit (issue 6).

One run measures, on the same images:

``forward``   (a) the encoder's pure forward throughput on already
              preprocessed, already collated batches, per batch size;
``pipeline``  (b) auditkit's end-to-end extraction throughput (decode,
              variant, preprocessing, forward, cache write) with a fresh
              disk cache, its ratio to (a), and a per-stage breakdown;
``audit``     (c) cold and warm wall time of ``pytest audits/`` for the
              encoder, and (d) forward passes against unique cache entries;
``probe``     (e) fit time of auditkit's probe against scikit-learn's
              default ``LogisticRegression()`` at equal accuracy;
``memory``    (f) peak RSS of extraction at two probe-set sizes, each in a
              fresh process, beside the size of the embeddings.

Usage::

    python benchmarks/pipeline.py --encoder random:open_clip:ViT-B-32 --json out.json
    python benchmarks/pipeline.py --encoder random:timm:resnet18 --images 32 \\
        --max-images 24 --skip memory --json /tmp/bench.json

Timings are wall-clock and only mean something on an otherwise idle
machine: the load average at start and end is recorded beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auditkit.cache import SUFFIX, EmbeddingCache, cache_key
from auditkit.data import load_probe_set
from auditkit.data.base import SourceImage
from auditkit.encoders import LoadOptions, build_encoder
from auditkit.encoders.base import Encoder
from auditkit.encoders.torch_encoder import AMP_DTYPES, set_amp
from auditkit.extract import Extractor, default_workers, pick_device, transform_seed
from auditkit.results import encoder_slug
from auditkit.transforms.base import Variant
from auditkit.transforms.quality import jpeg_grid

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("forward", "pipeline", "audit", "probe", "memory")
#: Exit statuses of ``pytest audits/`` that are verdicts, not errors (all passed, some failed).
AUDIT_OK = (0, 1)


# -- setup ---------------------------------------------------------------------


def machine_info(device: str) -> dict[str, Any]:
    """What a timing depends on: cores, threads, versions, device, date, load."""
    versions = {}
    for name in ("auditkit", "torch", "timm", "open_clip_torch", "scikit-learn", "numpy", "pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "dataloader_workers": default_workers(),
        "device": device,
        "gpu": gpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": list(os.getloadavg()),
    }


def select_variants(ids: Sequence[str]) -> list[Variant]:
    """Variants of the JPEG grid by id (``all``: the six of the JPEG audit).

    Examples
    --------
    >>> [v.id for v in select_variants(["jpeg/q75-420"])]
    ['jpeg/q75-420']
    """
    grid = {v.id: v for v in jpeg_grid()}
    if list(ids) == ["all"]:
        return list(grid.values())
    unknown = [i for i in ids if i not in grid]
    if unknown:
        raise SystemExit(
            f"--variants: unknown id(s) {unknown!r}, expected 'all' or some of {sorted(grid)}"
        )
    return [grid[i] for i in ids]


def build(spec: str, device: str, seed: int = 0, amp: str = "none") -> Encoder:
    """The encoder as an audit run builds it, on ``device``."""
    encoder = build_encoder(spec, LoadOptions(seed=seed)).to(device)
    if not set_amp(encoder, amp):
        raise SystemExit(f"--amp {amp}: encoder {spec!r} is not a torch encoder")
    return encoder


# -- (a) forward limit and the CPU stages ------------------------------------


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
        seed_i = transform_seed(seed, image.sha256)
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
) -> dict[str, Any]:
    """Images per second of ``encoder.embed_batch`` alone, per batch size.

    Batches are collated before the clock starts, so this is the model
    (with its host-device copies) and nothing else. Each batch size gets
    ``warmup`` untimed batches, then ``repeats`` timed passes over all items
    (the last batch filled by wrapping round); the median pass counts.

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
            for _ in range(repeats):
                t0 = time.perf_counter()
                for batch in batches:
                    encoder.embed_batch(batch)  # returns numpy: the device has synchronised
                passes[bs].append(n_batches * bs / (time.perf_counter() - t0))
        del batches
    return summarise_forward(passes)


def summarise_forward(passes: dict[int, list[float]]) -> dict[str, Any]:
    """Median and best images/s per batch size; the best batch size by median."""
    per_size = {
        bs: {"ips_median": statistics.median(p), "ips_best": max(p), "passes": p}
        for bs, p in passes.items()
    }
    best = max(per_size, key=lambda b: per_size[b]["ips_median"])
    return {
        "per_batch_size": per_size,
        "best_batch_size": best,
        "forward_ips": per_size[best]["ips_median"],
    }


# -- (b) end-to-end extraction ---------------------------------------------------


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
            "batch_size": ex.batch_size,
            "effective_batch": min(effective_batch(ex.batch_size, len(variants)), pairs),
            "workers": ex.num_workers,
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


# -- (c, d) whole audit runs ------------------------------------------------------


def run_audits(
    spec: str,
    cache_dir: Path,
    report_dir: Path,
    device: str | None = None,
    max_images: int | None = None,
    data: str | None = None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """One ``pytest audits/`` run for ``spec`` as a subprocess: wall time and exit status.

    No ``--audit-reference``: with ``--encoder`` the configured references
    do not join, so only ``spec`` is audited.
    """
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "audits/",
        f"--encoder={spec}",
        f"--audit-cache-dir={cache_dir}",
        f"--audit-report-dir={report_dir}",
        "-p",
        "no:cacheprovider",
        "-q",
        *extra,
    ]
    if device:
        cmd.append(f"--audit-device={device}")
    if max_images:
        cmd.append(f"--audit-max-images={max_images}")
    if data:
        cmd.append(f"--audit-data={data}")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    lines = done.stdout.strip().splitlines()
    out = {
        "seconds": seconds,
        "exit": done.returncode,
        "command": " ".join(cmd),
        "outcome": lines[-1].strip("= ") if lines else "",
    }
    if done.returncode not in AUDIT_OK:
        why = (
            f"killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"exited {done.returncode}"
        )
        out["error"] = f"{why}: {(done.stdout + done.stderr)[-3000:]}"
    return out


def extraction_counts(spec: str, cache_dir: Path, report_dir: Path) -> dict[str, Any]:
    """Embeddings computed by a run (its results.json) against ``.emb`` files on disk."""
    doc = json.loads((report_dir / encoder_slug(spec) / "results.json").read_text(encoding="utf-8"))
    fingerprint = doc["encoder"]["fingerprint"]
    extraction = doc["provenance"]["extraction"]
    folder = cache_dir / fingerprint[:16]
    entries = sum(1 for _ in folder.glob(f"*/*{SUFFIX}")) if folder.is_dir() else 0
    return {
        "fingerprint": fingerprint,
        "extraction": {
            k: extraction.get(k) for k in ("requested", "memory_hits", "disk_hits", "computed")
        },
        "failed": len(extraction.get("failed") or []),
        "measurements_reused": doc["provenance"].get("measurements_reused", []),
        "unique_keys": entries,
        "n_images": doc["provenance"].get("data", {}).get("n_images"),
    }


def audit_benchmark(
    spec: str, device: str | None = None, max_images: int | None = None, data: str | None = None
) -> dict[str, Any]:
    """Cold then warm ``pytest audits/`` on one fresh cache; forward passes vs unique keys.

    A ``--collect-only`` run first gives the fixed start-up cost (interpreter,
    imports, collection) that the warm run cannot go below.
    """
    with tempfile.TemporaryDirectory(prefix="auditkit-bench-") as tmp:
        cache_dir = Path(tmp) / "cache"
        startup = run_audits(
            spec,
            cache_dir,
            Path(tmp) / "collect",
            device,
            max_images,
            data,
            extra=["--collect-only"],
        )
        cold = run_audits(spec, cache_dir, Path(tmp) / "cold", device, max_images, data)
        if "error" in cold:
            return {"cold": cold, "error": f"cold run {cold['error']}"}
        cold_counts = extraction_counts(spec, cache_dir, Path(tmp) / "cold")
        warm = run_audits(spec, cache_dir, Path(tmp) / "warm", device, max_images, data)
        if "error" in warm:
            return {"cold": cold, "warm": warm, "error": f"warm run {warm['error']}"}
        warm_counts = extraction_counts(spec, cache_dir, Path(tmp) / "warm")
    forward = cold_counts["extraction"]["computed"]
    return {
        "max_images": max_images,
        "n_images": cold_counts["n_images"],
        "cold_s": cold["seconds"],
        "warm_s": warm["seconds"],
        "startup_s": startup["seconds"],
        "cold_exit": cold["exit"],
        "warm_exit": warm["exit"],
        "cold_outcome": cold["outcome"],
        "forward_passes": forward,
        "unique_keys": cold_counts["unique_keys"],
        "embedded_once": forward == cold_counts["unique_keys"],
        "cold_extraction": cold_counts["extraction"],
        "cold_failed": cold_counts["failed"],
        "warm_extraction": warm_counts["extraction"],
        "warm_measurements_reused": len(warm_counts["measurements_reused"]),
        "command": cold["command"],
    }


# -- (e) probe fitting ------------------------------------------------------------


def synthetic_probe_data(
    n: int, d: int, k: int, seed: int = 0, signal: float = 0.07, group_size: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian classes with a modest signal, in groups of ``group_size`` correlated rows.

    Rows of a group share a class and a random offset, like the variants of
    one source image, so that a grouped split matters. The default signal
    gives a balanced accuracy of about 0.6 at D=768, K=6 (chance 0.17).

    Examples
    --------
    >>> X, y, g = synthetic_probe_data(60, 8, 3)
    >>> X.shape, len(np.unique(g)), sorted(np.unique(y).tolist())
    ((60, 8), 12, [0, 1, 2])
    """
    rng = np.random.default_rng(seed)
    n_groups = n // group_size
    group_class = rng.permutation(np.arange(n_groups) % k)
    groups = np.repeat(np.arange(n_groups), group_size)
    y = group_class[groups]
    means = rng.normal(0.0, signal, (k, d))
    offsets = rng.normal(0.0, 0.5, (n_groups, d))
    X = means[y] + offsets[groups] + rng.normal(0.0, 1.0, (len(y), d))
    return X, y, groups


def _median_time(fit: Any, repeats: int) -> tuple[float, Any]:
    """Median seconds of ``fit()`` over ``repeats`` calls, and its last result."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def probe_comparison(
    n: int = 20_000,
    d: int = 768,
    k: int = 6,
    seed: int = 0,
    device: str = "cpu",
    full: bool = True,
    repeats: int = 3,
    signal: float = 0.07,
) -> dict[str, Any]:
    """Fit time and balanced accuracy of LinearProbe (C=1) and ``LogisticRegression()``.

    Both see the same grouped 80/20 split and the same features: scikit-learn
    gets the probe's own L2 normalisation and standardisation in a pipeline,
    so that both minimise the same objective (classes are balanced, so the
    probe's class weights are all one). Each is warmed up on a small slice,
    then fitted ``repeats`` times (median). ``full`` adds the probe with its
    C search, once, for information.

    Examples
    --------
    >>> res = probe_comparison(n=600, d=16, k=3, full=False, repeats=1)
    >>> res["equal_accuracy"]
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    from auditkit.probes import LinearProbe

    X, y, groups = synthetic_probe_data(n, d, k, seed, signal)
    train, test = next(StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(X, y, groups))
    Xtr, ytr, gtr = X[train], y[train], groups[train]
    out: dict[str, Any] = {
        "n": n,
        "d": d,
        "k": k,
        "n_train": len(train),
        "n_test": len(test),
        "n_groups": len(np.unique(groups)),
        "repeats": repeats,
    }

    def probe() -> Any:
        return LinearProbe(Cs=(1.0,), random_state=seed, device=device).fit(Xtr, ytr, gtr)

    def sklearn() -> Any:
        return make_pipeline(Normalizer(), StandardScaler(), LogisticRegression()).fit(Xtr, ytr)

    warm = slice(0, min(len(train), 50 * k))  # first calls pay for thread pools and imports
    LinearProbe(Cs=(1.0,), device=device).fit(Xtr[warm], ytr[warm])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_pipeline(Normalizer(), StandardScaler(), LogisticRegression()).fit(
            Xtr[warm], ytr[warm]
        )
        caught.clear()
        out["sklearn_fit_s"], sk = _median_time(sklearn, repeats)
    out["probe_fit_s"], fitted = _median_time(probe, repeats)
    out["auditkit_acc"] = float(balanced_accuracy_score(y[test], fitted.predict(X[test])))
    out["sklearn_acc"] = float(balanced_accuracy_score(y[test], sk.predict(X[test])))
    out["sklearn_n_iter"] = int(np.max(sk[-1].n_iter_))
    out["sklearn_converged"] = not any("converge" in str(w.message).lower() for w in caught)
    out["acc_diff"] = abs(out["auditkit_acc"] - out["sklearn_acc"])
    out["equal_accuracy"] = out["acc_diff"] <= 0.01
    out["speedup"] = out["sklearn_fit_s"] / out["probe_fit_s"]

    if full:
        t0 = time.perf_counter()
        searched = LinearProbe(random_state=seed, device=device).fit(Xtr, ytr, gtr)
        out["probe_search_fit_s"] = time.perf_counter() - t0
        out["probe_search_C"] = searched.C_
        out["probe_search_acc"] = float(balanced_accuracy_score(y[test], searched.predict(X[test])))
    return out


# -- (f) memory ---------------------------------------------------------------------


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
) -> dict[str, Any]:
    """:func:`memory_child` for each size, each in its own interpreter."""
    out = {}
    for n in sizes:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
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


# -- report -------------------------------------------------------------------------


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The headline keys of the JSON, from the per-step sections."""
    fwd, pipe = res.get("forward", {}), res.get("pipeline", {})
    audit, probe, mem = res.get("audit", {}), res.get("probe", {}), res.get("memory", {})
    ratio = same = None
    if "pipeline_ips" in pipe and "forward_ips" in fwd:
        ratio = pipe["pipeline_ips"] / fwd["forward_ips"]
        at_batch = fwd["per_batch_size"].get(pipe["effective_batch"])
        same = pipe["pipeline_ips"] / at_batch["ips_median"] if at_batch else None
    # How much of the cold run embedding would take at (b)'s rate (JPEG variants only: a floor).
    embed_s = (
        audit["forward_passes"] / pipe["pipeline_ips"]
        if audit.get("forward_passes") is not None and "pipeline_ips" in pipe
        else None
    )
    return {
        "forward_ips": fwd.get("forward_ips"),
        "pipeline_ips": pipe.get("pipeline_ips"),
        "cold_embed_estimate_s": embed_s,
        "ratio": ratio,
        "ratio_same_batch": same,
        "cold_s": audit.get("cold_s"),
        "warm_s": audit.get("warm_s"),
        "forward_passes": audit.get("forward_passes"),
        "unique_keys": audit.get("unique_keys"),
        "probe_fit_s": probe.get("probe_fit_s"),
        "sklearn_fit_s": probe.get("sklearn_fit_s"),
        "peak_rss_mb": {n: m["peak_rss_mb"] for n, m in mem.items()} or None,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def render_table(res: dict[str, Any]) -> str:
    """A plain two-column table of what was measured."""
    rows: list[tuple[str, Any]] = [
        ("encoder", res["encoder"]),
        ("device", res["machine"]["device"]),
        (
            "cpus / torch threads",
            f"{res['machine']['cpu_count']} / {res['machine']['torch_threads']}",
        ),
    ]
    fwd = res.get("forward")
    if fwd:
        for bs, r in fwd["per_batch_size"].items():
            rows.append(
                (
                    f"(a) forward img/s, batch {bs}",
                    f"{_fmt(r['ips_median'])} (best {_fmt(r['ips_best'])})",
                )
            )
        st = fwd["stages"]
        rows.append(
            (
                "    CPU stages ms/pair: load, variant, preprocess",
                f"{_fmt(st['load_ms'])}, {_fmt(st['transform_ms'])}, {_fmt(st['preprocess_ms'])}",
            )
        )
    pipe = res.get("pipeline")
    if pipe:
        rows += [
            (
                "(b) pipeline pairs/s",
                f"{_fmt(pipe['pipeline_ips'])} ({pipe['pairs']} pairs, batch "
                f"{pipe['effective_batch']}, {pipe['workers']} workers)",
            ),
            ("    cache write ms/entry", _fmt(pipe["cache_write_ms"])),
        ]
    if res["ratio"] is not None:
        rows.append(("    ratio b / a (best batch)", _fmt(res["ratio"])))
    if res["ratio_same_batch"] is not None:
        rows.append(("    ratio b / a (same batch)", _fmt(res["ratio_same_batch"])))
    audit = res.get("audit")
    if audit and "error" not in audit:
        which = f"{audit['n_images']} images" + ("" if audit["max_images"] else " (full set)")
        rows += [
            (
                "(c) pytest audits/ cold s",
                f"{_fmt(audit['cold_s'])} ({which}; {audit['cold_outcome']})",
            ),
            (
                "    warm s",
                f"{_fmt(audit['warm_s'])} ({audit['warm_extraction']['computed']} embedded, "
                f"{audit['warm_measurements_reused']} measurements read back)",
            ),
            ("    start-up s (--collect-only)", _fmt(audit["startup_s"])),
            ("    cold s embedding at (b)'s rate", _fmt(res["cold_embed_estimate_s"])),
            (
                "(d) forward passes / unique keys",
                f"{audit['forward_passes']} / {audit['unique_keys']}",
            ),
        ]
    elif audit:
        rows.append(("(c) pytest audits/", f"ERROR: {audit['error']}"))
    probe = res.get("probe")
    if probe:
        rows += [
            (
                f"(e) probe fit s, N={probe['n']} D={probe['d']} K={probe['k']}",
                f"auditkit {_fmt(probe['probe_fit_s'])} vs sklearn {_fmt(probe['sklearn_fit_s'])}",
            ),
            (
                "    balanced accuracy",
                f"auditkit {probe['auditkit_acc']:.4f} vs sklearn {probe['sklearn_acc']:.4f}",
            ),
        ]
        if "probe_search_fit_s" in probe:
            rows.append(
                (
                    "    probe with C search s",
                    f"{_fmt(probe['probe_search_fit_s'])} "
                    f"(C={probe['probe_search_C']:g}, acc "
                    f"{probe['probe_search_acc']:.4f})",
                )
            )
    for n, m in (res.get("memory") or {}).items():
        rows.append(
            (
                f"(f) peak RSS MB, {n} images",
                f"{_fmt(m['peak_rss_mb'])} (extraction +"
                f"{_fmt(m['extract_growth_mb'])}, embeddings {_fmt(m['embeddings_mb'])})",
            )
        )
    for err in res["errors"]:
        rows.append(("ERROR", err))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {_fmt(value)}" for name, value in rows)


# -- command line ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--encoder", required=True, metavar="SPEC", help="encoder spec, e.g. random:timm:resnet18"
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    p.add_argument(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)"
    )
    p.add_argument(
        "--images", type=int, default=128, help="built-in images for (a), (b) (default 128)"
    )
    p.add_argument(
        "--data", default=None, help="a probe-set folder or manifest instead of the built-in set"
    )
    p.add_argument(
        "--max-images", type=int, default=None, help="--audit-max-images of (c) (default: full set)"
    )
    p.add_argument(
        "--variants",
        nargs="+",
        default=["jpeg/q75-420"],
        help="JPEG-grid variant ids for (a), (b), (f), or 'all'",
    )
    p.add_argument(
        "--batch-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[8, 16, 32, 64],
        help="batch sizes of (a), comma-separated (default 8,16,32,64)",
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repeats of (a) and (b) (median counts)"
    )
    p.add_argument(
        "--pipeline-batch-size",
        type=int,
        default=None,
        help="Extractor batch size of (b) (default: the encoder's, as audits use)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="DataLoader workers of (b) (default: auditkit's)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--amp",
        choices=sorted(AMP_DTYPES),
        default="none",
        help="autocast dtype of the forward pass for (a), (b)",
    )
    p.add_argument("--probe-n", type=int, default=20_000, help="rows of the probe comparison (e)")
    p.add_argument(
        "--memory-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[60, 240],
        help="built-in set sizes of (f), comma-separated (default 60,240)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--skip", action="append", default=[], choices=STEPS, help="leave a step out (repeatable)"
    )
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.memory_child is not None:
        print(
            json.dumps(
                memory_child(args.encoder, args.memory_child, device, args.variants, args.seed)
            )
        )
        return 0
    res: dict[str, Any] = {
        "encoder": args.encoder,
        "machine": machine_info(device),
        "errors": [],
        "variants": [v.id for v in select_variants(args.variants)],
    }
    skip = set(args.skip)
    if not {"forward", "pipeline"} <= skip:
        encoder = build(args.encoder, device, args.seed, args.amp)
        probe = load_probe_set(args.data, seed=args.seed, max_images=args.images)
        variants = select_variants(args.variants)
        res["images"] = len(probe)
        forward, pipeline = forward_and_pipeline(
            encoder,
            probe.images,
            variants,
            None if "forward" in skip else args.batch_sizes,
            args.repeats,
            args.pipeline_batch_size,
            args.workers,
            args.seed,
            run_pipeline="pipeline" not in skip,
        )
        if forward is not None:
            res["forward"] = forward
        if pipeline is not None:
            res["pipeline"] = {**pipeline, "cache_write_ms": cache_write_ms(pipeline["dim"])}
        del encoder
    if "audit" not in skip:
        res["audit"] = audit_benchmark(args.encoder, args.device, args.max_images, args.data)
        if "error" in res["audit"]:
            res["errors"].append(f"pytest audits/: {res['audit']['error']}")
        elif not res["audit"]["embedded_once"]:
            res["errors"].append("forward passes differ from unique cache keys")
    if "probe" not in skip:
        res["probe"] = probe_comparison(
            n=args.probe_n, seed=args.seed, device=device, repeats=args.repeats
        )
    if "memory" not in skip:
        try:
            res["memory"] = peak_memory(
                args.encoder, args.memory_sizes, device, args.variants, args.seed, args.threads
            )
        except RuntimeError as exc:  # a failed child: report it beside what was measured
            res["errors"].append(str(exc))
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    res.update(summary(res))
    print(render_table(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    for err in res["errors"]:
        print(f"error: {err}", file=sys.stderr)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
