"""Retrieval shift under processing correlated with the label (Ramos et al., ICCV 2025).

What the reference does
-----------------------
The authors' released code (``processing_semantic_influence/`` of
ryan-caesar-ramos/visual-encoder-traces) runs one experiment per processing
family, each over its own list of processings:

* JPEG: quality 75, 85, 95 x 4:2:0, 4:4:4 (6);
* sharpening: JPEG 95 4:4:4, sharpen 2, sharpen 4 (3);
* resizing: JPEG 95 4:4:4, half, double (3);
* interpolation: bilinear, bicubic, Lanczos, box (4).

Queries are the validation split under ``p_test``; the database is the
training split, and each database image carries a processing that depends on
whether it shares the query's class ("positives") or not ("negatives"). For
every ordered pair ``(p_test, p_other)``, ``p_other != p_test``:

============  =====================  =====================
setting       positives              negatives
============  =====================  =====================
baseline      ``p_test``             ``p_test``
pos-same      ``p_test``             ``p_other``
neg-same      ``p_other``            ``p_test``
all-diff      ``p_other``            ``p_other``
uniform       one processing drawn at random per database image
============  =====================  =====================

So all-diff is the whole database under the other processing. Uniform draws
each database image's processing with replacement (the same draw for
positives and negatives and for every ``p_test``) and is run with seeds 0 to
9. The vote is an unweighted count over the ``k`` nearest neighbours by
cosine similarity, k = 10 on ImageNet and 1 on iNaturalist, scored as plain
top-1 accuracy. Each setting's accuracy is the plain mean over its runs:
every ordered pair for pos-same, neg-same and all-diff, every ``p_test`` for
baseline, every ``p_test`` x 10 seeds for uniform. The accuracies averaged
are signed; nothing takes ``|delta|``, and nothing is pooled across families
or given an interval.

What auditkit does, and where it departs
----------------------------------------
The settings, the families and the per-family mean above are the
reference's; ``delta = acc(pos-same) - acc(neg-same)`` per ordered pair, and
a family's delta is its mean over the family's ordered pairs (equal to the
difference of the reference's two setting means). The departures:

* **One probe set, split by group.** A probe set has no training and
  validation split, so about a quarter of each class's source-image groups
  are queries and the rest the database; the variants of one source image
  never fall on both sides.
* **Balanced accuracy** (mean per-class recall) instead of plain top-1: a
  user's folder need not be balanced. On a balanced set the two agree.
* **Vote ties** go to the label whose tied neighbours have the larger summed
  similarity, then to the first label (:mod:`auditkit.knn`); the reference
  leaves them to the order of torch's sort. k = 10 always.
* **Interpolation classes end in JPEG 95 4:4:4** and draw a scale in
  1 +- 0.2 per image (:mod:`auditkit.transforms.processing`), as the
  processing audits do, so their embeddings are shared.
* **Uniform seeds** are :data:`N_UNIFORM_SEEDS` streams derived from the
  run's seed and the family's name, not the fixed seeds 0 to 9; uniform is
  their mean, as in the reference. It is reported, not judged.
* **An interval.** Every accuracy gets a bootstrap over query groups (the
  database held fixed); the reference reports points. The replicates of the
  judged statistic (per resample, the largest family delta) and of the
  accuracy are kept in ``details["replicates"]``, so that a baseline
  comparison on the same query groups can pair them (:mod:`auditkit.compare`).
* **A verdict on the largest family.** The value judged is the largest of
  the four family deltas, and every family is shown. Taking the largest of
  several noisy estimates biases it upward, so under the null the chance
  that some family's 95 % interval lies above a threshold grows with the
  number of families. Each family's interval is therefore taken at
  ``1 - ALPHA / F`` (Bonferroni, F = 4 families: 98.75 %); all F cover their
  deltas at once with probability at least ``1 - ALPHA``, and then
  ``[max lower, max upper]`` covers the largest delta. That envelope is the
  judged interval: a fail needs one family clearly above the threshold, a
  pass needs every family clearly below it. Bonferroni is conservative here
  (the families share the queries and the JPEG 95 variant); a joint
  max-statistic bootstrap would be tighter but harder to state. Separate
  audits per family were the other option: they would rename the stock
  audit (breaking configurations and stored baselines) and recompute the
  split four times, for the same guarantee per case but none for the set.
  ``detectable`` is the largest family's smallest detectable shift at the
  Bonferroni level.
* **The signed delta** is judged, like the reference's signed means; the
  mean ``|delta|`` over pairs is shown beside it, biased upward on small
  query sets (a null encoder's lies well above 0).
* **Near the ceiling the case is inconclusive.** When a family's baseline
  accuracy leaves less than :data:`CEILING_ROOM` (the smallest stock
  ``max_delta``) below 1, the classes are too easy for processing to move
  retrieval, so a delta near 0 says little about the embedding: the
  measurement is degenerate, with the families named in
  ``details["degenerate"]``. A clear fail stays a fail. It is also
  degenerate when retrieval collapsed (every query gets one class).

The ``delta`` measurement has chance 0 (no shift) and ``n`` = queries. The
interval holds the database fixed: on the built-in set a null encoder's
pooled 95 % interval missed 0 in 7-9 % of 100 seeded runs at 120-240 images,
never reaching a fail at ``max_delta=0.05``; the Bonferroni envelope is wider.

Similarities of every query to every database image under every processing
are computed once per block of queries, and each setting picks, per
database image, the column of its processing. The variants are those of the
JPEG and processing audits, so their embeddings are cache hits shared with
those audits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from scipy.stats import norm

from auditkit import seeds
from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet
from auditkit.device import tensor_device
from auditkit.errors import NotApplicable, ProbeSetError
from auditkit.extract import Embedder
from auditkit.knn import MAX_BLOCK_CELLS, K, block_rows, l2_normalise, vote_composed
from auditkit.registry import register_audit
from auditkit.stats import (
    ALPHA,
    DETECT_FACTOR,
    POWER,
    Estimate,
    bootstrap_weights,
    null_se,
    replicate_details,
    resampling_id,
    weighted_balanced_accuracy,
)
from auditkit.transforms.base import Variant
from auditkit.transforms.processing import (
    interpolation_variants,
    resizing_variants,
    sharpening_variants,
)
from auditkit.transforms.quality import jpeg_grid
from auditkit.verdicts import Measurement

AUDIT = "retrieval_shift"

#: The reference's four experiments, each judged on its own.
FAMILIES: dict[str, Callable[[], list[Variant]]] = {
    "jpeg": jpeg_grid,
    "sharpening": sharpening_variants,
    "resizing": resizing_variants,
    "interpolation": interpolation_variants,
}

#: Share of each class's groups used as queries.
QUERY_FRACTION = 0.25
#: Fewer query groups than this give no usable interval.
MIN_QUERY_GROUPS = 10
N_BOOT = 2000
#: Random database compositions averaged in the uniform setting (the reference's 10).
N_UNIFORM_SEEDS = 10
#: A family whose baseline accuracy leaves less than this below 1 is at the ceiling:
#: the smallest stock ``max_delta``, so pos-same cannot rise by a threshold's worth.
CEILING_ROOM = 0.05
#: The database compositions, in the order of the card.
SETTINGS = ("baseline", "pos_same", "neg_same", "all_diff", "uniform")
#: What each setting gives positives and negatives, for the card.
SETTING_DEFINITIONS = {
    "baseline": "positives and negatives under p_test",
    "pos_same": "positives under p_test, negatives under p_other",
    "neg_same": "positives under p_other, negatives under p_test",
    "all_diff": "the whole database under p_other",
    "uniform": f"one random processing per database image, mean of {N_UNIFORM_SEEDS} draws",
}


@dataclass
class QuerySplit:
    """Indices of query and database images; no group is on both sides."""

    queries: np.ndarray
    database: np.ndarray
    seed: int


def split_queries(
    labels: Sequence[str] | np.ndarray, groups: Sequence[str] | np.ndarray,
    fraction: float = QUERY_FRACTION, seed: int = 0,
) -> QuerySplit:
    """Put ``fraction`` of each class's groups (at least one, never all) in the queries.

    A group belongs to the class most of its images have (ties: the first
    name). Every class needs two groups, so that it has queries and positives
    in the database; ``StratifiedGroupKFold`` cannot promise both sides for
    small classes, hence this direct split.

    Examples
    --------
    >>> s = split_queries(["a"] * 4 + ["b"] * 4, list("ppqrsstu"), fraction=0.25)
    >>> len(s.queries) + len(s.database)
    8
    """
    labels, groups = np.asarray(labels, dtype=object), np.asarray(groups, dtype=object)
    owner: dict[str, str] = {}
    for g in sorted(set(groups.tolist())):
        names, counts = np.unique(labels[groups == g], return_counts=True)
        owner[g] = str(names[np.argmax(counts)])
    rng = seeds.rng(seed)
    query_groups: set[str] = set()
    for c in sorted(set(owner.values())):
        own = sorted(g for g, o in owner.items() if o == c)
        if len(own) < 2:
            raise ProbeSetError(
                f"class {c!r} has {len(own)} group(s), expected at least 2: a class needs "
                "queries and database images from different source images; add images"
            )
        n_query = min(len(own) - 1, max(1, round(fraction * len(own))))
        query_groups.update(rng.permutation(own)[:n_query].tolist())
    is_query = np.array([g in query_groups for g in groups.tolist()], dtype=bool)
    return QuerySplit(np.flatnonzero(is_query), np.flatnonzero(np.logical_not(is_query)), seed)


@dataclass
class FamilyOutcomes:
    """Per-query correctness of every setting of one processing family.

    ``pos_same[t, o]``, ``neg_same[t, o]`` and ``all_diff[t, o]`` hold the
    queries under processing ``t`` against ``o`` (rows with ``t == o`` unused).
    ``uniform[t]`` is the share of the ``assignments`` (one row per seed, a
    processing per database image) under which each query is right.
    """

    baseline: np.ndarray
    baseline_pred: np.ndarray
    uniform: np.ndarray
    pos_same: np.ndarray
    neg_same: np.ndarray
    all_diff: np.ndarray
    assignments: np.ndarray

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Ordered pairs ``(p_test, p_other)``, ``p_test != p_other``, in table order."""
        P = len(self.baseline)
        return [(t, o) for t in range(P) for o in range(P) if o != t]

    def rows(self, setting: str) -> np.ndarray:
        """Correctness (S, m) of one setting: a row per processing, or per ordered pair."""
        values = getattr(self, setting)
        if values.ndim == 2:
            return values
        t, o = np.array(self.pairs).T
        return values[t, o]


