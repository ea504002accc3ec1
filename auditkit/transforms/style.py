"""Style transformations: classical non-photorealistic rendering.

Rashtchian et al. (2023) use neural style transfer, whose weights cannot be
downloaded here; this family stands in with classical renderings that also
change how an image looks while keeping what it shows: OpenCV's
``stylization``, ``pencilSketch`` (gray and colour) and
``edgePreservingFilter``, a cartoon filter, posterisation, colour halftone,
an oil-paint-like Kuwahara filter, a stained-glass mosaic, emboss and a
watercolour-like wash. Real style-transfer outputs can be added as image
folders (:mod:`auditkit.data.styles`).

All members are deterministic (textures such as the mosaic layout and the
watercolour paper come from fixed seeds, not the image seed) and sizes are
stated at a 256 px short side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

from auditkit.transforms.base import Variant
from auditkit.transforms.raster import (
    bgr_array,
    from_array,
    from_bgr,
    rgb_array,
    scaled,
    scaled_int,
)

FAMILY = "style"

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _at_most(image: Image.Image, side: int) -> Image.Image:
    """``image`` shrunk (area resampling) so that its short side is at most ``side``."""
    w, h = image.size
    if min(w, h) <= side:
        return image
    factor = side / min(w, h)
    return image.resize((max(1, round(w * factor)), max(1, round(h * factor))),
                        Image.Resampling.BOX)


def stylization(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """OpenCV's ``stylization`` (watercolour-like abstraction with dark edges).

    It costs about 70 ms on a 300 px image whatever ``sigma_s``, so it runs
    on a copy whose short side is at most ``work_side`` and is enlarged back:
    its output is flat regions and soft edges, which survive the round trip.
    """
    small = _at_most(image.convert("RGB"), int(params["work_side"]))
    styled = cv2.stylization(bgr_array(small), sigma_s=float(params["sigma_s"]),
                             sigma_r=float(params["sigma_r"]))
    return from_bgr(styled).resize(image.size, Image.Resampling.BICUBIC)


def pencil(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """OpenCV's ``pencilSketch``: the gray sketch, or the colour one with ``colour``."""
    gray, colour = cv2.pencilSketch(
        bgr_array(image), sigma_s=float(params["sigma_s"]), sigma_r=float(params["sigma_r"]),
        shade_factor=float(params["shade_factor"]),
    )
    return from_bgr(colour if params["colour"] else gray)


