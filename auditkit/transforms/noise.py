"""Noise transformations: Gaussian, salt-and-pepper, speckle and shot noise.

All are random and draw from the per-image seed (``stochastic=True``), so the
same image gets the same noise on every run and different images get
different noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from auditkit import seeds
from auditkit.transforms.base import Variant
from auditkit.transforms.raster import from_array, rgb_array

FAMILY = "noise"


def gaussian(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Additive noise of standard deviation ``sigma`` (0-255 units), per channel."""
    pixels = rgb_array(image).astype(np.float32)
    rng = seeds.variant_rng(seed, "noise/gaussian")
    return from_array(pixels + rng.normal(0.0, float(params["sigma"]), pixels.shape))


def salt_pepper(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """A share ``amount`` of pixels set to black or white (half each)."""
    pixels = rgb_array(image).copy()
    rng = seeds.variant_rng(seed, "noise/salt-pepper")
    draw = rng.random(pixels.shape[:2])
    amount = float(params["amount"])
    pixels[draw < amount / 2] = 0
    pixels[(draw >= amount / 2) & (draw < amount)] = 255
    return from_array(pixels)


def speckle(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Multiplicative noise: each value times ``1 + N(0, sigma)``."""
    pixels = rgb_array(image).astype(np.float32)
    rng = seeds.variant_rng(seed, "noise/speckle")
    return from_array(pixels * (1.0 + rng.normal(0.0, float(params["sigma"]), pixels.shape)))


def shot(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Poisson (photon) noise with ``photons`` expected counts at full white."""
    pixels = rgb_array(image).astype(np.float64)
    rng = seeds.variant_rng(seed, "noise/shot")
    photons = float(params["photons"])
    return from_array(rng.poisson(pixels * (photons / 255.0)) * (255.0 / photons))


def variants() -> list[Variant]:
    """The noise family (4 members, all seeded per image).

    Examples
    --------
    >>> all(v.stochastic for v in variants())
    True
    """
    return [
        Variant("noise/gaussian", FAMILY, gaussian, {"sigma": 20.0},
                label="Gaussian noise σ=20", stochastic=True),
        Variant("noise/salt-pepper", FAMILY, salt_pepper, {"amount": 0.04},
                label="salt-and-pepper noise 4 %", stochastic=True),
        Variant("noise/speckle", FAMILY, speckle, {"sigma": 0.25},
                label="speckle noise σ=0.25", stochastic=True),
        Variant("noise/shot", FAMILY, shot, {"photons": 12.0},
                label="shot noise, 12 photons at white", stochastic=True),
    ]
