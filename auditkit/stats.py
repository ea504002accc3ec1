"""Balanced accuracy, leakage, power and bootstrap over groups: the numbers every audit shares.

Balanced accuracy is the mean, over the classes present in the truth, of each
class's recall. The probe audits compute it from confusion matrices, the
retrieval audit from per-query correctness under group weights; both reduce
to :func:`mean_recall`, so they round alike.

Intervals resample *groups* (variants of one source image, queries of one
source image), since rows of one group are not independent samples. A
replicate is a row of multinomial counts over the groups
(:func:`bootstrap_weights`); an estimate keeps its point, the two-sided
``1 - ALPHA`` percentile interval of the replicates and their standard
deviation (:class:`Estimate`). The smallest effect a two-sided test at
``ALPHA`` detects with probability ``POWER`` is :data:`DETECT_FACTOR` times a
standard error.

Two measurements whose replicates come from the same weights (the same
sorted group ids, ``n_boot`` and seed; :func:`resampling_id`) resampled the
same groups in every replicate, so their replicate-by-replicate difference
is a paired bootstrap of the difference (:mod:`auditkit.compare`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import SupportsFloat, overload

import numpy as np
from scipy.stats import norm

from auditkit import seeds

#: Two-sided 95 % intervals; detectable effects at 80 % power.
ALPHA = 0.05
POWER = 0.80
#: Factor from a standard error to the effect found with ``POWER`` at ``ALPHA`` (about 2.8).
DETECT_FACTOR = float(norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER))
#: Resolution of a stored bootstrap replicate: far below any interval's width.
REPLICATE_UNIT = 1e-4
REPLICATE_ENCODING = "int16-1e-4-base64"


@overload
def normalise(accuracy: float, chance: float) -> float: ...
@overload
def normalise(accuracy: np.ndarray, chance: float) -> np.ndarray: ...
def normalise(accuracy: float | np.ndarray, chance: float) -> float | np.ndarray:
    """Normalised leakage ``(acc - chance) / (1 - chance)``: 0 at chance, 1 when perfect.

    Elementwise on an array (bootstrap replicates).

    Examples
    --------
    >>> normalise(0.5, 0.25)
    0.3333333333333333
    """
    return (accuracy - chance) / (1.0 - chance)


def mean_recall(hits: np.ndarray, support: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over the classes (``axis``) of ``hits / support``; classes without support left out.

    ``support`` broadcasts against ``hits``. With no class supported the mean is 0.

    Examples
    --------
    >>> mean_recall(np.array([3.0, 1.0, 0.0]), np.array([4.0, 2.0, 0.0])).item()
    0.625
    """
    support = np.broadcast_to(support, np.broadcast(hits, support).shape)
    recall = np.divide(hits, support, out=np.zeros(support.shape), where=support > 0)
    present = (support > 0).sum(axis=axis)
    return recall.sum(axis=axis) / np.maximum(present, 1)


def balanced_accuracy_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Balanced accuracy of one or many confusion matrices (..., K, K), rows the truth.

    Examples
    --------
    >>> balanced_accuracy_from_confusion(np.array([[3, 1], [1, 1]])).item()
    0.625
    """
    return mean_recall(np.diagonal(conf, axis1=-2, axis2=-1), conf.sum(axis=-1))


def confusion_matrix(y: np.ndarray, pred: np.ndarray, classes: Sequence | None = None
                     ) -> np.ndarray:
    """(K, K) counts, rows the truth and columns the prediction, in the order of ``classes``.

    ``classes`` defaults to the sorted labels of ``y`` and ``pred``.

    Examples
    --------
    >>> confusion_matrix(np.array(["a", "a", "b"]), np.array(["a", "b", "b"])).tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """
    y, pred = np.asarray(y), np.asarray(pred)
    classes = sorted(set(y.tolist()) | set(pred.tolist())) if classes is None else classes
    return confusion_by_group(y, pred, np.zeros(len(y), dtype=int), classes)[1][0]


def confusion_by_group(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, classes: Sequence
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The sorted group ids and one (K, K) confusion matrix per group: (G, K, K).

    Examples
    --------
    >>> ids, conf = confusion_by_group(np.array(["a", "b"]), np.array(["a", "a"]),
    ...                                np.array([7, 7]), ["a", "b"])
    >>> ids.tolist(), conf.tolist()
    ([7], [[[1.0, 0.0], [1.0, 0.0]]])
    """
    index = {c: i for i, c in enumerate(classes)}
    k = len(index)
    group_ids, g_index = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(group_ids), k, k))
    truth = np.array([index[v] for v in y], dtype=np.intp)
    guess = np.array([index[v] for v in pred], dtype=np.intp)
    np.add.at(per_group, (g_index, truth, guess), 1)
    return group_ids, per_group


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, classes: Sequence | None = None) -> float:
    """Balanced accuracy of predicted labels: the mean recall of the classes in ``y``.

    Equals ``sklearn.metrics.balanced_accuracy_score``.

    Examples
    --------
    >>> balanced_accuracy(np.array(["a", "a", "a", "b"]), np.array(["a", "a", "b", "b"]))
    0.8333333333333333
    """
    return float(balanced_accuracy_from_confusion(confusion_matrix(y, pred, classes)))


