"""Paired comparison at a real size, on the calibration study's planted embeddings."""

import numpy as np
from calibration import planted_embeddings

from auditkit.compare import compare_case
from auditkit.measures.classification import probe_details, score_measurements
from auditkit.probes import (
    LinearProbe,
    cross_val_predictions,
    fold_of,
    outer_folds,
    score_predictions,
)
from auditkit.verdicts import Threshold, to_result


def _measured(X, y, groups):
    """One case of the jpeg audit from a grouped probe on ``X``, replicates included."""
    # One C: the inner search would multiply the fits by 16 and test nothing here.
    pred, _ = cross_val_predictions(X, y, groups, seed=0,
                                    probe=LinearProbe(Cs=(0.1,), random_state=0))
    folds = fold_of(outer_folds(y, groups, seed=0), len(y))
    score = score_predictions(y, pred, groups, seed=0, folds=folds)
    ms = score_measurements(score, probe_details(score))
    return to_result("jpeg_quality", Threshold("max_leakage", 0.1), ms["leakage"])


def test_two_encoders_on_the_same_probe_set_pair_to_a_narrower_interval():
    # Realistic size: D = 512, 300 source groups x 3 variants. The candidate is the
    # base encoder with more variant signal and a little noise of its own: the two
    # share every image, so their errors on a resample move together.
    X, y, groups = planted_embeddings(300, 0.15, seed=0, n_classes=3, dim=512)
    Xc, _, _ = planted_embeddings(300, 0.25, seed=0, n_classes=3, dim=512)
    Xc = Xc + np.random.default_rng(1).normal(0, 0.3, X.shape)
    base, cand = _measured(X, y, groups), _measured(Xc, y, groups)
    c = compare_case(base, cand, tolerance=0.05)
    assert c.pairing == "paired"
    paired, independent = (c.change_ci[1] - c.change_ci[0],
                           c.independent_ci[1] - c.independent_ci[0])
    assert paired < independent
