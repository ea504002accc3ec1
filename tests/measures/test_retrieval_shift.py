import dataclasses
import warnings

import numpy as np
import pytest
from PIL import Image

from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.encoders.planted import (
    ConstantEncoder,
    NoiseEncoder,
    SizePlantedEncoder,
    ThumbnailEncoder,
)
from auditkit.errors import NotApplicable, ProbeSetError
from auditkit.extract import EmbeddingTable, Extractor
from auditkit.knn import knn_predict, l2_normalise
from auditkit.measures import retrieval_shift as rs
from auditkit.stats import replicates_of
from auditkit.verdicts import Threshold

SMALL = Threshold("max_delta", 0.05)
LARGE = Threshold("max_delta", 0.1)


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
    A = rs.uniform_assignments(3, 6, seed=0, family="toy")
    out = rs.family_outcomes(_planted(q_codes, 3), _planted(d_codes, 3), q_codes, d_codes, 2, A,
                             k=3)
    assert out.baseline.all()          # same processing everywhere: class decides
    assert out.rows("pos_same").all()  # positives share the query's processing
    assert not out.rows("neg_same").any()  # negatives do: every query is wrong
    assert out.rows("all_diff").all()  # the whole database under another: class decides


def test_settings_match_a_database_built_by_hand():
    rng = np.random.default_rng(0)
    P, m, n, C = 3, 7, 15, 3
    Eq = l2_normalise(rng.normal(size=(P * m, 5))).reshape(P, m, 5)
    Ed = l2_normalise(rng.normal(size=(P * n, 5))).reshape(P, n, 5)
    q_codes, d_codes = rng.integers(0, C, m), rng.integers(0, C, n)
    A = rs.uniform_assignments(P, n, seed=5, family="toy", n_seeds=4)
    out = rs.family_outcomes(Eq, Ed, q_codes, d_codes, C, A, k=4, max_cells=2 * n * (P + 4))

    def by_hand(t, q, pos, neg):
        proc = np.where(d_codes == q_codes[q], pos, neg)
        db = Ed[proc, np.arange(n)]
        return knn_predict(Eq[t, q:q + 1], db, d_codes, q_codes[q:q + 1], k=4).correct[0]

    for t in range(P):
        for q in range(m):
            assert out.baseline[t, q] == by_hand(t, q, t, t)
            # Uniform is the mean over the seeds' random databases.
            assert out.uniform[t, q] == pytest.approx(np.mean([by_hand(t, q, a, a) for a in A]))
            for o in range(P):
                if o != t:
                    assert out.pos_same[t, o, q] == by_hand(t, q, t, o)
                    assert out.neg_same[t, o, q] == by_hand(t, q, o, t)
                    # All-diff, as in the reference: the whole database under p_other.
                    assert out.all_diff[t, o, q] == by_hand(t, q, o, o)
    # Several seeds, each a different draw: the mean is not one draw's result.
    assert len({tuple(a) for a in A}) == 4
    assert not np.isin(out.uniform, [0.0, 1.0]).all()


