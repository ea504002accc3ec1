"""The semantic control of Ramos et al.: hide the centre, keep the border.

The central square covering ``area`` of the model's input (side
``sqrt(area)`` of each dimension; 95 % by default) is blanked, so a probe can
only use what is left at the border, where processing traces remain but
little of the subject does. The same share of what the model sees is left
for every kind of encoder:

* on a model input tensor (torch encoders, after their own preprocessing)
  the square is set to 0, the dataset mean after normalisation;
* on an image (encoders that take the PIL image: ``pixels``, ``python:``
  objects with ``embed``) the square is filled with mid-grey before the
  encoder runs, drawn inside the region the encoder's resize and centre crop
  keep (its :class:`~auditkit.encoders.geometry.InputGeometry`), so that it
  lands on the same share of the model's input. An encoder that declares no
  geometry is masked on the whole image, and :func:`mask_report` says that
  the share reaching its model is unknown.

The geometry is part of the masked variant's parameters, hence of its cache
key: embeddings masked in different frames never mix.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from auditkit.encoders.base import Encoder
from auditkit.encoders.geometry import InputGeometry
from auditkit.transforms.base import Variant

if TYPE_CHECKING:
    from auditkit.data.base import SourceImage

DEFAULT_AREA = 0.95


def centre_box(width: int, height: int, area: float) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of the centred square-fraction box covering ``area``."""
    side = math.sqrt(area)
    w, h = round(width * side), round(height * side)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def image_mask_box(width: int, height: int, params: Mapping[str, Any]
                   ) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` blanked on a ``width`` x ``height`` image.

    The centre of the region the model sees (``params["mask_geometry"]``),
    or of the whole image when no geometry was declared.

    Examples
    --------
    >>> image_mask_box(512, 512, {"mask_area": 0.25,
    ...                           "mask_geometry": {"resize": 256, "crop": 224}})
    (144, 144, 368, 368)
    """
    area = float(params.get("mask_area", DEFAULT_AREA))
    geometry = InputGeometry.coerce(params.get("mask_geometry"), "masked variant")
    if geometry is None:
        return centre_box(width, height, area)
    left, top, right, bottom = geometry.visible_box(width, height)
    side = math.sqrt(area)
    w, h = (right - left) * side, (bottom - top) * side
    x0, y0 = left + (right - left - w) / 2, top + (bottom - top - h) / 2
    return round(x0), round(y0), round(x0 + w), round(y0 + h)


def mask_centre(x: Any, params: Mapping[str, Any]) -> Any:
    """Blank the centre of a ``(C, H, W)`` tensor or of a PIL image."""
    area = float(params.get("mask_area", DEFAULT_AREA))
    if isinstance(x, Image.Image):
        out = x.copy()
        left, top, right, bottom = image_mask_box(out.width, out.height, params)
        ImageDraw.Draw(out).rectangle((left, top, right - 1, bottom - 1), fill=(128, 128, 128))
        return out
    left, top, right, bottom = centre_box(x.shape[-1], x.shape[-2], area)
    out = x.clone()
    out[..., top:bottom, left:right] = 0
    return out


def masked(variants: Sequence[Variant], area: float = DEFAULT_AREA,
           geometry: InputGeometry | None = None) -> list[Variant]:
    """The same variants with the centre of the model's input masked (new ids).

    ``geometry`` is the encoder's (:func:`encoder_geometry`); it places the
    mask when the encoder takes the image, and keys the variants apart.
    """
    frame = geometry.as_params() if geometry is not None else None
    return [
        dataclasses.replace(
            v,
            id=f"{v.id}+mask{area:g}",
            params={**v.params, "mask_area": area, "mask_geometry": frame},
            label=f"{v.label}, centre masked",
            post=mask_centre,
        )
        for v in variants
    ]


def embedder_encoder(embedder: object) -> Encoder | None:
    """The encoder behind an embedder (an :class:`~auditkit.extract.Extractor`), if it has one.

    Test doubles that embed without an encoder give None.
    """
    encoder = getattr(embedder, "encoder", None)
    return encoder if isinstance(encoder, Encoder) else None


def encoder_geometry(embedder: object) -> InputGeometry | None:
    """The input geometry of the encoder behind ``embedder`` (None: not declared)."""
    encoder = embedder_encoder(embedder)
    return encoder.input_geometry if encoder is not None else None


#: Pixels this far from mid-grey count as border that reached the model.
_GREY_TOLERANCE = 64


def mask_report(encoder: Encoder | None, variant: Variant, size: tuple[int, int] = (640, 480)
                ) -> dict[str, Any]:
    """Where the mask of ``variant`` was drawn and how much border reached the model.

    A white ``size`` image is masked and preprocessed as in extraction; the
    border fraction is the share of the model's input that is not blank: of
    the input tensor for torch encoders, of the declared geometry's view of
    the image for encoders that take the image. It is None when neither can
    be seen (no encoder, or an image encoder that declares no geometry).

    Examples
    --------
    >>> from auditkit.transforms.quality import jpeg_grid
    >>> from auditkit.encoders.pixels import PixelsEncoder
    >>> report = mask_report(PixelsEncoder(), masked(jpeg_grid()[:1],
    ...                      geometry=PixelsEncoder.input_geometry)[0])
    >>> report["frame"], round(report["border_fraction"], 2)
    ('image, inside the declared input geometry', 0.05)
    """
    params = variant.params
    area = float(params.get("mask_area", DEFAULT_AREA))
    out: dict[str, Any] = {"area": area, "geometry": params.get("mask_geometry"),
                           "border_fraction": None, "test_image": list(size)}
    white = Image.new("RGB", size, (255, 255, 255))
    if encoder is not None and not encoder.post_on_image:
        out["frame"] = "model input tensor"
        try:
            x = encoder.preprocess(white)
            blank = np.asarray(mask_centre(x, params)) == 0
            out["border_fraction"] = float(1.0 - blank.all(axis=0).mean())
        except Exception as exc:  # a report is a nicety; the audit still runs
            out["note"] = f"border not measured: {type(exc).__name__}: {exc}"
        return out
    geometry = InputGeometry.coerce(params.get("mask_geometry"), "masked variant")
    if geometry is None:
        out["frame"] = "whole image (the encoder declares no input geometry)"
        out["note"] = (
            "the mask was drawn on the whole image, before the encoder's own resize and crop, "
            "so the share of border that reached the model is unknown; declare input_geometry "
            "on the encoder (see auditkit.encoders.geometry)")
        return out
    out["frame"] = "image, inside the declared input geometry"
    view = np.asarray(geometry.view(mask_centre(white, params)), dtype=np.int16)
    border = (np.abs(view - 128) > _GREY_TOLERANCE).any(axis=-1)
    out["border_fraction"] = float(border.mean())
    return out


def mask_details(embedder: object, variant: Variant, images: Sequence[SourceImage]
                 ) -> dict[str, Any]:
    """:func:`mask_report` for the encoder behind ``embedder``, at the size of a probe image.

    The size matters where the mask is drawn on the image: the share of it
    the model's crop keeps depends on the aspect ratio.
    """
    size = (640, 480)
    for image in images[:5]:
        try:
            size = image.load().size
        except Exception:  # unreadable images are the extractor's to report
            continue
        break
    return mask_report(embedder_encoder(embedder), variant, size)
