"""Audit profiles: the default caps the built-in set, full and explicit caps do not say so."""

from pathlib import Path

import pytest

from auditkit.errors import ConfigError
from auditkit.profiles import DEFAULT_PROFILE, PROFILES, check_profile, profile_note
from auditkit.run_config import RunConfig


def test_quick_is_the_default_and_keeps_half_the_builtin_set():
    assert DEFAULT_PROFILE == "quick"
    assert PROFILES["quick"].max_images == 120 and PROFILES["full"].max_images is None


@pytest.mark.parametrize(("cli", "noted"), [
    ({}, True),
    ({"audit_profile": "full"}, False),
    ({"audit_max_images": 36}, False),
])
def test_the_summary_names_a_capped_run_and_the_way_to_all(tmp_path: Path, cli, noted):
    (tmp_path / "pyproject.toml").write_text("")
    note = profile_note(RunConfig.resolve({"encoder": ["pixels"], **cli}, tmp_path))
    assert bool(note) is noted
    if noted:
        assert "120 source images" in note and "--audit-profile full" in note


def test_unknown_profile_names_the_choices():
    with pytest.raises(ConfigError, match="expected one of quick, full"):
        check_profile("ful")
