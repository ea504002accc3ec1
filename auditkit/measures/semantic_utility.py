"""Semantic utility: how well the embedding serves its real job, beside what it leaks.

A leakage figure cannot be weighed without the semantic one beside it (the
follow-up study of the retrieval-shift paper reports every model by its
semantic k-NN accuracy next to its metadata scores). This audit measures the
probe set's own semantic labels (``SourceImage.label``) on the unprocessed
variant (:data:`~auditkit.transforms.base.ORIGINAL`), two ways:

``accuracy``
    Grouped cosine k-NN (:func:`auditkit.knn.knn_predict`, k = 10 as in the
    retrieval audit): each test fold of the probe audits' grouped 5-fold split
    (:func:`auditkit.probes.outer_folds`) is labelled by its nearest
    neighbours among the other folds, so no source group retrieves itself.
``probe_accuracy``
    The grouped linear probe of the probe audits
    (:func:`auditkit.probes.cross_val_predictions`), on the same folds.

Both are balanced accuracies with a group-bootstrap interval
(:func:`auditkit.probes.score_predictions`) from the split seed; sharing the
folds, groups and seed, their replicates pair with each other and with the
same audit of another encoder (a baseline comparison).

The audit is report-only: its stock threshold ``min_accuracy = 0`` is a floor
every measurement meets, so the case shows the figures and passes (unless the
k-NN is degenerate). A team that needs a floor sets one in
``[tool.auditkit.thresholds.semantic_utility]``. Against a baseline it
compares like any ``min`` case: a fall beyond the tolerance is a regression.

:func:`measure_embeddings` takes embeddings already at hand (an erased
embedding on held-out groups, say), so other tools report the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from auditkit.context import AuditContext
from auditkit.data.base import ProbeSet
from auditkit.errors import ProbeSetError
from auditkit.extract import Embedder
from auditkit.knn import K, knn_predict
from auditkit.probes import (
    Matrix,
    ProbeScore,
    as_matrix,
    cross_val_predictions,
    fold_of,
    outer_folds,
    score_predictions,
)
from auditkit.probes import rows as select_rows
from auditkit.registry import register_audit
from auditkit.stats import replicate_details
from auditkit.transforms.base import ORIGINAL
from auditkit.verdicts import Measurement

AUDIT = "semantic_utility"

#: The key of ``details`` that the card's overview and the run index read.
DETAILS_KEY = "semantic_utility"


def knn_predictions(X: Matrix, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                    k: int = K) -> np.ndarray:
    """Out-of-fold cosine k-NN labels: each test fold votes among the other folds' rows."""
    pred = np.empty(len(y), dtype=y.dtype)
    for train, test in folds:
        pred[test] = knn_predict(select_rows(X, test), select_rows(X, train), y[train],
                                 k=k).predictions
    return pred


