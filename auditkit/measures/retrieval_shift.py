"""Retrieval shift under processing correlated with the label (Ramos et al., ICCV 2025).

Source images are split by group into queries (about a quarter, stratified by
semantic label) and a database. Every image is embedded under each processing
of a family; a query under ``p_test`` is labelled by cosine k-NN over the
database, whose images carry a processing that depends on whether they share
the query's class ("positives") or not ("negatives"):

============  =====================  =====================
setting       positives              negatives
============  =====================  =====================
baseline      ``p_test``             ``p_test``
pos-same      ``p_test``             ``p_other``
neg-same      ``p_other``            ``p_test``
all-diff      ``p_other``            ``p_third``
uniform       one processing drawn at random per database image (seeded)
============  =====================  =====================

``p_third`` is the first processing after ``p_other`` in the family's order
(wrapping round) that is neither ``p_test`` nor ``p_other``, so all-diff has
three distinct processings. Because positives depend on the query's class,
the database is recomposed per query; the similarity of every query to every
database image under every processing is computed once per block of queries
and each setting picks, per database image, the column of its processing.

The shift of an ordered pair ``(p_test, p_other)`` is the signed
``delta = acc(pos-same) - acc(neg-same)`` (balanced k-NN top-1 accuracy over
the queries). The paper averages ``|delta|``, which is biased upward on small
query sets (a null encoder gets about 0.04), so the verdict uses the mean
*signed* delta with a bootstrap interval over query groups, which covers 0
for an encoder blind to processing. The value judged is the mean over all
ordered pairs of both families pooled (JPEG: 30 pairs, resizing: 6); the
card shows each family, ``|delta|`` and every pair.

The ``delta`` measurement has chance 0 (no shift), ``n`` = queries, and
``detectable`` = 2.8 x the larger of the bootstrap standard error and one
query's weight (1 / queries): a bootstrap error below that comes from a
sample in which almost no prediction moved. It is degenerate when every
query gets the same class (retrieval collapsed) or every query is right in
every setting (saturated). The interval holds the database fixed: on the
built-in set a null encoder's interval missed 0 in 7-9 % of 100 seeded runs
at 120-240 images and 16 % at 36 (95 % nominal), never reaching a fail at
``max_delta=0.05``.

The variants are the very objects of the JPEG and resizing audits, so their
embeddings are cache hits shared with those audits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from auditkit import seeds
from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet
from auditkit.errors import ProbeSetError
from auditkit.extract import Embedder
from auditkit.knn import (
    MAX_BLOCK_CELLS,
    K,
    block_rows,
    l2_normalise,
    third_processing,
    vote_composed,
)
from auditkit.registry import register_audit
from auditkit.stats import (
    DETECT_FACTOR,
    Estimate,
    bootstrap_weights,
    null_se,
    weighted_balanced_accuracy,
)
from auditkit.transforms.base import Variant
from auditkit.transforms.processing import resizing_variants
from auditkit.transforms.quality import jpeg_grid
from auditkit.verdicts import Measurement

AUDIT = "retrieval_shift"

#: Processing families whose pairs are pooled into the verdict value.
FAMILIES: dict[str, Callable[[], list[Variant]]] = {
    "jpeg": jpeg_grid,
    "resizing": resizing_variants,
}

#: Share of each class's groups used as queries.
QUERY_FRACTION = 0.25
#: Fewer query groups than this give no usable interval.
MIN_QUERY_GROUPS = 10
N_BOOT = 2000
#: The database compositions, in the order of the card.
SETTINGS = ("baseline", "pos_same", "neg_same", "all_diff", "uniform")


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
    """

    baseline: np.ndarray
    baseline_pred: np.ndarray
    uniform: np.ndarray
    pos_same: np.ndarray
    neg_same: np.ndarray
    all_diff: np.ndarray
    third: np.ndarray
    assignment: np.ndarray

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


