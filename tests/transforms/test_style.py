import numpy as np
import pytest
from PIL import Image

from auditkit.transforms.style import (
    cartoon,
    emboss,
    halftone,
    kuwahara,
    pencil,
    posterize,
    stained_glass,
    stylization,
    variants,
)

PARAMS = {v.id: v.params for v in variants()}


def _scene(w=256, h=192, seed=0):
    """A bright and a dark half with mild noise: an edge to keep, texture to flatten."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((h, w, 3))
    pixels[:, : w // 2] = (220, 80, 60)
    pixels[:, w // 2 :] = (30, 50, 140)
    return Image.fromarray(np.uint8(np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255)))


def test_posterize_keeps_four_levels_a_channel():
    out = np.asarray(posterize(_scene(), PARAMS["style/posterize"], 0))
    assert all(len(np.unique(out[..., c])) <= 4 for c in range(3))


def test_halftone_prints_only_full_ink_or_paper():
    out = np.asarray(halftone(_scene(), PARAMS["style/halftone"], 0))
    assert set(np.unique(out).tolist()) <= {0, 255}
    # Ink coverage follows the tone: the red half carries little red ink.
    red_ink = (out[..., 0] == 0).mean(axis=0)
    assert red_ink[:100].mean() < red_ink[156:].mean()


def test_kuwahara_flattens_texture_and_keeps_the_edge():
    image = _scene()
    out = np.asarray(kuwahara(image, PARAMS["style/oil-paint"], 0)).astype(float)
    before = np.asarray(image).astype(float)
    assert out[:, 10:110].std(axis=(0, 1)).mean() < 0.6 * before[:, 10:110].std(axis=(0, 1)).mean()
    # The step between the halves stays a step: no ramp across it.
    row = out[96, 120:136, 0]
    assert row[:7].min() > 150 and row[-7:].max() < 90


def test_mosaic_is_tiles_with_lead_lines():
    out = np.asarray(stained_glass(_scene(), PARAMS["style/mosaic"], 0))
    colours = np.unique(out.reshape(-1, 3), axis=0)
    tiles = (256 / 14) * (192 / 14)
    assert 0.5 * tiles < len(colours) < 2 * tiles
    assert ((out == 35).all(axis=-1)).mean() > 0.05


def test_gray_renderings_are_gray_and_colour_ones_are_not():
    image = _scene()
    for out in (pencil(image, PARAMS["style/pencil-gray"], 0), emboss(image, {}, 0)):
        a = np.asarray(out)
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    colour = np.asarray(pencil(image, PARAMS["style/pencil-colour"], 0)).astype(int)
    assert np.ptp(colour, axis=-1).mean() > 20


def test_cartoon_draws_black_lines_on_edges():
    out = np.asarray(cartoon(_scene(), PARAMS["style/cartoon"], 0))
    black = (out == 0).all(axis=-1)
    assert black[:, 124:132].mean() > black[:, 20:100].mean()


@pytest.mark.parametrize("size", [(2000, 120), (120, 2000)])
def test_stylization_keeps_any_size(size):
    image = Image.new("RGB", size, (90, 140, 60))
    assert stylization(image, PARAMS["style/stylization"], 0).size == size
