import pytest

from auditkit.compare import Comparison
from auditkit.errors import ConfigError
from auditkit.results import AuditResult
from auditkit.verdicts import (
    Measurement,
    Threshold,
    decide,
    thresholds_from_config,
    to_result,
)


def _m(value, lo, hi, detectable=0.02, degenerate=False, metric="leakage"):
    return Measurement(metric, value, (lo, hi), 1 / 6, 600, detectable, degenerate)


@pytest.mark.parametrize(
    ("kind", "t", "m", "verdict", "reason"),
    [
        pytest.param("max_leakage", 0.1, _m(0.5, 0.4, 0.6), "fail", "above",
                     id="max: whole interval above -> fail"),
        pytest.param("max_leakage", 0.1, _m(0.02, -0.01, 0.05), "pass", "at or below",
                     id="max: whole interval below, enough power -> pass"),
        pytest.param("max_leakage", 0.1, _m(0.09, 0.05, 0.13), "inconclusive", "straddles",
                     id="max: interval straddles -> inconclusive"),
        pytest.param("max_leakage", 0.1, _m(0.0, -0.05, 0.08, detectable=0.2), "inconclusive",
                     "smallest effect", id="max: found nothing but underpowered -> inconclusive"),
        pytest.param("max_leakage", 0.1, _m(0.0, 0.0, 0.0, degenerate=True), "inconclusive",
                     "degenerate", id="max: degenerate probe is never a confident pass"),
        pytest.param("max_leakage", 0.1, _m(0.5, 0.4, 0.6, degenerate=True), "fail", "above",
                     id="max: degenerate yet clearly above still fails"),
        pytest.param("min_accuracy", 0.5, _m(0.7, 0.6, 0.8, metric="accuracy"), "pass",
                     "at or above", id="min: whole interval above -> pass"),
        pytest.param("min_accuracy", 0.5, _m(0.3, 0.2, 0.4, metric="accuracy"), "fail",
                     "below", id="min: whole interval below -> fail"),
        pytest.param("min_accuracy", 0.5, _m(0.5, 0.45, 0.55, metric="accuracy"),
                     "inconclusive", "straddles", id="min: straddles -> inconclusive"),
        # Threshold units: detectable is a gain over chance; an accuracy threshold
        # compares chance + detectable (1/6 + 0.2 = 0.367 > 0.3), not 0.2.
        pytest.param("max_accuracy", 0.3, _m(0.2, 0.13, 0.27, detectable=0.2, metric="accuracy"),
                     "inconclusive", "smallest accuracy",
                     id="max_accuracy: chance + detectable gain above the threshold -> "
                        "inconclusive"),
        pytest.param("max_accuracy", 0.4, _m(0.2, 0.13, 0.27, detectable=0.2, metric="accuracy"),
                     "pass", "at or below",
                     id="max_accuracy: chance + detectable gain at or below -> pass"),
        pytest.param("max_leakage", 0.3, _m(0.04, -0.04, 0.12, detectable=0.24), "pass",
                     "at or below", id="max_leakage: detectable at or below -> pass"),
        # min_ thresholds: a degenerate probe shows no capability; a fail needs power.
        pytest.param("min_accuracy", 0.15, _m(0.5, 0.5, 0.5, degenerate=True, metric="accuracy"),
                     "inconclusive", "degenerate",
                     id="min: a degenerate probe never passes"),
        pytest.param("min_leakage", 0.1, _m(0.02, -0.01, 0.05, detectable=0.3), "inconclusive",
                     "could tell apart", id="min: below but underpowered -> inconclusive"),
        pytest.param("min_accuracy", 0.3, _m(0.2, 0.15, 0.25, detectable=0.2, metric="accuracy"),
                     "inconclusive", "smallest accuracy",
                     id="min_accuracy: below, chance + detectable above -> inconclusive"),
        pytest.param("min_leakage", 0.1, _m(0.02, -0.01, 0.05, detectable=0.05), "fail",
                     "below", id="min: below with power -> fail"),
    ],
)
def test_verdict_rules(kind, t, m, verdict, reason):
    threshold = Threshold(kind, t)
    got, why = threshold.judge(m)
    assert got == verdict and reason in why
    result = to_result("jpeg_quality", threshold, m)
    assert result.verdict == verdict and result.details["reason"] == why
    assert result.direction == kind.split("_")[0] and result.case == f"{kind}={t:g}"


def test_threshold_judges_only_its_metric():
    with pytest.raises(ConfigError, match="judges 'accuracy'"):
        Threshold("min_accuracy", 0.5).judge(_m(0.1, 0.0, 0.2))


@pytest.mark.parametrize(
    ("table", "match"),
    [({"max_leak": [0.1]}, "unknown key 'max_leak'"), ({"max_leakage": ["0.1"]}, "a number"),
     ({"max_leakage": [True]}, "a number")],
    ids=["typo-in-kind", "string-value", "boolean-value"],
)
def test_bad_threshold_config_is_named(table, match):
    with pytest.raises(ConfigError, match=match):
        thresholds_from_config("jpeg_quality", table)