def family_outcomes(
    Eq: np.ndarray, Ed: np.ndarray, q_codes: np.ndarray, d_codes: np.ndarray, n_classes: int,
    k: int = K, seed: int = 0, max_cells: int = MAX_BLOCK_CELLS,
) -> FamilyOutcomes:
    """k-NN correctness of each setting for queries ``Eq`` (P, m, dim) over ``Ed`` (P, n, dim).

    Embeddings must be L2-normalised. The uniform setting draws each
    database image's processing from ``seed``.

    Examples
    --------
    >>> out = family_outcomes(Eq, Ed, q_codes, d_codes, 6)  # doctest: +SKIP
    >>> out.pos_same[0, 1].mean(), out.neg_same[0, 1].mean()  # doctest: +SKIP
    """
    P, m, _ = Eq.shape
    n = Ed.shape[1]
    third = third_processing(P)
    assignment = np.asarray(seeds.rng(seed).integers(P, size=n))
    out = FamilyOutcomes(
        baseline=np.zeros((P, m), bool), baseline_pred=np.zeros((P, m), np.int64),
        uniform=np.zeros((P, m), bool), pos_same=np.zeros((P, P, m), bool),
        neg_same=np.zeros((P, P, m), bool), all_diff=np.zeros((P, P, m), bool),
        third=third, assignment=assignment,
    )
    DT = np.ascontiguousarray(Ed.transpose(0, 2, 1))
    # Alive at once: P similarity layers, the composed one and the k-NN temporaries.
    step = block_rows(n, layers=P + 4, max_cells=max_cells)
    for start in range(0, m, step):
        rows = slice(start, start + step)
        truth = q_codes[rows]
        same = truth[:, None] == d_codes[None, :]
        for t in range(P):
            S = np.matmul(Eq[t, rows][None], DT)
            vote = partial(vote_composed, S, same, d_codes, n_classes, k)
            pred = vote(t, t)
            out.baseline_pred[t, rows] = pred
            out.baseline[t, rows] = pred == truth
            out.uniform[t, rows] = vote(assignment, assignment) == truth
            for o in range(P):
                if o != t:
                    out.pos_same[t, o, rows] = vote(t, o) == truth
                    out.neg_same[t, o, rows] = vote(o, t) == truth
                    out.all_diff[t, o, rows] = vote(o, third[t, o]) == truth
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

    ``delta`` is the mean signed shift over the ordered pairs of every
    family; its ``chance`` is 0 (no shift), ``n`` the number of queries,
    ``detectable`` the smallest shift the queries could detect. ``accuracy``
    is the baseline setting's balanced k-NN accuracy, chance 1 / classes.

    Raises
    ------
    ProbeSetError
        Fewer than two classes, a class with fewer than two groups, or fewer
        than :data:`MIN_QUERY_GROUPS` query groups.

    Examples
    --------
    >>> ms = measure(Extractor(build_encoder("pixels")), builtin_probe_set())  # doctest: +SKIP
    >>> ms["delta"].value, ms["delta"].ci                                     # doctest: +SKIP
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
        # Each family draws its own uniform assignment, repeatably.
        name: family_outcomes(E[:, keep[split.queries]], E[:, keep[split.database]],
                              q_codes, d_codes, len(classes), k,
                              seed=seeds.repeat_seed(seed, 1000 * (f + 1)))
        for f, (name, (E, _)) in enumerate(embedded.items())
    }
    G = len(q_groups)
    # Row 0 weighs every query group once: the point estimate.
    weights = np.vstack([np.ones(G), bootstrap_weights(G, n_boot, seed)])
    g_idx = np.searchsorted(q_groups, groups[split.queries])
    score = partial(weighted_balanced_accuracy, g_idx=g_idx, c_idx=q_codes, weights=weights)
    details, delta, accuracy = _summarise(families, outcomes, score, classes)
    n_q = len(split.queries)
    # One query is the resolution of an accuracy: a bootstrap error below it
    # comes from a sample in which (almost) no prediction moved, and says
    # little about how a real shift would vary.
    delta_detectable = DETECT_FACTOR * max(delta.se, 1.0 / n_q)
    accuracy_se = max(accuracy.se, null_se(np.bincount(q_codes, minlength=len(classes))))
    degenerate, why = _degenerate(outcomes)
    details.update(
        k=k, split_seed=seed, query_fraction=query_fraction, n_queries=n_q,
        n_database=len(split.database), n_query_groups=G,
        n_database_groups=len(set(groups[split.database].tolist())), n_classes=len(classes),
        classes=classes, queries_per_class=_per_class(q_codes, classes),
        database_per_class=_per_class(d_codes, classes),
        skipped_images=[probe_set.images[i].id for i in np.flatnonzero(~usable)][:200],
        n_boot=n_boot, detectable_delta=delta_detectable, degenerate=why,
    )
    return {
        "delta": Measurement(
            metric="delta", value=delta.value, ci=delta.ci, chance=0.0, n=n_q,
            detectable=delta_detectable, degenerate=degenerate, details=details,
        ),
        "accuracy": Measurement(
            metric="accuracy", value=accuracy.value, ci=accuracy.ci, chance=1.0 / len(classes),
            n=n_q, detectable=DETECT_FACTOR * accuracy_se,
            degenerate=degenerate, details=details,
        ),
    }


def _checked_split(name: str, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int
                   ) -> tuple[QuerySplit, list[str], list[str]]:
    """The query split, its classes and query groups; ProbeSetError when unusable."""
    classes = sorted(set(labels.tolist()))
    if len(classes) < 2:
        raise ProbeSetError(
            f"probe set {name!r} has {len(classes)} usable class(es) {classes!r}, "
            "expected at least 2 for retrieval: add labelled images"
        )
    try:
        split = split_queries(labels, groups, fraction, seed)
    except ProbeSetError as exc:
        raise ProbeSetError(f"probe set {name!r}: {exc}") from exc
    q_groups = sorted(set(groups[split.queries].tolist()))
    if len(q_groups) < MIN_QUERY_GROUPS:
        raise ProbeSetError(
            f"probe set {name!r} gives {len(q_groups)} query groups, expected at least "
            f"{MIN_QUERY_GROUPS} for an interval over query groups: add images"
        )
    return split, classes, q_groups