def edge_preserving(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """OpenCV's ``edgePreservingFilter`` (recursive domain transform): painterly smoothing."""
    out = cv2.edgePreservingFilter(bgr_array(image), flags=cv2.RECURS_FILTER,
                                   sigma_s=float(params["sigma_s"]),
                                   sigma_r=float(params["sigma_r"]))
    return from_bgr(out)


def cartoon(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Flat colours (bilateral smoothing, quantised) inside black ink lines.

    The lines are an adaptive threshold of the median-blurred luminance.
    """
    bgr = bgr_array(image)
    d = scaled_int(image, 7, minimum=3)
    colour = bgr
    for _ in range(2):
        colour = cv2.bilateralFilter(colour, d, sigmaColor=60, sigmaSpace=d)
    step = 256 // int(params["levels"])
    colour = (colour // step) * step + step // 2
    gray = cv2.medianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
                          scaled_int(image, 5, minimum=3, odd=True))
    block = scaled_int(image, float(params["line_block"]), minimum=3, odd=True)
    lines = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                  block, float(params["line_offset"]))
    return from_bgr(cv2.bitwise_and(colour, colour, mask=lines))


def posterize(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return ImageOps.posterize(image.convert("RGB"), int(params["bits"]))


def halftone(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Colour halftone: per channel, ink dots whose area is the cell's ink coverage.

    Each channel's dot grid is offset by a third of a cell, as printing
    screens are, so the dots of the three inks do not sit on each other.
    """
    pixels = rgb_array(image).astype(np.float32)
    cell = scaled_int(image, float(params["cell"]), minimum=2)
    out = np.empty_like(pixels)
    for k in range(3):
        out[..., k] = _dots(pixels[..., k], cell, offset=(k * cell) // 3)
    return from_array(out)


def _dots(channel: np.ndarray, cell: int, offset: int) -> np.ndarray:
    h, w = channel.shape
    ph, pw = -(-(h + offset) // cell) * cell, -(-(w + offset) // cell) * cell
    padded = np.pad(channel, ((offset, ph - h - offset), (offset, pw - w - offset)), mode="edge")
    means = padded.reshape(ph // cell, cell, pw // cell, cell).mean(axis=(1, 3))
    radius = cell * np.sqrt((1.0 - means / 255.0) / np.pi)
    centre = (cell - 1) / 2
    yy, xx = np.mgrid[0:cell, 0:cell]
    dist = np.hypot(yy - centre, xx - centre)
    ink = dist[None, :, None, :] < radius[:, None, :, None]
    paper = np.where(ink.reshape(ph, pw), 0.0, 255.0)
    return paper[offset : offset + h, offset : offset + w]


def kuwahara(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Oil-paint-like Kuwahara filter: each pixel takes the mean of its calmest quadrant.

    Of the four ``(r+1) x (r+1)`` windows that have the pixel as a corner,
    the one with the lowest luminance variance gives the colour, which
    flattens texture into brush-like patches while keeping edges.
    """
    pixels = rgb_array(image).astype(np.float64)
    r = scaled_int(image, float(params["radius"]), minimum=1)
    h, w = pixels.shape[:2]
    padded = np.pad(pixels, ((r, r), (r, r), (0, 0)), mode="edge")
    luma = padded @ _LUMA.astype(np.float64)
    k = r + 1
    mean = _box_mean(padded, k)
    mean_l, mean_l2 = _box_mean(luma, k), _box_mean(luma * luma, k)
    variance = mean_l2 - mean_l * mean_l
    corners = [(0, 0), (0, r), (r, 0), (r, r)]
    var4 = np.stack([variance[dy : dy + h, dx : dx + w] for dy, dx in corners])
    mean4 = np.stack([mean[dy : dy + h, dx : dx + w] for dy, dx in corners])
    best = var4.argmin(axis=0)
    return from_array(np.take_along_axis(mean4, best[None, :, :, None], axis=0)[0])


def _box_mean(values: np.ndarray, k: int) -> np.ndarray:
    """Means of every ``k x k`` window (valid positions), by summed-area table."""
    table = np.pad(values.cumsum(axis=0).cumsum(axis=1),
                   ((1, 0), (1, 0)) + ((0, 0),) * (values.ndim - 2))
    sums = table[k:, k:] - table[:-k, k:] - table[k:, :-k] + table[:-k, :-k]
    return sums / (k * k)


def stained_glass(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Mosaic of Voronoi tiles, each filled with its mean colour, with dark lead lines.

    Tile centres are a jittered grid from a fixed seed (``layout``), so the
    result depends on the image only; OpenCV's labelled distance transform
    finds each pixel's nearest centre.
    """
    pixels = rgb_array(image).astype(np.float64)
    h, w = pixels.shape[:2]
    cell = scaled(image, float(params["cell"]), minimum=2.0)
    rows, cols = max(1, round(h / cell)), max(1, round(w / cell))
    jitter = np.random.default_rng(int(params["layout"])).uniform(0.15, 0.85, (rows, cols, 2))
    ys = ((np.arange(rows)[:, None] + jitter[..., 0]) * h / rows).astype(int).clip(0, h - 1)
    xs = ((np.arange(cols)[None, :] + jitter[..., 1]) * w / cols).astype(int).clip(0, w - 1)
    centres = np.full((h, w), 255, np.uint8)
    centres[ys, xs] = 0
    _, labels = cv2.distanceTransformWithLabels(centres, cv2.DIST_L2, cv2.DIST_MASK_5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    flat = labels.ravel()
    counts = np.maximum(np.bincount(flat), 1)
    tiles = np.stack([np.bincount(flat, pixels[..., c].ravel()) / counts for c in range(3)],
                     axis=1)
    out = tiles[labels]
    edge: np.ndarray = np.zeros((h, w), np.uint8)
    edge[:, 1:] |= (labels[:, 1:] != labels[:, :-1]).astype(np.uint8)
    edge[1:, :] |= (labels[1:, :] != labels[:-1, :]).astype(np.uint8)
    width = scaled_int(image, float(params["lead"]), minimum=1)
    if width > 1:
        edge = cv2.dilate(edge, np.ones((width, width), np.uint8))
    out[edge > 0] = 35.0
    return from_array(out)


def emboss(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Pillow's emboss kernel on the luminance: a gray relief."""
    return image.convert("L").filter(ImageFilter.EMBOSS).convert("RGB")


def watercolour(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Watercolour-like wash: smoothed pale colour, darkened pigment edges, paper grain.

    The smoothing runs on a copy whose short side is at most ``work_side``
    (a wash has no fine detail to lose) to stay cheap; edges and grain are
    added at full size.
    """
    small = _at_most(image.convert("RGB"), int(params["work_side"]))
    bgr = cv2.medianBlur(bgr_array(small), 5)
    for _ in range(2):
        bgr = cv2.bilateralFilter(bgr, 7, sigmaColor=80, sigmaSpace=7)
    colour = rgb_array(from_bgr(bgr).resize(image.size, Image.Resampling.BICUBIC))
    colour = colour.astype(np.float32)
    colour = colour + float(params["wash"]) * (255.0 - colour)
    luma = colour @ _LUMA
    edges = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
    edges = np.clip(edges / 255.0, 0.0, 1.0)[..., None]
    h, w = luma.shape
    grain = np.random.default_rng(int(params["paper"])).normal(0.0, 1.0, (h, w)).astype(np.float32)
    smooth_grain = cv2.GaussianBlur(grain, (0, 0), 1.5)
    paper = 1.0 + 0.04 * smooth_grain / max(float(smooth_grain.std()), 1e-6)
    return from_array(colour * (1.0 - 0.4 * edges) * paper[..., None])


def variants() -> list[Variant]:
    """The style family (11 members); sizes in pixels at a 256 px short side.

    Examples
    --------
    >>> len(variants()), all(v.family == "style" for v in variants())
    (11, True)
    """
    sketch = {"sigma_s": 30, "sigma_r": 0.08, "shade_factor": 0.05}
    return [
        Variant("style/stylization", FAMILY, stylization,
                {"sigma_s": 30, "sigma_r": 0.45, "work_side": 160},
                label="OpenCV stylization"),
        Variant("style/pencil-gray", FAMILY, pencil, {**sketch, "colour": False},
                label="pencil sketch (gray)"),
        Variant("style/pencil-colour", FAMILY, pencil, {**sketch, "colour": True},
                label="pencil sketch (colour)"),
        Variant("style/edge-preserving", FAMILY, edge_preserving,
                {"sigma_s": 60, "sigma_r": 0.4}, label="edge-preserving smoothing"),
        Variant("style/cartoon", FAMILY, cartoon,
                {"levels": 6, "line_block": 9, "line_offset": 4}, label="cartoon"),
        Variant("style/posterize", FAMILY, posterize, {"bits": 2},
                label="posterised (4 levels a channel)"),
        Variant("style/halftone", FAMILY, halftone, {"cell": 6}, label="colour halftone"),
        Variant("style/oil-paint", FAMILY, kuwahara, {"radius": 4},
                label="oil paint (Kuwahara filter)"),
        Variant("style/mosaic", FAMILY, stained_glass, {"cell": 14, "lead": 1.5, "layout": 0},
                label="stained-glass mosaic"),
        Variant("style/emboss", FAMILY, emboss, {}, label="emboss"),
        Variant("style/watercolour", FAMILY, watercolour,
                {"wash": 0.2, "paper": 0, "work_side": 160},
                label="watercolour-like wash"),
    ]
