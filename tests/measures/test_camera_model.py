"""Camera-model audit: planted camera traces are caught, noise is not, bad data is an error."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import timm
from PIL import Image

from auditkit.data import builtin_probe_set, folder_probe_set, manifest_probe_set
from auditkit.encoders import build_encoder
from auditkit.encoders.planted import NoiseEncoder
from auditkit.errors import ConfigError, NotApplicable
from auditkit.extract import Extractor
from auditkit.measures import camera_model
from auditkit.verdicts import Threshold

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.is_model("resnet18")

STOCK = Path(__file__).resolve().parents[2] / "audits" / "test_camera_model.py"

#: (Make, Model, how many photos, JPEG settings): what each planted camera does.
PLANTED = [
    ("Canon", "Canon EOS 5D", 12, {"quality": 95, "subsampling": 0}),
    ("NIKON CORPORATION", "NIKON D70", 14, {"quality": 75, "subsampling": 2}),
    ("Apple", "iPhone 12", 16, {"quality": 85, "subsampling": 1}),
    ("SONY", "DSC-W55", 3, {"quality": 90, "subsampling": 2}),  # below min_per_class
]
WITHOUT_EXIF = 2


def _scene(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A distinct smooth colour scene with fine texture (JPEG traces need texture)."""
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((size, size),
                                                                         Image.BICUBIC))
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def _write_photos(root: Path, cameras=PLANTED, without_exif: int = WITHOUT_EXIF) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for make, model, count, jpeg in cameras:
        exif = Image.Exif()
        exif[0x010F] = make
        exif[0x0110] = model
        for i in range(count):
            name = f"{model.replace(' ', '_')}_{i:02d}.jpg"
            Image.fromarray(_scene(rng)).save(root / name, format="JPEG", exif=exif, **jpeg)
    for i in range(without_exif):
        Image.fromarray(_scene(rng)).save(root / f"scan_{i}.jpg", format="JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return _write_photos(tmp_path_factory.mktemp("camera_photos"))


@pytest.fixture(scope="module")
def pixels_result(photos):
    return camera_model.measure(Extractor(build_encoder("pixels")), folder_probe_set(photos),
                                n_repeats=3)


def test_pixels_catches_planted_camera_traces(pixels_result):
    leak = pixels_result["leakage"]
    assert leak.ci[0] > 0.5
    assert Threshold("max_leakage", 0.5).judge(leak)[0] == "fail"
    assert leak.chance == pytest.approx(1 / 3)
    assert leak.details["classes"] == ["Apple iPhone 12", "Canon EOS 5D", "NIKON D70"]
    assert leak.n == 3 * 12
    assert pixels_result["accuracy"].value == pytest.approx(leak.details["accuracy"])


def test_small_classes_dropped_rest_balanced_over_repeats(pixels_result):
    d = pixels_result["leakage"].details
    assert d["cameras"] == "photographed" and d["label_sources"] == {"exif": 45}
    assert d["class_counts_before"] == {
        "Apple iPhone 12": 16, "Canon EOS 5D": 12, "NIKON D70": 14, "SONY DSC-W55": 3}
    assert d["dropped_classes"] == [
        {"class": "SONY DSC-W55", "count": 3, "reason": "3 image(s), fewer than min_per_class=10"}]
    assert d["class_counts_after"] == {"Apple iPhone 12": 12, "Canon EOS 5D": 12, "NIKON D70": 12}
    assert d["n_repeats"] == 3 and len(d["repeats"]) == 3
    # Each draw has its own planted check, and the pooled verdict needs all of them.
    checks = d["planted_check"]["repeats"]
    assert len(checks) == 3 and all(len(c["planted"]) == 2 for c in checks)
    assert d["detectable_leakage"] >= max(c["detectable_leakage"] for c in checks)
    # The pooled point is the mean over repeats (equal class sizes in each).
    spread = d["repeat_spread"]
    assert d["accuracy"] == pytest.approx(spread["accuracy_mean"])
    assert spread["accuracy_min"] <= d["accuracy"] <= spread["accuracy_max"]
    assert 36 < d["n_images_used"] <= 42
    assert np.asarray(d["confusion"]).sum() == 3 * 36
    assert d["unlabelled"]["count"] == WITHOUT_EXIF
    assert [Path(e["path"]).name for e in d["unlabelled"]["examples"]] == ["scan_0.jpg",
                                                                          "scan_1.jpg"]
    assert d["unlabelled"]["examples"][0]["reason"].startswith("no EXIF")


def test_noise_encoder_sits_at_chance_and_never_fails(photos):
    ms = camera_model.measure(Extractor(NoiseEncoder()), folder_probe_set(photos), n_repeats=2)
    leak = ms["leakage"]
    assert leak.ci[0] <= 0.05 and leak.ci[1] >= -0.3
    assert Threshold("max_leakage", 0.5).judge(leak)[0] in {"pass", "inconclusive"}


def test_masked_control_and_levels(photos):
    extractor = Extractor(build_encoder("pixels"))
    ms = camera_model.measure(extractor, folder_probe_set(photos), masked=True, n_repeats=1,
                              level="smartphone")
    d = ms["leakage"].details
    assert d["variants"] == ["original+mask0.95"] and d["masked"] is True
    # 64-pixel photos seen whole: a 62-pixel mask, in whole pixels, leaves 1 a side.
    assert d["mask"]["border_fraction"] == pytest.approx(1 - (62 / 64) ** 2)
    assert d["class_counts_before"] == {"other camera": 29, "smartphone": 16}
    assert d["n_repeats"] == 1 and d["class_counts_after"] == {"other camera": 16,
                                                               "smartphone": 16}


def test_folder_without_exif_is_not_applicable_naming_files_and_the_fix(tmp_path):
    _write_photos(tmp_path, cameras=[], without_exif=3)
    with pytest.raises(NotApplicable) as info:
        camera_model.measure(Extractor(build_encoder("pixels")), folder_probe_set(tmp_path))
    message = str(info.value)
    assert "3 file(s) lack EXIF Make/Model" in message and "scan_0.jpg" in message
    assert "'camera' column" in message and "--audit-data=manifest.csv" in message


def test_one_camera_class_left_is_not_applicable(tmp_path):
    _write_photos(tmp_path, cameras=PLANTED[:1] + PLANTED[3:], without_exif=0)
    with pytest.raises(NotApplicable, match="at least 2 camera classes"):
        camera_model.measure(Extractor(build_encoder("pixels")), folder_probe_set(tmp_path))


def test_manifest_camera_column_overrides_exif(photos, tmp_path):
    rows = ["path,camera"] + [
        f"{p},{'Leica Q2' if i % 2 else 'Leica M10'}"
        for i, p in enumerate(sorted(photos.glob("*.jpg")))
    ]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    ms = camera_model.measure(Extractor(NoiseEncoder()), manifest_probe_set(tmp_path / "m.csv"),
                              n_repeats=1)
    d = ms["leakage"].details
    assert d["label_sources"] == {"manifest": 47} and d["unlabelled"]["count"] == 0
    assert d["classes"] == ["Leica M10", "Leica Q2"]


def test_builtin_set_is_taken_by_simulated_cameras():
    probe_set = builtin_probe_set(seed=0, max_images=10)
    ms = camera_model.measure(Extractor(build_encoder("pixels")), probe_set)
    leak = ms["leakage"]
    d = leak.details
    assert d["cameras"] == "simulated" and d["note"].startswith("simulated cameras: ")
    assert len(d["simulated_cameras"]) == d["n_classes"] >= 4
    assert all("demosaic" in c["label"] for c in d["simulated_cameras"])
    assert d["n_repeats"] == 1 and leak.n == 10 * d["n_classes"]
    assert leak.chance == pytest.approx(1 / d["n_classes"])
    assert leak.ci[0] > 0.5
    with pytest.raises(ConfigError, match="level='make' needs photos"):
        camera_model.measure(Extractor(build_encoder("pixels")), probe_set, level="make")


@pytest.mark.parametrize("bad", [{"min_per_class": 1}, {"n_repeats": 0}, {"level": "lens"}])
def test_bad_arguments_are_config_errors(bad):
    with pytest.raises(ConfigError):
        camera_model.measure(Extractor(NoiseEncoder()), builtin_probe_set(max_images=6), **bad)


def _stock_project(pytester) -> None:
    """The stock camera audit file, for pixels, at the lenient threshold only."""
    pytester.makepyfile(**{"audits/test_camera_model": STOCK.read_text()})
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels"]
        [tool.auditkit.thresholds.camera_model]
        max_leakage = [0.5]
        [tool.auditkit.thresholds.camera_model_masked]
        max_leakage = [0.5]
    """))


def test_stock_audit_file_reports_exif_cameras_in_results_json(pytester, photos):
    # Ten photos of each camera: balanced, so one repeat each (the repeats are tested above).
    (pytester.path / "photos").mkdir()
    for model in ("Canon_EOS_5D", "NIKON_D70", "iPhone_12"):
        for file in sorted(photos.glob(f"{model}_*.jpg"))[:10]:
            shutil.copy(file, pytester.path / "photos" / file.name)
    _stock_project(pytester)
    def run():
        result = pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "--encoder=pixels", "--audit-data=photos",
            "--audit-cache-dir=cache", "--audit-report-dir=out",
        )
        result.assert_outcomes(failed=2)
        return json.loads((pytester.path / "out" / "pixels" / "results.json").read_text())

    doc = run()
    cases = {c["audit"]: c for c in doc["audits"]}
    assert set(cases) == {"camera_model", "camera_model_masked"}
    # The masked audit's retention reads the camera_model measurement the run kept.
    retention = cases["camera_model_masked"]["details"]["retention"]
    assert retention["unmasked"] == cases["camera_model"]["value"]
    warm = run()
    assert sorted(warm["provenance"]["measurements_reused"]) == sorted(cases)
    assert warm["audits"] == doc["audits"]
    for case in cases.values():
        assert case["verdict"] == "fail" and case["ci"][0] > 0.5
        assert case["value"] is not None and case["chance"] == pytest.approx(1 / 3)
        assert case["n"] == 30 and case["details"]["n_repeats"] == 1
        assert case["details"]["classes"] == ["Apple iPhone 12", "Canon EOS 5D", "NIKON D70"]


def test_single_file_groups_say_content_can_explain_the_camera(pixels_result):
    from auditkit.verdicts import to_result

    leak = pixels_result["leakage"]
    assert leak.details["single_file_groups"] is True
    reason = to_result("camera_model", Threshold("max_leakage", 0.5), leak).details["reason"]
    assert "content can explain the camera" in reason


def test_masked_audit_states_its_retention_in_the_reason(photos):
    from auditkit.context import AuditContext
    from auditkit.registry import get_audit
    from auditkit.verdicts import to_result

    ctx = AuditContext.of(camera_model.MASKED_AUDIT, Extractor(build_encoder("pixels")),
                          folder_probe_set(photos))
    leak = get_audit(camera_model.MASKED_AUDIT).measure(ctx)["leakage"]
    retention = leak.details["retention"]
    assert retention["ratio"] == pytest.approx(retention["masked"] / retention["unmasked"])
    reason = to_result(camera_model.MASKED_AUDIT, Threshold("max_leakage", 0.5),
                       leak).details["reason"]
    assert "of the unmasked leakage" in reason and "content can explain" in reason


def test_the_masked_audit_reads_the_unmasked_measurement_it_is_given(photos):
    from auditkit.context import AuditContext
    from auditkit.registry import get_audit

    extractor, probe_set = Extractor(build_encoder("pixels")), folder_probe_set(photos)
    plain = get_audit(camera_model.AUDIT).measure(
        AuditContext.of(camera_model.AUDIT, extractor, probe_set))
    asked = []

    def measured_of(name):
        asked.append(name)
        return plain

    ctx = AuditContext.of(camera_model.MASKED_AUDIT, extractor, probe_set,
                          measured_of=measured_of)
    leak = get_audit(camera_model.MASKED_AUDIT).measure(ctx)["leakage"]
    assert asked == [camera_model.AUDIT]  # no probe of its own on the unmasked photos
    assert leak.details["retention"]["unmasked"] == plain["leakage"].value


def test_builtin_cameras_share_jpeg_unless_told(tmp_path):
    from auditkit.context import AuditContext
    from auditkit.registry import get_audit

    probe_set = builtin_probe_set(seed=0, max_images=10)
    extractor = Extractor(build_encoder("pixels"))
    audit = get_audit(camera_model.AUDIT)
    shared = audit.measure(AuditContext.of(camera_model.AUDIT, extractor, probe_set))
    assert shared["leakage"].details["simulated_set"] == "shared_jpeg"
    assert shared["leakage"].details["simulated_jpeg"].startswith("shared: ")
    ctx = AuditContext.of(camera_model.AUDIT, extractor, probe_set,
                          options={"simulated": "distinct_jpeg"})
    assert audit.inputs(ctx) != audit.inputs(AuditContext.of(camera_model.AUDIT, extractor,
                                                             probe_set))
    distinct = audit.measure(ctx)["leakage"].details
    assert distinct["simulated_set"] == "distinct_jpeg"
    with pytest.raises(ConfigError, match="simulated"):
        audit.measure(AuditContext.of(camera_model.AUDIT, extractor, probe_set,
                                      options={"simulated": "jpeg"}))


#: Two makers, two models each, six photos a model: too few per model, enough per make.
MAKES_ONLY = [
    ("Canon", "Canon EOS 5D", 6, {"quality": 95, "subsampling": 0}),
    ("Canon", "Canon EOS 6D", 6, {"quality": 95, "subsampling": 0}),
    ("NIKON CORPORATION", "NIKON D70", 6, {"quality": 75, "subsampling": 2}),
    ("NIKON CORPORATION", "NIKON D80", 6, {"quality": 75, "subsampling": 2}),
]


def test_auto_level_measures_makes_when_models_have_too_few_photos(tmp_path):
    from auditkit.verdicts import to_result

    _write_photos(tmp_path, cameras=MAKES_ONLY, without_exif=0)
    extractor, probe_set = Extractor(NoiseEncoder()), folder_probe_set(tmp_path)
    leak = camera_model.measure(extractor, probe_set, n_repeats=1)["leakage"]
    assert leak.details["level"] == "make" and leak.details["classes"] == ["Canon", "NIKON"]
    reason = to_result("camera_model", Threshold("max_leakage", 0.5), leak).details["reason"]
    assert "camera classes at level 'make'" in reason
    with pytest.raises(NotApplicable) as info:
        camera_model.measure(extractor, probe_set, level="model")
    message = str(info.value)
    # The remedies it names are options that exist.
    assert "--audit-camera-level=make" in message and "--audit-camera-min-per-class" in message
    assert "smaller min_per_class" not in message
    by_model = camera_model.measure(extractor, probe_set, level="model", min_per_class=5,
                                    n_repeats=1)["leakage"]
    assert by_model.details["n_classes"] == 4 and by_model.details["level"] == "model"


def test_a_long_class_list_is_summarised(tmp_path):
    _write_photos(tmp_path, cameras=[("Acme", f"Acme Z{i:02d}", 2, {"quality": 90})
                                     for i in range(12)], without_exif=0)
    with pytest.raises(NotApplicable) as info:
        camera_model.measure(Extractor(NoiseEncoder()), folder_probe_set(tmp_path),
                             level="model")
    message = str(info.value)
    assert "found 12 class(es)" in message and "and 7 more" in message
    assert message.count("': 2") == 5


def test_camera_options_are_checked():
    assert camera_model.camera_options({"level": "make", "min_per_class": 4}) == \
        camera_model.CameraOptions(level="make", min_per_class=4)
    for bad in ({"level": "lens"}, {"min_per_class": 1}, {"min_per_clas": 4}):
        with pytest.raises(ConfigError, match=r"\[tool.auditkit.camera\]"):
            camera_model.camera_options(bad)


def test_a_folder_without_exif_runs_green_with_camera_audits_not_applicable(pytester):
    _write_photos(pytester.path / "photos", cameras=[], without_exif=8)
    _stock_project(pytester)

    def run(*extra):
        result = pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "-rs", "--encoder=pixels", "--audit-data=photos",
            "--audit-max-images=6", "--audit-cache-dir=cache", "--audit-report-dir=out", *extra)
        doc = json.loads((pytester.path / "out" / "pixels" / "results.json").read_text())
        return result, doc

    result, doc = run()
    result.assert_outcomes(skipped=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*not applicable: camera_model*lack EXIF Make/Model*"])
    assert [c["verdict"] for c in doc["audits"]] == ["not_applicable"] * 2
    assert "'camera' column" in doc["audits"][0]["details"]["reason"]
    card = (pytester.path / "out" / "pixels" / "card.html").read_text()
    assert "not applicable" in card
    # The strict mode that fails inconclusive cases fails these too; still not errors.
    strict, doc = run("--audit-inconclusive=fail")
    strict.assert_outcomes(failed=2)
    assert [c["verdict"] for c in doc["audits"]] == ["not_applicable"] * 2
