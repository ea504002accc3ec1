import json

import pytest

from auditkit.cli import main
from auditkit.compare import compare_case, compare_results
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


def _write(path, results, spec="clip"):
    write_json_atomic(path, build_document({"spec": spec, "fingerprint": "f"}, {}, results))


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