def uniform_assignments(n_processings: int, n_database: int, seed: int, family: str,
                        n_seeds: int = N_UNIFORM_SEEDS) -> np.ndarray:
    """(n_seeds, n_database) processing codes, one seeded draw per row, with replacement.

    Examples
    --------
    >>> uniform_assignments(3, 5, seed=0, family="resizing", n_seeds=2).shape
    (2, 5)
    """
    return np.stack([seeds.rng(seed, "retrieval-uniform", family, s).integers(
        n_processings, size=n_database) for s in range(n_seeds)])


def family_outcomes(
    Eq: np.ndarray, Ed: np.ndarray, q_codes: np.ndarray, d_codes: np.ndarray, n_classes: int,
    assignments: np.ndarray, k: int = K, max_cells: int = MAX_BLOCK_CELLS,
) -> FamilyOutcomes:
    """k-NN correctness of each setting for queries ``Eq`` (P, m, dim) over ``Ed`` (P, n, dim).

    Embeddings must be L2-normalised; ``assignments`` (seeds, n) gives the
    uniform setting's processing of each database image under each seed
    (:func:`uniform_assignments`).

    Examples
    --------
    >>> A = uniform_assignments(len(Eq), Ed.shape[1], 0, "jpeg")     # doctest: +SKIP
    >>> out = family_outcomes(Eq, Ed, q_codes, d_codes, 6, A)       # doctest: +SKIP
    >>> out.pos_same[0, 1].mean(), out.neg_same[0, 1].mean()        # doctest: +SKIP
    """
    P, m, _ = Eq.shape
    n = Ed.shape[1]
    assignments = np.atleast_2d(np.asarray(assignments))
    if assignments.shape[1] != n or assignments.min() < 0 or assignments.max() >= P:
        raise ValueError(f"got uniform assignments of shape {assignments.shape}, expected "
                         f"(seeds, {n}) with codes below {P}")
    out = FamilyOutcomes(
        baseline=np.zeros((P, m), bool), baseline_pred=np.zeros((P, m), np.int64),
        uniform=np.zeros((P, m)), pos_same=np.zeros((P, P, m), bool),
        neg_same=np.zeros((P, P, m), bool), all_diff=np.zeros((P, P, m), bool),
        assignments=assignments,
    )
    on = tensor_device()
    Q: np.ndarray | torch.Tensor
    DT: np.ndarray | torch.Tensor
    if on is None:
        Q, DT = Eq, np.ascontiguousarray(Ed.transpose(0, 2, 1))
    else:
        # On the measurement's accelerator: similarities, composition and top k there;
        # only each query's k neighbours come back for the vote.
        Q = torch.as_tensor(Eq, device=on)
        DT = torch.as_tensor(Ed, device=on).transpose(1, 2).contiguous()
    # Alive at once: P similarity layers, the composed one and the k-NN temporaries.
    step = block_rows(n, layers=P + 4, max_cells=max_cells)
    for start in range(0, m, step):
        rows = slice(start, start + step)
        truth = q_codes[rows]
        same: np.ndarray | torch.Tensor = truth[:, None] == d_codes[None, :]
        if on is not None:
            same = torch.as_tensor(same, device=on)
        for t in range(P):
            S = Q[t, rows][None] @ DT
            vote = partial(vote_composed, S, same, d_codes, n_classes, k)
            pred = vote(t, t)
            out.baseline_pred[t, rows] = pred
            out.baseline[t, rows] = pred == truth
            out.uniform[t, rows] = np.mean([vote(a, a) == truth for a in assignments], axis=0)
            for o in range(P):
                if o != t:
                    out.pos_same[t, o, rows] = vote(t, o) == truth
                    out.neg_same[t, o, rows] = vote(o, t) == truth
                    out.all_diff[t, o, rows] = vote(o, o) == truth
    return out


