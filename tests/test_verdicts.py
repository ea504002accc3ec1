import pytest

from auditkit.errors import ConfigError
from auditkit.verdicts import Measurement, Threshold, thresholds_from_config, to_result


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
    ],
)
def test_verdict_rules(kind, t, m, verdict, reason):
    threshold = Threshold(kind, t)
    got, why = threshold.judge(m)
    assert got == verdict and reason in why
    assert (threshold.fails(m) is not None) == (verdict == "fail")
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
