"""Simulated cameras: deterministic, distinct, RGB at any size, stages that do what they say."""

from __future__ import annotations

import io
import itertools
import pickle

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from auditkit.transforms.camera import (
    BAYER,
    CAMERAS,
    camera_variants,
    prnu_pattern,
    quantisation_tables,
    simulate_camera,
)
from auditkit.transforms.quality import SUBSAMPLING


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128] / 96.0
    base = np.stack([0.2 + 0.6 * x / 1.4, 0.3 + 0.5 * y, 0.6 - 0.4 * x * y], axis=-1)
    texture = rng.normal(0, 0.04, base.shape)
    return Image.fromarray(np.clip((base + texture) * 255, 0, 255).astype(np.uint8))


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_variants_are_distinct_stochastic_cameras():
    variants = camera_variants()
    assert len(variants) >= 4
    assert len({v.id for v in variants}) == len(variants)
    assert len({v.key for v in variants}) == len(variants)
    for v in variants:
        assert v.id.startswith("camera/") and v.family == "camera" and v.stochastic
        assert v.label.startswith("simulated camera ") and "demosaic" in v.label
        assert v.params["name"] == v.id.split("/", 1)[1]
        assert pickle.loads(pickle.dumps(v)).fn is simulate_camera


def test_same_seed_same_pixels_other_seed_other_noise(scene):
    for v in camera_variants():
        first, again = v.apply(scene, seed=7), v.apply(scene, seed=7)
        assert np.array_equal(_array(first), _array(again)), v.id
        assert not np.array_equal(_array(first), _array(v.apply(scene, seed=8))), v.id


def test_pipelines_give_distinct_outputs(scene):
    outputs = {v.id: v.apply(scene, seed=1) for v in camera_variants()}
    for (a, x), (b, y) in itertools.combinations(outputs.items(), 2):
        if x.size == y.size:
            assert np.abs(_array(x) - _array(y)).mean() > 1.0, (a, b)
        else:
            assert x.size != y.size


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (9, 9), (17, 5)])
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_small_images_and_any_mode_give_rgb(size, mode):
    image = Image.new(mode, size, 120 if mode == "L" else (120, 80, 40, 255)[: len(mode)])
    for v in camera_variants():
        out = v.apply(image, seed=0)
        scale = v.params["scale"]
        assert out.mode == "RGB", v.id
        assert out.size == (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def _neutral(bayer: str, demosaic: str) -> dict:
    """A camera that should reproduce the scene: no noise, no colour or tone change."""
    return {
        **CAMERAS["compact"], "name": "neutral", "scale": 1.0, "bayer": bayer,
        "demosaic": demosaic, "raw_bits": 14 if demosaic != "VNG" else 8, "full_well": 1e12,
        "read_noise": 0.0, "prnu": 0.0, "sensitivity": [1.0, 1.0, 1.0], "crosstalk": 0.0,
        "assumed_crosstalk": 0.0, "wb_error": [1.0, 1.0], "saturation": 1.0, "tone": "srgb",
        "contrast": 0.0, "chroma_denoise": 0.0, "sharpen": 0.0,
        "jpeg": {"quality": 100}, "subsampling": "444",
    }


@pytest.mark.parametrize("demosaic", ["bilinear", "EA", "VNG"])
@pytest.mark.parametrize("bayer", sorted(BAYER))
def test_mosaic_and_demosaic_agree_on_the_pattern(bayer, demosaic):
    y, x = np.mgrid[0:48, 0:64]
    smooth = np.stack([40 + 3 * x, 200 - 2 * y, 60 + x + y], axis=-1).astype(np.uint8)
    scene = Image.fromarray(smooth)
    out = simulate_camera(scene, _neutral(bayer, demosaic), seed=0)
    # Inner pixels: demosaicing edges differ by algorithm. A wrong pattern
    # swaps red and blue (errors of ~100 levels).
    error = np.abs(_array(out) - smooth)[4:-4, 4:-4].mean()
    assert error < 3.0


def test_prnu_is_fixed_per_camera_and_independent_of_the_image():
    a = prnu_pattern("compact", (300, 200))
    assert np.array_equal(a, prnu_pattern("compact", (300, 200)))
    assert np.array_equal(a[:50, :70], prnu_pattern("compact", (50, 70)))
    assert not np.allclose(a, prnu_pattern("dslr", (300, 200)))
    assert abs(a.std() - 1.0) < 0.05


def test_each_camera_writes_its_own_jpeg_tables_and_subsampling(scene, saved_bytes):
    for v in camera_variants():
        saved_bytes.clear()
        v.apply(scene, seed=0)
        with Image.open(io.BytesIO(saved_bytes[-1])) as jpeg:
            tables = jpeg.quantization
            sampling = JpegImagePlugin.get_sampling(jpeg)
        assert sampling == SUBSAMPLING[v.params["subsampling"]], v.id
        if "qtable_scale" in v.params["jpeg"]:
            expected = quantisation_tables(v.params["jpeg"])
            assert [list(tables[0]), list(tables[1])] == expected, v.id


def _saved_jpeg(params) -> Image.Image:
    from auditkit.transforms.camera import jpeg_options

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 200)).save(buf, format="JPEG", **jpeg_options(params))
    buf.seek(0)
    return Image.open(buf)


def _jpeg_settings(params) -> tuple:
    saved = _saved_jpeg(params)
    tables = tuple(tuple(t) for _, t in sorted(saved.quantization.items()))
    return tables, JpegImagePlugin.get_sampling(saved)


def test_shared_jpeg_cameras_really_share_their_jpeg_settings():
    from auditkit.transforms.camera import camera_set

    shared = {_jpeg_settings(v.params) for v in camera_variants("shared_jpeg")}
    distinct = {_jpeg_settings(v.params) for v in camera_variants("distinct_jpeg")}
    assert len(shared) == 1  # identical quantisation tables and chroma subsampling
    assert len(distinct) == len(camera_set("distinct_jpeg"))
    # Only the JPEG settings differ between the sets: the pipelines are the same.
    for name, spec in camera_set("shared_jpeg").items():
        other = camera_set("distinct_jpeg")[name]
        assert {k for k in spec if spec[k] != other[k]} <= {"jpeg", "subsampling"}


def test_the_built_in_audit_uses_the_shared_set_by_default():
    assert [v.params for v in camera_variants()] == [
        v.params for v in camera_variants("shared_jpeg")]
    assert all("JPEG q90 4:2:0" in v.label for v in camera_variants())


def test_an_unknown_set_names_the_known_ones():
    from auditkit.errors import ConfigError

    with pytest.raises(ConfigError, match="'shared_jpeg', 'distinct_jpeg'"):
        camera_variants("same_jpeg")