def _embed(extractor: Embedder, probe_set: ProbeSet, variants: list[Variant]
           ) -> tuple[np.ndarray, np.ndarray]:
    """(P, n_images, dim) unit embeddings and which images have every variant."""
    images = probe_set.images
    table = extractor.embed(images, variants)
    if len(table) == 0:
        raise ProbeSetError(
            f"probe set {probe_set.name!r}: no image could be embedded under "
            f"{[v.id for v in variants]!r}; see the extraction errors above"
        )
    row = {im.id: i for i, im in enumerate(images)}
    col = {v.id: j for j, v in enumerate(variants)}
    i = np.array([row[x] for x in table.image_ids.tolist()])
    j = np.array([col[v] for v in table.variant_ids.tolist()])
    E = np.zeros((len(variants), len(images), table.X.shape[1]), np.float32)
    have = np.zeros((len(variants), len(images)), bool)
    E[j, i] = l2_normalise(table.X)
    have[j, i] = True
    return E, np.asarray(have.all(axis=0))


def measure(
    extractor: Embedder, probe_set: ProbeSet, seed: int = 0, k: int = K,
    query_fraction: float = QUERY_FRACTION, n_boot: int = N_BOOT,
) -> dict[str, Measurement]:
    """Retrieval shift (``delta``) and baseline k-NN accuracy (``accuracy``).

    ``delta`` is the largest family's mean signed shift, with the envelope of
    the families' Bonferroni intervals; its ``chance`` is 0 (no shift), ``n``
    the number of queries, ``detectable`` the smallest shift every family
    could detect. ``accuracy`` is the baseline setting's balanced k-NN
    accuracy over every family's processings, chance 1 / classes.

    Raises
    ------
    NotApplicable
        Fewer than two classes, a class with fewer than two groups, or fewer
        than :data:`MIN_QUERY_GROUPS` query groups.

    Examples
    --------
    >>> ms = measure(Extractor(build_encoder("pixels")), builtin_probe_set())  # doctest: +SKIP
    >>> ms["delta"].value, ms["delta"].details["judged_family"]               # doctest: +SKIP
    """
    # Refuse an unusable set before spending time on embeddings.
    _checked_split(probe_set.name, np.array(probe_set.labels, dtype=object),
                   np.array([im.group for im in probe_set.images], dtype=object),
                   query_fraction, seed)
    families = {name: make() for name, make in FAMILIES.items()}
    embedded = {name: _embed(extractor, probe_set, vs) for name, vs in families.items()}
    usable = np.logical_and.reduce([ok for _, ok in embedded.values()])
    keep = np.flatnonzero(usable)
    labels = np.array([probe_set.images[i].label for i in keep], dtype=object)
    groups = np.array([probe_set.images[i].group for i in keep], dtype=object)
    split, classes, q_groups = _checked_split(probe_set.name, labels, groups, query_fraction, seed)
    codes = np.searchsorted(classes, labels)
    q_codes, d_codes = codes[split.queries], codes[split.database]
    outcomes = {
        name: family_outcomes(
            E[:, keep[split.queries]], E[:, keep[split.database]], q_codes, d_codes,
            len(classes), uniform_assignments(len(E), len(split.database), seed, name), k)
        for name, (E, _) in embedded.items()
    }
    G = len(q_groups)
    # Row 0 weighs every query group once: the point estimate. Every family
    # shares the replicates, so their intervals come from the same resamples.
    weights = np.vstack([np.ones(G), bootstrap_weights(G, n_boot, seed)])
    g_idx = np.searchsorted(q_groups, groups[split.queries])
    score = partial(weighted_balanced_accuracy, g_idx=g_idx, c_idx=q_codes, weights=weights)
    n_q = len(split.queries)
    shifts = [_family_shift(variants, outcomes[name], score, len(families), n_q)
              for name, variants in families.items()]
    top = max(zip(families, shifts, strict=True), key=lambda s: s[1].delta.value)
    # Envelope of the simultaneous intervals: it covers the largest delta
    # whenever every family's interval covers its own.
    ci = (max(s.simultaneous_ci[0] for s in shifts), max(s.simultaneous_ci[1] for s in shifts))
    detectable = max(s.detectable for s in shifts)
    accuracy_draws = np.hstack([score(o.rows("baseline")) for o in outcomes.values()]
                               ).mean(axis=1)
    accuracy = _estimate(accuracy_draws)
    # The judged statistic per replicate: the largest family delta of that
    # resample (row 0 the point), paired with another run's by the draw id.
    judged_draws = np.max([s.draws for s in shifts], axis=0)
    accuracy_se = max(accuracy.se, null_se(np.bincount(q_codes, minlength=len(classes))))
    collapsed = _collapsed(outcomes)
    ceiling = _ceiling(dict(zip(families, shifts, strict=True)))
    why = "; ".join(r for r in (collapsed, ceiling) if r)
    details: dict[str, object] = {
        "delta": top[1].delta.value, "delta_ci": list(ci), "judged_family": top[0],
        "simultaneous_level": 1 - ALPHA / len(families),
        "detectable_delta": detectable,
        "accuracy": accuracy.value, "accuracy_ci": list(accuracy.ci),
        "chance": 1.0 / len(classes), "ceiling_room": CEILING_ROOM,
        "at_ceiling": [name for name, s in zip(families, shifts, strict=True) if s.at_ceiling],
        "settings": {s.replace("_", "-"): d for s, d in SETTING_DEFINITIONS.items()},
        "families": {name: s.report for name, s in zip(families, shifts, strict=True)},
        "mean_abs_delta_note": (
            "mean |delta| over pairs: biased upward, most on small query sets (a null "
            "encoder's lies well above 0); the reference and the verdict use the signed delta"
        ),
        "definition": (
            "per family, as in the reference: delta = balanced k-NN accuracy(pos-same) - "
            "accuracy(neg-same), averaged over the family's ordered pairs (p_test, p_other); "
            "all-diff: the whole database under p_other; uniform: mean over "
            f"{N_UNIFORM_SEEDS} seeded random processings per database image. Judged: the "
            f"largest family delta, with the envelope of the families' "
            f"{100 * (1 - ALPHA / len(families)):g} % (Bonferroni) bootstrap intervals over "
            "query groups"
        ),
        "k": k, "split_seed": seed, "query_fraction": query_fraction, "n_queries": n_q,
        "n_database": len(split.database), "n_query_groups": G,
        "n_database_groups": len(set(groups[split.database].tolist())),
        "n_classes": len(classes), "classes": classes,
        "queries_per_class": _per_class(q_codes, classes),
        "database_per_class": _per_class(d_codes, classes),
        "skipped_images": [probe_set.images[i].id for i in np.flatnonzero(~usable)][:200],
        "n_boot": n_boot, "n_uniform_seeds": N_UNIFORM_SEEDS, "degenerate": why,
        "replicates": replicate_details(resampling_id(q_groups, n_boot, seed), {
            "delta": judged_draws[1:], "accuracy": accuracy_draws[1:]}),
    }
    return {
        "delta": Measurement(
            metric="delta", value=top[1].delta.value, ci=ci, chance=0.0, n=n_q,
            detectable=detectable, degenerate=bool(why), details=details,
        ),
        "accuracy": Measurement(
            metric="accuracy", value=accuracy.value, ci=accuracy.ci, chance=1.0 / len(classes),
            n=n_q, detectable=DETECT_FACTOR * accuracy_se,
            # Near the ceiling the accuracy itself is a fine measurement.
            degenerate=bool(collapsed), details=dict(details, degenerate=collapsed),
        ),
    }


