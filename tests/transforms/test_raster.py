import numpy as np
import pytest
from PIL import Image

from auditkit.transforms.raster import (
    REFERENCE_SIDE,
    bgr_array,
    from_array,
    from_bgr,
    scaled,
    scaled_int,
)


@pytest.mark.parametrize(
    ("size", "pixels", "expected"),
    [
        ((REFERENCE_SIDE, 999), 3, 3.0),  # stated at the reference short side
        ((999, 2 * REFERENCE_SIDE), 3, 6.0),  # the short side decides
        ((9, 9), 3, 1.0),  # floored at the minimum
    ],
)
def test_sizes_follow_the_short_side(size, pixels, expected):
    assert scaled(Image.new("RGB", size), pixels) == expected


def test_kernel_sizes_can_be_forced_odd():
    image = Image.new("RGB", (REFERENCE_SIDE, REFERENCE_SIDE))
    assert scaled_int(image, 4, odd=True) == 5 and scaled_int(image, 5, odd=True) == 5


def test_array_round_trips_clip_and_keep_channel_order():
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[..., 0] = 200  # red
    image = from_array(pixels)
    assert bgr_array(image)[0, 0].tolist() == [0, 0, 200]
    assert from_bgr(bgr_array(image)).getpixel((0, 0)) == (200, 0, 0)
    assert from_array(np.array([[-5.0, 260.0]])).getpixel((1, 0)) == (255, 255, 255)

