"""The environment both cache keys read: device kind, precision settings, library versions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from auditkit.cache import environment_key
from auditkit.data.base import SourceImage, sha256_of_image
from auditkit.encoders import build_encoder
from auditkit.extract import Extractor
from auditkit.memo import measurement_key
from auditkit.numerics import device_numerics, embedding_environment, measurement_environment
from auditkit.transforms.base import ORIGINAL


class _Pixels:
    def __init__(self, array):
        self.array = array

    def __call__(self):
        return Image.fromarray(self.array)


@pytest.fixture
def image():
    array = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    return SourceImage("a", "c", "g", sha256_of_image(Image.fromarray(array)), _Pixels(array))


@pytest.fixture
def restore_precision():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
              torch.get_float32_matmul_precision())
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before[:2]
    torch.set_float32_matmul_precision(before[2])


@pytest.mark.parametrize("change", [
    pytest.param(lambda: setattr(torch.backends.cudnn, "allow_tf32",
                                 not torch.backends.cudnn.allow_tf32), id="cudnn-tf32"),
    pytest.param(lambda: setattr(torch.backends.cuda.matmul, "allow_tf32",
                                 not torch.backends.cuda.matmul.allow_tf32), id="matmul-tf32"),
    pytest.param(lambda: torch.set_float32_matmul_precision(
        "medium" if torch.get_float32_matmul_precision() != "medium" else "highest"),
        id="float32-matmul-precision"),
])
def test_embedding_key_changes_with_the_precision_settings(change, image, restore_precision):
    extractor = Extractor(build_encoder("pixels"))
    before = extractor.key(image, ORIGINAL)
    change()
    assert extractor.key(image, ORIGINAL) != before


def test_embedding_key_changes_with_the_device_kind():
    assert environment_key("cpu") != environment_key("mps")
    assert device_numerics("cuda:1")["device"] == "cuda"


def test_environments_name_the_libraries_that_make_pixels_and_fit_probes():
    pixels = embedding_environment("cpu")["pixels"]
    assert pixels["pillow"] == Image.__version__ and pixels["libjpeg"]
    fit = measurement_environment("cpu")["fit"]
    assert set(fit) == {"numpy", "scipy", "scikit-learn", "torch"} and fit["numpy"]


def test_measurement_key_covers_the_environment():
    cpu, tf32 = measurement_environment("cpu"), measurement_environment("cpu")
    tf32["numerics"] = {**tf32["numerics"], "cudnn_allow_tf32": "other"}
    keys = {measurement_key("f", "jpeg_quality", "d", 0, {}, environment=e) for e in (cpu, tf32)}
    assert len(keys) == 2