def _checked_split(name: str, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int
                   ) -> tuple[QuerySplit, list[str], list[str]]:
    """The query split, its classes and query groups.

    A set without what retrieval needs (two classes, two groups a class,
    :data:`MIN_QUERY_GROUPS` query groups) is :class:`NotApplicable`: the
    audit says nothing about the model on it.
    """
    classes = sorted(set(labels.tolist()))
    if len(classes) < 2:
        raise NotApplicable(
            f"probe set {name!r} has {len(classes)} usable class(es) {classes[:5]!r}, "
            "expected at least 2 for retrieval: add images of a second class (one subfolder "
            "per class, or the manifest's 'label' column)"
        )
    try:
        split = split_queries(labels, groups, fraction, seed)
    except ProbeSetError as exc:
        raise NotApplicable(f"probe set {name!r}: {exc}") from exc
    q_groups = sorted(set(groups[split.queries].tolist()))
    if len(q_groups) < MIN_QUERY_GROUPS:
        raise NotApplicable(
            f"probe set {name!r} gives {len(q_groups)} query groups, expected at least "
            f"{MIN_QUERY_GROUPS} for an interval over query groups: add images (about "
            f"{round(MIN_QUERY_GROUPS / QUERY_FRACTION)} source images or more, in distinct "
            "groups), or raise --audit-max-images"
        )
    return split, classes, q_groups


