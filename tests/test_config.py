import pytest

from auditkit.config import (
    audit_thresholds,
    check_thresholds,
    defaults,
    load_config,
    unknown_threshold_tables,
)
from auditkit.errors import ConfigError


def test_defaults_without_pyproject(tmp_path):
    config = load_config(tmp_path)
    assert config == defaults()
    assert [t.case for t in audit_thresholds(config, "jpeg_quality")] == [
        "max_leakage=0.1", "max_leakage=0.5"]


def test_user_table_replaces_an_audit_and_keeps_the_others(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.auditkit]\nencoders = ["clip"]\n'
        "[tool.auditkit.thresholds.jpeg_quality]\nmax_leakage = 0.2\n"
    )
    config = load_config(tmp_path)
    assert config["encoders"] == ["clip"]
    assert [t.case for t in audit_thresholds(config, "jpeg_quality")] == ["max_leakage=0.2"]


@pytest.mark.parametrize(
    ("text", "match"),
    [("[tool.auditkit]\nencoders = []\n", "non-empty list"),
     ("[tool.auditkit\n", "cannot read"),
     ("[tool.auditkit]\nthresholds = 3\n", "not a table")],
    ids=["empty-encoders", "broken-toml", "thresholds-not-a-table"],
)
def test_bad_config_names_the_file(tmp_path, text, match):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(tmp_path)


def test_audit_without_thresholds_says_how_to_add_them():
    with pytest.raises(ConfigError, match=r"\[tool.auditkit.thresholds.my_audit\]"):
        audit_thresholds(defaults(), "my_audit")


@pytest.mark.parametrize(("table", "says"), [
    ({"max_leakage": [-0.1]}, r"max_leakage = -0.1: expected a value in \[0, 1\]"),
    ({"max_leakage": 1.5}, r"max_leakage = 1.5: expected a value in \[0, 1\]"),
    ({"max_leakage": [0.1, 0.1]}, r"max_leakage lists \[0.1\] more than once"),
    ({"max_leakage": ["0.1"]}, "expected a number"),
    ({"max_leakge": [0.1]}, "unknown key 'max_leakge'"),
    ("0.1", "expected a table of threshold kinds"),
])
def test_bad_threshold_tables_are_refused_naming_the_table(table, says):
    config = {"thresholds": {**defaults()["thresholds"], "jpeg_quality": table}}
    with pytest.raises(ConfigError, match=r"\[tool.auditkit.thresholds.jpeg_quality\].*" + says):
        check_thresholds(config)


def test_stock_thresholds_pass_the_check():
    check_thresholds(defaults())


def test_a_misspelled_table_names_the_audit_it_meant():
    config = {"thresholds": {**defaults()["thresholds"], "jpeg_qualty": {"max_leakage": [0.1]}}}
    (message,) = unknown_threshold_tables(config)
    assert "[tool.auditkit.thresholds.jpeg_qualty] names no audit" in message
    assert "Did you mean: jpeg_quality" in message
    assert unknown_threshold_tables(defaults()) == []
