"""What a threshold-sized leakage reads as here: the planted check behind every probe pass.

A probe fitted on N rows of width D reads less than the embedding holds; at
D = 768 and 240 source images a population leakage of 0.15 reads as about
0.08. So "the interval lies below the threshold" does not show that the
embedding leaks less than the threshold. The planted check measures the bias
on the run's own embeddings instead of assuming it:

1. relabel the rows at random, keeping the design (each group keeps the label
   multiset of some group of its size), so the labels owe nothing to ``X``;
2. add to each row a shift of its new class whose population leakage is
   ``p`` (each of :data:`PLANTED_LEAKAGES`): orthogonal class means in the scale of
   each coordinate's spread, at the separation :func:`separation_for_leakage`
   gives (:func:`plant`);
3. probe that copy the same way, and bootstrap the real and the planted
   readings over the same resampled groups.

The readings bound what larger effects read as: a reading curve ``f`` (true
leakage to what the probe reads) with ``f(L) / L`` non-decreasing (at
D = 768 and 240 groups 0.1 reads about 0.04, 0.15 about 0.08, 0.3 about 0.22
and 0.5 about 0.41) gives ``f(t) >= (t / p) f(p)``
for ``t >= p``. A plant's ``detectable`` is the smallest ``t >= p``
whose bound lies above the real reading in ``1 - ALPHA`` of the paired
replicates: the smallest true leakage this sample shows the embedding to be
below; :attr:`PlantedCheck.detectable` is the least over the plants. A
threshold under it cannot pass (or, for ``min_`` thresholds, fail).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy import integrate, optimize, stats

from auditkit import seeds
from auditkit.probes import LinearProbe, Matrix, bootstrap_accuracy, cross_val_predictions
from auditkit.stats import ALPHA, Estimate, normalise

#: Population leakages of the planted check: the smallest stock threshold, and
#: one that a sample too small to see 0.1 at all still sees, so that large
#: thresholds can pass there. Each plant vouches for thresholds from its own
#: size up, so a threshold below the smallest can never pass.
PLANTED_LEAKAGES = (0.1, 0.5)


def bayes_leakage(separation: float, n_classes: int) -> float:
    """Normalised leakage of the best classifier of ``n_classes`` planted classes.

    Class means are orthogonal, ``separation`` noise standard deviations from
    the origin, under isotropic Gaussian noise; the best rule is the nearest
    mean, whose accuracy is ``P(Z_0 + separation > max_j Z_j)``.

    Examples
    --------
    >>> abs(round(bayes_leakage(0.0, 6), 6))
    0.0
    """
    def integrand(t: float) -> float:
        return float(stats.norm.pdf(t) * stats.norm.cdf(t + separation) ** (n_classes - 1))

    accuracy = integrate.quad(integrand, -np.inf, np.inf)[0]
    chance = 1.0 / n_classes
    return (accuracy - chance) / (1.0 - chance)


@lru_cache(maxsize=64)
def separation_for_leakage(leakage: float, n_classes: int) -> float:
    """The separation (in noise standard deviations) whose :func:`bayes_leakage` is ``leakage``.

    Examples
    --------
    >>> round(bayes_leakage(separation_for_leakage(0.3, 6), 6), 6)
    0.3
    """
    if not 0.0 <= leakage < 1.0:
        raise ValueError(f"got leakage {leakage!r}, expected a value in [0, 1)")
    if leakage == 0.0:
        return 0.0
    return float(optimize.brentq(lambda d: bayes_leakage(d, n_classes) - leakage, 0.0, 40.0))


def null_labels(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Labels that owe nothing to the rows, in the design of ``y``.

    Each group takes the labels of a random group of its own size, in random
    order, so every group keeps a label multiset the design has (one row per
    class in a variant audit, one label per file in a camera audit) and the
    class counts stay as they were.

    Examples
    --------
    >>> y = np.array(["a", "b"] * 3); g = np.repeat([0, 1, 2], 2)
    >>> sorted(null_labels(y, g, np.random.default_rng(0))[g == 1].tolist())
    ['a', 'b']
    """
    y, groups = np.asarray(y), np.asarray(groups)
    ids, index = np.unique(groups, return_inverse=True)
    rows = [np.flatnonzero(index == i) for i in range(len(ids))]
    out = y.copy()
    sizes = np.array([len(r) for r in rows])
    for size in np.unique(sizes):
        same = np.flatnonzero(sizes == size)
        for to, frm in zip(same, rng.permutation(same), strict=True):
            out[rows[to]] = rng.permutation(y[rows[frm]])
    return out


def plant(X: Matrix, y: np.ndarray, leakage: float, rng: np.random.Generator) -> Matrix:
    """``X`` plus a class shift of population leakage ``leakage`` for labels ``y``.

    The class means are ``d * sigma * q_c`` (coordinate-wise): ``sigma`` the
    standard deviation of each coordinate of ``X``, ``q_c`` orthonormal
    random directions and ``d`` the separation of ``leakage`` under
    :func:`bayes_leakage`. Scaled by ``sigma`` (as the probe standardises)
    they are that formula's orthogonal means, so an embedding with
    independent Gaussian coordinates leaks exactly ``leakage``. A full
    covariance is not used: at D near N its eigenvectors follow the sample's
    own noise, and a shift along them reads far less than the same leakage
    elsewhere (a planted 0.1 read as 0.01 where the calibration's reads 0.05).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plant(rng.normal(size=(12, 5)), np.array(list("abc") * 4), 0.3, rng).shape
    (12, 5)
    """
    classes, codes = np.unique(y, return_inverse=True)
    k = len(classes)
    if X.shape[1] < k:
        raise ValueError(f"got embeddings of width {X.shape[1]}, expected at least {k} "
                         "(one direction per class) to plant a leakage")
    q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], k)))
    d = separation_for_leakage(leakage, k)
    if isinstance(X, torch.Tensor):
        # On X's device: the same directions, drawn on the host, and the same scale.
        X = X.to(torch.float64)
        sigma = X.std(dim=0, correction=0)
        means = d * (torch.as_tensor(q, device=X.device) * sigma[:, None]).T
        return X + means[torch.as_tensor(codes, device=X.device)]
    X = np.asarray(X, dtype=np.float64)
    means = d * (q * X.std(axis=0)[:, None]).T
    return X + means[codes]