def _per_class(codes: np.ndarray, classes: list[str]) -> dict[str, int]:
    return dict(zip(classes, np.bincount(codes, minlength=len(classes)).tolist(), strict=True))


@dataclass
class FamilyShift:
    """One family's shift: its 95 % estimate, its simultaneous interval, its baseline.

    ``draws`` are the delta's point (row 0) and bootstrap replicates.
    """

    delta: Estimate
    simultaneous_ci: tuple[float, float]
    detectable: float
    baseline: Estimate
    report: dict[str, object]
    draws: np.ndarray

    @property
    def at_ceiling(self) -> bool:
        """The baseline leaves less than :data:`CEILING_ROOM` of accuracy for a shift."""
        return 1.0 - self.baseline.value < CEILING_ROOM


def _family_shift(variants: list[Variant], out: FamilyOutcomes,
                  score: Callable[[np.ndarray], np.ndarray], n_families: int, n_queries: int
                  ) -> FamilyShift:
    """The shift of one family, its interval at ``1 - ALPHA / n_families`` and its tables.

    ``score`` maps correctness rows (S, m) to balanced accuracies (1 + B, S):
    row 0 the point estimate, the rest bootstrap replicates.
    """
    acc = {s: score(out.rows(s)) for s in SETTINGS}
    deltas = acc["pos_same"] - acc["neg_same"]
    draws = deltas.mean(axis=1)
    delta = _estimate(draws)
    alpha = ALPHA / n_families
    lo, hi = np.quantile(draws[1:], [alpha / 2, 1 - alpha / 2])
    # One query is the resolution of an accuracy: a bootstrap error below it
    # comes from a sample in which (almost) no prediction moved, and says
    # little about how a real shift would vary.
    factor = float(norm.ppf(1 - alpha / 2) + norm.ppf(POWER))
    detectable = factor * max(delta.se, 1.0 / n_queries)
    baseline = _estimate(acc["baseline"].mean(axis=1))
    label = [v.label or v.id for v in variants]
    report: dict[str, object] = {
        "variants": [{"id": v.id, "label": v.label, "params": dict(v.params)}
                     for v in variants],
        "n_pairs": int(deltas.shape[1]),
        "delta": delta.json(),
        "delta_simultaneous_ci": [float(lo), float(hi)],
        "detectable_delta": detectable,
        "mean_abs_delta": _estimate(np.abs(deltas).mean(axis=1)).json(),
        "accuracy": {
            s.replace("_", "-"): _estimate(a.mean(axis=1)).json() for s, a in acc.items()
        },
        "baseline_per_processing": dict(zip(label, acc["baseline"][0].tolist(), strict=True)),
        "uniform_per_processing": dict(zip(label, acc["uniform"][0].tolist(), strict=True)),
        "pairs": _pair_table(out, acc, label),
    }
    shift = FamilyShift(delta, (float(lo), float(hi)), detectable, baseline, report, draws)
    report["at_ceiling"] = shift.at_ceiling
    return shift


