"""The audit registry: records, look-ups, and what is derived from them."""

import json
import re
import textwrap
from pathlib import Path

import pytest
import timm

from auditkit.config import defaults
from auditkit.errors import ConfigError
from auditkit.registry import CARDS, all_audits, find_audit, get_audit, register_audit
from auditkit.scaffold import config_block

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.list_models("resnet*")

README = Path(__file__).resolve().parents[1] / "README.md"
STOCK = Path(__file__).resolve().parents[1] / "audits"


def test_every_stock_audit_has_a_record_with_a_stock_card():
    names = {a.name for a in all_audits()}
    marked = set()
    for path in STOCK.glob("test_*.py"):
        marked |= set(re.findall(r'@pytest\.mark\.audit\("([a-z_]+)"\)', path.read_text()))
    assert marked and marked <= names
    for audit in all_audits():
        if audit.module.startswith("auditkit.measures"):
            assert audit.card in CARDS, audit.name
            assert audit.thresholds, audit.name


def test_defaults_init_and_calibration_are_derived_from_the_records():
    block = config_block()
    for audit in all_audits():
        assert f"[tool.auditkit.thresholds.{audit.name}]" in block
        assert defaults()["thresholds"][audit.name] == {
            k: list(v) for k, v in audit.thresholds.items()}
        if audit.note:
            assert f"# {audit.note}" in block
    assert {a.null_kind for a in all_audits() if a.calibrate} == {
        "null_jpeg_quality", "null_processing_resizing", "null_retrieval_shift"}


@pytest.mark.parametrize(
    ("thresholds", "match"),
    [({}, "registers no thresholds"), ({"max_leak": 0.1}, "threshold kind 'max_leak'")],
    ids=["no-thresholds", "unknown-kind"],
)
def test_a_bad_record_is_refused_at_registration(thresholds, match):
    with pytest.raises(ConfigError, match=match):
        register_audit("bad_audit", thresholds=thresholds)


def test_an_unknown_audit_names_the_close_matches():
    with pytest.raises(ConfigError, match="Did you mean: jpeg_quality"):
        get_audit("jpeg_qualty")
    assert find_audit("jpeg_qualty") is None


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```python\n(# audits/test_blur\.py\n.*?)```", text, re.S)
    assert match, "the README's own-audit example is gone"
    return match.group(1)


def test_the_readmes_own_audit_runs_like_a_stock_one(pytester, tmp_path):
    """A user's audit: one record and a test file, nothing else, and it reaches the card."""
    pytester.makepyfile(**{"audits/test_blur": _readme_example()})
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels"]
        [tool.auditkit.thresholds.blur_radius]
        max_leakage = [0.5]
    """))
    args = ("audits", "--encoder=pixels", "-p", "no:cacheprovider", "--audit-max-images=24",
            f"--audit-cache-dir={tmp_path / 'cache'}", "--audit-report-dir=out")
    run = pytester.runpytest_inprocess(*args)
    run.assert_outcomes(failed=1)  # pixels sees blur: the positive control leaks
    doc = json.loads((pytester.path / "out" / "pixels" / "results.json").read_text())
    (case,) = [a for a in doc["audits"] if a["audit"] == "blur_radius"]
    assert case["case"] == "max_leakage=0.5" and case["card"] == "probe"
    assert case["verdict"] == "fail" and case["value"] > 0.5
    assert "Gaussian blur 2" in (pytester.path / "out" / "pixels" / "card.html").read_text()
    # Warm: the stored measurement is read back, with the same verdict.
    again = pytester.runpytest_inprocess(*args)
    again.assert_outcomes(failed=1)
    doc = json.loads((pytester.path / "out" / "pixels" / "results.json").read_text())
    assert doc["provenance"]["measurements_reused"] == ["blur_radius"]
