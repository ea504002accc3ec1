"""Colour transformations: grayscale, inversion, saturation, hue, sepia, contrast."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from auditkit.transforms.base import Variant
from auditkit.transforms.raster import from_array, rgb_array

FAMILY = "colour"

#: The classic sepia-tone matrix (rows: output R, G, B from input R, G, B).
SEPIA = np.array(
    [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32
)


def grayscale(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image.convert("L").convert("RGB")


def invert(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return ImageOps.invert(image.convert("RGB"))


def enhance(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """One of Pillow's ``ImageEnhance`` operations (``kind``) by ``factor``."""
    kind = {"colour": ImageEnhance.Color, "contrast": ImageEnhance.Contrast}[str(params["kind"])]
    return kind(image.convert("RGB")).enhance(float(params["factor"]))


def hue_shift(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Rotate every hue by ``degrees`` in HSV, keeping saturation and value."""
    hsv = np.array(image.convert("HSV"), dtype=np.int16)
    hsv[..., 0] = (hsv[..., 0] + round(float(params["degrees"]) * 256 / 360)) % 256
    bands = [Image.fromarray(hsv[..., i].astype(np.uint8)) for i in range(3)]
    return Image.merge("HSV", bands).convert("RGB")


def sepia(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    pixels = rgb_array(image).astype(np.float32)
    return from_array(pixels @ SEPIA.T)


def variants() -> list[Variant]:
    """The colour family (6 members).

    Examples
    --------
    >>> len(variants())
    6
    """
    return [
        Variant("colour/grayscale", FAMILY, grayscale, {}, label="grayscale"),
        Variant("colour/invert", FAMILY, invert, {}, label="inverted colours"),
        Variant("colour/saturate", FAMILY, enhance, {"kind": "colour", "factor": 2.5},
                label="saturation x2.5"),
        Variant("colour/low-contrast", FAMILY, enhance, {"kind": "contrast", "factor": 0.45},
                label="contrast x0.45"),
        Variant("colour/hue-shift", FAMILY, hue_shift, {"degrees": 120}, label="hue +120°"),
        Variant("colour/sepia", FAMILY, sepia, {}, label="sepia tone"),
    ]
