"""Calibration of the verdicts: how often they are wrong where the truth is known.

A verdict is only as good as its interval. This module runs the real
measurement path many times, one seed at a time, on encoders whose truth is
known, and counts the verdicts of every threshold of the stock configuration:

``null_jpeg_quality``, ``null_processing_resizing``, ``null_retrieval_shift``
    :class:`~auditkit.encoders.planted.NoiseEncoder` on the built-in probe
    set: the features are independent of every label, so the true leakage and
    shift are 0 and any fail at a ``max`` threshold is a false fail. The seed
    moves the data subsample, the noise, the splits and the bootstrap.
``planted_probe``
    Synthetic embeddings shaped like a probe audit's (each source image one
    group with a row per class, a large content component shared by the
    group) plus a class signal whose population leakage is exact (see
    :func:`~auditkit.power.bayes_leakage`), through
    :func:`~auditkit.measures.classification.measure_probe`.
``planted_retrieval_shift``
    :class:`~auditkit.encoders.planted.TracePlantedEncoder` (content plus
    processing statistics at a fixed strength) through the retrieval audit;
    its true shift is estimated by the mean signed delta over the seeds.

Each (kind, threshold) gets a fail rate with a Clopper-Pearson 95 % interval:
a false-fail rate where the truth is at or below the threshold, a detection
rate where it is above. The study is slow; the command reproduces it::

    python benchmarks/calibration.py --seeds 100 --json calibration.json

and at a real encoder's width and the built-in set's size::

    python benchmarks/calibration.py --seeds 100 --only planted_probe --dim 768 \\
        --groups 240 --leakages 0 0.05 0.15 0.3 --large-groups 0 --jobs 1

It is a study of the package, not part of it: it lives beside the other
benchmarks and runs from a checkout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from auditkit.allocator import retain_freed_memory
from auditkit.context import AuditContext
from auditkit.data import builtin_probe_set
from auditkit.encoders.planted import NoiseEncoder, TracePlantedEncoder
from auditkit.errors import AuditkitError
from auditkit.extract import EmbeddingTable, Extractor
from auditkit.measures import retrieval_shift
from auditkit.measures.classification import measure_probe
from auditkit.power import separation_for_leakage
from auditkit.provenance import interpreter, utc_timestamp
from auditkit.registry import Audit, all_audits, get_audit
from auditkit.verdicts import Measurement, Threshold, thresholds_from_config

#: Null kinds -> the audit they run: every audit whose registry record asks for calibration.
NULL_KINDS: dict[str, Audit] = {
    a.null_kind: a for a in all_audits() if a.null_kind is not None
}
KINDS = (*NULL_KINDS, "planted_probe", "planted_retrieval_shift")
#: Population leakages planted in the probe study: a grouped null, one near
#: the 0.1 threshold (the power curve) and the documented effect, 0.3.
PLANTED_LEAKAGES = (0.0, 0.15, 0.3)
#: Strengths of the retrieval study's planted encoder.
PLANTED_STRENGTHS = (0.1, 0.2)
#: Shape of the synthetic probe data: classes (the JPEG audit's 6), width,
#: and the spread of the per-image content relative to the per-row noise.
PLANTED_CLASSES = 6
PLANTED_DIM = 32
PLANTED_CONTENT = 3.0


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact two-sided ``1 - alpha`` interval of a binomial rate ``k / n``.

    Examples
    --------
    >>> [round(x, 4) for x in clopper_pearson(0, 100)]
    [0.0, 0.0362]
    """
    if n <= 0:
        return (0.0, 1.0)
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)


@dataclass
class Tally:
    """Verdicts of one threshold over the seeds of one (kind, effect)."""

    kind: str
    threshold: Threshold
    truth: float
    truth_note: str
    verdicts: Counter[str] = field(default_factory=Counter)
    values: list[float] = field(default_factory=list)
    above_zero: int = 0
    below_zero: int = 0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, m: Measurement) -> None:
        verdict, _ = self.threshold.judge(m)
        self.verdicts[verdict] += 1
        self.values.append(float(m.value))
        self.above_zero += int(m.ci[0] > 0)
        self.below_zero += int(m.ci[1] < 0)

    def add_error(self, message: str) -> None:
        self.verdicts["error"] += 1
        self.errors.append(message)

    @property
    def n(self) -> int:
        return sum(self.verdicts.values())

    @property
    def rate_name(self) -> str:
        """``detection`` where a fail is right (truth above a max threshold), else false-fail."""
        return "detection" if self.truth > self.threshold.value else "false-fail"

    @property
    def rate(self) -> float:
        return self.verdicts["fail"] / self.n if self.n else float("nan")

    @property
    def rate_ci(self) -> tuple[float, float]:
        return clopper_pearson(self.verdicts["fail"], self.n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "case": self.threshold.case, "truth": self.truth,
            "truth_note": self.truth_note, "n": self.n,
            "verdicts": {v: self.verdicts[v] for v in ("pass", "inconclusive", "fail", "error")},
            "rate_name": self.rate_name, "rate": self.rate, "rate_ci": list(self.rate_ci),
            "mean_value": float(np.mean(self.values)) if self.values else None,
            "sd_value": float(np.std(self.values)) if self.values else None,
            "interval_above_zero": self.above_zero, "interval_below_zero": self.below_zero,
            "wall_s": self.wall_s, "errors": self.errors[:10],
        }


