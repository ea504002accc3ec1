import numpy as np
import pytest
import torch

from auditkit.knn import (
    block_rows,
    compose,
    knn_predict,
    l2_normalise,
    majority_vote,
    nearest,
    vote_composed,
    vote_from_similarity,
)


def test_majority_beats_the_single_nearest_neighbour():
    db = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    # The nearest item is "b", but two of the three neighbours are "a".
    r = knn_predict(np.array([[1.0, 0.0]]), db, np.array(["b", "a", "a"]), k=3)
    assert r.predictions.tolist() == ["a"]
    assert r.neighbours.tolist() == [[0, 1, 2]]


@pytest.mark.parametrize(
    "labels, sims, expected, why",
    [
        ([[1, 0]], [[0.9, 0.8]], 1, "one vote each: the nearer neighbour's label wins"),
        ([[0, 0, 1, 1]], [[0.9, 0.1, 0.8, 0.7]], 1,
         "two votes each: the larger summed similarity wins, not the single nearest"),
        ([[1, 0]], [[0.5, 0.5]], 0, "equal counts and sums: the lowest code wins"),
        ([[2, 2, 1]], [[0.1, 0.1, 0.99]], 2, "counts come before similarity"),
    ],
)
def test_vote_tie_break(labels, sims, expected, why):
    assert majority_vote(np.array(labels), np.array(sims), 3).tolist() == [expected], why


def test_k_larger_than_database_uses_every_item():
    db = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    r = knn_predict(np.array([[1.0, 0.0]]), db, np.array(["x", "y", "y"]),
                    query_labels=np.array(["x"]), k=10)
    assert r.k == 3
    assert r.neighbours.shape == (1, 3)
    assert r.predictions.tolist() == ["y"]
    assert r.correct.tolist() == [False]


def test_cosine_not_euclidean():
    query = np.array([[1.0, 0.0]])
    # A: long but almost parallel (cosine 0.995, euclidean distance 9.06);
    # B: short and at 45 degrees (cosine 0.707, euclidean distance 0.76).
    db = np.array([[10.0, 1.0], [0.7, 0.7]])
    r = knn_predict(query, db, np.array(["A", "B"]), k=1)
    assert r.predictions.tolist() == ["A"]
    euclid = np.linalg.norm(db - query, axis=1)
    assert np.argmin(euclid) == 1  # the case really separates the two metrics


def test_blocks_give_the_same_answer_as_one_product():
    rng = np.random.default_rng(0)
    Q, D = rng.normal(size=(37, 8)), rng.normal(size=(50, 8))
    labels = rng.integers(0, 4, size=50)
    whole = knn_predict(Q, D, labels, k=5)
    # Three similarity-sized layers per query row: blocks of 2 queries.
    blocked = knn_predict(Q, D, labels, k=5, max_cells=2 * 50 * 3)
    assert block_rows(50, layers=3, max_cells=2 * 50 * 3) == 2
    np.testing.assert_array_equal(whole.predictions, blocked.predictions)
    np.testing.assert_array_equal(whole.neighbours, blocked.neighbours)


def test_nearest_is_sorted_best_first():
    sim = np.array([[0.2, 0.9, 0.5, 0.7], [0.4, 0.1, 0.3, 0.2]])
    idx, top = nearest(sim, 3)
    assert idx.tolist() == [[1, 3, 2], [0, 2, 3]]
    np.testing.assert_allclose(top, [[0.9, 0.7, 0.5], [0.4, 0.3, 0.2]])


def test_vote_from_similarity_matches_knn_predict():
    rng = np.random.default_rng(1)
    Q, D = l2_normalise(rng.normal(size=(9, 4))), l2_normalise(rng.normal(size=(20, 4)))
    codes = rng.integers(0, 3, size=20)
    np.testing.assert_array_equal(vote_from_similarity(Q @ D.T, codes, 3, k=4),
                                  knn_predict(Q, D, codes, k=4).predictions)


def test_zero_rows_stay_zero():
    np.testing.assert_array_equal(l2_normalise(np.zeros((2, 3))), np.zeros((2, 3)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "expected k >= 1"),
        ({"database": np.ones((2, 5))}, "expected the same"),
        ({"db_labels": np.array(["a"])}, "expected one each"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = {"queries": np.ones((1, 3)), "database": np.ones((2, 3)),
            "db_labels": np.array(["a", "b"]), **kwargs}
    with pytest.raises(ValueError, match=message):
        knn_predict(**args)


# -- composed databases ---------------------------------------------------------------------


def test_compose_picks_each_items_layer_by_class_and_processing():
    rng = np.random.default_rng(1)
    P, m, n = 3, 4, 6
    S = rng.normal(size=(P, m, n))
    same = rng.random((m, n)) < 0.5
    per_item = rng.integers(0, P, n)
    got = compose(S, same, pos=2, neg=per_item)
    for i in range(m):
        for j in range(n):
            assert got[i, j] == (S[2, i, j] if same[i, j] else S[per_item[j], i, j])
    np.testing.assert_array_equal(compose(S, same, pos=per_item, neg=per_item),
                                  S[per_item, :, np.arange(n)].T)


def test_vote_composed_is_the_vote_over_the_composed_database():
    rng = np.random.default_rng(2)
    S = rng.normal(size=(3, 5, 12))
    codes = rng.integers(0, 3, 12)
    same = codes[None, :] == rng.integers(0, 3, 5)[:, None]
    got = vote_composed(S, same, codes, 3, 4, 0, 2)
    np.testing.assert_array_equal(got, vote_from_similarity(compose(S, same, 0, 2), codes, 3, k=4))


#: The devices the torch path is checked on: the CPU always, CUDA where there is one.
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() "
        "is False)")]),
]


@pytest.mark.parametrize("device", DEVICES)
def test_the_device_path_retrieves_what_the_host_path_does(device):
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(5, 512))
    db_codes, q_codes = rng.integers(0, 5, 600), rng.integers(0, 5, 300)
    database = centres[db_codes] + 2.0 * rng.normal(size=(600, 512))
    queries = centres[q_codes] + 2.0 * rng.normal(size=(300, 512))
    labels = np.array([f"c{c}" for c in db_codes])
    host = knn_predict(queries, database, labels, k=10, max_cells=40 * 600 * 3)
    for q, d in [(queries, database),
                 (torch.as_tensor(queries, device=device), torch.as_tensor(database,
                                                                            device=device))]:
        got = knn_predict(q, d, labels, k=10, max_cells=40 * 600 * 3, device=device)
        np.testing.assert_array_equal(got.neighbours, host.neighbours)
        np.testing.assert_array_equal(got.predictions, host.predictions)
    # Not a vote by chance: the probe set's classes are there to be found.
    assert (host.predictions == np.array([f"c{c}" for c in q_codes])).mean() > 0.5


def test_the_measurements_accelerator_is_used_and_the_cpu_stays_on_numpy(monkeypatch):
    from auditkit import knn
    from auditkit.device import computing_on

    seen = []
    monkeypatch.setattr(knn, "_unit_on", lambda X, device: seen.append(device) or
                        torch.as_tensor(l2_normalise(np.asarray(X))))
    Q, D, labels = np.eye(3), np.eye(3), np.array(list("abc"))
    with computing_on("cpu"):
        knn_predict(Q, D, labels, k=1)
    assert seen == []
    with computing_on("meta"):  # stands for an accelerator: only its name is read
        assert knn_predict(Q, D, labels, k=1).predictions.tolist() == list("abc")
    assert seen == ["meta", "meta"]
