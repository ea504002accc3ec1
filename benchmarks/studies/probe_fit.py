"""(e) Fit time of auditkit's probe against scikit-learn's ``LogisticRegression()``."""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any

import numpy as np


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