def stock_thresholds(audit: str) -> list[Threshold]:
    """The thresholds the stock configuration gives ``audit``."""
    stock = get_audit(audit).thresholds
    return thresholds_from_config(audit, {kind: list(values) for kind, values in stock.items()})


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def null_study(kinds: Sequence[str], seeds: Iterable[int], n_images: int = 120,
               progress: bool = False) -> tuple[list[Tally], float]:
    """Verdicts of a null encoder on the stock thresholds of each null kind.

    Per seed ``s``: ``builtin_probe_set(seed=s, max_images=n_images)``, one
    ``Extractor(NoiseEncoder(seed=s))`` shared by the kinds (as the audits of
    one run share the cache) and ``s`` as both the split seed and the data
    seed of every measurement (each seed re-draws data and splits). An audit
    error is counted as an ``error`` verdict, never as a pass.

    Returns the tallies and the seconds spent embedding (shared by the kinds;
    each tally's ``wall_s`` is its measurement time only).

    Examples
    --------
    >>> tallies, _ = null_study(["null_jpeg_quality"], range(2), n_images=36)  # doctest: +SKIP
    >>> tallies[0].verdicts                                                      # doctest: +SKIP
    """
    unknown = [k for k in kinds if k not in NULL_KINDS]
    if unknown:
        raise ValueError(f"got null kinds {unknown!r}, expected some of {list(NULL_KINDS)}")
    tallies = {kind: [Tally(kind, t, 0.0, "null encoder: features independent of the label")
                      for t in stock_thresholds(NULL_KINDS[kind].name)] for kind in kinds}
    timer = _TimedEmbedder()
    for i, seed in enumerate(seeds):
        probe_set = builtin_probe_set(seed=seed, max_images=n_images)
        timer.inner = Extractor(NoiseEncoder(seed=seed), cache=None)
        for kind in kinds:
            audit = NULL_KINDS[kind]
            ctx = AuditContext.of(audit.name, timer, probe_set, seed=seed, data_seed=seed)
            _measure_into(tallies[kind], partial(audit.measure, ctx), timer)
        _log(progress, f"[null] seed {seed} done ({i + 1} seeds)")
    return [t for kind in kinds for t in tallies[kind]], timer.seconds


class _TimedEmbedder:
    """An embedder that counts the seconds spent embedding, so that each
    tally's time is its measurement's alone (the kinds of one seed share the
    extractor's memory, as the audits of one run share the cache)."""

    def __init__(self) -> None:
        self.inner: Extractor | None = None
        self.seconds = 0.0

    def embed(self, images: Sequence[Any], variants: Sequence[Any]) -> EmbeddingTable:
        assert self.inner is not None
        start = time.perf_counter()
        try:
            return self.inner.embed(images, variants)
        finally:
            self.seconds += time.perf_counter() - start


def _measure_into(tallies: list[Tally], measure: Callable[[], dict[str, Measurement]],
                  timer: _TimedEmbedder | None = None) -> None:
    start, embedding = time.perf_counter(), (timer.seconds if timer else 0.0)
    try:
        ms = measure()
    except AuditkitError as exc:
        for t in tallies:
            t.add_error(f"{type(exc).__name__}: {exc}")
    else:
        for t in tallies:
            t.add(ms[t.threshold.metric])
    elapsed = time.perf_counter() - start - ((timer.seconds if timer else 0.0) - embedding)
    for t in tallies:
        t.wall_s += elapsed


