"""Measurement keys cover every input: a changed input measures again, an unchanged one does not."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from auditkit.registry import get_audit
from auditkit.run_config import RunConfig
from auditkit.session import AuditSession
from auditkit.transforms.base import Variant
from auditkit.transforms.catalogue import register, unregister
from auditkit.verdicts import Measurement

#: (camera, JPEG settings): what each planted camera does to its photos.
CAMERAS = [
    ("Canon EOS 5D", {"quality": 95, "subsampling": 0}),
    ("NIKON D70", {"quality": 70, "subsampling": 2}),
    ("iPhone 12", {"quality": 85, "subsampling": 1}),
]
PER_CAMERA = 10


def _session(tmp_path: Path, **kwargs) -> AuditSession:
    run = RunConfig(encoders=("pixels",), root=tmp_path, cache_dir=tmp_path / "cache",
                    write_reports=False, **kwargs)
    return AuditSession(run)


def _measure(tmp_path: Path, audit: str, **kwargs) -> tuple[dict[str, Measurement], bool]:
    """The measurement of a fresh session (a new run), and whether it was read back."""
    session = _session(tmp_path, **kwargs)
    measured = session.measure("pixels", get_audit(audit))
    return measured, audit in session.reused.get("pixels", [])


# --------------------------------------------------------------------------
# Camera labels from a manifest


def _write_manifest(root: Path, shuffle: bool) -> Path:
    """Photos without EXIF whose camera is a manifest column; JPEG settings plant the camera."""
    rng = np.random.default_rng(0)
    rows = []
    for camera, jpeg in CAMERAS:
        for i in range(PER_CAMERA):
            name = f"{camera.split()[0]}_{i}.jpg"
            if not (root / name).exists():
                scene = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
                smooth = np.asarray(Image.fromarray(scene).resize((48, 48), Image.BICUBIC))
                noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255)
                Image.fromarray(noisy.astype(np.uint8)).save(root / name, format="JPEG", **jpeg)
            rows.append([name, camera])
    if shuffle:
        cameras = [c for _, c in rows]
        permuted = [cameras[i] for i in np.random.default_rng(1).permutation(len(cameras))]
        rows = [[name, c] for (name, _), c in zip(rows, permuted, strict=True)]
    with (root / "probe.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["path", "camera"], *rows])
    return root / "probe.csv"


def test_a_shuffled_manifest_camera_column_measures_again(tmp_path):
    manifest = _write_manifest(tmp_path, shuffle=False)
    true, reused = _measure(tmp_path, "camera_model", data=str(manifest))
    assert not reused and true["leakage"].ci[0] > 0.5  # the pixels encoder sees the JPEG traces
    assert _measure(tmp_path, "camera_model", data=str(manifest))[1]  # unchanged: read back

    _write_manifest(tmp_path, shuffle=True)  # the same files, the same digest, other cameras
    shuffled, reused = _measure(tmp_path, "camera_model", data=str(manifest))
    assert not reused
    assert shuffled["leakage"].value < true["leakage"].value - 0.3


# --------------------------------------------------------------------------
# The style catalogue and style folders

STYLE = {"style": {"families": ["quality"], "per_image": 3}}


def posterise(image, params, seed):
    return ImageOps.posterize(image.convert("RGB"), 3)


@pytest.fixture
def registered():
    variant = register(Variant("quality/posterise", "quality", posterise, {}))
    yield variant
    unregister(variant.id)


def _classes(measured: dict[str, Measurement]) -> list[str]:
    return measured["leakage"].details["class_ids"]


def test_a_registered_transform_measures_again(tmp_path, request):
    options = {"project": STYLE, "max_images": 24}
    stock, _ = _measure(tmp_path, "style_fine_grained", **options)
    assert "quality/posterise" not in _classes(stock)

    request.getfixturevalue("registered")  # a conftest.py registers one between two runs
    grown, reused = _measure(tmp_path, "style_fine_grained", **options)
    assert not reused
    assert len(_classes(grown)) == len(_classes(stock)) + 1
    assert "quality/posterise" in _classes(grown)


def _style_folders(root: Path) -> None:
    """Two 'styles' (plain, barred) of five contents each."""
    rng = np.random.default_rng(0)
    for c in range(5):
        plain = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
                           .resize((48, 32), Image.Resampling.BICUBIC))
        barred = plain.copy()
        barred[::6] = 0
        for name, pixels in {"plain": plain, "barred": barred}.items():
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name / f"content{c}.png")


def test_a_replaced_file_in_a_style_folder_measures_again(tmp_path):
    _style_folders(tmp_path / "styles")
    project = {"style": {"families": ["quality"], "folders": ["styles"]}}
    options = {"project": project, "max_images": 24}
    first, reused = _measure(tmp_path, "style_recognition", **options)
    assert not reused and first["leakage"].details["n_contents"] == 5
    assert _measure(tmp_path, "style_recognition", **options)[1]

    # Same name, new bytes: one barred image loses its bars.
    Image.open(tmp_path / "styles" / "plain" / "content0.png").save(
        tmp_path / "styles" / "barred" / "content0.png")
    again, reused = _measure(tmp_path, "style_recognition", **options)
    assert not reused
    assert again["leakage"].details["confusion"] != first["leakage"].details["confusion"]


# --------------------------------------------------------------------------
# Stored measurements


def test_an_edited_stored_measurement_is_detected_and_measured_again(tmp_path, caplog):
    options = {"max_images": 12}
    first, _ = _measure(tmp_path, "jpeg_quality", **options)
    (stored,) = (tmp_path / "cache").rglob("measurements/*.json")
    text = stored.read_text()
    value = repr(first["leakage"].value)
    assert value in text
    stored.write_text(text.replace(value, "0.0", 1))  # a failing model made to pass

    with caplog.at_level(logging.WARNING, logger="auditkit"):
        again, reused = _measure(tmp_path, "jpeg_quality", **options)
    assert not reused
    assert again["leakage"].value == first["leakage"].value
    assert "checksum mismatch" in caplog.text
    assert _measure(tmp_path, "jpeg_quality", **options)[1]  # stored again, intact


def test_a_tests_own_compute_is_never_stored_or_read_back(tmp_path, caplog):
    calls = []

    def compute(value: float) -> dict[str, Measurement]:
        calls.append(value)
        return {"leakage": Measurement("leakage", value, (value, value), 0.0, n=10)}

    audit = get_audit("jpeg_quality")
    _session(tmp_path).measure("pixels", audit, lambda: compute(0.9))
    with caplog.at_level(logging.WARNING, logger="auditkit"):
        second = _session(tmp_path).measure("pixels", audit, lambda: compute(0.1))
    # The arguments changed (e.g. min_per_class): the second test's own measurement stands.
    assert calls == [0.9, 0.1] and second["leakage"].value == 0.1
    assert not list((tmp_path / "cache").rglob("measurements/*.json"))
    assert "its own compute" in caplog.text


def test_an_erased_encoder_is_audited_on_the_groups_its_eraser_never_saw(tmp_path):
    import json

    from auditkit.encoders import build_encoder
    from auditkit.erasure import Eraser, Stage
    from auditkit.errors import ProbeSetError

    fingerprint = build_encoder("pixels").fingerprint
    probe = _session(tmp_path, max_images=12).probe_set()
    groups = sorted({im.group for im in probe.images})

    def eraser_on(fitted, name):
        eraser = Eraser(Stage.identity(607), Stage.identity(607), {
            "source": "pixels", "source_fingerprint": fingerprint,
            "fitted_groups": json.dumps(fitted)})
        return f"pixels+erase:{eraser.save(tmp_path / name)}"

    def session_of(*specs):
        return AuditSession(RunConfig(encoders=specs, root=tmp_path, cache_dir=tmp_path / "cache",
                                      write_reports=False, max_images=12))

    half = eraser_on(groups[::2], "half.safetensors")
    session = session_of("pixels", half)
    audit = get_audit("jpeg_quality")
    seen = {im.group for im in session.context(half, audit).probe_set.images}
    assert seen == set(groups[1::2])
    assert len(session.context("pixels", audit).probe_set) == len(probe)
    every = eraser_on(groups, "all.safetensors")
    with pytest.raises(ProbeSetError, match="used to fit the eraser"):
        _ = session_of(every).context(every, audit).probe_set


def test_a_measurement_runs_with_the_sessions_device_active(tmp_path: Path) -> None:
    from auditkit.device import active_device

    session = _session(tmp_path, device="cpu")
    seen = []

    def compute() -> dict[str, Measurement]:
        seen.append(active_device())
        return {}

    session.measure("pixels", get_audit("jpeg_quality"), compute)
    assert seen == ["cpu"] and active_device() is None
