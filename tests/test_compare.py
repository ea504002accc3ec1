import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.cli import main
from auditkit.compare import compare_case, compare_results, comparison_lines
from auditkit.results import AuditResult, build_document, write_json_atomic


def case(value, half=0.05, direction="max", verdict="pass", audit="jpeg_quality",
         case_id="max_leakage=0.1", metric="leakage"):
    return AuditResult(audit=audit, case=case_id, metric=metric, value=value,
                       ci=(value - half, value + half), chance=1 / 6, threshold=0.1,
                       direction=direction, verdict=verdict, n=600)


@pytest.mark.parametrize(
    ("base", "cand", "outcome"),
    [(0.10, 0.11, "ok"),            # +0.01, interval within 0.05
     (0.10, 0.30, "regression"),    # rose by 0.2, interval [0.06+, ...] clear of 0.05
     (0.10, 0.14, "inconclusive"),  # rose by 0.04, but the interval reaches past 0.05
     (0.30, 0.05, "ok")],           # an improvement is never a regression
)
def test_max_cases_regress_only_beyond_tolerance_and_noise(base, cand, outcome):
    c = compare_case(case(base, half=0.02), case(cand, half=0.02), tolerance=0.05)
    assert c.outcome == outcome
    assert c.change == pytest.approx(cand - base)
    lo, hi = c.change_ci
    assert lo < c.change < hi


def test_identical_measurements_are_ok_with_no_noise():
    c = compare_case(case(0.3), case(0.3))
    assert (c.outcome, c.change, c.change_ci) == ("ok", 0.0, (0.0, 0.0))


def test_noisy_rise_beyond_tolerance_is_not_a_regression():
    # +0.10 on the point, but intervals of +-0.2 leave it inside the noise.
    c = compare_case(case(0.10, half=0.2), case(0.20, half=0.2), tolerance=0.05)
    assert c.outcome == "inconclusive"


def test_min_cases_regress_when_the_capability_falls():
    base = case(0.9, direction="min", case_id="min_accuracy=0.5", metric="accuracy")
    worse = case(0.6, direction="min", case_id="min_accuracy=0.5", metric="accuracy")
    better = case(0.99, direction="min", case_id="min_accuracy=0.5", metric="accuracy")
    assert compare_case(base, worse).outcome == "regression"
    assert compare_case(base, better).outcome == "ok"


def test_cases_on_one_side_and_errors_are_reported_not_judged():
    err = AuditResult("jpeg_quality", "max_leakage=0.1", "", None, None, None, None, "max",
                      "error", 0, {"reason": "weights missing"})
    out = compare_results([case(0.1), case(0.2, audit="camera_model")],
                          [err, case(0.2, audit="style_fine_grained")])
    by = {c.audit: c.outcome for c in out}
    assert by == {"jpeg_quality": "error", "style_fine_grained": "new", "camera_model": "missing"}


def test_a_case_the_probe_set_cannot_carry_is_not_applicable_not_an_error():
    from auditkit.compare import gate_failures
    from auditkit.verdicts import not_applicable_result

    why = "no camera labels: the probe set has no EXIF Make/Model; add a camera column"
    na = not_applicable_result("camera_model", "max_leakage=0.1", why)
    both = compare_case(na, not_applicable_result("camera_model", "max_leakage=0.1", why))
    one = compare_case(na, case(0.2, audit="camera_model"))
    for c in (both, one):
        assert c.outcome == "not_applicable" and "no camera labels" in c.reason
    assert "on the baseline and candidate" in both.reason
    assert "on the baseline:" in one.reason
    # A folder without EXIF must not fail every gate; a strict gate wants every case measured.
    assert gate_failures([both, one]) == []
    assert len(gate_failures([both, one], strict=True)) == 2
    # An error on either side stays an error.
    err = AuditResult("camera_model", "max_leakage=0.1", "", None, None, None, None, "max",
                      "error", 0, {"reason": "weights missing"})
    assert compare_case(na, err).outcome == "error"
    assert "1 not_applicable" in comparison_lines([both])[-1]


