"""Pixel plumbing shared by the transformation families.

Conversions between PIL images and arrays (RGB for numpy, BGR for OpenCV),
and spatial parameters that scale with the image: the catalogue states
sizes (blur radii, cell sizes, font sizes) in pixels of an image whose short
side is :data:`REFERENCE_SIDE`, so a transformation looks the same on a
170 px built-in image and on a 4000 px photo once both are resized for the
encoder.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Short side, in pixels, at which the catalogue's spatial parameters apply as stated.
REFERENCE_SIDE = 256


def rgb_array(image: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB pixels of ``image`` (converted if needed).

    Examples
    --------
    >>> rgb_array(Image.new("L", (4, 3), 7)).shape
    (3, 4, 3)
    """
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def bgr_array(image: Image.Image) -> np.ndarray:
    """Contiguous ``(H, W, 3)`` uint8 BGR pixels, the layout OpenCV expects."""
    return np.ascontiguousarray(rgb_array(image)[:, :, ::-1])


def from_array(pixels: np.ndarray) -> Image.Image:
    """RGB image from float or integer ``(H, W, 3)`` or ``(H, W)`` values in 0-255 (clipped).

    Examples
    --------
    >>> from_array(np.full((2, 2), 300.0)).getpixel((0, 0))
    (255, 255, 255)
    """
    values = np.asarray(pixels)
    if values.dtype != np.uint8:
        values = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    image = Image.fromarray(values)
    return image if image.mode == "RGB" else image.convert("RGB")


def from_bgr(pixels: np.ndarray) -> Image.Image:
    """RGB image from OpenCV's BGR (or single-channel) uint8 output."""
    values = np.asarray(pixels)
    return from_array(values[:, :, ::-1] if values.ndim == 3 else values)


def scaled(image: Image.Image, pixels: float, minimum: float = 1.0) -> float:
    """``pixels`` (stated at :data:`REFERENCE_SIDE`) scaled to ``image``'s short side.

    Examples
    --------
    >>> scaled(Image.new("RGB", (512, 600)), 3)
    6.0
    >>> scaled(Image.new("RGB", (9, 9)), 3)
    1.0
    """
    return max(float(minimum), pixels * min(image.size) / REFERENCE_SIDE)


def scaled_int(image: Image.Image, pixels: float, minimum: int = 1, odd: bool = False) -> int:
    """:func:`scaled` rounded to an integer, optionally to the nearest odd one (kernel sizes)."""
    value = max(minimum, round(scaled(image, pixels, minimum)))
    if odd and value % 2 == 0:
        value += 1
    return value
