"""Quality and compression transformations (JPEG re-encoding)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from PIL import Image

from auditkit.transforms.base import Variant

#: Pillow's ``subsampling`` argument for each chroma subsampling name.
SUBSAMPLING = {"444": 0, "422": 1, "420": 2}


def jpeg(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Encode as baseline JPEG at full resolution, then decode."""
    buf = io.BytesIO()
    image.convert("RGB").save(
        buf,
        format="JPEG",
        quality=int(params["quality"]),
        subsampling=SUBSAMPLING[str(params["subsampling"])],
    )
    buf.seek(0)
    with Image.open(buf) as decoded:
        decoded.load()
        return decoded.convert("RGB")


def jpeg_variant(quality: int, subsampling: str) -> Variant:
    a, b, c = tuple(subsampling)
    return Variant(
        id=f"jpeg/q{quality}-{subsampling}",
        family="quality",
        fn=jpeg,
        params={"quality": quality, "subsampling": subsampling},
        label=f"JPEG {quality} {a}:{b}:{c}",
    )


def jpeg_grid() -> list[Variant]:
    """The six JPEG classes of Ramos et al.: quality {75,85,95} x {4:2:0, 4:4:4}."""
    return [jpeg_variant(q, s) for q in (75, 85, 95) for s in ("420", "444")]


# --------------------------------------------------------------------------
# The quality/compression family of the transformation catalogue (Substance
# or Style): heavy, visible degradations, unlike the subtle JPEG grid above.


def webp(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Encode as lossy WebP at ``quality``, then decode."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="WEBP", quality=int(params["quality"]), method=0)
    buf.seek(0)
    with Image.open(buf) as decoded:
        decoded.load()
        return decoded.convert("RGB")


def resample_down_up(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Shrink by ``scale`` with ``down`` resampling and enlarge back with ``up``.

    Box down and nearest up is pixelation; bilinear both ways is the soft loss
    of a low-resolution upload.
    """
    w, h = image.size
    scale = float(params["scale"])
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    methods = {"box": Image.Resampling.BOX, "nearest": Image.Resampling.NEAREST,
               "bilinear": Image.Resampling.BILINEAR}
    down = image.resize(small, methods[str(params["down"])])
    return down.resize((w, h), methods[str(params["up"])])


def quality_variants() -> list[Variant]:
    """The catalogue's quality/compression family (5 members).

    Examples
    --------
    >>> [v.id for v in quality_variants()][:2]
    ['quality/jpeg-q10', 'quality/jpeg-q30']
    """
    return [
        Variant("quality/jpeg-q10", "quality", jpeg, {"quality": 10, "subsampling": "420"},
                label="JPEG 10 4:2:0"),
        Variant("quality/jpeg-q30", "quality", jpeg, {"quality": 30, "subsampling": "420"},
                label="JPEG 30 4:2:0"),
        Variant("quality/webp-q15", "quality", webp, {"quality": 15}, label="WebP 15"),
        Variant("quality/pixelate", "quality", resample_down_up,
                {"scale": 0.125, "down": "box", "up": "nearest"}, label="pixelated (1/8)"),
        Variant("quality/low-resolution", "quality", resample_down_up,
                {"scale": 0.35, "down": "bilinear", "up": "bilinear"},
                label="downsampled to 35 % and back"),
    ]
