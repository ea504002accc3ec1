"""Calibration: the fast version of the reliability study, and its statistics.

The slow study (``python benchmarks/calibration.py --seeds 100``) is in the
README; here ten seeds at small sizes check the same claims: a null encoder
rarely fails a ``max`` threshold, a planted effect well above the threshold
almost always does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from calibration import (
    Tally,
    clopper_pearson,
    main,
    null_study,
    planted_embeddings,
    planted_probe_study,
    planted_retrieval_study,
)
from scipy import stats

from auditkit.measures.classification import measure_probe
from auditkit.power import bayes_leakage, separation_for_leakage
from auditkit.verdicts import Measurement, Threshold

SEEDS = range(10)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # The study is many small fits: one torch thread is faster on 2 cores.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fails(tallies: list[Tally], case: str, truth: float | None = None) -> int:
    (t,) = [t for t in tallies if t.threshold.case == case and (truth is None or t.truth == truth)]
    assert t.n == len(SEEDS) and t.verdicts["error"] == 0, t.errors
    return t.verdicts["fail"]


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (0, 100, (0.0, 0.0362)),    # no event in 100: the "rule of three" bound
        (5, 100, (0.0164, 0.1128)),
        (10, 10, (0.6915, 1.0)),
    ],
)
def test_clopper_pearson_matches_the_exact_interval(k, n, expected):
    assert clopper_pearson(k, n) == pytest.approx(expected, abs=1e-4)


def test_bayes_leakage_has_the_closed_form_of_two_classes():
    # Two classes: accuracy P(Z0 + d > Z1) = Phi(d / sqrt 2).
    for d in (0.5, 1.0, 2.0):
        accuracy = stats.norm.cdf(d / np.sqrt(2))
        assert bayes_leakage(d, 2) == pytest.approx(2 * accuracy - 1, abs=1e-7)


@pytest.mark.parametrize("leakage", [0.0, 0.1, 0.3, 0.8])
def test_separation_inverts_bayes_leakage(leakage):
    assert bayes_leakage(separation_for_leakage(leakage, 6), 6) == pytest.approx(leakage, abs=1e-6)


def test_separation_rejects_an_impossible_leakage():
    with pytest.raises(ValueError, match="expected a value in"):
        separation_for_leakage(1.0, 6)


def test_planted_embeddings_have_one_row_per_class_in_every_group():
    X, y, g = planted_embeddings(5, 0.3, seed=1, n_classes=4, dim=8)
    assert X.shape == (20, 8)
    for group in set(g):
        assert sorted(y[g == group]) == ["c0", "c1", "c2", "c3"]


def test_a_large_probe_recovers_the_planted_leakage():
    X, y, g = planted_embeddings(300, 0.3, seed=2)
    m = measure_probe(X, y, g, seed=2)["leakage"]
    assert m.ci[0] <= 0.3 <= m.ci[1]


def test_tally_counts_errors_apart_and_names_its_rate():
    tally = Tally("planted_probe", Threshold("max_leakage", 0.1), 0.3, "")
    tally.add(Measurement("leakage", 0.3, (0.2, 0.4), 1 / 6, 60, detectable=0.05))
    tally.add(Measurement("leakage", 0.05, (-0.01, 0.11), 1 / 6, 60, detectable=0.05))
    tally.add_error("ProbeSetError: too few images")
    assert dict(tally.verdicts) == {"fail": 1, "inconclusive": 1, "error": 1}
    assert (tally.rate_name, tally.rate, tally.above_zero) == ("detection", 1 / 3, 1)
    assert Tally("x", Threshold("max_leakage", 0.5), 0.3, "").rate_name == "false-fail"


def test_a_null_encoder_rarely_fails():
    tallies, _ = null_study(["null_jpeg_quality", "null_retrieval_shift"], SEEDS, n_images=36)
    assert _fails(tallies, "max_leakage=0.5") == 0
    assert _fails(tallies, "max_leakage=0.1") <= 1
    assert _fails(tallies, "max_delta=0.1") == 0
    assert _fails(tallies, "max_delta=0.05") <= 1


def test_planted_leakage_is_caught():
    tallies, _ = planted_probe_study([0.3], SEEDS, n_groups=48, large_groups=0)
    assert _fails(tallies, "max_leakage=0.1") >= 9
    # The truth, 0.3, lies below 0.5: a fail there would be a false one.
    assert _fails(tallies, "max_leakage=0.5") == 0


def test_planted_retrieval_shift_is_caught():
    tallies = planted_retrieval_study([1.0], SEEDS, n_images=36)
    assert _fails(tallies, "max_delta=0.05") >= 9


def test_command_writes_the_table_and_json(tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["--seeds", "1", "--images", "24", "--only", "planted_probe",
                 "--leakages", "0.3", "--large-groups", "0", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["case"] for r in report["results"]] == ["max_leakage=0.1", "max_leakage=0.5"]
    assert report["results"][0]["truth"] == 0.3
    assert "planted_probe" in capsys.readouterr().out
    assert report["command"].startswith("python benchmarks/calibration.py --seeds 1 ")
    assert report["machine"]["cpus"] >= 1 and set(report["machine"]) == {
        "cpus", "platform", "python"}


def test_seeds_split_among_jobs_or_runs_pool_to_the_one_run(tmp_path, capsys):
    common = ["--images", "24", "--only", "planted_probe", "--leakages", "0.15",
              "--large-groups", "0", "--dim", "16"]
    one, split, a, b, pooled = (tmp_path / f"{n}.json" for n in ("one", "split", "a", "b", "p"))
    assert main(["--seeds", "4", *common, "--json", str(one)]) == 0
    assert main(["--seeds", "4", "--jobs", "2", *common, "--json", str(split)]) == 0
    assert main(["--seeds", "2", *common, "--json", str(a)]) == 0
    assert main(["--seeds", "2", "--first-seed", "2", *common, "--json", str(b)]) == 0
    assert main(["--pool", str(a), str(b), "--json", str(pooled)]) == 0
    capsys.readouterr()

    def rows(path):
        return {r["case"]: (r["n"], r["verdicts"], round(r["mean_value"], 9), r["rate_ci"])
                for r in json.loads(path.read_text())["results"]}

    assert rows(one) == rows(split) == rows(pooled)
    assert rows(one)["max_leakage=0.1"][0] == 4


@pytest.fixture(scope="module")
def at_768_dims(tmp_path_factory) -> dict[float, dict[str, int]]:
    """Verdicts at max_leakage = 0.1 over 20 seeds, D = 768, 240 groups, by true leakage.

    One study for both truths, its seeds split between two processes: the
    suite runs in one process, so the second core would otherwise sit idle
    through the suite's longest step.
    """
    out = tmp_path_factory.mktemp("cal768") / "cal.json"
    assert main(["--seeds", "20", "--jobs", "2", "--only", "planted_probe", "--dim", "768",
                 "--groups", "240", "--leakages", "0", "0.15", "--large-groups", "0",
                 "--json", str(out)]) == 0
    return {r["truth"]: r["verdicts"] for r in json.loads(out.read_text())["results"]
            if r["case"] == "max_leakage=0.1"}


def test_a_leakage_above_the_threshold_never_passes_at_768_dims(at_768_dims):
    # The probe reads a true 0.15 as about 0.08 at D = 768 and 240 images; a
    # rule on the interval alone passed it in 7 of 10 seeds.
    verdicts = at_768_dims[0.15]
    assert sum(verdicts.values()) == 20
    assert verdicts["pass"] == 0, verdicts


def test_a_null_encoder_rarely_fails_at_768_dims(at_768_dims):
    verdicts = at_768_dims[0.0]
    assert sum(verdicts.values()) == 20
    assert verdicts["fail"] <= 1, verdicts
