"""Procedural images for the built-in probe set: noise, textures, colour, shapes.

Noise fields (fractal, oriented, blob, stripe and cell textures), colour
gradients and palettes, sensor-like grain and anti-aliased shape masks, all
as float32 arrays in [0, 1] drawn from a caller's ``numpy`` generator, so
the same generator state always gives the same pixels.
"""

from __future__ import annotations

import colorsys
import functools
from typing import Any

import numpy as np
import scipy.fft
from PIL import Image, ImageDraw
from scipy import ndimage

__all__ = [
    "add_grain",
    "blob_noise",
    "cells",
    "colourise",
    "fractal",
    "gradient",
    "lerp",
    "oriented_noise",
    "resize_gray",
    "shape_mask",
    "smoothstep",
    "stripes",
]

_LUT_SIZE = 4096


def resize_gray(gray: np.ndarray, h: int, w: int) -> np.ndarray:
    image = Image.fromarray(np.asarray(gray, dtype=np.float32))
    return np.asarray(image.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _normalise(x: np.ndarray) -> np.ndarray:
    # About +-3 standard deviations onto [0, 1]; cheaper than percentiles.
    scale = np.float32(1.0 / (6 * float(x.std()) + 1e-12))
    return np.clip(np.float32(0.5) + (x - np.float32(x.mean())) * scale, 0.0, 1.0)


def _fft_shape(h: int, w: int) -> tuple[int, int]:
    # Noise is synthesised on a padded grid and cropped: FFTs of sizes with
    # large prime factors (a 317-pixel side) are several times slower.
    return scipy.fft.next_fast_len(h, real=True), scipy.fft.next_fast_len(w, real=True)


@functools.lru_cache(maxsize=4)
def _frequencies(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency grids ``fy, fx, radius`` of the padded rfft of an (h, w) field."""
    # Cached because an image draws several noise fields of its own size.
    ph, pw = _fft_shape(h, w)
    fy = np.fft.fftfreq(ph).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(pw).astype(np.float32)[None, :]
    radius = np.maximum(np.hypot(fy, fx), np.float32(1.0 / max(ph, pw)))
    return fy, fx, radius


def _spectral(rng: np.random.Generator, h: int, w: int, amplitude: np.ndarray) -> np.ndarray:
    """White noise shaped by ``amplitude`` (on the grids of ``_frequencies(h, w)``)."""
    shape = _fft_shape(h, w)
    white = rng.standard_normal(shape, dtype=np.float32)
    field = scipy.fft.irfft2(scipy.fft.rfft2(white) * amplitude, s=shape)
    return _normalise(field[:h, :w])


def fractal(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """1/f^beta noise: beta near 2 has the spectrum of natural photos."""
    radius = _frequencies(h, w)[2]
    return _spectral(rng, h, w, radius ** np.float32(-beta / 2))


def oriented_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Band-pass noise around one direction: wood grain, brushed metal, ripples."""
    theta = rng.uniform(0, np.pi)
    f0 = rng.uniform(0.02, 0.12)
    su, sv = rng.uniform(0.004, 0.02), rng.uniform(0.004, 0.04)
    fy, fx, _ = _frequencies(h, w)
    u = fx * np.cos(theta) + fy * np.sin(theta)
    v = -fx * np.sin(theta) + fy * np.cos(theta)
    amplitude = np.exp(-((np.abs(u) - f0) ** 2) / (2 * su**2) - v**2 / (2 * sv**2))
    base = _spectral(rng, h, w, amplitude.astype(np.float32))
    return np.clip(0.8 * base + 0.2 * fractal(rng, h, w, beta=1.6), 0, 1)


def blob_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Isotropic band-pass noise through a soft threshold: spots, pebbles, foam."""
    f0, sigma = rng.uniform(0.01, 0.06), rng.uniform(0.005, 0.02)
    radius = _frequencies(h, w)[2]
    amplitude = np.exp(-((radius - f0) ** 2) / (2 * sigma**2))
    base = _spectral(rng, h, w, amplitude.astype(np.float32))
    sharp = 1 / (1 + np.exp(-rng.uniform(6, 14) * (base - rng.uniform(0.4, 0.6))))
    return np.clip(0.75 * sharp + 0.25 * fractal(rng, h, w, beta=1.3), 0, 1)


def stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Warped sinusoidal stripes with fine noise: fabric, sand ripples, agate."""
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(6, 40)
    warp = np.float32(rng.uniform(0.5, 4.0) * 2 * np.pi) * (fractal(rng, h, w, beta=2.5) - 0.5)
    phase = _ramp(h, w, theta) * np.float32(2 * np.pi / period) + warp
    wave = 0.5 + 0.5 * np.sin(phase)
    wave = smoothstep((wave - 0.5) * rng.uniform(1.0, 3.0) + 0.5)
    return np.clip(0.8 * wave + 0.2 * fractal(rng, h, w, beta=1.0), 0, 1)


def cells(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Voronoi cells with random shades and dark borders: cobbles, scales, cracks."""
    n = int(rng.integers(12, 90))
    seeds = np.zeros((h, w), dtype=bool)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = True
    labels = np.cumsum(seeds.ravel()).reshape(h, w) * seeds
    distance, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    cell = labels[iy, ix]
    shade = rng.uniform(0.2, 1.0, size=int(cell.max()) + 1).astype(np.float32)[cell]
    border = (cell != np.roll(cell, 1, 0)) | (cell != np.roll(cell, 1, 1))
    border = ndimage.gaussian_filter(border.astype(np.float32), rng.uniform(0.6, 1.5))
    gray = shade * (1 - np.clip(3 * border, 0, 1)) + 0.15 * (fractal(rng, h, w, beta=1.5) - 0.5)
    if rng.random() < 0.5:  # domed cells, brighter at their centres
        gray = gray * (1 - 0.4 * np.clip(distance / (distance.max() + 1e-9), 0, 1))
    return np.clip(gray, 0, 1)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _ramp(h: int, w: int, theta: float) -> np.ndarray:
    """Distance along direction ``theta`` in pixels, as an (h, w) array."""
    x = np.arange(w, dtype=np.float32) * np.float32(np.cos(theta))
    y = np.arange(h, dtype=np.float32) * np.float32(np.sin(theta))
    return y[:, None] + x[None, :]


def gradient(
    rng: np.random.Generator,
    h: int,
    w: int,
    hues: tuple[float, float],
    values: tuple[float, float] | None = None,
) -> np.ndarray:
    """A linear two-colour gradient along a random direction."""
    if values is None:
        values = (rng.uniform(0.35, 1.0), rng.uniform(0.35, 1.0))
    c0 = _hsv(hues[0], rng.uniform(0.45, 1.0), values[0])
    c1 = _hsv(hues[1], rng.uniform(0.45, 1.0), values[1])
    t = _ramp(h, w, rng.uniform(0, 2 * np.pi))
    lo, hi = float(t.min()), float(t.max())
    t = (t - np.float32(lo)) * np.float32(1.0 / (hi - lo + 1e-9))
    # Channel by channel: numpy broadcasts over a trailing axis of 3 slowly.
    return np.stack([c0[c] + (c1[c] - c0[c]) * t for c in range(3)], axis=-1)


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | np.floating[Any]) -> np.ndarray:
    return a + (b - a) * t


def colourise(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map gray levels through a random 3-stop palette, then tint with a gradient.

    The palette keeps the luminance order (dark stop to light stop) so the
    structure stays readable; the hue changes along it give chroma detail
    wherever there is luminance detail, and the tint adds chroma that varies
    across flat regions too.
    """
    h0 = rng.random()
    dh = rng.uniform(0.1, 0.4) * rng.choice([-1.0, 1.0])
    stops = np.stack(
        [
            _hsv(h0, rng.uniform(0.5, 1.0), rng.uniform(0.05, 0.3)),
            _hsv(h0 + dh, rng.uniform(0.5, 1.0), rng.uniform(0.45, 0.7)),
            _hsv(h0 + 2 * dh, rng.uniform(0.2, 0.8), rng.uniform(0.85, 1.0)),
        ]
    )
    positions = np.array([0.0, rng.uniform(0.35, 0.65), 1.0])
    # A 4096-entry lookup table: far finer than 8-bit output, faster than interp.
    levels = np.linspace(0.0, 1.0, _LUT_SIZE)
    lut = np.stack([np.interp(levels, positions, stops[:, c]) for c in range(3)], axis=-1)
    index = (np.clip(gray, 0, 1) * np.float32(_LUT_SIZE - 1) + np.float32(0.5)).astype(np.intp)
    mapped = lut.astype(np.float32)[index]
    alpha = rng.uniform(0.2, 0.4)
    # Contrasting hues, so that even a flat source gets chroma across the frame.
    tint_hue = rng.random()
    h, w = gray.shape
    tint = gradient(rng, h, w, hues=(tint_hue, tint_hue + rng.uniform(0.25, 0.75)))
    return lerp(mapped, tint, np.float32(alpha))


def add_grain(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Independent per channel, like sensor noise, so chroma has fine detail too.
    # Uniform rather than Gaussian: several times cheaper to draw, and JPEG
    # only cares that there is fine detail, not about its distribution.
    amplitude = np.float32(rng.uniform(1.5, 4.0) / 255.0 * np.sqrt(12.0))
    return rgb + amplitude * (rng.random(rgb.shape, dtype=np.float32) - np.float32(0.5))


def shape_mask(
    rng: np.random.Generator, kind: str, h: int, w: int
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Coverage in [0, 1] of one random shape within its bounding box.

    Anti-aliased by drawing at 4x and box-filtering down; only the bounding
    box is drawn, which keeps small shapes cheap.
    """
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    r = rng.uniform(0.08, 0.3) * min(h, w)
    rot = rng.uniform(0, 2 * np.pi)
    points: list[tuple[float, float]] = []
    ring_width = 0.0
    if kind == "ellipse":
        rx, ry = r, r * rng.uniform(0.4, 1.0)
    elif kind == "ring":
        rx = ry = r
        ring_width = r * rng.uniform(0.15, 0.45)
    else:
        rx = ry = r
        if kind == "rectangle":
            aspect = rng.uniform(0.3, 1.0)
            corners = [(1.0, aspect), (-1.0, aspect), (-1.0, -aspect), (1.0, -aspect)]
            angles = [np.arctan2(y, x) + rot for x, y in corners]
            radii = [r * np.hypot(x, y) / np.sqrt(2) for x, y in corners]
        elif kind == "triangle":
            angles = [rot + k * 2 * np.pi / 3 + rng.uniform(-0.3, 0.3) for k in range(3)]
            radii = [r] * 3
        elif kind == "polygon":
            n = int(rng.integers(5, 9))
            angles = [rot + k * 2 * np.pi / n for k in range(n)]
            radii = [r] * n
        else:  # star
            n = int(rng.integers(5, 8))
            inner = rng.uniform(0.35, 0.6)
            angles = [rot + k * np.pi / n for k in range(2 * n)]
            radii = [r if k % 2 == 0 else r * inner for k in range(2 * n)]
        points = [
            (cx + q * np.cos(a), cy + q * np.sin(a)) for a, q in zip(angles, radii, strict=True)
        ]
    x0, x1 = max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, w)
    y0, y1 = max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, h)
    ss = 4
    canvas = Image.new("L", ((x1 - x0) * ss, (y1 - y0) * ss), 0)
    draw = ImageDraw.Draw(canvas)

    def local(x: float, y: float) -> tuple[float, float]:
        return (x - x0) * ss, (y - y0) * ss

    if kind in ("ellipse", "ring"):
        box = (*local(cx - rx, cy - ry), *local(cx + rx, cy + ry))
        if kind == "ellipse":
            draw.ellipse(box, fill=255)
        else:
            draw.ellipse(box, outline=255, width=max(int(ring_width * ss), ss))
    else:
        draw.polygon([local(x, y) for x, y in points], fill=255)
    small = canvas.resize((x1 - x0, y1 - y0), Image.Resampling.BOX)
    mask = np.asarray(small, dtype=np.float32) / np.float32(255)
    return mask, (slice(y0, y1), slice(x0, x1))