def planted_embeddings(
    n_groups: int, leakage: float, seed: int = 0, n_classes: int = PLANTED_CLASSES,
    dim: int = PLANTED_DIM, content: float = PLANTED_CONTENT,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings of ``n_groups`` source images x ``n_classes`` variants with a known leakage.

    Row ``(g, c)`` is ``content * z_g + e_gc + mu_c``: ``z_g`` is shared by a
    group's rows (what the image shows), ``e_gc`` is per-row noise and the
    class means ``mu_c`` are orthogonal (random directions per seed) at the
    separation whose population leakage is ``leakage``.

    Returns ``X`` (n_groups * n_classes, dim), labels and groups.

    Examples
    --------
    >>> X, y, g = planted_embeddings(4, 0.3, n_classes=3, dim=8)
    >>> X.shape, sorted(set(y)), len(set(g))
    ((12, 8), ['c0', 'c1', 'c2'], 4)
    """
    rng = np.random.default_rng(seed)
    spread = np.sqrt(content**2 + 1.0)
    directions, _ = np.linalg.qr(rng.normal(size=(dim, n_classes)))
    means = separation_for_leakage(leakage, n_classes) * spread * directions.T
    shared = content * rng.normal(size=(n_groups, 1, dim))
    X = shared + rng.normal(size=(n_groups, n_classes, dim)) + means[None]
    y = np.tile(np.array([f"c{c}" for c in range(n_classes)], dtype=object), n_groups)
    groups = np.repeat(np.array([f"g{i:05d}" for i in range(n_groups)], dtype=object), n_classes)
    return X.reshape(-1, dim), y, groups


def planted_probe_study(leakages: Sequence[float], seeds: Iterable[int], n_groups: int = 120,
                        large_groups: int = 1000, progress: bool = False,
                        dim: int = PLANTED_DIM) -> tuple[list[Tally], dict[str, float]]:
    """Verdicts of the stock probe thresholds on planted leakages.

    Returns the tallies and, per leakage, what one probe on ``large_groups``
    groups measures (seed 0): the check that the planted value is what the
    probe converges to (0 skips it).

    Examples
    --------
    >>> tallies, large = planted_probe_study([0.3], range(2), n_groups=60)  # doctest: +SKIP
    """
    seeds = list(seeds)
    out: list[Tally] = []
    large: dict[str, float] = {}
    for leakage in leakages:
        note = (f"planted: population leakage {leakage:g} ({PLANTED_CLASSES} classes, "
                f"{dim} dims, {n_groups} groups, content x{PLANTED_CONTENT:g})")
        tallies = [Tally("planted_probe", t, leakage, note)
                   for t in stock_thresholds("jpeg_quality")]
        for seed in seeds:
            X, y, g = planted_embeddings(n_groups, leakage, seed=seed, dim=dim)
            _measure_into(tallies, partial(measure_probe, X, y, g, seed=seed))
        if large_groups:
            X, y, g = planted_embeddings(large_groups, leakage, seed=0, dim=dim)
            large[f"{leakage:g}"] = measure_probe(X, y, g, seed=0)["leakage"].value
        _log(progress, f"[planted_probe] leakage {leakage:g} done")
        out += tallies
    return out, large


def planted_retrieval_study(strengths: Sequence[float], seeds: Iterable[int], n_images: int = 120,
                            progress: bool = False) -> list[Tally]:
    """Verdicts of the stock retrieval thresholds on :class:`TracePlantedEncoder` ``strengths``.

    The truth of each strength is the mean signed delta over the seeds (the
    signed delta is unbiased; the paper's ``|delta|`` is not).

    Examples
    --------
    >>> tallies = planted_retrieval_study([0.2], range(2), n_images=36)  # doctest: +SKIP
    """
    tallies = {s: [Tally("planted_retrieval_shift", t, 0.0, "")
                   for t in stock_thresholds("retrieval_shift")] for s in strengths}
    for i, seed in enumerate(seeds):
        probe_set = builtin_probe_set(seed=seed, max_images=n_images)
        for strength in strengths:
            extractor = Extractor(TracePlantedEncoder(strength), cache=None)
            _measure_into(tallies[strength],
                          partial(retrieval_shift.measure, extractor, probe_set, seed=seed))
        _log(progress, f"[planted_retrieval] seed {seed} done ({i + 1} seeds)")
    for strength, rows in tallies.items():
        truth = float(np.mean(rows[0].values)) if rows[0].values else float("nan")
        for t in rows:
            t.truth = truth
            t.truth_note = (f"TracePlantedEncoder({strength:g}): mean delta {truth:.3f} "
                            "over the seeds")
    return [t for rows in tallies.values() for t in rows]


def run_group(group: str, seeds: int, images: int, kinds: Sequence[str], threads: int,
              progress: bool, leakages: Sequence[float] = PLANTED_LEAKAGES,
              strengths: Sequence[float] = PLANTED_STRENGTHS, large_groups: int = 1000,
              dim: int = PLANTED_DIM, groups: int | None = None,
              first_seed: int = 0) -> dict[str, Any]:
    """One independent part of the study, over seeds ``first_seed .. first_seed + seeds - 1``.

    ``group`` is ``null``, ``planted_probe`` or ``planted_retrieval_shift``;
    ``dim`` and ``groups`` (default ``images``) shape the planted probe data.
    """
    retain_freed_memory()  # as an audit run does: each fit's copies come from the heap
    if threads:
        import torch

        # Many small fits: on a shared machine a second thread per process
        # mostly adds contention.
        torch.set_num_threads(threads)
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    seed_range = range(first_seed, first_seed + seeds)
    if group == "null":
        tallies, extra["null_embed_s"] = null_study(kinds, seed_range, images, progress)
    elif group == "planted_probe":
        tallies, extra["planted_large_sample_leakage"] = planted_probe_study(
            leakages, seed_range, n_groups=groups or images, large_groups=large_groups,
            progress=progress, dim=dim)
    else:
        tallies = planted_retrieval_study(strengths, seed_range, images, progress)
    extra[f"{group}_wall_s"] = time.perf_counter() - start
    return {"results": [t.as_dict() for t in tallies], **extra}


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :meth:`Tally.as_dict` rows."""
    head = (f"{'kind':<24} {'case':<16} {'truth':>6} {'n':>4} {'pass':>5} {'inc':>4} "
            f"{'fail':>4} {'fail rate (95% CI)':<34} {'wall s':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        v = r["verdicts"]
        rate = (f"{r['rate_name']} {100 * r['rate']:.1f}% "
                f"[{100 * r['rate_ci'][0]:.1f}, {100 * r['rate_ci'][1]:.1f}]")
        lines.append(
            f"{r['kind']:<24} {r['case']:<16} {r['truth']:>6.3f} {r['n']:>4} {v['pass']:>5} "
            f"{v['inconclusive']:>4} {v['fail']:>4} {rate:<34} {r['wall_s']:>7.1f}"
        )
    return "\n".join(lines)


def _groups(kinds: Sequence[str]) -> dict[str, list[str]]:
    null = [k for k in kinds if k in NULL_KINDS]
    groups = {"null": null} if null else {}
    groups.update({k: [k] for k in kinds if k not in NULL_KINDS})
    return groups


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/calibration.py",
        description="Count verdicts of null and planted encoders over many seeds.",
    )
    parser.add_argument("--seeds", type=int, default=100,
                        help="seeds per case (FIRST..FIRST+N-1)")
    parser.add_argument("--first-seed", type=int, default=0, metavar="FIRST",
                        help="first seed: a study can be extended by disjoint runs, "
                             "pooled with --pool")
    parser.add_argument("--pool", type=Path, nargs="+", metavar="JSON",
                        help="pool the verdicts of earlier runs' JSON (disjoint seeds, same "
                             "settings) into one table, instead of running")
    parser.add_argument("--images", type=int, default=120,
                        help="built-in images (and planted probe groups) per seed")
    parser.add_argument("--only", action="append", choices=KINDS, metavar="KIND",
                        help=f"run only this kind (repeatable): {', '.join(KINDS)}")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--leakages", type=float, nargs="+", default=list(PLANTED_LEAKAGES),
                        help="population leakages of the planted_probe kind")
    parser.add_argument("--strengths", type=float, nargs="+", default=list(PLANTED_STRENGTHS),
                        help="TracePlantedEncoder strengths of the planted_retrieval_shift kind")
    parser.add_argument("--large-groups", type=int, default=1000,
                        help="groups of the one large planted_probe run per leakage (0: skip)")
    parser.add_argument("--dim", type=int, default=PLANTED_DIM,
                        help="embedding width of the planted_probe kind (real encoders: 512-1024)")
    parser.add_argument("--groups", type=int,
                        help="source images (groups) per seed of the planted_probe kind "
                             "(default: --images)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes: the null and planted-probe seeds are split among them "
                             "(disjoint pieces, pooled); the retrieval study runs whole")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = parser.parse_args(argv)
    if args.pool:
        pooled = pool_reports([json.loads(p.read_text(encoding="utf-8")) for p in args.pool])
        _write(pooled, args.json)
        print(format_table(pooled["results"]))
        return 0
    if min(args.seeds, args.images, args.jobs, args.dim, args.groups or 1) < 1:
        parser.error(f"--seeds, --images, --jobs, --dim and --groups must be positive, got "
                     f"{args.seeds}, {args.images}, {args.jobs}, {args.dim}, {args.groups}")
    kinds = args.only or list(KINDS)
    report: dict[str, Any] = {
        "command": "python benchmarks/calibration.py " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv),
        "date": utc_timestamp(),
        "machine": {"cpus": os.cpu_count(), **interpreter()},
        "seeds": args.seeds, "images": args.images, "results": [],
    }
    start = time.perf_counter()
    jobs = []
    for g, ks in _groups(kinds).items():
        # The retrieval study's truth is the mean over its seeds: they stay in one job.
        whole = g == "planted_retrieval_shift" or args.jobs == 1
        pieces = [(args.first_seed, args.seeds)] if whole else seed_chunks(
            args.first_seed, args.seeds, args.jobs)
        jobs += [(g, count, args.images, ks, args.threads, True, args.leakages, args.strengths,
                  args.large_groups if i == 0 else 0, args.dim, args.groups, first)
                 for i, (first, count) in enumerate(pieces)]
    if args.jobs == 1:
        parts = [run_group(*job) for job in jobs]
        for part in parts:
            _merge(report, part, args.json)
    else:
        # spawn: a forked child would inherit torch's thread pool in an unknown state.
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_group, *job) for job in jobs]
            for future in as_completed(futures):
                _merge(report, future.result(), args.json)
    report["wall_s"] = time.perf_counter() - start
    report["results"] = pool_rows(report["results"])
    order = {k: i for i, k in enumerate(KINDS)}
    report["results"].sort(key=lambda r: (order[r["kind"]], r["truth"], r["case"]))
    _write(report, args.json)
    print(format_table(report["results"]))
    print(f"wall time {report['wall_s']:.0f} s")
    return 0


