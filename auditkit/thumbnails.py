"""Small pictures of what each audited variant looks like, for the card.

A card is rendered from ``results.json`` alone (``auditkit report`` never
recomputes), so the thumbnails travel inside the results as ``data:`` URIs.
Each is a crop at native resolution, not a downscale: JPEG blocks, sharpening
halos and sensor noise are only visible pixel for pixel. PNG keeps the crop
exactly as the encoder saw it.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence

from PIL import Image

from auditkit.transforms.base import Variant

PREFIX = "data:image/png;base64,"
_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/]+={0,2}")


def centre_crop(image: Image.Image, size: int) -> Image.Image:
    """The central ``size`` x ``size`` square (or the whole image when smaller)."""
    w, h = image.size
    side = min(size, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def png_data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG", optimize=True)
    return PREFIX + base64.b64encode(buf.getvalue()).decode("ascii")


def is_png_data_uri(text: object) -> bool:
    """Whether ``text`` is exactly a base64 PNG data URI (what the card agrees to show).

    Examples
    --------
    >>> is_png_data_uri(PREFIX + "iVBORw0KGgo="), is_png_data_uri('x" onerror="alert(1)')
    (True, False)
    """
    return isinstance(text, str) and _DATA_URI.fullmatch(text) is not None


def variant_thumbnails(image: Image.Image, variants: Sequence[Variant], seed: int = 0,
                       size: int = 64) -> dict[str, str]:
    """``{variant id: PNG data URI}`` of the centre crop of ``image`` under each variant.

    A variant that fails on this image gets no thumbnail; the audit itself
    reports its failures.

    Examples
    --------
    >>> from auditkit.transforms.quality import jpeg_grid
    >>> thumbs = variant_thumbnails(Image.new("RGB", (80, 80), "red"), jpeg_grid())
    >>> sorted(thumbs)[0], thumbs["jpeg/q75-420"].startswith(PREFIX)
    ('jpeg/q75-420', True)
    """
    out = {}
    for variant in variants:
        try:
            out[variant.id] = png_data_uri(centre_crop(variant.apply(image, seed), size))
        except Exception:  # a picture is a nicety, never a reason to stop
            continue
    return out
