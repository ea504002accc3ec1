import numpy as np
from PIL import Image

from auditkit.transforms.filters import defocus, gaussian_blur, median, motion_blur, unsharp


def _checks(w=64, h=64):
    yy, xx = np.mgrid[0:h, 0:w]
    board = (((yy // 4) + (xx // 4)) % 2 * 200 + 28).astype(np.uint8)
    return Image.fromarray(np.stack([board] * 3, axis=-1))


def _detail(image):
    """Mean absolute difference between neighbours: high-frequency energy."""
    a = np.asarray(image, dtype=float)[..., 0]
    return np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean()


def test_blurs_remove_detail_and_sharpening_adds_it():
    image = _checks(256, 256)  # the reference side: sizes apply as stated
    for fn, params in [(gaussian_blur, {"radius": 2.5}), (defocus, {"radius": 4}),
                       (motion_blur, {"length": 11})]:
        assert _detail(fn(image, params, 0)) < 0.8 * _detail(image), fn.__name__
    soft = gaussian_blur(image, {"radius": 1}, 0)
    assert _detail(gaussian_blur(_checks(), {"radius": 2.5}, 0)) > _detail(
        gaussian_blur(image, {"radius": 2.5}, 0))  # smaller image, smaller radius
    assert _detail(unsharp(soft, {"radius": 2, "percent": 250}, 0)) > _detail(soft)


def test_motion_blur_is_horizontal():
    stripes = np.zeros((40, 40, 3), np.uint8)
    stripes[::4] = 255  # horizontal lines: a horizontal blur leaves them alone
    out = np.asarray(motion_blur(Image.fromarray(stripes), {"length": 11}, 0))
    assert np.array_equal(out[:, 5:-5], stripes[:, 5:-5])


def test_median_removes_isolated_specks():
    pixels = np.full((40, 40, 3), 100, np.uint8)
    pixels[10, 10] = 255
    pixels[30, 20] = 0
    out = np.asarray(median(Image.fromarray(pixels), {"size": 7}, 0))
    assert (out == 100).all()
