"""Geometric transformations: flips, rotations, zoom and perspective.

Output keeps the input's size except for the quarter turn, which swaps
width and height; uncovered corners (rotation, perspective) are black, as in
the torchvision and ImageNet-C conventions the Substance-or-Style study uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from auditkit.transforms.base import Variant
from auditkit.transforms.raster import bgr_array, from_bgr

FAMILY = "geometric"


def mirror(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return ImageOps.mirror(image)


def quarter_turn(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image.transpose(Image.Transpose.ROTATE_90)


def rotate(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image.rotate(float(params["degrees"]), Image.Resampling.BICUBIC, expand=False)


def zoom(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Centre crop keeping ``keep`` of each side, resized back to the input size."""
    w, h = image.size
    keep = float(params["keep"])
    cw, ch = w * keep, h * keep
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return image.resize((w, h), Image.Resampling.BICUBIC, box=box)


def keystone(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Perspective tilt: the top edge shrinks by ``inset`` of the width on each side."""
    pixels = bgr_array(image)
    h, w = pixels.shape[:2]
    inset = float(params["inset"]) * (w - 1)
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    dst = np.array([[inset, 0], [w - 1 - inset, 0], [w - 1, h - 1], [0, h - 1]],
                   dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(pixels, matrix, (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return from_bgr(warped)


def variants() -> list[Variant]:
    """The geometric family (5 members).

    Examples
    --------
    >>> [v.id for v in variants()][:2]
    ['geometric/mirror', 'geometric/quarter-turn']
    """
    return [
        Variant("geometric/mirror", FAMILY, mirror, {}, label="horizontal flip"),
        Variant("geometric/quarter-turn", FAMILY, quarter_turn, {"degrees": 90},
                label="rotated 90°"),
        Variant("geometric/rotate15", FAMILY, rotate, {"degrees": 15},
                label="rotated 15°, black corners"),
        Variant("geometric/zoom", FAMILY, zoom, {"keep": 0.7},
                label="centre 70 % zoomed to full size"),
        Variant("geometric/keystone", FAMILY, keystone, {"inset": 0.15},
                label="perspective tilt (top edge 70 % wide)"),
    ]