def pool_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tally rows of disjoint seeds pooled per (kind, case, truth): verdicts summed, rates anew.

    The mean estimate is weighted by each row's seed count; the spread is not
    kept (the rows store none to pool).
    """
    pooled: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["kind"], row["case"], row["truth"])
        into = pooled.setdefault(key, {**row, "n": 0, "mean_value": 0.0, "sd_value": None,
                                       "verdicts": Counter(), "wall_s": 0.0, "errors": [],
                                       "interval_above_zero": 0, "interval_below_zero": 0})
        into["mean_value"] += (row["mean_value"] or 0.0) * row["n"]
        for name in ("n", "wall_s", "interval_above_zero", "interval_below_zero"):
            into[name] += row[name]
        into["verdicts"].update(row["verdicts"])
        into["errors"] += row["errors"]
    for row in pooled.values():
        n, fails = row["n"], row["verdicts"]["fail"]
        row["mean_value"] = row["mean_value"] / n if n else None
        row["verdicts"] = dict(row["verdicts"])
        row["rate"] = fails / n if n else float("nan")
        row["rate_ci"] = list(clopper_pearson(fails, n))
    return list(pooled.values())


def pool_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from runs over disjoint seeds (same settings), rows matched on
    (kind, case, truth) by :func:`pool_rows`."""
    return {
        "command": [r["command"] for r in reports], "date": utc_timestamp(),
        "machine": reports[0]["machine"], "seeds": sum(r["seeds"] for r in reports),
        "results": pool_rows(row for r in reports for row in r["results"]),
        "wall_s": sum(r["wall_s"] for r in reports),
    }


def seed_chunks(first: int, seeds: int, parts: int) -> list[tuple[int, int]]:
    """``(first seed, count)`` of at most ``parts`` contiguous, disjoint pieces of the seeds.

    Examples
    --------
    >>> seed_chunks(20, 10, 3)
    [(20, 4), (24, 3), (27, 3)]
    """
    parts = max(1, min(parts, seeds))
    sizes = [seeds // parts + (i < seeds % parts) for i in range(parts)]
    starts = itertools.accumulate(sizes[:-1], initial=first)
    return list(zip(starts, sizes, strict=True))


def _merge(report: dict[str, Any], part: dict[str, Any], path: Path | None) -> None:
    report["results"] += part.pop("results")
    report.update(part)
    # Written after each part so a long study keeps what it finished.
    _write(report, path)


def _write(report: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
        tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
