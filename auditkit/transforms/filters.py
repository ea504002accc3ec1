"""Blur and filter transformations: Gaussian, motion, defocus and median blur, unsharp mask.

Kernel sizes are stated at a 256 px short side and scale with the image (see
:mod:`auditkit.transforms.raster`), so a blur stays visible after the
encoder resizes a large photo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter

from auditkit.transforms.base import Variant
from auditkit.transforms.raster import bgr_array, from_bgr, scaled, scaled_int

FAMILY = "filter"


def gaussian_blur(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(scaled(image, float(params["radius"]), 0.5)))


def motion_blur(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Horizontal camera shake: the mean along a line of ``length`` pixels."""
    length = scaled_int(image, float(params["length"]), minimum=3, odd=True)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return from_bgr(cv2.filter2D(bgr_array(image), -1, kernel, borderType=cv2.BORDER_REFLECT))


def defocus(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Out-of-focus blur: the mean over a disc of ``radius`` pixels."""
    radius = scaled_int(image, float(params["radius"]), minimum=1)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = (xx * xx + yy * yy <= radius * radius).astype(np.float32)
    kernel = disc / disc.sum()
    return from_bgr(cv2.filter2D(bgr_array(image), -1, kernel, borderType=cv2.BORDER_REFLECT))


def median(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    size = scaled_int(image, float(params["size"]), minimum=3, odd=True)
    return from_bgr(cv2.medianBlur(bgr_array(image), size))


def unsharp(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image.filter(ImageFilter.UnsharpMask(
        radius=scaled(image, float(params["radius"]), 0.5),
        percent=int(params["percent"]),
        threshold=0,
    ))


def variants() -> list[Variant]:
    """The blur/filter family (5 members); sizes in pixels at a 256 px short side.

    Examples
    --------
    >>> sorted(v.id for v in variants())[0]
    'filter/defocus'
    """
    return [
        Variant("filter/gaussian-blur", FAMILY, gaussian_blur, {"radius": 2.5},
                label="Gaussian blur"),
        Variant("filter/motion-blur", FAMILY, motion_blur, {"length": 11},
                label="horizontal motion blur"),
        Variant("filter/defocus", FAMILY, defocus, {"radius": 4}, label="defocus (disc) blur"),
        Variant("filter/median", FAMILY, median, {"size": 7}, label="median filter"),
        Variant("filter/unsharp", FAMILY, unsharp, {"radius": 2, "percent": 250},
                label="strong unsharp mask"),
    ]