def measure_embeddings(
    X: Matrix,
    labels: Sequence[str] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    seed: int = 0,
    k: int = K,
    n_boot: int = 2000,
) -> dict[str, Measurement]:
    """Grouped k-NN (``accuracy``) and linear-probe (``probe_accuracy``) accuracy of ``labels``.

    Parameters
    ----------
    X : (n, dim) array
        One embedding per image.
    labels, groups : (n,) arrays
        Semantic label and source group of each row; no group is on both
        sides of a split.
    seed : int
        The split seed: folds, the probe's inner split and the bootstrap.
    k : int
        Neighbours of the k-NN vote.
    n_boot : int
        Bootstrap replicates over groups.

    Returns
    -------
    dict of str to Measurement
        ``accuracy`` (k-NN) and ``probe_accuracy``, balanced, with chance
        1 / classes; both carry the same ``details`` (``details["semantic_utility"]``
        holds both figures).

    Raises
    ------
    ProbeSetError
        Fewer than two classes, or a class with fewer than two groups.

    Examples
    --------
    >>> ms = measure_embeddings(X, labels, groups, seed=0)          # doctest: +SKIP
    >>> ms["accuracy"].value, ms["probe_accuracy"].ci               # doctest: +SKIP
    """
    X = as_matrix(X)
    X = X.to(torch.float32) if isinstance(X, torch.Tensor) else X.astype(np.float32, copy=False)
    y = np.asarray(labels, dtype=object)
    groups = np.asarray(groups, dtype=object)
    if len(set(y.tolist())) < 2:
        raise ProbeSetError(f"semantic utility needs at least two semantic classes, got "
                            f"{sorted(set(y.tolist()))!r}: label the probe set's images by class")
    try:
        folds = outer_folds(y, groups, seed=seed)
    except ValueError as exc:
        raise ProbeSetError(f"semantic utility cannot split the probe set by group: {exc}") from exc
    fold = fold_of(folds, len(y))
    knn = score_predictions(y, knn_predictions(X, y, folds, k), groups, n_boot=n_boot,
                            seed=seed, folds=fold)
    pred, chosen = cross_val_predictions(X, y, groups, seed=seed)
    probe = score_predictions(y, pred, groups, n_boot=n_boot, seed=seed, folds=fold)
    summary = {
        "variant": ORIGINAL.id, "chance": knn.chance, "n": knn.n, "n_groups": knn.n_groups,
        "knn": {**_figures(knn), "k": min(k, len(y)), "vote": "cosine, majority"},
        "probe": {**_figures(probe), "C": chosen,
                  "probe": "logistic regression (balanced, C by inner grouped CV)"},
    }
    details: dict[str, Any] = {
        # The case table's "accuracy" column and confusion map show the judged k-NN.
        "accuracy": knn.accuracy, "accuracy_ci": list(knn.accuracy_ci),
        "probe_accuracy": probe.accuracy, "probe_accuracy_ci": list(probe.accuracy_ci),
        "degenerate": knn.degenerate, "n_groups": knn.n_groups, "n_classes": len(knn.classes),
        "classes": knn.classes, "confusion": knn.confusion.tolist(), "per_class": knn.per_class,
        DETAILS_KEY: summary,
        "definition": (f"balanced accuracy of the probe set's semantic labels on the "
                       f"{ORIGINAL.id!r} variant: cosine {k}-NN and a linear probe, each test "
                       "fold of a grouped 5-fold split against the other folds; 95 % "
                       "bootstrap intervals over groups"),
    }
    if knn.accuracy_replicates is not None and knn.draw is not None:
        assert probe.accuracy_replicates is not None
        details["replicates"] = replicate_details(knn.draw, {
            "accuracy": knn.accuracy_replicates, "probe_accuracy": probe.accuracy_replicates})
    return {
        metric: Measurement(metric=metric, value=s.accuracy, ci=s.accuracy_ci, chance=s.chance,
                            n=s.n, detectable=s.detectable_accuracy, degenerate=s.degenerate,
                            details=details)
        for metric, s in (("accuracy", knn), ("probe_accuracy", probe))
    }


def _figures(score: ProbeScore) -> dict[str, Any]:
    return {"accuracy": score.accuracy, "ci": list(score.accuracy_ci),
            "degenerate": score.degenerate}


def measure(embedder: Embedder, probe_set: ProbeSet, seed: int = 0, k: int = K
            ) -> dict[str, Measurement]:
    """Embed the probe set's images unprocessed and measure their semantic labels.

    Examples
    --------
    >>> ms = measure(Extractor(build_encoder("pixels")), builtin_probe_set())  # doctest: +SKIP
    >>> ms["accuracy"].value, ms["accuracy"].details["semantic_utility"]["probe"]  # doctest: +SKIP
    """
    probe_set.require(min_classes=2, purpose="semantic utility (a grouped 5-fold split)")
    table = embedder.embed(probe_set.images, [ORIGINAL])
    if len(table) == 0:
        raise ProbeSetError(f"probe set {probe_set.name!r}: no image could be embedded; see the "
                            "extraction errors above")
    return measure_embeddings(table.features(), table.labels, table.groups, seed=seed, k=k)


@register_audit(
    AUDIT,
    thresholds={"min_accuracy": [0.0]},
    note=("Report-only: grouped k-NN accuracy of the probe set's semantic labels (the linear "
          "probe's beside it). 0 is no floor; raise it to require semantic utility."),
)
def measure_semantic_utility(ctx: AuditContext) -> dict[str, Measurement]:
    """The semantic utility of the context's embedder on its probe set."""
    return measure(ctx.embedder, ctx.probe_set, seed=ctx.seed)
