"""Baseline: reading a baseline, and refusing one that was not made like this run."""

import json
from pathlib import Path

import pytest

from auditkit.baseline import (
    Baseline,
    architecture,
    check_baseline,
    comparable,
    comparable_mismatches,
)
from auditkit.errors import ConfigError
from auditkit.run_config import RunConfig


def _run(tmp_path: Path, **cli) -> RunConfig:
    (tmp_path / "pyproject.toml").write_text("[tool.auditkit]\nencoders = ['pixels']\n")
    return RunConfig.resolve(cli, tmp_path)


def _write(path: Path, spec: str, block: dict | None) -> Path:
    provenance = {} if block is None else {"comparable": block}
    doc = {"schema_version": 1, "encoder": {"spec": spec, "fingerprint": None},
           "provenance": provenance,
           "audits": []}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_comparable_holds_what_changes_measurements_and_nothing_that_only_judges(tmp_path):
    run = _run(tmp_path, encoder=["pixels"], audit_max_images=60, audit_seed=3)
    block = comparable(run, "d1")
    assert {k: block[k] for k in ("seed", "max_images", "probe_set", "data")} == {
        "seed": 3, "max_images": 60, "probe_set": "d1", "data": "builtin"}
    assert "probe_set" not in comparable(run)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.auditkit]\nencoders = ['clip']\nbaseline_tolerance = 0.2\n"
        "[tool.auditkit.thresholds.jpeg_quality]\nmax_leakage = 0.9\n")
    judged = RunConfig.resolve({"encoder": ["pixels"], "audit_max_images": 60,
                                "audit_seed": 3}, tmp_path)
    assert comparable(judged, "d1") == block
    (tmp_path / "pyproject.toml").write_text("[tool.auditkit.style]\nper_image = 3\n")
    measured = RunConfig.resolve({"encoder": ["pixels"], "audit_max_images": 60,
                                  "audit_seed": 3}, tmp_path)
    assert comparable(measured, "d1")["settings"] != block["settings"]


def test_another_opencv_or_pillow_makes_a_baseline_unfair(tmp_path, monkeypatch):
    """The variants' pixels are part of the probe set: the style audits moved with OpenCV."""
    from auditkit import numerics

    run = _run(tmp_path, encoder=["pixels"])
    block = json.loads(json.dumps(comparable(run, "d1")))  # as a baseline file holds it
    assert block["pixels"]["opencv"] and block["pixels"]["pillow"]
    assert comparable_mismatches(block, comparable(run, "d1")) == []
    other = {**numerics.pixel_libraries(), "opencv": "4.14.0"}
    monkeypatch.setattr(numerics, "pixel_libraries", lambda: other)
    assert [m.split(":")[0] for m in comparable_mismatches(block, comparable(run, "d1"))] == [
        "pixels"]


def test_mismatches_name_both_sides():
    base = {"seed": 0, "max_images": 60, "probe_set": "a", "data": "x"}
    here = {"seed": 0, "max_images": None, "probe_set": "b", "data": "y"}
    assert comparable_mismatches(base, here) == [
        "max_images: baseline 60, this run None", "probe_set: baseline 'a', this run 'b'"]
    assert comparable_mismatches(base, {"seed": 0}) == []
    assert "older auditkit" in comparable_mismatches(None, {"seed": 0})[0]


@pytest.mark.parametrize(("base", "candidate", "same"), [
    ("clip", "clip@ft.pt", True),
    ("open_clip:ViT-B-32/openai", "clip@ft.pt", True),
    ("random:timm:resnet18", "timm:resnet18@w.pth", True),
    ("clip", "clip-b16@ft.pt", False),
    ("python:planted:noise", "pixels", False),
])
def test_a_fine_tune_shares_its_base_architecture(base, candidate, same):
    assert (architecture(base) == architecture(candidate)) is same


def test_a_json_baseline_of_another_architecture_is_refused_naming_both(tmp_path):
    path = _write(tmp_path / "base.json", "timm:resnet50", comparable(_run(tmp_path)))
    run = _run(tmp_path, encoder=["timm:resnet18@ft.pth"], audit_reference=["pixels"],
               audit_baseline=str(path))
    with pytest.raises(ConfigError, match=r"'timm:resnet50' is not a base of "
                                          r"'timm:resnet18@ft.pth'.*allow-mismatch"):
        check_baseline(run)
    fine = _run(tmp_path, encoder=["timm:resnet50@ft.pth"], audit_baseline=str(path))
    check_baseline(fine)


def test_a_directory_baseline_file_must_be_of_its_own_encoder(tmp_path):
    from auditkit.layout import ReportLayout

    block = comparable(_run(tmp_path))
    _write(ReportLayout(tmp_path / "base").results("a:b"), "a_b", block)
    baseline = Baseline(tmp_path / "base")
    assert baseline.mismatches("a:b", False, block) == ["encoder: baseline 'a_b', this run 'a:b'"]
    _write(ReportLayout(tmp_path / "base").results("pixels"), "pixels", block)
    assert baseline.mismatches("pixels", True, block) == []


def test_an_older_baseline_and_other_settings_are_refused_unless_allowed(tmp_path):
    old = _write(tmp_path / "old.json", "pixels", None)
    run = _run(tmp_path, encoder=["pixels"], audit_baseline=str(old))
    with pytest.raises(ConfigError, match="older auditkit"):
        check_baseline(run)
    check_baseline(_run(tmp_path, encoder=["pixels"], audit_baseline=str(old),
                        audit_baseline_allow_mismatch=True))

    made = _write(tmp_path / "made.json", "pixels",
                  comparable(_run(tmp_path, audit_max_images=60), "d1"))
    other = _run(tmp_path, encoder=["pixels"], audit_baseline=str(made), audit_profile="full")
    with pytest.raises(ConfigError, match="max_images: baseline 60, this run None"):
        check_baseline(other)
    same = _run(tmp_path, encoder=["pixels"], audit_baseline=str(made), audit_max_images=60)
    check_baseline(same)
    with pytest.raises(ConfigError, match="probe_set: baseline 'd1', this run 'd2'"):
        check_baseline(same, "d2")
    check_baseline(same, "d1")
