import dataclasses

import numpy as np
import pytest

from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.encoders.planted import ConstantEncoder, NoiseEncoder, ThumbnailEncoder
from auditkit.errors import ProbeSetError
from auditkit.extract import Extractor
from auditkit.knn import knn_predict, l2_normalise
from auditkit.measures import retrieval_shift as rs
from auditkit.transforms.processing import resizing_variants
from auditkit.transforms.quality import jpeg_grid
from auditkit.verdicts import Threshold

SMALL = Threshold("max_delta", 0.05)


# -- split --------------------------------------------------------------------------------


def test_split_keeps_groups_whole_and_every_class_on_both_sides():
    labels = ["a"] * 12 + ["b"] * 8
    groups = [f"a{i // 2}" for i in range(12)] + [f"b{i}" for i in range(8)]
    s = rs.split_queries(labels, groups, fraction=0.25, seed=3)
    g, y = np.array(groups), np.array(labels)
    assert not set(g[s.queries]) & set(g[s.database])
    assert set(y[s.queries]) == set(y[s.database]) == {"a", "b"}
    # 6 groups of "a" and 8 of "b": a quarter of each, rounded.
    assert len(set(g[s.queries])) == 2 + 2
    again = rs.split_queries(labels, groups, fraction=0.25, seed=3)
    np.testing.assert_array_equal(s.queries, again.queries)
    others = [rs.split_queries(labels, groups, 0.25, seed).queries.tolist() for seed in range(5)]
    assert len({tuple(q) for q in others}) > 1


def test_split_refuses_a_class_with_one_group():
    with pytest.raises(ProbeSetError, match="class 'b' has 1 group"):
        rs.split_queries(["a", "a", "b", "b"], ["g1", "g2", "g3", "g3"])


# -- settings assembly --------------------------------------------------------------------


def _planted(classes, procs, class_weight=1.0, proc_weight=2.0, n_class=2, n_proc=3):
    """Unit vectors: a class direction plus a stronger processing direction."""
    X = np.zeros((n_proc, len(classes), n_class + n_proc))
    for p in range(n_proc):
        X[p, np.arange(len(classes)), classes] = class_weight
        X[p, :, n_class + p] = proc_weight
    return l2_normalise(X.reshape(-1, X.shape[-1])).reshape(X.shape)


def test_settings_on_a_case_with_a_known_answer():
    # Processing outweighs class, so whatever shares the query's processing is nearest.
    q_codes, d_codes = np.array([0, 1]), np.array([0, 0, 0, 1, 1, 1])
    out = rs.family_outcomes(_planted(q_codes, 3), _planted(d_codes, 3), q_codes, d_codes, 2, k=3)
    assert out.baseline.all()          # same processing everywhere: class decides
    assert out.rows("pos_same").all()  # positives share the query's processing
    assert not out.rows("neg_same").any()  # negatives do: every query is wrong
    assert out.rows("all_diff").all()  # nobody shares it: class decides again
    assert out.third.tolist() == [[-1, 2, 1], [2, -1, 0], [1, 0, -1]]


def test_settings_match_a_database_built_by_hand():
    rng = np.random.default_rng(0)
    P, m, n, C = 3, 7, 15, 3
    Eq = l2_normalise(rng.normal(size=(P * m, 5))).reshape(P, m, 5)
    Ed = l2_normalise(rng.normal(size=(P * n, 5))).reshape(P, n, 5)
    q_codes, d_codes = rng.integers(0, C, m), rng.integers(0, C, n)
    out = rs.family_outcomes(Eq, Ed, q_codes, d_codes, C, k=4, seed=5, max_cells=2 * n * (P + 4))

    def by_hand(t, q, pos, neg):
        proc = np.where(d_codes == q_codes[q], pos, neg)
        db = Ed[proc, np.arange(n)]
        return knn_predict(Eq[t, q:q + 1], db, d_codes, q_codes[q:q + 1], k=4).correct[0]

    for t in range(P):
        for q in range(m):
            assert out.baseline[t, q] == by_hand(t, q, t, t)
            assert out.uniform[t, q] == by_hand(t, q, out.assignment, out.assignment)
            for o in range(P):
                if o != t:
                    assert out.pos_same[t, o, q] == by_hand(t, q, t, o)
                    assert out.neg_same[t, o, q] == by_hand(t, q, o, t)
                    assert out.all_diff[t, o, q] == by_hand(t, q, o, out.third[t, o])


