"""Simulated cameras: the built-in image as a scene, acquired by distinct pipelines.

The camera audit needs photographs labelled by the camera that took them.
Without user data, each built-in image is treated as the scene and "taken"
by every simulated camera, so the audit runs offline and the classes differ
only in acquisition, never in content. A pipeline follows the stages of a
real camera, each leaving its own trace:

1. optics and sensor resolution: the scene is resampled (area average) by
   the camera's ``scale``;
2. sensor: sRGB is linearised, mixed by colour crosstalk, weighted by
   per-channel sensitivity and sampled through a Bayer colour filter
   (``RGGB``, ``BGGR``, ``GRBG`` or ``GBRG``);
3. a fixed per-camera photo-response non-uniformity (PRNU): a multiplicative
   pattern drawn from the camera's own seed (never the image's), tiled to
   the image size, the trace camera forensics relies on;
4. noise: shot noise (signal-dependent, from the full-well capacity) plus
   read noise, seeded per image from the variant seed;
5. quantisation to the raw bit depth (8-bit raw is square-root companded,
   as cheap sensors do);
6. demosaicing with OpenCV's bilinear, edge-aware (``EA``) or
   variable-number-of-gradients (``VNG``) algorithm;
7. white balance (gains with a small per-camera error) and a colour matrix
   that undoes the assumed crosstalk and sets the saturation;
8. tone: sRGB or power-law gamma with an S-curve contrast;
9. chroma noise reduction (phones) and unsharp masking of luma;
10. JPEG: IJG quality or the camera's own quantisation tables, and its
    chroma subsampling.

Two sets of these cameras are built in (:data:`SIMULATED_SETS`):
``"distinct_jpeg"``, where each camera also has its own JPEG quality or
tables and chroma subsampling, as real makers do, and ``"shared_jpeg"``,
the same pipelines all saving with one JPEG setting (:data:`SHARED_JPEG`), so
that a probe can only tell them apart by sensor and pipeline traces (PRNU,
demosaicing, colour, tone, noise, sharpening, resolution) and not by
compression, which the JPEG audit measures already.

Each pipeline takes under 30 ms on a 300 px image. Images of any size work,
down to 1x1 (the mosaic is padded by edge replication for demosaicing).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image

from auditkit import seeds
from auditkit.errors import ConfigError
from auditkit.transforms.base import Variant
from auditkit.transforms.quality import SUBSAMPLING

__all__ = [
    "CAMERAS",
    "DEFAULT_SIMULATED",
    "SHARED_JPEG",
    "SIMULATED_SETS",
    "camera_set",
    "camera_variants",
    "describe_camera",
    "jpeg_options",
    "prnu_pattern",
    "quantisation_tables",
    "simulate_camera",
]

#: Bayer pattern -> which channel (0 R, 1 G, 2 B) sits at (row % 2, col % 2).
BAYER: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "RGGB": ((0, 1), (1, 2)),
    "BGGR": ((2, 1), (1, 0)),
    "GRBG": ((1, 0), (2, 1)),
    "GBRG": ((1, 2), (0, 1)),
}
DEMOSAIC_SUFFIX = {"bilinear": "", "EA": "_EA", "VNG": "_VNG"}

# IJG (Annex K) base tables in natural order, the order Pillow's qtables use.
_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)
_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
], dtype=np.float64)
_FREQ = np.add.outer(np.arange(8), np.arange(8)).ravel() / 14.0
_PRNU_TILE = 128
_MIN_MOSAIC = 8

#: The simulated cameras: name -> pipeline parameters (recorded in results and cache keys).
CAMERAS: dict[str, dict[str, Any]] = {
    "bridge": {
        "letter": "A", "scale": 0.85, "bayer": "RGGB", "demosaic": "VNG", "raw_bits": 8,
        "full_well": 12000, "read_noise": 5.0, "prnu": 0.008, "sensitivity": [0.55, 1.0, 0.75],
        "crosstalk": 0.06, "assumed_crosstalk": 0.08, "wb_error": [0.98, 1.02],
        "saturation": 1.15, "tone": "gamma", "gamma": 2.2, "contrast": 0.15,
        "chroma_denoise": 0.0, "sharpen": 1.0, "sharpen_radius": 1.5,
        "jpeg": {"quality": 88}, "subsampling": "444",
    },
    "compact": {
        "letter": "B", "scale": 1.0, "bayer": "RGGB", "demosaic": "bilinear", "raw_bits": 12,
        "full_well": 9000, "read_noise": 6.0, "prnu": 0.010, "sensitivity": [0.50, 1.0, 0.70],
        "crosstalk": 0.08, "assumed_crosstalk": 0.06, "wb_error": [1.00, 1.00],
        "saturation": 1.10, "tone": "srgb", "gamma": 2.4, "contrast": 0.10,
        "chroma_denoise": 0.0, "sharpen": 0.6, "sharpen_radius": 1.0,
        "jpeg": {"quality": 92}, "subsampling": "420",
    },
    "dslr": {
        "letter": "C", "scale": 0.9, "bayer": "BGGR", "demosaic": "EA", "raw_bits": 14,
        "full_well": 40000, "read_noise": 3.0, "prnu": 0.004, "sensitivity": [0.60, 1.0, 0.80],
        "crosstalk": 0.04, "assumed_crosstalk": 0.04, "wb_error": [1.03, 0.97],
        "saturation": 1.00, "tone": "gamma", "gamma": 2.2, "contrast": 0.05,
        "chroma_denoise": 0.0, "sharpen": 0.3, "sharpen_radius": 0.8,
        "jpeg": {"qtable_scale": [0.25, 0.30], "qtable_tilt": 0.3}, "subsampling": "422",
    },
    "phone": {
        "letter": "D", "scale": 0.75, "bayer": "GRBG", "demosaic": "VNG", "raw_bits": 8,
        "full_well": 3000, "read_noise": 4.0, "prnu": 0.015, "sensitivity": [0.45, 1.0, 0.60],
        "crosstalk": 0.15, "assumed_crosstalk": 0.12, "wb_error": [0.96, 1.05],
        "saturation": 1.30, "tone": "srgb", "gamma": 2.4, "contrast": 0.25,
        "chroma_denoise": 1.5, "sharpen": 1.5, "sharpen_radius": 1.2,
        "jpeg": {"qtable_scale": [0.18, 0.22], "qtable_tilt": 0.6}, "subsampling": "420",
    },
    "phone-hdr": {
        "letter": "E", "scale": 1.0, "bayer": "BGGR", "demosaic": "EA", "raw_bits": 12,
        "full_well": 4000, "read_noise": 3.0, "prnu": 0.012, "sensitivity": [0.48, 1.0, 0.62],
        "crosstalk": 0.12, "assumed_crosstalk": 0.12, "wb_error": [1.02, 1.04],
        "saturation": 1.25, "tone": "srgb", "gamma": 2.4, "contrast": 0.30,
        "chroma_denoise": 2.5, "sharpen": 2.0, "sharpen_radius": 0.7,
        "jpeg": {"quality": 85}, "subsampling": "444",
    },
    "webcam": {
        "letter": "F", "scale": 0.6, "bayer": "GBRG", "demosaic": "bilinear", "raw_bits": 10,
        "full_well": 5000, "read_noise": 12.0, "prnu": 0.020, "sensitivity": [0.50, 1.0, 0.50],
        "crosstalk": 0.10, "assumed_crosstalk": 0.00, "wb_error": [1.10, 0.90],
        "saturation": 0.90, "tone": "gamma", "gamma": 2.0, "contrast": 0.0,
        "chroma_denoise": 0.0, "sharpen": 0.0, "sharpen_radius": 1.0,
        "jpeg": {"quality": 75}, "subsampling": "420",
    },
}


#: The one JPEG setting of every camera of the ``"shared_jpeg"`` set.
SHARED_JPEG: dict[str, Any] = {"jpeg": {"quality": 90}, "subsampling": "420"}
#: The built-in sets of simulated cameras, by name.
SIMULATED_SETS = ("shared_jpeg", "distinct_jpeg")
#: The set the built-in camera audit uses unless ``[tool.auditkit.camera] simulated`` says.
DEFAULT_SIMULATED = "shared_jpeg"


def camera_set(name: str = DEFAULT_SIMULATED) -> dict[str, dict[str, Any]]:
    """The cameras of the built-in set ``name`` (one of :data:`SIMULATED_SETS`).

    Examples
    --------
    >>> {spec["subsampling"] for spec in camera_set("shared_jpeg").values()}
    {'420'}
    """
    if name == "distinct_jpeg":
        return CAMERAS
    if name == "shared_jpeg":
        return {camera: {**spec, **SHARED_JPEG} for camera, spec in CAMERAS.items()}
    raise ConfigError(
        f"simulated = {name!r} is not a set of simulated cameras: use one of "
        f"{', '.join(repr(n) for n in SIMULATED_SETS)}")


@functools.lru_cache(maxsize=16)
def _prnu_tile(camera: str) -> np.ndarray:
    """The camera's fixed PRNU tile (zero mean, unit variance), from its name alone."""
    rng = seeds.named(f"prnu/{camera}")
    tile = rng.standard_normal((_PRNU_TILE, _PRNU_TILE)).astype(np.float32)
    tile.setflags(write=False)
    return tile


