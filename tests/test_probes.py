import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

from auditkit.probes import (
    LinearProbe,
    _balanced_accuracy,
    cross_val_predictions,
    probe_score,
    score_predictions,
)
from auditkit.stats import balanced_accuracy


def _design(n_groups, k, rng):
    groups = np.repeat(np.arange(n_groups), k)
    y = np.tile(np.array([f"c{i}" for i in range(k)]), n_groups)
    return groups, y


@settings(max_examples=25, deadline=None)
@given(st.integers(6, 30), st.integers(2, 6), st.integers(2, 5), st.integers(0, 1000))
def test_no_group_on_both_sides_of_a_split(n_groups, k, n_splits, seed):
    groups, y = _design(n_groups, k, None)
    splitter = StratifiedGroupKFold(min(n_splits, n_groups), shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_cross_val_predictions_never_train_on_the_test_group(monkeypatch):
    seen = []
    original = LinearProbe.fit

    def spy(self, X, y, groups=None):
        seen.append(set(groups))
        return original(self, X, y, groups)

    monkeypatch.setattr(LinearProbe, "fit", spy)
    rng = np.random.default_rng(0)
    groups, y = _design(20, 3, rng)
    X = rng.normal(size=(len(y), 8))
    pred, _ = cross_val_predictions(X, y, groups, n_splits=4)
    assert len(seen) == 4
    # Each fold's training groups leave out exactly the groups predicted in that fold.
    assert set().union(*[set(groups) - s for s in seen]) == set(groups)
    assert all(len(set(groups) - s) > 0 for s in seen)
    assert pred.shape == y.shape


def test_planted_signal_is_found_and_noise_is_not():
    rng = np.random.default_rng(1)
    groups, y = _design(60, 4, rng)
    codes = np.searchsorted(np.unique(y), y)
    noise = rng.normal(size=(len(y), 32))
    null = probe_score(noise, y, groups, n_boot=500)
    assert null.accuracy_ci[0] <= 0.25 + 0.01 and null.accuracy_ci[1] >= 0.25 - 0.05
    planted = noise.copy()
    planted[:, :4] += 2.0 * np.eye(4)[codes]
    found = probe_score(planted, y, groups, n_boot=500)
    assert found.accuracy_ci[0] > 0.6
    assert found.leakage > null.leakage + 0.4


def test_degenerate_probe_is_flagged():
    y = np.array(["a", "b"] * 10)
    groups = np.repeat(np.arange(10), 2)
    score = score_predictions(y, np.array(["a"] * 20), groups, n_boot=200)
    assert score.degenerate
    assert score.accuracy == pytest.approx(0.5)
    assert score.accuracy_ci == (0.5, 0.5)


def test_interval_resamples_groups_and_covers_the_point():
    rng = np.random.default_rng(2)
    y = rng.choice(["a", "b", "c"], 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.choice(["a", "b", "c"], 300))
    score = score_predictions(y, pred, np.arange(300) // 3, n_boot=1000)
    lo, hi = score.accuracy_ci
    assert lo < score.accuracy < hi
    assert 0.0 < score.detectable_accuracy < 0.2
    assert score.confusion.sum() == 300


def test_too_few_groups_is_an_error_not_a_score():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        cross_val_predictions(X, np.array(["a", "b", "a", "b"]), np.array([0, 0, 1, 1]) * 0)


def test_solver_matches_scikit_learn_at_the_same_C():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    rng = np.random.default_rng(3)
    _, y = _design(80, 4, rng)
    X = rng.normal(size=(len(y), 20))
    X[:, :4] += 0.8 * np.eye(4)[np.searchsorted(np.unique(y), y)]
    train, test = slice(0, 240), slice(240, None)
    ours = LinearProbe(Cs=(0.1,), max_iter=200).fit(X[train], y[train])
    ref = make_pipeline(
        Normalizer(), StandardScaler(),
        LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000),
    ).fit(X[train], y[train])
    agree = np.mean(ours.predict(X[test]) == ref.predict(X[test]))
    assert agree >= 0.97


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n),
    st.lists(st.integers(0, 5), min_size=n, max_size=n),
)))
def test_torch_balanced_accuracy_of_the_C_search_shares_the_definition(pair):
    y, pred = np.array(pair[0]), np.array(pair[1])
    got = _balanced_accuracy(torch.as_tensor(y), torch.as_tensor(pred))
    assert got == pytest.approx(balanced_accuracy(y, pred), abs=1e-12)