COMPARABLE = {"data": "builtin", "seed": 0, "split_seed": 0, "max_images": None,
              "settings": "s", "auditkit": "0.1.0", "probe_set": "p"}


def _write(path, results, spec="clip", **comparable):
    provenance = {"comparable": {**COMPARABLE, **comparable}}
    write_json_atomic(path, build_document({"spec": spec, "fingerprint": "f"}, provenance,
                                           results))


@pytest.mark.parametrize(
    ("changes", "spec", "says"),
    [({"max_images": 60}, "clip@ft", "max_images: baseline None, this run 60"),
     ({"probe_set": "other"}, "clip@ft", "probe_set: baseline 'p', this run 'other'"),
     ({}, "siglip@ft", "encoder: base architecture"),
     (None, "clip@ft", "records no comparable settings")],
)
def test_compare_command_refuses_results_not_made_alike(tmp_path, capsys, changes, spec, says):
    base, cand = tmp_path / "base.json", tmp_path / "cand.json"
    _write(base, [case(0.10)])
    if changes is None:  # written before results recorded what makes them comparable
        write_json_atomic(cand, build_document({"spec": spec, "fingerprint": "f"}, {},
                                               [case(0.10)]))
    else:
        _write(cand, [case(0.10)], spec=spec, **changes)
    assert main(["compare", str(base), str(cand)]) == 2
    assert says in capsys.readouterr().err
    assert main(["compare", str(base), str(cand), "--allow-mismatch"]) == 0
    out = capsys.readouterr().out
    assert "WARNING (--allow-mismatch)" in out and says in out