def test_uniform_draws_ten_seeded_assignments_per_family():
    A = rs.uniform_assignments(4, 50, seed=0, family="interpolation")
    assert A.shape == (rs.N_UNIFORM_SEEDS, 50) == (10, 50)
    assert set(np.unique(A)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(A, rs.uniform_assignments(4, 50, seed=0, family="interpolation"))
    assert not np.array_equal(A, rs.uniform_assignments(4, 50, seed=0, family="jpeg"))
    assert not np.array_equal(A, rs.uniform_assignments(4, 50, seed=1, family="interpolation"))


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
    for name, fam in d.details["families"].items():
        acc = fam["accuracy"]
        assert acc["pos-same"]["value"] > acc["baseline"]["value"] > acc["neg-same"]["value"], name
        assert fam["delta_simultaneous_ci"][0] > 0.0, name
    assert d.ci[0] > SMALL.value
    assert SMALL.judge(d)[0] == "fail"


def test_pixels_baseline_retrieval_is_between_chance_and_perfect(pixels):
    acc = pixels["accuracy"]
    assert acc.chance == pytest.approx(1 / 6)
    assert acc.chance < acc.ci[0] <= acc.value <= acc.ci[1] < 1.0
    assert not acc.degenerate
    assert not pixels["delta"].degenerate and pixels["delta"].details["at_ceiling"] == []


def test_details_describe_the_case(pixels):
    d = pixels["delta"].details
    assert d["k"] == 10 and d["n_classes"] == 6 and d["split_seed"] == 0
    assert d["n_uniform_seeds"] == 10
    families = d["families"]
    # The reference's four experiments, each with its own ordered pairs.
    assert list(families) == ["jpeg", "sharpening", "resizing", "interpolation"]
    assert [f["n_pairs"] for f in families.values()] == [30, 6, 6, 12]
    assert [len(f["pairs"]) for f in families.values()] == [30, 6, 6, 12]
    assert sum(d["queries_per_class"].values()) == d["n_queries"] == pixels["delta"].n
    assert d["n_queries"] + d["n_database"] == 36
    assert d["n_query_groups"] >= rs.MIN_QUERY_GROUPS
    for fam in families.values():
        mean = np.mean([p["delta"] for p in fam["pairs"]])
        assert mean == pytest.approx(fam["delta"]["value"])
        lo, hi = fam["delta_simultaneous_ci"]
        # The Bonferroni interval holds the 95 % one.
        assert lo <= fam["delta"]["ci"][0] <= fam["delta"]["ci"][1] <= hi
    # The judged value is the largest family, its interval the envelope of all.
    top = max(families, key=lambda f: families[f]["delta"]["value"])
    assert d["judged_family"] == top
    assert pixels["delta"].value == families[top]["delta"]["value"]
    assert list(pixels["delta"].ci) == [
        max(f["delta_simultaneous_ci"][i] for f in families.values()) for i in (0, 1)]
    assert pixels["delta"].detectable == max(f["detectable_delta"] for f in families.values())
    assert d["simultaneous_level"] == pytest.approx(1 - 0.05 / 4)


def test_replicates_of_the_judged_delta_are_the_largest_family_per_resample(pixels):
    record = pixels["delta"].details["replicates"]
    assert record is pixels["accuracy"].details["replicates"]
    reps = {m: replicates_of(record, m) for m in ("delta", "accuracy")}
    assert len(reps["delta"]) == len(reps["accuracy"]) == rs.N_BOOT
    assert isinstance(record["draw"], str) and record["draw"]
    # The 95 % percentile interval of the stored replicates is that of the judged
    # statistic: it lies within the Bonferroni envelope and above the top family's floor.
    lo, hi = np.quantile(reps["delta"], [0.025, 0.975])
    families = pixels["delta"].details["families"].values()
    assert max(f["delta"]["ci"][0] for f in families) <= lo + 1e-4
    assert pixels["delta"].ci[0] - 1e-4 <= lo <= hi <= pixels["delta"].ci[1] + 1e-4
    acc = pixels["accuracy"]
    assert acc.ci == pytest.approx(tuple(np.quantile(reps["accuracy"], [0.025, 0.975])),
                                   abs=1e-4)


def test_content_only_encoder_shows_no_shift(thumbnail):
    d = thumbnail[1]["delta"]
    assert d.ci[0] <= 0.0 <= d.ci[1]
    assert abs(d.value) < SMALL.value
    assert SMALL.judge(d)[0] != "fail"


def test_each_pair_is_embedded_once_and_shared_with_the_probe_audits(thumbnail, probe_set):
    extractor = thumbnail[0]
    # Sharpening's and resizing's unprocessed class is the JPEG audit's JPEG 95 4:4:4.
    variants = [v for make in rs.FAMILIES.values() for v in make()]
    unique = len({v.key for v in variants})
    assert unique == 6 + 2 + 2 + 4
    assert extractor.stats.computed == len(probe_set) * unique
    for make in rs.FAMILIES.values():
        extractor.embed(probe_set.images, make())
    assert extractor.stats.computed == len(probe_set) * unique


def test_noise_covers_zero_while_the_unsigned_shift_does_not(probe_set):
    d = rs.measure(Extractor(NoiseEncoder()), probe_set)["delta"]
    assert d.ci[0] <= 0.0 <= d.ci[1]
    assert SMALL.judge(d)[0] != "fail"
    # The paper's |delta| is biased upward on few queries: why the verdict is signed.
    assert all(f["mean_abs_delta"]["value"] > 0.04 for f in d.details["families"].values())


# -- one family's shift is not diluted by the others ----------------------------------------


@pytest.fixture(scope="module")
def resizing_only():
    # Only the image size is planted: JPEG, sharpening and interpolation cannot move it.
    return rs.measure(Extractor(SizePlantedEncoder(0.5), cache=None),
                      builtin_probe_set(seed=0, max_images=120))["delta"]


def test_a_resizing_only_shift_of_half_fails(resizing_only):
    d = resizing_only
    families = d.details["families"]
    assert families["resizing"]["delta"]["value"] == pytest.approx(0.5, abs=0.1)
    assert d.details["judged_family"] == "resizing"
    assert d.value == families["resizing"]["delta"]["value"]
    for name in ("jpeg", "sharpening", "interpolation"):
        assert abs(families[name]["delta"]["value"]) < 0.02, name
    # Pooled over every pair, as before, the shift was diluted below the threshold.
    pooled = np.mean([p["delta"] for f in families.values() for p in f["pairs"]])
    assert pooled < LARGE.value
    assert LARGE.judge(d)[0] == "fail"
    assert SMALL.judge(d)[0] == "fail"


# -- the null and the ceiling, with a test double that embeds no pixels ---------------------


class TableEmbedder:
    """Embeds every (image, variant) pair as ``row(image index, label code, variant index)``."""

    def __init__(self, row):
        self.row = row

    def embed(self, images, variants):
        classes = sorted({im.label for im in images})
        pairs = [(i, im, j, v) for i, im in enumerate(images) for j, v in enumerate(variants)]
        X = np.array([self.row(i, classes.index(im.label), j) for i, im, j, _ in pairs])
        return EmbeddingTable(
            X=X.astype(np.float32),
            image_ids=np.array([im.id for _, im, _, _ in pairs], dtype=object),
            labels=np.array([im.label for _, im, _, _ in pairs], dtype=object),
            groups=np.array([im.group for _, im, _, _ in pairs], dtype=object),
            variant_ids=np.array([v.id for _, _, _, v in pairs], dtype=object),
        )


def _null_row(seed):
    """Content (a weak class direction plus the image's own noise) and processing noise."""
    content = np.random.default_rng(seed).normal(size=(10_000, 32))

    def row(i, code, j):
        x = content[i].copy()
        x[code] += 1.5
        # Fresh per (image, variant), independent of the processing's identity.
        return x + 0.5 * np.random.default_rng([seed, i, j]).normal(size=32)
    return row


@pytest.mark.parametrize("seed", range(4))
def test_an_encoder_blind_to_processing_never_fails(seed):
    probe_set = builtin_probe_set(seed=seed, max_images=120)
    d = rs.measure(TableEmbedder(_null_row(seed)), probe_set, seed=seed)["delta"]
    assert 0.2 < d.details["accuracy"] < 0.95
    assert SMALL.judge(d)[0] != "fail" and LARGE.judge(d)[0] != "fail"


def test_near_the_ceiling_the_case_is_inconclusive_with_the_reason():
    probe_set = builtin_probe_set(seed=0, max_images=120)
    labels = np.array(probe_set.labels, dtype=object)
    groups = np.array([im.group for im in probe_set.images], dtype=object)
    # One query embedded as the next class: nearly every query is right, not all.
    wrong = rs.split_queries(labels, groups, seed=0).queries[0]

    def row(i, code, j):
        return np.eye(8)[(code + (i == wrong)) % 6] + 0.01 * j

    ms = rs.measure(TableEmbedder(row), probe_set)
    d = ms["delta"]
    assert 0.95 < d.details["accuracy"] < 1.0
    assert d.details["at_ceiling"] == list(rs.FAMILIES)
    assert d.degenerate and "too easy" in d.details["degenerate"]
    assert LARGE.judge(d)[0] == "inconclusive"
    # The accuracy itself is a fine measurement.
    assert not ms["accuracy"].degenerate


def test_constant_encoder_is_degenerate_not_a_pass(probe_set):
    d = rs.measure(Extractor(ConstantEncoder()), probe_set)["delta"]
    assert d.degenerate and "collapsed" in d.details["degenerate"]
    assert SMALL.judge(d)[0] == "inconclusive"


def test_too_few_query_groups_is_not_applicable_with_the_remedy():
    with pytest.raises(NotApplicable, match="6 query groups, expected at least 10") as info:
        rs.measure(Extractor(NoiseEncoder()), builtin_probe_set(seed=0, max_images=30))
    assert "--audit-max-images" in str(info.value)


def test_a_class_with_a_single_image_is_not_applicable(probe_set):
    one_face = [im for im in probe_set.images if im.label != "face"]
    one_face.append(next(im for im in probe_set.images if im.label == "face"))
    small = dataclasses.replace(probe_set, images=one_face)
    with pytest.raises(NotApplicable, match="class 'face' has 1 group"):
        rs.measure(Extractor(NoiseEncoder()), small)


def test_a_single_class_is_not_applicable(probe_set):
    faces = [im for im in probe_set.images if im.label == "face"]
    with pytest.raises(NotApplicable, match="1 usable class"):
        rs.measure(Extractor(NoiseEncoder()), dataclasses.replace(probe_set, images=faces))


def test_an_image_too_small_for_a_variant_is_skipped_by_name_and_the_audit_goes_on(probe_set):
    tiny = dataclasses.replace(probe_set.images[0], id="tiny.png", group="tiny.png",
                               sha256="f" * 64, loader=lambda: Image.new("RGB", (8, 8), "red"))
    with_tiny = dataclasses.replace(probe_set, images=[*probe_set.images, tiny])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" either
        d = rs.measure(Extractor(NoiseEncoder()), with_tiny)["delta"]
    assert d.details["skipped_images"] == ["tiny.png"]
    assert d.details["n_queries"] + d.details["n_database"] == len(probe_set.images)
