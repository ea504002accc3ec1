"""Processing traces of Ramos et al. (ICCV 2025): sharpening, resizing, interpolation.

Every class ends with the same JPEG 95 4:4:4 encoding, so the probe sees the
processing step and not a difference in compression:

* sharpening: none (the JPEG 95 baseline), ``ImageEnhance.Sharpness`` 2 and 4;
* resizing: x0.5, x1 (baseline), x2;
* interpolation: bilinear, bicubic, Lanczos, box, each at a random scale in
  1 +- 0.2 drawn per image from the variant seed (the paper gives no JPEG step
  here; auditkit adds the same JPEG 95 ending so all processing audits share
  one final encoding).

The baseline class of sharpening and resizing is the JPEG audit's own
``jpeg/q95-444`` variant, so its embeddings are shared across the audits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageEnhance

from auditkit import seeds
from auditkit.errors import BadImageError
from auditkit.transforms.base import Variant
from auditkit.transforms.quality import jpeg, jpeg_variant

#: Smallest side a resized image may have: one JPEG block (the probe set's own minimum).
MIN_OUTPUT_SIDE = 8

FINAL_JPEG: dict[str, Any] = {"quality": 95, "subsampling": "444"}

RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


def sharpen_then_jpeg(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    factor = float(params["factor"])
    if factor != 1.0:
        image = ImageEnhance.Sharpness(image).enhance(factor)
    return jpeg(image, FINAL_JPEG, seed)


def resize_then_jpeg(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    scale = float(params["scale"])
    method = RESAMPLING[str(params.get("method", "bicubic"))]
    if "jitter" in params:
        # Scale drawn per image: the probe must recognise the kernel, not one size.
        rng = seeds.rng(seed)
        scale *= 1.0 + rng.uniform(-params["jitter"], params["jitter"])
    if scale != 1.0:
        w, h = image.size
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if min(size) < MIN_OUTPUT_SIDE:
            # Raised, not drawn: the pair is left out by name and the audit goes on.
            raise BadImageError(
                f"{w}x{h} pixels is too small for a x{scale:.3g} resize: {size[0]}x{size[1]} "
                f"holds no {MIN_OUTPUT_SIDE}-pixel JPEG block; use the full-size original")
        image = image.resize(size, method)
    return jpeg(image, FINAL_JPEG, seed)


def _baseline(label: str) -> Variant:
    # The "no processing" class of every family is JPEG 95 4:4:4 itself: the
    # same variant (same cache key) as the JPEG audit's, so it is embedded once.
    return dataclasses.replace(jpeg_variant(FINAL_JPEG["quality"], FINAL_JPEG["subsampling"]),
                               label=label)


def sharpening_variants() -> list[Variant]:
    return [_baseline("no sharpening")] + [
        Variant(f"sharpen/x{f:g}", "filter", sharpen_then_jpeg, {"factor": f},
                label=f"sharpness {f:g}")
        for f in (2.0, 4.0)
    ]


def resizing_variants() -> list[Variant]:
    scaled = {
        s: Variant(f"resize/x{s:g}", "geometric", resize_then_jpeg,
                   {"scale": s, "method": "bicubic"}, label=f"resized x{s:g}")
        for s in (0.5, 2.0)
    }
    return [scaled[0.5], _baseline("original size"), scaled[2.0]]


def interpolation_variants(jitter: float = 0.2) -> list[Variant]:
    return [
        Variant(f"interp/{name}", "geometric", resize_then_jpeg,
                {"scale": 1.0, "method": name, "jitter": jitter},
                label=f"{name} x(1±{jitter:g})", stochastic=True)
        for name in RESAMPLING
    ]
