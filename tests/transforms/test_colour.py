import numpy as np
from PIL import Image

from auditkit.transforms.colour import enhance, grayscale, hue_shift, invert, sepia


def _colours(seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))


def test_grayscale_has_equal_channels():
    out = np.asarray(grayscale(_colours(), {}, 0))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_invert_complements_every_value():
    image = _colours()
    out = np.asarray(invert(image, {}, 0)).astype(int)
    assert (out + np.asarray(image) == 255).all()


def test_three_thirds_of_a_hue_turn_come_back():
    image = Image.new("RGB", (4, 4), (220, 40, 40))
    once = hue_shift(image, {"degrees": 120}, 0)
    assert np.argmax(np.asarray(once)[0, 0]) == 1  # red turned green
    back = hue_shift(hue_shift(once, {"degrees": 120}, 0), {"degrees": 120}, 0)
    assert np.abs(np.asarray(back).astype(int) - np.asarray(image)).max() <= 6


def test_sepia_orders_channels_warm():
    out = np.asarray(sepia(_colours(), {}, 0)).astype(int)
    assert (out[..., 0] >= out[..., 1]).all() and (out[..., 1] >= out[..., 2]).all()


def test_contrast_and_saturation_move_the_spread():
    image = _colours()
    spread = np.asarray(image).std()
    assert np.asarray(enhance(image, {"kind": "contrast", "factor": 0.45}, 0)).std() < spread
    chroma = lambda im: np.ptp(np.asarray(im).astype(int), axis=-1).mean()  # noqa: E731
    assert chroma(enhance(image, {"kind": "colour", "factor": 2.5}, 0)) > chroma(image)
