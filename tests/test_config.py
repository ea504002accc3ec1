import pytest

from auditkit.config import audit_thresholds, defaults, load_config
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