def _per_class(codes: np.ndarray, classes: list[str]) -> dict[str, int]:
    return dict(zip(classes, np.bincount(codes, minlength=len(classes)).tolist(), strict=True))


def _summarise(
    families: dict[str, list[Variant]], outcomes: dict[str, FamilyOutcomes],
    score: Callable[[np.ndarray], np.ndarray], classes: list[str],
) -> tuple[dict[str, object], Estimate, Estimate]:
    """Per-family tables and the pooled delta and baseline accuracy estimates.

    ``score`` maps correctness rows (S, m) to balanced accuracies (1 + B, S):
    row 0 the point estimate, the rest bootstrap replicates.
    """
    pooled: dict[str, list[np.ndarray]] = {s: [] for s in SETTINGS}
    all_deltas = []
    report: dict[str, object] = {}
    for name, variants in families.items():
        out = outcomes[name]
        acc = {s: score(out.rows(s)) for s in SETTINGS}
        deltas = acc["pos_same"] - acc["neg_same"]
        all_deltas.append(deltas)
        for s in SETTINGS:
            pooled[s].append(acc[s])
        label = [v.label or v.id for v in variants]
        report[name] = {
            "variants": [{"id": v.id, "label": v.label, "params": dict(v.params)}
                         for v in variants],
            "delta": _estimate(deltas.mean(axis=1)).json(),
            "mean_abs_delta": _estimate(np.abs(deltas).mean(axis=1)).json(),
            "accuracy": {
                s.replace("_", "-"): _estimate(a.mean(axis=1)).json() for s, a in acc.items()
            },
            "baseline_per_processing": dict(zip(label, acc["baseline"][0].tolist(), strict=True)),
            "uniform_per_processing": dict(zip(label, acc["uniform"][0].tolist(), strict=True)),
            "pairs": _pair_table(out, acc, label),
        }
    deltas = np.hstack(all_deltas)
    delta = _estimate(deltas.mean(axis=1))
    accuracy = _estimate(np.hstack(pooled["baseline"]).mean(axis=1))
    details: dict[str, object] = {
        "delta": delta.value, "delta_ci": list(delta.ci), "delta_se": delta.se,
        "n_pairs": int(deltas.shape[1]),
        "mean_abs_delta": _estimate(np.abs(deltas).mean(axis=1)).json(),
        "mean_abs_delta_note": (
            "the paper's |delta|: biased upward on small query sets (a null encoder gets "
            "about 0.04); the verdict uses the signed delta"
        ),
        "accuracy": accuracy.value, "accuracy_ci": list(accuracy.ci),
        "chance": 1.0 / len(classes),
        # Means over every pair (or processing) of every family, like the verdict value.
        "settings": {s.replace("_", "-"): float(np.hstack(v)[0].mean()) for s, v in pooled.items()},
        "families": report,
        "definition": (
            "delta = balanced k-NN accuracy(pos-same) - accuracy(neg-same) per ordered pair "
            "(p_test, p_other); value = mean over the ordered pairs of all families pooled; "
            "all-diff: positives under p_other, negatives under the next processing after "
            "p_other that is neither; uniform: one seeded random processing per database image; "
            "interval: bootstrap over query groups"
        ),
    }
    return details, delta, accuracy


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
            "p_test": label[t], "p_other": label[o], "all_diff_negatives": label[out.third[t, o]],
            **point, "delta": point["pos_same"] - point["neg_same"],
        })
    return rows


def _degenerate(outcomes: dict[str, FamilyOutcomes]) -> tuple[bool, str]:
    """Whether retrieval collapsed or saturated, so that no shift could show.

    Identical accuracies across settings alone are not degenerate: an
    encoder blind to processing should give exactly that.
    """
    preds = np.concatenate([o.baseline_pred.ravel() for o in outcomes.values()])
    if len(np.unique(preds)) == 1:
        return True, "every query is labelled with one class: retrieval collapsed"
    if all(o.rows(s).all() for o in outcomes.values() for s in SETTINGS):
        return True, "every query is retrieved correctly in every setting: no room for a shift"
    return False, ""


@register_audit(
    AUDIT,
    thresholds={"max_delta": [0.05, 0.1]},
    note="Signed k-NN accuracy shift, pos-same minus neg-same, averaged over processing pairs.",
    card="retrieval",
    calibrate=True,
)
def measure_retrieval_shift(ctx: AuditContext) -> dict[str, Measurement]:
    """How much matching the query's processing moves k-NN retrieval."""
    return measure(ctx.embedder, ctx.probe_set, seed=ctx.seed)