# -- the audit on the built-in set --------------------------------------------------------


@pytest.fixture(scope="module")
def probe_set():
    return builtin_probe_set(seed=0, max_images=60)


@pytest.fixture(scope="module")
def pixels():
    # The fewest images that still give 12 query groups: pixels costs ~30 ms a variant.
    return rs.measure(Extractor(build_encoder("pixels")), builtin_probe_set(seed=0, max_images=36))


@pytest.fixture(scope="module")
def thumbnail(probe_set):
    extractor = Extractor(ThumbnailEncoder())
    return extractor, rs.measure(extractor, probe_set)


def test_processing_traces_shift_retrieval_and_fail(pixels):
    d = pixels["delta"]
    settings = d.details["settings"]
    assert settings["pos-same"] > settings["baseline"] > settings["neg-same"]
    assert all(f["delta"]["value"] > 0.2 for f in d.details["families"].values())
    assert d.ci[0] > SMALL.value
    assert SMALL.judge(d)[0] == "fail"


def test_pixels_baseline_retrieval_is_between_chance_and_perfect(pixels):
    acc = pixels["accuracy"]
    assert acc.chance == pytest.approx(1 / 6)
    assert acc.chance < acc.ci[0] <= acc.value <= acc.ci[1] < 1.0
    assert not acc.degenerate


def test_details_describe_the_case(pixels):
    d = pixels["delta"].details
    assert d["k"] == 10 and d["n_classes"] == 6 and d["split_seed"] == 0
    assert d["n_pairs"] == 30 + 6
    assert [len(f["pairs"]) for f in d["families"].values()] == [30, 6]
    assert sum(d["queries_per_class"].values()) == d["n_queries"] == pixels["delta"].n
    assert d["n_queries"] + d["n_database"] == 36
    assert d["n_query_groups"] >= rs.MIN_QUERY_GROUPS
    pooled = np.mean([p["delta"] for f in d["families"].values() for p in f["pairs"]])
    assert pooled == pytest.approx(pixels["delta"].value)


def test_content_only_encoder_shows_no_shift(thumbnail):
    d = thumbnail[1]["delta"]
    assert d.ci[0] <= 0.0 <= d.ci[1]
    assert abs(d.value) < SMALL.value
    assert SMALL.judge(d)[0] != "fail"


def test_each_pair_is_embedded_once_and_shared_with_the_probe_audits(thumbnail, probe_set):
    extractor = thumbnail[0]
    # Resizing's x1 class is the JPEG audit's JPEG 95 4:4:4: 6 + 2 distinct variants.
    unique = len({v.key for v in jpeg_grid() + resizing_variants()})
    assert unique == 8
    assert extractor.stats.computed == len(probe_set) * unique
    extractor.embed(probe_set.images, jpeg_grid())
    extractor.embed(probe_set.images, resizing_variants())
    assert extractor.stats.computed == len(probe_set) * unique


def test_noise_covers_zero_while_the_unsigned_shift_does_not(probe_set):
    d = rs.measure(Extractor(NoiseEncoder()), probe_set)["delta"]
    assert d.ci[0] <= 0.0 <= d.ci[1]
    assert SMALL.judge(d)[0] != "fail"
    # The paper's |delta| is biased upward on few queries: why the verdict is signed.
    assert d.details["mean_abs_delta"]["value"] > 0.04


def test_constant_encoder_is_degenerate_not_a_pass(probe_set):
    d = rs.measure(Extractor(ConstantEncoder()), probe_set)["delta"]
    assert d.degenerate and "collapsed" in d.details["degenerate"]
    assert SMALL.judge(d)[0] == "inconclusive"


def test_too_few_query_groups_is_an_error():
    with pytest.raises(ProbeSetError, match="6 query groups, expected at least 10"):
        rs.measure(Extractor(NoiseEncoder()), builtin_probe_set(seed=0, max_images=30))


def test_a_class_with_a_single_image_is_an_error(probe_set):
    one_face = [im for im in probe_set.images if im.label != "face"]
    one_face.append(next(im for im in probe_set.images if im.label == "face"))
    small = dataclasses.replace(probe_set, images=one_face)
    with pytest.raises(ProbeSetError, match="class 'face' has 1 group"):
        rs.measure(Extractor(NoiseEncoder()), small)
