"""(e) The probe-fit study on tiny inputs (never its speed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from studies.probe_fit import probe_comparison, synthetic_probe_data


def test_synthetic_probe_data_groups_hold_one_class():
    X, y, groups = synthetic_probe_data(600, 8, 3, seed=1)
    assert X.shape == (600, 8)
    assert len(np.unique(groups)) == 120  # N / 5 groups
    for g in np.unique(groups):
        assert len(np.unique(y[groups == g])) == 1
    assert sorted(np.bincount(y).tolist()) == [200, 200, 200]


@pytest.fixture
def one_thread():
    # Tiny torch ops spend their time waking intra-op threads on a busy machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_probe_comparison_same_objective_same_accuracy(one_thread):
    res = probe_comparison(n=600, d=16, k=3, seed=0, full=True, repeats=1, signal=0.5)
    assert res["n_train"] + res["n_test"] == 600
    assert res["probe_fit_s"] > 0 and res["sklearn_fit_s"] > 0 and res["probe_search_fit_s"] > 0
    # A clear signal: both well above chance (1/3), and equal within the benchmark's tolerance.
    assert res["auditkit_acc"] > 0.6 and res["sklearn_acc"] > 0.6
    assert res["acc_diff"] <= 0.01 and res["equal_accuracy"]
    assert res["probe_search_C"] in (0.01, 0.1, 1.0, 10.0, 100.0)
