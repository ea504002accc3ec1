"""Small pictures of what each audited variant looks like, for the card.

A card is rendered from ``results.json`` alone (``auditkit report`` never
recomputes), so the thumbnails travel inside the results as ``data:`` URIs.
Each is a crop at native resolution, not a downscale: JPEG blocks, sharpening
halos and sensor noise are only visible pixel for pixel. PNG keeps the crop
exactly as the encoder saw it. A masked variant (the semantic control) is
shown whole instead, with its mask drawn as the encoder gets it, since a
centre crop of it would be all mask.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence

from PIL import Image

from auditkit.encoders.geometry import InputGeometry
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
            picture = variant.apply(image, seed)
            if variant.post is not None:
                picture = _whole_view(variant.post(picture, variant.params), variant, size)
            else:
                picture = centre_crop(picture, size)
            out[variant.id] = png_data_uri(picture)
        except Exception:  # a picture is a nicety, never a reason to stop
            continue
    return out


def _whole_view(picture: Image.Image, variant: Variant, size: int) -> Image.Image:
    """What the model sees of a masked picture (its declared crop), fitted in ``size``."""
    geometry = InputGeometry.coerce(variant.params.get("mask_geometry"), variant.id)
    if geometry is not None and geometry.crop is not None:
        picture = picture.crop(geometry.visible_box(*picture.size))
    picture = picture.copy()
    picture.thumbnail((size, size), Image.Resampling.BOX)
    return picture