@dataclass
class Planted:
    """What one planted leakage read as, and the smallest true leakage it vouches for."""

    leakage: float
    value: float
    ci: tuple[float, float]
    detectable: float

    def json(self) -> dict[str, object]:
        return {"leakage": self.leakage, "reads": self.value, "reads_ci": list(self.ci),
                "detectable_leakage": self.detectable}


@dataclass
class PlantedCheck:
    """What planted leakages read as on the run's embeddings, and what that lets a verdict say.

    ``detectable`` is the smallest true leakage the sample shows the
    embedding to be below (see the module notes): the least any plant
    vouches for, 1.0 when none vouches for anything.
    """

    planted: list[Planted]

    @property
    def detectable(self) -> float:
        return min((p.detectable for p in self.planted), default=1.0)

    def json(self) -> dict[str, object]:
        return {"planted": [p.json() for p in self.planted],
                "detectable_leakage": self.detectable}


@dataclass
class RepeatedCheck:
    """Planted checks of several draws of one measurement (the camera audit's balanced
    subsamples): the headline pools the draws, so a pass needs every draw to vouch."""

    checks: list[PlantedCheck]

    @property
    def detectable(self) -> float:
        return max((c.detectable for c in self.checks), default=1.0)

    def json(self) -> dict[str, object]:
        return {"repeats": [c.json() for c in self.checks],
                "detectable_leakage": self.detectable}


def detectable_from_replicates(real: np.ndarray, planted: np.ndarray, leakage: float) -> float:
    """Smallest ``t >= leakage`` with ``(t / leakage) * planted > real`` in ``1 - ALPHA`` of
    the paired replicates; 1.0 when there is none below 1.

    Examples
    --------
    >>> detectable_from_replicates(np.zeros(20), np.full(20, 0.05), 0.1)
    0.1
    >>> round(detectable_from_replicates(np.full(20, 0.1), np.full(20, 0.05), 0.1), 6)
    0.2
    """
    real, planted = np.asarray(real, float), np.asarray(planted, float)
    # Per replicate, the smallest t that puts the bound above the real reading.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(planted > 0, leakage * real / planted, np.inf)
    need = np.where(planted > 0, np.maximum(ratio, leakage),
                    np.where(real < planted, leakage, np.inf))
    t = float(np.quantile(need, 1 - ALPHA, method="higher"))
    return min(t, 1.0)


def planted_check(
    X: Matrix,
    y: np.ndarray,
    groups: np.ndarray,
    real_pred: np.ndarray,
    seed: int = 0,
    *,
    leakages: tuple[float, ...] = PLANTED_LEAKAGES,
    C: float | None = None,
    n_splits: int = 5,
    n_boot: int = 2000,
    predict: Callable[[Matrix, np.ndarray], np.ndarray] | None = None,
) -> PlantedCheck:
    """Plant ``leakages`` into a relabelled copy of ``X``, probe each, pair them with the real run.

    ``real_pred`` are the real probe's out-of-fold predictions of ``y``;
    each copy is probed with the same grouped protocol and seed, at
    regularisation ``C`` (the real probe's choice, so a plant costs one fit
    per fold) or, when None, with the full search. An audit whose
    predictions come from another design (``style_generalisation`` holds out
    transformations as well as groups) passes ``predict(X, y)``, which
    must make them the way the real ones were made; ``C`` and ``n_splits``
    are then unused.

    Examples
    --------
    >>> check = planted_check(X, y, groups, pred, seed=0)   # doctest: +SKIP
    >>> check.detectable                                    # doctest: +SKIP
    """
    y, groups = np.asarray(y, dtype=object), np.asarray(groups)
    rng = seeds.rng(seed, "planted_check")
    y_null = null_labels(y, groups, rng)
    probe = LinearProbe(random_state=seed) if C is None else LinearProbe(Cs=(C,),
                                                                         random_state=seed)
    classes = sorted(np.unique(y).tolist())
    chance = 1.0 / len(classes)
    _, _, real = bootstrap_accuracy(y, real_pred, groups, classes, n_boot, seed)
    real = (real - chance) / (1.0 - chance)
    out = []
    for leakage in leakages:
        planted_X = plant(X, y_null, leakage, seeds.rng(seed, "planted_check", "directions"))
        if predict is None:
            pred, _ = cross_val_predictions(planted_X, y_null, groups, n_splits, seed, probe)
        else:
            pred = predict(planted_X, y_null)
        _, point, replicates = bootstrap_accuracy(y_null, pred, groups, classes, n_boot, seed)
        planted = (replicates - chance) / (1.0 - chance)
        reads = Estimate.of(normalise(float(point), chance), planted)
        out.append(Planted(leakage, reads.value, reads.ci,
                           detectable_from_replicates(real, planted, leakage)))
    return PlantedCheck(out)