def test_each_value_is_one_case():
    cases = thresholds_from_config("style", {"max_leakage": [0.1, 0.3], "min_accuracy": 0.9})
    assert [t.case for t in cases] == ["max_leakage=0.1", "max_leakage=0.3", "min_accuracy=0.9"]


def _case(verdict):
    return AuditResult("jpeg_quality", "max_leakage=0.1", "leakage", 0.3, (0.2, 0.4), 1 / 6,
                       0.1, "max", verdict, 600)


def _vs_base(outcome, base_verdict="pass"):
    return Comparison("jpeg_quality", "max_leakage=0.1", "leakage", "max", outcome,
                      f"the comparison says {outcome}", base_verdict=base_verdict)


@pytest.mark.parametrize(
    ("verdict", "reference", "comparison", "policy", "kind", "says"),
    [
        pytest.param("pass", False, None, "skip", "pass", "", id="pass passes"),
        pytest.param("fail", False, None, "skip", "fail", "", id="fail fails"),
        pytest.param("error", False, None, "skip", "fail", "", id="error fails"),
        pytest.param("error", True, None, "skip", "fail", "",
                     id="a reference's error is still a failure, never expected"),
        pytest.param("inconclusive", False, None, "skip", "skip", "inconclusive",
                     id="inconclusive is skipped by default"),
        pytest.param("inconclusive", False, None, "fail", "fail", "inconclusive",
                     id="inconclusive fails under --audit-inconclusive=fail"),
        pytest.param("not_applicable", False, None, "skip", "skip", "not applicable",
                     id="not applicable is skipped by default, apart from errors"),
        pytest.param("not_applicable", True, None, "fail", "fail", "not applicable",
                     id="not applicable fails under --audit-inconclusive=fail"),
        pytest.param("fail", True, None, "skip", "xfail", "reference encoder",
                     id="a reference's fail is expected"),
        pytest.param("pass", False, _vs_base("regression"), "skip", "fail", "regression",
                     id="a regression fails even when the threshold passes"),
        pytest.param("fail", True, _vs_base("regression"), "skip", "fail", "regression",
                     id="a reference that regressed fails"),
        pytest.param("fail", False, _vs_base("ok", "fail"), "skip", "xfail", "no regression",
                     id="failed in the base too, shown no worse: expected"),
        pytest.param("fail", False, _vs_base("inconclusive", "fail"), "skip", "skip",
                     "cannot tell", id="failed in the base too, comparison inconclusive: "
                                       "never called no regression"),
        pytest.param("fail", False, _vs_base("inconclusive", "fail"), "fail", "fail",
                     "cannot tell", id="same, strict policy: fails"),
        pytest.param("fail", False, _vs_base("ok", "pass"), "skip", "fail", "",
                     id="a new failure fails whatever the comparison"),
        pytest.param("fail", False, _vs_base("new"), "skip", "fail", "",
                     id="a failing case the baseline lacks fails"),
        pytest.param("pass", False, _vs_base("inconclusive"), "skip", "skip",
                     "comparison with the baseline is inconclusive",
                     id="a pass whose comparison is inconclusive follows the policy"),
        pytest.param("pass", False, _vs_base("ok"), "skip", "pass", "", id="pass, no regression"),
        pytest.param("pass", False, _vs_base("error"), "skip", "fail",
                     "comparison with the baseline failed",
                     id="a pass the baseline could not be compared with is no pass"),
        pytest.param("pass", False, _vs_base("not_applicable"), "skip", "skip",
                     "not applicable against the baseline",
                     id="a pass whose baseline lacked the input follows the policy"),
        pytest.param("pass", False, _vs_base("not_applicable"), "fail", "fail",
                     "not applicable against the baseline", id="same, strict policy: fails"),
    ],
)
def test_outcome_policy(verdict, reference, comparison, policy, kind, says):
    outcome = decide(_case(verdict), "the case", reference=reference, comparison=comparison,
                     inconclusive=policy)
    assert outcome.kind == kind
    assert says in outcome.message and "the case" in outcome.message


@pytest.mark.parametrize("kind", ["max_delta", "min_accuracy"])
def test_a_degenerate_measurement_gives_its_own_reason(kind):
    metric = "delta" if kind == "max_delta" else "accuracy"
    why = "every query is retrieved correctly in every setting: no room for a shift"
    m = Measurement(metric, 0.0, (0.0, 0.0), 0.0, 60, 0.02, True, {"degenerate": why})
    verdict, reason = Threshold(kind, 0.1).judge(m)
    assert verdict == "inconclusive" and why in reason and "probe" not in reason
    flagged = Measurement(metric, 0.0, (0.0, 0.0), 0.0, 60, 0.02, True, {"degenerate": True})
    assert "degenerate probe" in Threshold(kind, 0.1).judge(flagged)[1]
