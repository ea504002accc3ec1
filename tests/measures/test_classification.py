import json

import numpy as np

from auditkit.measures import classification
from auditkit.stats import replicates_of
from auditkit.verdicts import Threshold


def test_one_class_per_fold_is_degenerate_and_never_passes(monkeypatch):
    rng = np.random.default_rng(0)
    y = np.tile(np.array(["q50", "q70", "q90"]), 40)
    groups = np.repeat(np.arange(40), 3)
    X = rng.normal(size=(len(y), 16))

    def one_class_per_fold(X, y, groups, n_splits=5, seed=0, probe=None):
        folds = classification.fold_of(classification.outer_folds(y, groups, n_splits, seed),
                                       len(y))
        if probe is not None:   # the planted check's probe: left as it is
            return real(X, y, groups, n_splits, seed, probe)
        return np.array(sorted(set(y)))[folds % 3].astype(object), [1.0] * n_splits

    real = classification.cross_val_predictions
    monkeypatch.setattr(classification, "cross_val_predictions", one_class_per_fold)
    ms = classification.measure_probe(X, y, groups, seed=0)
    assert ms["leakage"].degenerate and ms["leakage"].details["degenerate"]
    for t in (0.1, 0.5):
        assert Threshold("max_leakage", t).judge(ms["leakage"])[0] == "inconclusive"


def test_measurements_carry_rounded_replicates_of_their_draw():
    rng = np.random.default_rng(0)
    y = np.tile(np.array(["q50", "q70", "q90"]), 40)
    groups = np.repeat(np.arange(40), 3)
    X = rng.normal(size=(len(y), 16))
    X[:, 0] += (y == "q90") * 2.0
    score = classification.score_predictions(y, y[rng.permutation(len(y))], groups, seed=0)
    ms = classification.score_measurements(score, classification.probe_details(score))
    reps = ms["leakage"].details["replicates"]
    assert ms["accuracy"].details["replicates"] is reps  # one record for both metrics
    assert reps["draw"] == score.draw
    accuracy = replicates_of(reps, "accuracy")
    np.testing.assert_allclose(accuracy, score.accuracy_replicates, atol=0.5e-4 + 1e-12)
    leak = classification.normalise(score.accuracy_replicates, score.chance)
    np.testing.assert_allclose(replicates_of(reps, "leakage"), leak, atol=0.5e-4 + 1e-12)
    ms = classification.measure_probe(X, y, groups, seed=0)
    stored = ms["leakage"].details["replicates"]
    assert len(replicates_of(stored, "leakage")) == 2000
    # Compact in results.json: a few kB per metric, not a list of 2,000 floats.
    assert len(json.dumps(stored)) < 12_000
