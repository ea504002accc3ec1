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
    a, b, c = subsampling
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
