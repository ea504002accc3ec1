"""Input geometry: what an encoder's resize and centre crop keep of the image."""

import pytest
from PIL import Image
from torchvision import transforms as T

from auditkit.encoders.geometry import InputGeometry
from auditkit.errors import ConfigError


def test_read_from_a_timm_transform():
    from timm.data import create_transform

    config = {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875,
              "crop_mode": "center", "mean": (0.5,) * 3, "std": (0.5,) * 3}
    geometry = InputGeometry.from_transform(create_transform(**config))
    assert geometry == InputGeometry(resize=256, crop=(224, 224), interpolation="bicubic")


def test_an_unread_geometric_step_gives_no_guess():
    assert InputGeometry.from_transform(T.Compose([T.Resize(256), T.RandomCrop(224)])) is None


@pytest.mark.parametrize("size", [(640, 480), (300, 500), (224, 224)])
def test_view_is_the_crop_of_the_visible_box(size):
    geometry = InputGeometry(resize=256, crop=(224, 224))
    assert geometry.view(Image.new("RGB", size)).size == (224, 224)
    left, top, right, bottom = geometry.visible_box(*size)
    side = min(size) * 224 / 256
    assert (right - left, bottom - top) == pytest.approx((side, side))


def test_a_declaration_with_unknown_keys_names_them():
    with pytest.raises(ConfigError, match="'size'"):
        InputGeometry.coerce({"size": 224}, "python:m:f")
