import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.power import detectable_from_replicates, null_labels, plant


@settings(max_examples=30, deadline=None)
@given(st.integers(4, 30), st.integers(2, 6), st.booleans(), st.integers(0, 1000))
def test_null_labels_keep_the_design(n_groups, k, one_per_group, seed):
    rng = np.random.default_rng(seed)
    if one_per_group:   # a camera audit: one file, one label, per group
        y, groups = rng.choice([f"c{i}" for i in range(k)], n_groups), np.arange(n_groups)
    else:               # a variant audit: every group has one row per class
        y = np.tile(np.array([f"c{i}" for i in range(k)]), n_groups)
        groups = np.repeat(np.arange(n_groups), k)
    new = null_labels(y, groups, rng)
    assert sorted(new.tolist()) == sorted(y.tolist())
    before = sorted(tuple(sorted(y[groups == g])) for g in np.unique(groups))
    after = sorted(tuple(sorted(new[groups == g])) for g in np.unique(groups))
    assert before == after


def test_plant_shifts_each_class_by_the_separation_in_each_coordinates_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 64)) * np.linspace(0.5, 3.0, 64)
    y = np.tile(np.array(["a", "b", "c"]), 200)
    shifted = plant(X, y, 0.3, np.random.default_rng(1))
    means = np.array([(shifted - X)[y == c][0] / X.std(axis=0) for c in "abc"])
    # Orthogonal, equal length in the standardised space.
    gram = means @ means.T
    assert np.allclose(gram, gram[0, 0] * np.eye(3), atol=1e-9)


def test_detectable_is_the_smallest_threshold_whose_planted_bound_clears_the_reading():
    rng = np.random.default_rng(0)
    real = rng.normal(0.08, 0.01, 2000)
    planted = rng.normal(0.04, 0.01, 2000)
    t = detectable_from_replicates(real, planted, 0.1)
    assert 0.2 < t < 0.4
    assert np.mean(t / 0.1 * planted > real) >= 0.95
    # A planted reading at chance vouches for nothing.
    assert detectable_from_replicates(real, np.zeros(2000), 0.1) == 1.0
    # A reading well below the planted one: the planted size itself.
    assert detectable_from_replicates(real - 0.1, planted, 0.1) == pytest.approx(0.1)


def test_plant_on_a_tensor_plants_what_it_plants_on_the_host():
    import torch

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(60, 512)).astype(np.float32), np.array(list("abcd") * 15)
    host = plant(X, y, 0.2, np.random.default_rng(7))
    moved = plant(torch.as_tensor(X), y, 0.2, np.random.default_rng(7))
    assert isinstance(moved, torch.Tensor) and moved.dtype == torch.float64
    np.testing.assert_allclose(moved.numpy(), host, rtol=0, atol=1e-12)