def test_a_probe_that_predicts_one_class_per_fold_is_degenerate():
    # Each test fold predicts a single class, a different one per fold: the pooled
    # predictions look varied, yet every fold learned nothing.
    y = np.tile(np.array(["a", "b", "c"]), 30)
    groups = np.repeat(np.arange(30), 3)
    folds = groups % 3
    pred = np.array(["a", "b", "c"])[folds]
    score = score_predictions(y, pred, groups, n_boot=200, folds=folds)
    assert len(np.unique(pred)) == 3
    assert score.degenerate
    assert score.accuracy == pytest.approx(1 / 3)


def test_scores_of_the_same_groups_and_seed_carry_one_draw_and_pair():
    groups, y = _design(40, 3, None)
    rng = np.random.default_rng(0)
    pred_a, pred_b = rng.permutation(y), y.copy()
    a = score_predictions(y, pred_a, groups, n_boot=200, seed=3)
    b = score_predictions(y, pred_b, groups, n_boot=200, seed=3)
    assert a.draw == b.draw and a.draw is not None
    assert a.accuracy_replicates.shape == b.accuracy_replicates.shape == (200,)
    # The replicates are the ones the interval came from.
    assert a.accuracy_ci == pytest.approx(tuple(np.quantile(a.accuracy_replicates,
                                                            [0.025, 0.975])))
    # A different seed, bootstrap size or set of groups resamples differently.
    assert score_predictions(y, pred_a, groups, n_boot=200, seed=4).draw != a.draw
    assert score_predictions(y, pred_a, groups, n_boot=100, seed=3).draw != a.draw
    assert score_predictions(y, pred_a, groups + 1, n_boot=200, seed=3).draw != a.draw


# --------------------------------------------------------------------------
# The device path: the same fit in torch where the embeddings live

#: The devices the device path is checked on: the CPU always, CUDA where there is one.
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() "
        "is False)")]),
]


def _embeddings(n_groups=60, k=4, dim=512, seed=0):
    """Embeddings at a realistic width with a weak class signal: 240 rows, D = 512."""
    rng = np.random.default_rng(seed)
    groups, y = _design(n_groups, k, rng)
    codes = np.searchsorted(np.unique(y), y)
    X = rng.normal(size=(len(y), dim)) + 0.15 * np.eye(k, dim)[codes] * np.sqrt(dim)
    return X.astype(np.float32), y, groups


@pytest.mark.parametrize("device", DEVICES)
def test_a_fit_on_device_tensors_agrees_with_the_host_path(device):
    X, y, groups = _embeddings()
    probe = LinearProbe(Cs=(0.01, 1.0, 100.0), inner_splits=2, random_state=0)
    host = clone(probe).set_params(device="cpu").fit(X, y, groups)
    tensor = torch.as_tensor(X, device=device)
    on_device = clone(probe).set_params(device=device).fit(tensor, y, groups)
    assert on_device.device_ == device
    assert on_device.coef_.device.type == device
    assert on_device.C_ == host.C_
    np.testing.assert_allclose(on_device.mean_, host.mean_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(on_device.decision_function(tensor), host.decision_function(X),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(on_device.predict(tensor), host.predict(X))


@pytest.mark.parametrize("device", DEVICES)
def test_cross_validation_on_device_gives_the_host_predictions(device):
    X, y, groups = _embeddings(seed=1)
    # Two outer and two inner folds, three Cs: the whole path, at a fifth of the fits.
    probe = LinearProbe(Cs=(0.01, 1.0, 100.0), inner_splits=2, random_state=3)
    host, host_C = cross_val_predictions(X, y, groups, n_splits=2, seed=3,
                                         probe=probe.set_params(device="cpu"))
    pred, chosen = cross_val_predictions(torch.as_tensor(X, device=device), y, groups,
                                         n_splits=2, seed=3, probe=probe.set_params(device=device))
    assert chosen == host_C
    np.testing.assert_array_equal(pred, host)


def test_a_probe_without_a_device_fits_on_the_measurements():
    from auditkit.device import computing_on

    X, y, groups = _embeddings(n_groups=6, dim=16)
    assert LinearProbe(Cs=(1.0,)).fit(X, y, groups).device_ == "cpu"
    with computing_on("cpu"):
        probe = LinearProbe(Cs=(1.0,)).fit(torch.as_tensor(X), y, groups)
    assert probe.device_ == "cpu" and probe.get_params()["device"] is None
