import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score

from auditkit.stats import (
    ALPHA,
    DETECT_FACTOR,
    POWER,
    Estimate,
    balanced_accuracy,
    balanced_accuracy_from_confusion,
    bootstrap_weights,
    confusion_by_group,
    confusion_matrix,
    mean_recall,
    normalise,
    null_se,
    weighted_balanced_accuracy,
)

labelled = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from("abcde"), min_size=n, max_size=n),
        st.lists(st.sampled_from("abcdef"), min_size=n, max_size=n),
    )
)


# -- balanced accuracy ----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(labelled)
def test_balanced_accuracy_forms_agree_with_scikit_learn(pair):
    y, pred = np.array(pair[0]), np.array(pair[1])
    from_labels = balanced_accuracy(y, pred)
    from_confusion = float(balanced_accuracy_from_confusion(confusion_matrix(y, pred)))
    assert from_labels == from_confusion
    with warnings.catch_warnings():
        # scikit-learn warns when a prediction names a class absent from the truth.
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(y, pred)
    assert from_labels == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("hits", "support", "expected", "why"),
    [
        ([3, 1], [4, 2], (0.75 + 0.5) / 2, "mean of the recalls, not pooled accuracy 4/6"),
        ([3, 0, 1], [4, 0, 2], (0.75 + 0.5) / 2, "a class without support is left out"),
        ([0, 0], [0, 0], 0.0, "no class supported: 0, not nan"),
    ],
)
def test_mean_recall(hits, support, expected, why):
    got = mean_recall(np.array(hits, float), np.array(support, float))
    assert got == pytest.approx(expected), why


def test_confusion_of_many_matrices_is_scored_one_by_one():
    confs = np.array([[[3, 1], [1, 1]], [[2, 0], [0, 0]], [[0, 2], [2, 0]]], dtype=float)
    got = balanced_accuracy_from_confusion(confs)
    assert got.tolist() == [0.625, 1.0, 0.0]


def test_confusion_by_group_sums_to_the_confusion_and_orders_classes():
    y = np.array(["b", "a", "b", "a", "b"])
    pred = np.array(["b", "b", "a", "a", "b"])
    groups = np.array([5, 5, 2, 2, 9])
    ids, per_group = confusion_by_group(y, pred, groups, ["b", "a"])
    assert ids.tolist() == [2, 5, 9]
    assert per_group.shape == (3, 2, 2)
    assert per_group[1].tolist() == [[1, 0], [1, 0]]  # group 5: b->b, a->b
    np.testing.assert_array_equal(per_group.sum(axis=0), confusion_matrix(y, pred, ["b", "a"]))


def test_weighted_rows_equal_repeating_groups():
    correct = np.array([[1, 0, 1, 1, 0.0]])
    g_idx, c_idx = np.array([0, 0, 1, 2, 3]), np.array([0, 1, 0, 1, 1])
    weights = np.array([[1, 1, 1, 1], [2, 0, 1, 1], [0, 0, 1, 0]])
    got = weighted_balanced_accuracy(correct, g_idx, c_idx, weights)
    # Row 1 counts group 0 twice and drops group 1: class 1 is right once in 4.
    # Row 2 keeps group 2 only: class 0 is absent and left out of the mean.
    np.testing.assert_allclose(got[:, 0], [(1 + 1 / 3) / 2, (1 + 1 / 4) / 2, 1.0])


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 12), st.integers(2, 4), st.integers(0, 2**32 - 1))
def test_weighted_balanced_accuracy_is_balanced_accuracy_of_the_resampled_rows(G, C, seed):
    rng = np.random.default_rng(seed)
    m = 3 * G
    g_idx, c_idx = rng.integers(0, G, m), rng.integers(0, C, m)
    pred = np.where(rng.random(m) < 0.5, c_idx, rng.integers(0, C, m))
    w = rng.integers(0, 3, G)
    got = weighted_balanced_accuracy((pred == c_idx)[None].astype(float), g_idx, c_idx, w[None])
    rows = np.repeat(np.arange(m), w[g_idx])
    expected = balanced_accuracy(c_idx[rows], pred[rows]) if len(rows) else 0.0
    assert got[0, 0] == pytest.approx(expected, abs=1e-12)


# -- power, leakage, bootstrap --------------------------------------------------------------


def test_detect_factor_is_the_two_sided_test_at_the_stated_power():
    assert (ALPHA, POWER) == (0.05, 0.80)
    assert DETECT_FACTOR == pytest.approx(1.959964 + 0.841621, abs=1e-6)


@pytest.mark.parametrize(
    ("accuracy", "chance", "expected"),
    [(0.25, 0.25, 0.0), (1.0, 0.25, 1.0), (0.5, 0.25, 1 / 3), (0.0, 0.5, -1.0)],
    ids=["chance is 0", "perfect is 1", "a third of the way", "below chance is negative"],
)
def test_normalise(accuracy, chance, expected):
    assert normalise(accuracy, chance) == pytest.approx(expected)


def test_null_se_is_the_binomial_error_at_chance():
    # Two classes of 50: each recall has variance 0.25 / 50, the mean a quarter of their sum.
    assert null_se(np.array([50, 50])) == pytest.approx(np.sqrt(2 * 0.25 / 50) / 2)
    assert null_se(np.array([10, 0])) == pytest.approx(np.sqrt(0.25 / 10 + 0.25) / 2)
    rng = np.random.default_rng(0)
    draws = [balanced_accuracy(np.repeat([0, 1, 2], 40), rng.integers(0, 3, 120))
             for _ in range(4000)]
    assert null_se(np.array([40, 40, 40])) == pytest.approx(np.std(draws), rel=0.05)


def test_bootstrap_weights_resample_every_group_and_repeat_by_seed():
    w = bootstrap_weights(7, 500, seed=3)
    assert w.shape == (500, 7)
    assert (w.sum(axis=1) == 7).all() and (w >= 0).all()
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(w, bootstrap_weights(7, 500, seed=3))
    assert not np.array_equal(w, bootstrap_weights(7, 500, seed=4))
    # The draws are the generator's first: callers' other draws come after.
    expected = np.random.default_rng(3).multinomial(7, np.full(7, 1 / 7), 500)
    np.testing.assert_array_equal(w, expected)


def test_estimate_is_point_percentile_interval_and_spread():
    replicates = np.linspace(0.0, 1.0, 101)
    est = Estimate.of(np.float64(0.4), replicates)
    assert isinstance(est.value, float) and est.value == 0.4
    assert est.ci == pytest.approx((ALPHA / 2, 1 - ALPHA / 2))
    assert est.se == pytest.approx(np.std(replicates))
    assert est.json() == {"value": 0.4, "ci": list(est.ci)}