def weighted_balanced_accuracy(correct: np.ndarray, g_idx: np.ndarray, c_idx: np.ndarray,
                               weights: np.ndarray) -> np.ndarray:
    """Balanced accuracy of each row of ``correct`` (S, m) under group weights (B, G): (B, S).

    A row of ``weights`` counts each group that many times (all ones: the
    point estimate; :func:`bootstrap_weights`: bootstrap replicates).
    Classes whose rows all got weight zero are left out of the mean.

    Parameters
    ----------
    correct : (S, m) array
        Whether each of ``m`` samples is right, in each of ``S`` settings.
    g_idx, c_idx : (m,) int arrays
        Group index ``0 <= g < G`` and true class code of each sample.
    weights : (B, G) array

    Examples
    --------
    >>> weighted_balanced_accuracy(np.array([[1, 0, 1.0]]), np.array([0, 1, 2]),
    ...                            np.array([0, 0, 1]), np.ones((1, 3))).tolist()
    [[0.75]]
    """
    G, C = weights.shape[1], int(c_idx.max()) + 1
    cell = g_idx * C + c_idx
    sums = np.zeros((G * C, correct.shape[0]))
    np.add.at(sums, cell, np.asarray(correct, dtype=np.float64).T)
    counts = np.bincount(cell, minlength=G * C).astype(np.float64).reshape(G, C)
    hits = (weights @ sums.reshape(G, C * correct.shape[0])).reshape(len(weights), C, -1)
    return mean_recall(hits, (weights @ counts)[:, :, None], axis=1)


def null_se(support: np.ndarray) -> float:
    """Standard error of balanced accuracy at chance, from the samples per class (binomial).

    Examples
    --------
    >>> round(null_se(np.array([50, 50])), 4)
    0.05
    """
    k = len(support)
    chance = 1.0 / k
    return float(np.sqrt(np.sum(chance * (1 - chance) / np.maximum(support, 1))) / k)


def bootstrap_weights(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_groups) counts: how often each replicate draws each group (with replacement).

    Examples
    --------
    >>> w = bootstrap_weights(4, 3, seed=0)
    >>> w.shape, w.sum(axis=1).tolist()
    ((3, 4), [4, 4, 4])
    """
    rng = seeds.rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), n_boot)


def resampling_id(group_ids: Sequence | np.ndarray, n_boot: int, seed: int) -> str:
    """A short digest of the resampling :func:`bootstrap_weights` draws for these groups.

    ``group_ids`` are in the order the weights' columns index them (sorted,
    as :func:`confusion_by_group` and ``np.unique`` give them). Two sets of
    replicates with the same id were drawn with the same weights, group by
    group, so they pair.

    Examples
    --------
    >>> resampling_id(["a", "b"], 2000, 0) == resampling_id(["a", "b"], 2000, 0)
    True
    >>> resampling_id(["a", "b"], 2000, 0) == resampling_id(["a", "b"], 2000, 1)
    False
    """
    text = json.dumps([[str(g) for g in np.asarray(group_ids).tolist()], int(n_boot), int(seed)])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def replicate_details(draw: str, by_metric: Mapping[str, np.ndarray]) -> dict[str, object]:
    """``details["replicates"]``: each metric's bootstrap replicates and the ``draw`` of them.

    ``draw`` is the :func:`resampling_id` of the replicates. Each metric's
    replicates are stored as little-endian int16 in units of
    :data:`REPLICATE_UNIT`, base64-encoded: about 5 kB per metric for 2,000
    replicates, where a JSON list of floats took 30 kB, and a resolution far
    below any interval's width. :func:`replicates_of` reads them back.

    Examples
    --------
    >>> record = replicate_details("0f3a", {"leakage": np.array([0.1234567, -0.5])})
    >>> record["draw"], np.round(replicates_of(record, "leakage"), 6).tolist()
    ('0f3a', [0.1235, -0.5])
    """
    encoded = {}
    for metric, values in by_metric.items():
        units = np.clip(np.round(np.asarray(values, dtype=np.float64) / REPLICATE_UNIT),
                        -32767, 32767).astype("<i2")
        encoded[metric] = base64.b64encode(units.tobytes()).decode("ascii")
    return {"draw": draw, "encoding": REPLICATE_ENCODING, **encoded}


def replicates_of(record: Mapping[str, object] | None, metric: str) -> np.ndarray | None:
    """The replicates of ``metric`` in a :func:`replicate_details` record, or None.

    A plain list of numbers is read as it is.
    """
    if not isinstance(record, Mapping):
        return None
    value = record.get(metric)
    if value is None:
        return None
    if isinstance(value, str):
        if record.get("encoding") != REPLICATE_ENCODING:
            return None
        units = np.frombuffer(base64.b64decode(value), dtype="<i2")
        return units.astype(np.float64) * REPLICATE_UNIT
    return np.asarray(value, dtype=np.float64)


@dataclass
class Estimate:
    """A point estimate with its bootstrap interval and standard error."""

    value: float
    ci: tuple[float, float]
    se: float

    @classmethod
    def of(cls, point: SupportsFloat, replicates: np.ndarray) -> Estimate:
        """The ``1 - ALPHA`` percentile interval and the standard deviation of ``replicates``.

        Examples
        --------
        >>> Estimate.of(0.5, np.array([0.4, 0.5, 0.6])).ci
        (0.405, 0.595)
        """
        lo, hi = np.quantile(replicates, [ALPHA / 2, 1 - ALPHA / 2])
        return cls(float(point), (float(lo), float(hi)), float(np.std(replicates)))

    def json(self) -> dict[str, object]:
        return {"value": self.value, "ci": list(self.ci)}