def prnu_pattern(camera: str, shape: tuple[int, int]) -> np.ndarray:
    """The camera's PRNU pattern tiled and cropped to ``shape`` (the same for every image).

    Examples
    --------
    >>> prnu_pattern("compact", (3, 200)).shape
    (3, 200)
    """
    tile = _prnu_tile(camera)
    reps = (-(-shape[0] // _PRNU_TILE), -(-shape[1] // _PRNU_TILE))
    return np.tile(tile, reps)[: shape[0], : shape[1]]


def _crosstalk(c: float) -> np.ndarray:
    """Each channel leaks ``c`` of its signal into the other two."""
    return (1.0 - 2.0 * c) * np.eye(3) + c * np.ones((3, 3))


def _colour_matrix(params: Mapping[str, Any]) -> np.ndarray:
    """Camera colour matrix: undo the assumed crosstalk, then set the saturation."""
    s = float(params["saturation"])
    luma = np.array([0.2126, 0.7152, 0.0722])
    saturate = s * np.eye(3) + (1.0 - s) * np.outer(np.ones(3), luma)
    return saturate @ np.linalg.inv(_crosstalk(float(params["assumed_crosstalk"])))


def _srgb_to_linear_lut() -> np.ndarray:
    x = np.arange(256) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


_TO_LINEAR = _srgb_to_linear_lut()
# Tone curves are applied through a table of this many levels: finer than
# the 8-bit output by a factor of 16, and a pow per pixel costs 10 ms.
_TONE_LEVELS = 4096


@functools.lru_cache(maxsize=32)
def _tone_lut(tone: str, gamma: float, contrast: float) -> np.ndarray:
    x = np.linspace(0.0, 1.0, _TONE_LEVELS)
    if tone == "srgb":
        y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    else:
        y = x ** (1.0 / gamma)
    y = (1.0 - contrast) * y + contrast * y * y * (3.0 - 2.0 * y)
    lut = y.astype(np.float32)
    lut.setflags(write=False)
    return lut


def _tone(x: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    lut = _tone_lut(str(params["tone"]), float(params["gamma"]), float(params["contrast"]))
    index = np.rint(np.clip(x, 0.0, 1.0) * (_TONE_LEVELS - 1)).astype(np.intp)
    return lut[index]


def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    out = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for dy, row in enumerate(BAYER[pattern]):
        for dx, channel in enumerate(row):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, channel]
    return out


def _demosaic(raw: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """Quantise the raw mosaic, demosaic with OpenCV, return linear float RGB."""
    bits = int(params["raw_bits"])
    h, w = raw.shape
    pad = ((0, max(0, _MIN_MOSAIC - h)), (0, max(0, _MIN_MOSAIC - w)))
    raw = np.pad(raw, pad, mode="edge") if any(p[1] for p in pad) else raw
    # Odd pads would shift the pattern: padding is only ever added at the end.
    code = getattr(cv2, f"COLOR_Bayer{params['bayer']}2RGB{DEMOSAIC_SUFFIX[params['demosaic']]}")
    if bits == 8:
        # 8-bit raw is companded (square root) so shadows keep their levels.
        stored = np.rint(np.sqrt(np.clip(raw, 0.0, 1.0)) * 255.0).astype(np.uint8)
        rgb = (cv2.cvtColor(stored, code).astype(np.float32) / 255.0) ** 2
    else:
        top = float(2**bits - 1)
        stored = np.rint(np.clip(raw, 0.0, 1.0) * top).astype(np.uint16)
        rgb = cv2.cvtColor(stored, code).astype(np.float32) / top
    return rgb[:h, :w]


def _sharpen_and_denoise(rgb: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    sigma = float(params["chroma_denoise"])
    if sigma > 0:
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
        for ch in (1, 2):
            ycc[..., ch] = cv2.GaussianBlur(ycc[..., ch], (0, 0), sigma)
        rgb = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    amount = float(params["sharpen"])
    if amount > 0:
        luma = cv2.transform(rgb, np.array([[0.299, 0.587, 0.114]], dtype=np.float32))
        detail = luma - cv2.GaussianBlur(luma, (0, 0), float(params["sharpen_radius"]))
        rgb = rgb + amount * detail[..., None]
    return rgb


def quantisation_tables(jpeg: Mapping[str, Any]) -> list[list[int]]:
    """The camera's own luma and chroma tables: IJG tables scaled and tilted.

    ``qtable_scale`` scales each base table; ``qtable_tilt`` raises the high
    frequencies further, as makers' tables often do.
    """
    scale_l, scale_c = (float(s) for s in jpeg["qtable_scale"])
    tilt = 1.0 + float(jpeg.get("qtable_tilt", 0.0)) * _FREQ
    return [
        np.clip(np.rint(base * scale * tilt), 1, 255).astype(int).tolist()
        for base, scale in ((_LUMA, scale_l), (_CHROMA, scale_c))
    ]


def jpeg_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """Pillow's JPEG ``save`` options of the camera ``params`` describe."""
    jpeg = params["jpeg"]
    options: dict[str, Any] = {"subsampling": SUBSAMPLING[str(params["subsampling"])]}
    if "quality" in jpeg:
        options["quality"] = int(jpeg["quality"])
    else:
        options["qtables"] = quantisation_tables(jpeg)
    return options


def _encode(rgb8: np.ndarray, params: Mapping[str, Any]) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(rgb8, "RGB").save(buf, format="JPEG", **jpeg_options(params))
    buf.seek(0)
    with Image.open(buf) as decoded:
        decoded.load()
        return decoded.convert("RGB")


def simulate_camera(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    """Acquire ``image`` (the scene) with the camera ``params`` describe.

    Parameters
    ----------
    image : PIL.Image.Image
        The scene, any mode (converted to RGB).
    params : mapping
        One entry of :data:`CAMERAS` plus ``"name"`` (which seeds the PRNU).
    seed : int
        Seeds the shot and read noise (with the camera name, so cameras
        draw independent noise for the same image).

    Returns
    -------
    PIL.Image.Image
        The decoded camera JPEG, RGB, ``scale`` times the scene's size.

    Examples
    --------
    >>> webcam = {v.id: v for v in camera_variants()}["camera/webcam"]
    >>> webcam.apply(Image.new("RGB", (64, 48), (90, 120, 200)), seed=0).size
    (38, 29)
    """
    # Resampled in linear light, as the sensor integrates it.
    linear = _TO_LINEAR[np.asarray(image.convert("RGB"))]
    scale = float(params["scale"])
    h, w = linear.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != (w, h):
        linear = cv2.resize(linear, size, interpolation=cv2.INTER_AREA)
    # cv2.transform: a 3x3 colour matrix per pixel, far faster than numpy's matmul.
    sensed = cv2.transform(linear, _crosstalk(float(params["crosstalk"])).astype(np.float32))
    sensed *= np.asarray(params["sensitivity"], dtype=np.float32)
    raw = _mosaic(sensed, str(params["bayer"]))
    raw *= 1.0 + float(params["prnu"]) * prnu_pattern(str(params["name"]), raw.shape)
    rng = seeds.rng(seed, str(params["name"]))
    full_well = float(params["full_well"])
    electrons = np.clip(raw, 0.0, None) * full_well
    noise = rng.standard_normal(raw.shape).astype(np.float32)
    raw = raw + noise * np.sqrt(electrons + float(params["read_noise"]) ** 2) / full_well
    linear_rgb = _demosaic(raw, params)
    r_err, b_err = (float(e) for e in params["wb_error"])
    gains = np.array([r_err, 1.0, b_err]) / np.asarray(params["sensitivity"], dtype=np.float64)
    matrix = (_colour_matrix(params) * gains[None, :]).astype(np.float32)
    balanced = cv2.transform(linear_rgb, matrix)
    toned = _tone(balanced, params).astype(np.float32)
    finished = _sharpen_and_denoise(toned, params)
    rgb8 = np.clip(np.rint(finished * 255.0), 0, 255).astype(np.uint8)
    return _encode(np.ascontiguousarray(rgb8), params)


def describe_camera(params: Mapping[str, Any]) -> str:
    """One line naming every stage of a pipeline, for labels and cards.

    Examples
    --------
    >>> describe_camera({**CAMERAS["webcam"], "name": "webcam"})[:40]
    'GBRG bilinear demosaic, 10-bit raw, scal'
    """
    jpeg = params["jpeg"]
    table = (
        f"JPEG q{jpeg['quality']}" if "quality" in jpeg
        else f"JPEG own tables x{jpeg['qtable_scale'][0]:g}/{jpeg['qtable_scale'][1]:g}"
    )
    a, b, c = tuple(str(params["subsampling"]))
    tone = "sRGB" if params["tone"] == "srgb" else f"gamma {params['gamma']:g}"
    parts = [
        f"{params['bayer']} {params['demosaic']} demosaic",
        f"{params['raw_bits']}-bit raw",
        f"scale {params['scale']:g}",
        f"noise full-well {params['full_well']:g}e read {params['read_noise']:g}e",
        f"PRNU {100 * params['prnu']:g}%",
        f"saturation {params['saturation']:g}",
        f"{tone} contrast {params['contrast']:g}",
    ]
    if params["chroma_denoise"]:
        parts.append(f"chroma NR {params['chroma_denoise']:g}")
    parts.append(f"sharpen {params['sharpen']:g}" if params["sharpen"] else "no sharpening")
    parts.append(f"{table} {a}:{b}:{c}")
    return ", ".join(parts)


def camera_variants(simulated: str = DEFAULT_SIMULATED) -> list[Variant]:
    """One :class:`Variant` per simulated camera of the set ``simulated`` (ids ``camera/<name>``).

    Letters follow the sorted ids, so "camera A" is the first class of a probe.
    The sets share ids; their JPEG parameters key them apart.

    Examples
    --------
    >>> [v.id for v in camera_variants()][:2]
    ['camera/bridge', 'camera/compact']
    """
    out = []
    for name, spec in camera_set(simulated).items():
        params = {"name": name, **{k: v for k, v in spec.items() if k != "letter"}}
        out.append(
            Variant(
                id=f"camera/{name}",
                family="camera",
                fn=simulate_camera,
                params=params,
                label=f"simulated camera {spec['letter']} ({describe_camera(params)})",
                stochastic=True,
            )
        )
    return out