def test_compare_command_exits_nonzero_on_a_regression_and_zero_on_identical(tmp_path, capsys):
    base, same, leaky = tmp_path / "base.json", tmp_path / "same.json", tmp_path / "leaky.json"
    _write(base, [case(0.10), case(0.05, audit="camera_model")])
    _write(same, [case(0.10), case(0.05, audit="camera_model")])
    _write(leaky, [case(0.10), case(0.40, audit="camera_model")], spec="clip@ft")
    assert main(["compare", str(base), str(same)]) == 0
    out = capsys.readouterr().out
    assert "2 ok" in out
    assert main(["compare", str(base), str(leaky), "--json", str(tmp_path / "cmp.json")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "clip@ft" in out
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert [c["outcome"] for c in saved["comparisons"]] == ["ok", "regression"]
    # A looser tolerance lets the same rise through.
    assert main(["compare", str(base), str(leaky), "--tolerance", "0.5"]) == 0


def test_compare_command_names_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["compare", str(bad), str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("candidate", "strict", "code", "says"),
    [
        pytest.param([case(0.10), case(0.05, audit="camera_model")], False, 0, "",
                     id="every case there and within tolerance: passes"),
        pytest.param([case(0.10)], False, 1, "camera_model max_leakage=0.1: missing",
                     id="a case the candidate did not run fails the gate"),
        pytest.param([case(0.10), case(0.09, audit="camera_model")], False, 0, "",
                     id="an inconclusive comparison passes by default"),
        pytest.param([case(0.10), case(0.09, audit="camera_model")], True, 1,
                     "camera_model max_leakage=0.1: inconclusive",
                     id="an inconclusive comparison fails under --strict"),
        pytest.param([case(0.10), case(0.05, audit="camera_model"), case(0.2, audit="new")],
                     True, 0, "", id="a case only the candidate has is new, not a failure"),
    ],
)
def test_compare_command_gate(tmp_path, capsys, candidate, strict, code, says):
    base, cand = tmp_path / "base.json", tmp_path / "cand.json"
    _write(base, [case(0.10), case(0.05, audit="camera_model")])
    _write(cand, candidate, spec="clip@ft")
    args = ["compare", str(base), str(cand), *(["--strict"] if strict else [])]
    assert main(args) == code
    err = capsys.readouterr().err
    assert (says in err) if says else "gate fails" not in err


def paired_case(value, replicates, draw="d0", direction="max", metric="leakage"):
    """A case carrying its bootstrap replicates, as a measured one does."""
    reps = np.asarray(replicates, dtype=float)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    return AuditResult(audit="jpeg_quality", case="max_leakage=0.1", metric=metric, value=value,
                       ci=(float(lo), float(hi)), chance=1 / 6, threshold=0.1,
                       direction=direction, verdict="pass", n=600,
                       details={"replicates": {"draw": draw, metric: reps.tolist()}})


def _correlated(n=2000, shift=0.03, seed=0):
    """Replicates of two measurements that share most of their resampling noise."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.04, n)
    base = 0.10 + shared + rng.normal(0, 0.005, n)
    cand = 0.10 + shift + shared + rng.normal(0, 0.005, n)
    return base, cand


def test_replicates_of_one_draw_give_the_paired_interval():
    base, cand = _correlated()
    c = compare_case(paired_case(0.10, base), paired_case(0.13, cand), tolerance=0.05)
    assert c.pairing == "paired" and c.pairing_reason == ""
    assert c.change == pytest.approx(0.03)
    assert c.change_ci == tuple(np.quantile(cand - base, [0.025, 0.975]))
    # Shared noise cancels: the paired interval is a fraction of the independent one,
    # and decides what the independent one cannot.
    width = c.change_ci[1] - c.change_ci[0]
    assert width < 0.25 * (c.independent_ci[1] - c.independent_ci[0])
    assert c.outcome == "ok"
    assert c.independent_ci[0] < 0.0 < 0.05 < c.independent_ci[1]
    assert "paired" in "\n".join(comparison_lines([c]))


def test_a_min_case_pairs_with_the_sign_of_a_capability():
    base, cand = _correlated(shift=-0.2)
    c = compare_case(paired_case(0.9, base + 0.8, direction="min", metric="accuracy"),
                     paired_case(0.7, cand + 0.8, direction="min", metric="accuracy"))
    assert c.pairing == "paired"
    assert c.change == pytest.approx(0.2)
    assert c.change_ci == pytest.approx(tuple(np.quantile(base - cand, [0.025, 0.975])))
    assert c.outcome == "regression"


@pytest.mark.parametrize(
    ("base_draw", "cand_draw", "says"),
    [("d0", "d1", "resampled different groups, seeds or bootstrap sizes"),
     (None, "d0", "no bootstrap replicates stored in the baseline"),
     ("d0", None, "no bootstrap replicates stored in the candidate")],
)
def test_replicates_of_different_or_missing_draws_fall_back_to_independent(base_draw, cand_draw,
                                                                          says):
    base, cand = _correlated()
    b, c = paired_case(0.10, base, draw=base_draw or "x"), paired_case(0.13, cand, cand_draw or "x")
    for side, draw in ((b, base_draw), (c, cand_draw)):
        if draw is None:
            side.details = {}  # results from before replicates were stored
    out = compare_case(b, c, tolerance=0.05)
    assert out.pairing == "independent" and says in out.pairing_reason
    assert out.change_ci == out.independent_ci
    assert out.outcome == "inconclusive"
    assert says in "\n".join(comparison_lines([out]))


def test_replicates_of_another_metric_do_not_pair():
    base, cand = _correlated()
    b, c = paired_case(0.10, base), paired_case(0.13, cand)
    c.details["replicates"] = {"draw": "d0", "accuracy": cand.tolist()}
    assert compare_case(b, c).pairing == "independent"


_GRID = 1024  # dyadic values: their sums and differences are exact in floating point


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, _GRID), min_size=2, max_size=60),
       st.integers(-_GRID // 2, _GRID // 2).filter(bool), st.sampled_from(["max", "min"]))
def test_paired_interval_of_replicates_shifted_by_a_constant_is_that_constant(ticks, shift,
                                                                             direction):
    reps, c = np.array(ticks) / _GRID, shift / _GRID
    metric = "leakage" if direction == "max" else "accuracy"
    out = compare_case(paired_case(0.5, reps, direction=direction, metric=metric),
                       paired_case(0.5 + c, reps + c, direction=direction, metric=metric),
                       tolerance=10.0)
    sign = 1.0 if direction == "max" else -1.0
    assert out.pairing == "paired"
    assert out.change_ci == (sign * c, sign * c)
    assert out.change == sign * c
