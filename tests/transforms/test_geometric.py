import numpy as np
import pytest
from PIL import Image

from auditkit.transforms.geometric import keystone, mirror, quarter_turn, rotate, zoom


def _ramp(w=40, h=30):
    xx = np.tile(np.arange(w, dtype=np.uint8) * 5, (h, 1))
    return Image.fromarray(np.stack([xx, xx // 2, 255 - xx], axis=-1))


def test_mirror_reverses_columns():
    image = _ramp()
    assert np.array_equal(np.asarray(mirror(image, {}, 0)), np.asarray(image)[:, ::-1])


def test_quarter_turn_swaps_sides():
    assert quarter_turn(_ramp(40, 30), {"degrees": 90}, 0).size == (30, 40)


def test_rotation_blackens_corners_and_keeps_the_centre():
    image = Image.new("RGB", (60, 40), (200, 150, 100))
    out = np.asarray(rotate(image, {"degrees": 15}, 0))
    assert out[0, 0].tolist() == [0, 0, 0] and out[20, 30].tolist() == [200, 150, 100]


def test_zoom_enlarges_the_centre():
    out = np.asarray(zoom(_ramp(), {"keep": 0.5}, 0)).astype(int)
    # The ramp's slope doubles: the centre half now spans the whole width.
    slope = (out[15, 30, 0] - out[15, 10, 0]) / 20
    assert slope == pytest.approx(2.5, abs=0.3)


def test_keystone_shrinks_the_top_edge_only():
    image = Image.new("RGB", (50, 40), (255, 255, 255))
    out = np.asarray(keystone(image, {"inset": 0.2}, 0))
    assert out[0, 2].tolist() == [0, 0, 0] and out[0, 25].tolist() == [255, 255, 255]
    assert out[-1, 1].tolist() == [255, 255, 255]