def _estimate(draws: np.ndarray) -> Estimate:
    """Row 0 is the point estimate, the rest bootstrap replicates."""
    return Estimate.of(draws[0], draws[1:])


def _pair_table(out: FamilyOutcomes, acc: dict[str, np.ndarray], label: list[str]
                ) -> list[dict[str, object]]:
    """One row per ordered pair: its processings and point accuracies."""
    rows: list[dict[str, object]] = []
    for i, (t, o) in enumerate(out.pairs):
        point = {s: float(acc[s][0, i]) for s in ("pos_same", "neg_same", "all_diff")}
        rows.append({
            "p_test": label[t], "p_other": label[o],
            **point, "delta": point["pos_same"] - point["neg_same"],
        })
    return rows


def _collapsed(outcomes: dict[str, FamilyOutcomes]) -> str:
    """Why retrieval collapsed (every query labelled with one class), or ``""``.

    Identical accuracies across settings alone are not degenerate: an
    encoder blind to processing should give exactly that.
    """
    preds = np.concatenate([o.baseline_pred.ravel() for o in outcomes.values()])
    if len(np.unique(preds)) == 1:
        return "every query is labelled with one class: retrieval collapsed"
    return ""


def _ceiling(shifts: dict[str, FamilyShift]) -> str:
    """Why the baseline leaves no room for a shift in some family, or ``""``."""
    full = [f"{name} {s.baseline.value:.3f}" for name, s in shifts.items() if s.at_ceiling]
    if not full:
        return ""
    return (
        f"baseline k-NN accuracy within {CEILING_ROOM:g} of 1 ({', '.join(full)}): the classes "
        "are too easy for processing to move retrieval, so a delta near 0 says little about "
        "the embedding; use a probe set with finer classes"
    )


@register_audit(
    AUDIT,
    thresholds={"max_delta": [0.05, 0.1]},
    note=("Signed k-NN accuracy shift, pos-same minus neg-same, averaged over each processing "
          "family's pairs; the largest family is judged."),
    card="retrieval",
    calibrate=True,
)
def measure_retrieval_shift(ctx: AuditContext) -> dict[str, Measurement]:
    """How much matching the query's processing moves k-NN retrieval."""
    return measure(ctx.embedder, ctx.probe_set, seed=ctx.seed)
