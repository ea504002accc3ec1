"""Overlay transformations: a caption, scattered text, icons and a watermark.

Text uses Pillow's bundled default font (``ImageFont.load_default``), so no
font file is needed; icons are drawn with ``ImageDraw`` shapes. Where things
land is drawn from the per-image seed for the scattered text and icons
(``stochastic=True``); the caption and the watermark sit in fixed places.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from auditkit import seeds
from auditkit.transforms.base import Variant
from auditkit.transforms.raster import scaled_int

FAMILY = "overlay"

#: Words of the scattered-text overlay: meme and screenshot vocabulary.
WORDS = ("SALE", "wow", "LOL", "2023", "photo", "NEW", "omg", "#tbt", "FREE", "hello")
#: Saturated colours for text and icons.
PALETTE = ((255, 255, 255), (0, 0, 0), (230, 30, 40), (250, 210, 20), (30, 120, 230),
           (40, 190, 80), (240, 90, 200))


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` px (its fixed bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow built without FreeType
        return ImageFont.load_default()


def caption(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """A subtitle band: white ``text`` on a translucent black strip at the bottom."""
    out = image.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = scaled_int(image, float(params["size"]), minimum=4)
    w, h = out.size
    band = min(h, round(size * 1.6))
    draw.rectangle((0, h - band, w, h), fill=(0, 0, 0, 160))
    draw.text((w / 2, h - band / 2), str(params["text"]), font=font(size),
              fill=(255, 255, 255, 255), anchor="mm")
    return Image.alpha_composite(out, layer).convert("RGB")


def scattered_text(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """``count`` words in random colours at random places, with a dark outline."""
    rng = seeds.variant_rng(seed, "overlay/text")
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    w, h = out.size
    size = scaled_int(image, float(params["size"]), minimum=4)
    for _ in range(int(params["count"])):
        word = WORDS[int(rng.integers(len(WORDS)))]
        colour = PALETTE[int(rng.integers(len(PALETTE)))]
        xy = (float(rng.uniform(0, w * 0.7)), float(rng.uniform(0, h * 0.85)))
        draw.text(xy, word, font=font(size), fill=colour,
                  stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return out


def icons(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """``count`` flat icons (star, heart, arrow, circle badge) at random places."""
    rng = seeds.variant_rng(seed, "overlay/icons")
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    w, h = out.size
    size = scaled_int(image, float(params["size"]), minimum=3)
    for _ in range(int(params["count"])):
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        colour = PALETTE[2 + int(rng.integers(len(PALETTE) - 2))]
        kind = ("star", "heart", "arrow", "badge")[int(rng.integers(4))]
        _ICONS[kind](draw, cx, cy, size / 2, colour)
    return out


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: tuple) -> None:
    points = [
        (cx + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
         cy - (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5))
        for k in range(10)
    ]
    draw.polygon(points, fill=colour, outline=(0, 0, 0))


def _heart(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: tuple) -> None:
    half = r / 2
    draw.ellipse((cx - r, cy - r, cx, cy), fill=colour)
    draw.ellipse((cx, cy - r, cx + r, cy), fill=colour)
    draw.polygon([(cx - r, cy - half), (cx + r, cy - half), (cx, cy + r)], fill=colour)


def _arrow(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: tuple) -> None:
    shaft = r * 0.35
    draw.rectangle((cx - r, cy - shaft, cx, cy + shaft), fill=colour)
    draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r)], fill=colour)


def _badge(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: tuple) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=(255, 255, 255),
                 width=max(1, round(r / 5)))
    draw.ellipse((cx - r / 3, cy - r / 3, cx + r / 3, cy + r / 3), fill=(255, 255, 255))


_ICONS = {"star": _star, "heart": _heart, "arrow": _arrow, "badge": _badge}


def watermark(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """``text`` tiled over the whole image at opacity ``alpha``, in staggered rows."""
    out = image.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = scaled_int(image, float(params["size"]), minimum=4)
    face = font(size)
    text = str(params["text"])
    left, top, right, bottom = draw.textbbox((0, 0), text, font=face)
    step_x, step_y = (right - left) + size, (bottom - top) + size
    fill = (255, 255, 255, round(255 * float(params["alpha"])))
    w, h = out.size
    for row, y in enumerate(np.arange(-step_y / 2, h, step_y)):
        shift = (row % 2) * step_x / 2
        for x in np.arange(-shift, w, step_x):
            draw.text((float(x), float(y)), text, font=face, fill=fill)
    return Image.alpha_composite(out, layer).convert("RGB")


def variants() -> list[Variant]:
    """The overlay family (4 members); sizes in pixels at a 256 px short side.

    Examples
    --------
    >>> [v.id for v in variants() if v.stochastic]
    ['overlay/text', 'overlay/icons']
    """
    return [
        Variant("overlay/caption", FAMILY, caption,
                {"text": "when the audit passes", "size": 18}, label="subtitle caption"),
        Variant("overlay/text", FAMILY, scattered_text, {"count": 4, "size": 26},
                label="scattered words", stochastic=True),
        Variant("overlay/icons", FAMILY, icons, {"count": 6, "size": 34},
                label="scattered icons", stochastic=True),
        Variant("overlay/watermark", FAMILY, watermark,
                {"text": "© auditkit", "size": 22, "alpha": 0.35},
                label="tiled watermark, 35 % opacity"),
    ]
