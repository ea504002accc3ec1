import numpy as np
import pytest
from PIL import Image

from auditkit.transforms.noise import gaussian, salt_pepper, shot, speckle

GREY = Image.new("RGB", (200, 150), (128, 128, 128))


def _diff(out):
    return np.asarray(out, dtype=float) - 128.0


def test_gaussian_noise_has_the_stated_spread_and_no_bias():
    d = _diff(gaussian(GREY, {"sigma": 20.0}, 3))
    assert d.std() == pytest.approx(20.0, rel=0.05) and abs(d.mean()) < 0.5


def test_salt_and_pepper_hits_the_stated_share():
    out = np.asarray(salt_pepper(GREY, {"amount": 0.04}, 3))
    black, white = (out == 0).all(-1).mean(), (out == 255).all(-1).mean()
    assert black == pytest.approx(0.02, abs=0.004) and white == pytest.approx(0.02, abs=0.004)


def test_speckle_and_shot_noise_grow_with_brightness():
    dark = Image.new("RGB", (200, 150), (40, 40, 40))
    for fn, params in [(speckle, {"sigma": 0.25}), (shot, {"photons": 12.0})]:
        bright_spread = np.asarray(fn(GREY, params, 3), dtype=float).std()
        dark_spread = np.asarray(fn(dark, params, 3), dtype=float).std()
        assert bright_spread > 1.3 * dark_spread, fn.__name__


def test_noise_is_seeded_per_image_and_per_kind():
    a, b = _diff(gaussian(GREY, {"sigma": 20.0}, 1)), _diff(gaussian(GREY, {"sigma": 20.0}, 2))
    assert not np.array_equal(a, b)
    s = _diff(speckle(GREY, {"sigma": 20.0 / 128}, 1))
    assert abs(np.corrcoef(a.ravel(), s.ravel())[0, 1]) < 0.05  # not the same draws
