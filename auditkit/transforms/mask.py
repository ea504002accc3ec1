"""The semantic control of Ramos et al.: hide the centre, keep the border.

The central square covering ``area`` of the input (side ``sqrt(area)`` of
each dimension; 95 % by default) is blanked after the encoder's own
preprocessing, so a probe can only use what is left at the border, where
processing traces remain but little of the subject does. On a model input
tensor the square is set to 0, the dataset mean after normalisation; on an
image (encoders whose preprocessing computes features, such as ``pixels``) it
is filled with mid-grey before the features are computed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw

from auditkit.transforms.base import Variant

DEFAULT_AREA = 0.95


def centre_box(width: int, height: int, area: float) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the centred square-fraction box covering ``area``."""
    side = math.sqrt(area)
    w, h = round(width * side), round(height * side)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def mask_centre(x: Any, params: Mapping[str, Any]) -> Any:
    """Blank the centre of a ``(C, H, W)`` tensor or of a PIL image."""
    area = float(params.get("mask_area", DEFAULT_AREA))
    if isinstance(x, Image.Image):
        out = x.copy()
        left, top, right, bottom = centre_box(out.width, out.height, area)
        ImageDraw.Draw(out).rectangle((left, top, right - 1, bottom - 1), fill=(128, 128, 128))
        return out
    left, top, right, bottom = centre_box(x.shape[-1], x.shape[-2], area)
    out = x.clone()
    out[..., top:bottom, left:right] = 0
    return out


def masked(variants: Sequence[Variant], area: float = DEFAULT_AREA) -> list[Variant]:
    """The same variants with the centre masked after preprocessing (new ids)."""
    return [
        dataclasses.replace(
            v,
            id=f"{v.id}+mask{area:g}",
            params={**v.params, "mask_area": area},
            label=f"{v.label}, centre masked",
            post=mask_centre,
        )
        for v in variants
    ]
