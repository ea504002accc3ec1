"""The built-in probe set: colour images generated offline from a seed.

Every image is rebuilt from a small recipe (class, index, seed) out of files
that ship inside the scikit-image and scikit-learn wheels plus procedural
noise, so the set needs no download, pickles cheaply into DataLoader workers
and is identical on every machine for a given seed.

Classes (``IMAGES_PER_CLASS`` each):

``digit``
    A distinct handwritten digit of scikit-learn's ``digits`` set, upscaled
    smoothly and painted in colour over a textured gradient.
``face`` / ``nonface``
    A distinct 25x25 crop of scikit-image's ``lfw_subset`` (rows 0-99 are
    faces, 100-199 are not), upscaled, given fine texture and colourised.
``photo``
    A random crop at a random scale of one of the shipped colour photos;
    crops share the group of their parent photo.
``shape``
    Anti-aliased textured geometric shapes over a noisy gradient.
``texture``
    Procedural textures (fractal, oriented band-pass, blob, stripe, cell
    noise) and crops of the shipped brick/grass/gravel photos, colourised.

All images are RGB with real chroma detail (grayscale sources are mapped
through random colour palettes), because chroma subsampling is invisible on
gray images, and carry sensor-like grain, because JPEG traces need texture.
"""

from __future__ import annotations

import colorsys
import functools
import importlib.util
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft
from PIL import Image, ImageDraw
from scipy import ndimage

from auditkit.data.base import ProbeSet, SourceImage, sha256_of_image, take_balanced
from auditkit.errors import ConfigError, ProbeSetError

__all__ = [
    "BUILTIN_CLASSES",
    "IMAGES_PER_CLASS",
    "BuiltinRecipe",
    "builtin_probe_set",
]

BUILTIN_CLASSES: tuple[str, ...] = ("digit", "face", "nonface", "photo", "shape", "texture")
IMAGES_PER_CLASS = 40

# Width and height are drawn independently from this range (inclusive).
_MIN_SIDE, _MAX_SIDE = 160, 320

# Parent photos of the ``photo`` class: (package, file, usable box as fractions).
# The retina's black surround carries no content, so crops stay inside it.
_PHOTOS: tuple[tuple[str, str, tuple[float, float, float, float]], ...] = (
    ("skimage", "astronaut.png", (0.0, 0.0, 1.0, 1.0)),
    ("skimage", "chelsea.png", (0.0, 0.0, 1.0, 1.0)),
    ("skimage", "coffee.png", (0.0, 0.0, 1.0, 1.0)),
    ("skimage", "rocket.jpg", (0.0, 0.0, 1.0, 1.0)),
    ("skimage", "motorcycle_left.png", (0.0, 0.0, 1.0, 1.0)),
    ("skimage", "hubble_deep_field.jpg", (0.0, 0.0, 1.0, 1.0)),
    ("skimage", "retina.jpg", (0.2, 0.2, 0.8, 0.8)),
    ("skimage", "ihc.png", (0.0, 0.0, 1.0, 1.0)),
    ("sklearn", "china.jpg", (0.0, 0.0, 1.0, 1.0)),
    ("sklearn", "flower.jpg", (0.0, 0.0, 1.0, 1.0)),
)
_TEXTURE_PHOTOS: tuple[str, ...] = ("brick.png", "grass.png", "gravel.png")
_TEXTURE_KINDS: tuple[str, ...] = ("crop", "fractal", "oriented", "blobs", "stripes", "cells")
_LUT_SIZE = 4096

# Per-process memo of rendered images: recipe -> (pixels, group, metadata).
# Bounded (oldest out first) so that building many seeds in one process does
# not grow without limit; one full set is about 40 MB.
_MEMO: dict[BuiltinRecipe, tuple[np.ndarray, str, dict[str, Any]]] = {}
_MEMO_LIMIT = 2 * len(BUILTIN_CLASSES) * IMAGES_PER_CLASS


@dataclass(frozen=True)
class BuiltinRecipe:
    """Picklable loader of one built-in image: regenerates it from its recipe.

    Parameters
    ----------
    cls : str
        One of :data:`BUILTIN_CLASSES`.
    index : int
        Position within the class, ``0 <= index < IMAGES_PER_CLASS``.
    seed : int
        Seed of the probe set.
    """

    cls: str
    index: int
    seed: int

    def __call__(self) -> Image.Image:
        pixels, _, _ = _render(self)
        # Copy so that callers may mutate the image without touching the memo.
        return Image.fromarray(pixels.copy())

    @property
    def id(self) -> str:
        return f"builtin/{self.cls}/{self.index:03d}"


def builtin_probe_set(seed: int = 0, max_images: int | None = None) -> ProbeSet:
    """Build the built-in probe set, without any download.

    Parameters
    ----------
    seed : int
        Non-negative; selects the digits and faces, the crops and every
        generated pixel. The same seed gives the same set on every machine.
    max_images : int or None
        Keep at most this many images, as evenly across classes as possible
        (the first ones of each class, so a smaller set is a subset of a
        larger one for the same seed).

    Returns
    -------
    ProbeSet
        ``len(BUILTIN_CLASSES) * IMAGES_PER_CLASS`` RGB images (240) unless
        truncated, ids ``builtin/<class>/<nnn>``.

    Examples
    --------
    >>> probe = builtin_probe_set(seed=0, max_images=12)
    >>> probe.class_counts()
    {'digit': 2, 'face': 2, 'nonface': 2, 'photo': 2, 'shape': 2, 'texture': 2}
    >>> probe.images[0].load().mode
    'RGB'
    """
    _check_seed(seed)
    if max_images is not None and max_images < 1:
        raise ProbeSetError(
            f"max_images={max_images!r} leaves no image; pass a positive number or None"
        )
    per_class = {
        cls: [BuiltinRecipe(cls, i, seed) for i in range(IMAGES_PER_CLASS)]
        for cls in BUILTIN_CLASSES
    }
    recipes = take_balanced(per_class, max_images)
    recipes.sort(key=lambda r: (BUILTIN_CLASSES.index(r.cls), r.index))
    images = []
    for recipe in recipes:
        pixels, group, metadata = _render(recipe)
        images.append(
            SourceImage(
                id=recipe.id,
                label=recipe.cls,
                group=group,
                sha256=sha256_of_image(Image.fromarray(pixels)),
                loader=recipe,
                path=None,
                metadata=dict(metadata),  # the memo's dict stays private
            )
        )
    present = [cls for cls in BUILTIN_CLASSES if any(r.cls == cls for r in recipes)]
    return ProbeSet(
        name="builtin",
        images=images,
        description=(
            f"Built-in probe set (seed {seed}): {len(images)} colour images in "
            f"{len(present)} classes ({', '.join(present)}) made "
            "offline from scikit-learn digits, scikit-image faces, photos and textures "
            "and procedural noise."
        ),
    )


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}; pass e.g. seed=0")


# --------------------------------------------------------------------------
# Rendering: one function per class, each (recipe, rng) -> float RGB in [0, 1]


def _render(recipe: BuiltinRecipe) -> tuple[np.ndarray, str, dict[str, Any]]:
    cached = _MEMO.get(recipe)
    if cached is not None:
        return cached
    if recipe.cls not in _RENDERERS or not 0 <= recipe.index < IMAGES_PER_CLASS:
        raise ProbeSetError(
            f"no built-in image {recipe.cls!r} #{recipe.index!r}; classes are "
            f"{BUILTIN_CLASSES!r} with indices 0..{IMAGES_PER_CLASS - 1}"
        )
    _check_seed(recipe.seed)
    rng = np.random.default_rng([recipe.seed, zlib.crc32(recipe.cls.encode()), recipe.index])
    rgb, group, metadata = _RENDERERS[recipe.cls](recipe, rng)
    rgb = _add_grain(rgb, rng) if recipe.cls != "photo" else rgb
    pixels = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    pixels.setflags(write=False)
    result = (pixels, group or recipe.id, {"generator": recipe.cls, **metadata})
    if len(_MEMO) >= _MEMO_LIMIT:
        del _MEMO[next(iter(_MEMO))]
    _MEMO[recipe] = result
    return result


Rendered = tuple[np.ndarray, str, dict[str, Any]]


def _render_digit(recipe: BuiltinRecipe, rng: np.random.Generator) -> Rendered:
    digits, targets = _digits()
    row = int(_class_permutation("digit", recipe.seed, len(digits))[recipe.index])
    h, w = _random_size(rng)
    side = int(rng.uniform(0.6, 0.92) * min(h, w))
    glyph = _resize_gray(digits[row] / 16.0, side, side)
    # A soft threshold turns the blurry bicubic blob into a stroke with a clean edge.
    mask = np.zeros((h, w), dtype=np.float32)
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    mask[y0 : y0 + side, x0 : x0 + side] = _smoothstep((glyph - 0.25) / 0.35)

    bg_hue = rng.random()
    bg_dark = rng.random() < 0.5
    bg_value = rng.uniform(0.15, 0.4) if bg_dark else rng.uniform(0.65, 0.95)
    background = _gradient(
        rng, h, w, hues=(bg_hue, bg_hue + rng.uniform(-0.2, 0.2)), values=(bg_value, bg_value)
    )
    background *= (0.8 + 0.4 * _fractal(rng, h, w, beta=rng.uniform(1.4, 2.4)))[..., None]
    fg_hue = bg_hue + rng.uniform(0.3, 0.7)
    fg_value = rng.uniform(0.75, 1.0) if bg_dark else rng.uniform(0.05, 0.35)
    foreground = _gradient(
        rng, h, w, hues=(fg_hue, fg_hue + rng.uniform(-0.1, 0.1)), values=(fg_value, fg_value)
    )
    foreground *= (0.85 + 0.3 * _fractal(rng, h, w, beta=1.0))[..., None]
    rgb = _lerp(background, foreground, mask[..., None])
    meta = {"source": "sklearn:digits.csv.gz", "row": row, "digit": int(targets[row])}
    return rgb, "", meta


def _render_lfw(recipe: BuiltinRecipe, rng: np.random.Generator) -> Rendered:
    crops = _lfw()
    # skimage documents (and the pixels confirm) rows 0-99 as faces, 100-199 as not.
    offset = 0 if recipe.cls == "face" else 100
    row = offset + int(_class_permutation(recipe.cls, recipe.seed, 100)[recipe.index])
    h, w = _random_size(rng)
    side = max(h, w)
    # Upscale to a square so faces keep their proportions, then crop to (h, w).
    gray = _resize_gray(crops[row], side, side)
    y0, x0 = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
    gray = gray[y0 : y0 + h, x0 : x0 + w]
    # Upscaled 25x25 crops are smooth; fine fractal detail gives JPEG something to bite.
    gray = gray + 0.12 * (_fractal(rng, h, w, beta=1.2) - 0.5)
    rgb = _colourise(np.clip(gray, 0, 1), rng)
    return rgb, "", {"source": "skimage:lfw_subset.npy", "row": row}


def _render_photo(recipe: BuiltinRecipe, rng: np.random.Generator) -> Rendered:
    package, name, frac = _PHOTOS[recipe.index % len(_PHOTOS)]
    photo = _load_photo(package, name)
    box = _random_crop_box(rng, photo.size, frac)
    h, w = box[4], box[5]
    crop = photo.resize((w, h), Image.Resampling.LANCZOS, box=box[:4])
    rgb = np.asarray(crop, dtype=np.float32) / np.float32(255)
    if rng.random() < 0.5:
        rgb = rgb[:, ::-1]
    meta = {"source": f"{package}:{name}", "box": [round(v, 1) for v in box[:4]]}
    return rgb, f"builtin/source/{Path(name).stem}", meta


def _render_texture(recipe: BuiltinRecipe, rng: np.random.Generator) -> Rendered:
    kind = _TEXTURE_KINDS[recipe.index % len(_TEXTURE_KINDS)]
    h, w = _random_size(rng)
    group, meta = "", {"kind": kind}
    if kind == "crop":
        name = _TEXTURE_PHOTOS[(recipe.index // len(_TEXTURE_KINDS)) % len(_TEXTURE_PHOTOS)]
        photo = _load_photo("skimage", name)
        x0, y0, x1, y1, h, w = _random_crop_box(rng, photo.size, (0, 0, 1, 1), (h, w))
        crop = photo.resize((w, h), Image.Resampling.LANCZOS, box=(x0, y0, x1, y1))
        gray = np.asarray(crop, dtype=np.float32) / np.float32(255)
        group = f"builtin/source/{Path(name).stem}"
        meta["source"] = f"skimage:{name}"
    elif kind == "fractal":
        gray = _fractal(rng, h, w, beta=rng.uniform(1.2, 2.8))
    elif kind == "oriented":
        gray = _oriented_noise(rng, h, w)
    elif kind == "blobs":
        gray = _blob_noise(rng, h, w)
    elif kind == "stripes":
        gray = _stripes(rng, h, w)
    else:
        gray = _cells(rng, h, w)
    return _colourise(gray, rng), group, meta


def _render_shape(recipe: BuiltinRecipe, rng: np.random.Generator) -> Rendered:
    h, w = _random_size(rng)
    hue = rng.random()
    rgb = _gradient(rng, h, w, hues=(hue, hue + rng.uniform(0.1, 0.4)))
    rgb *= (0.75 + 0.5 * _fractal(rng, h, w, beta=rng.uniform(1.5, 2.5)))[..., None]
    # One fill texture, tiled and read at a random offset per shape: as varied
    # as a texture each, far cheaper.
    fill = np.tile(0.85 + 0.3 * _fractal(rng, h, w, beta=rng.uniform(0.8, 2.0)), (2, 2))
    n_shapes = int(rng.integers(3, 8))
    kinds = []
    for _ in range(n_shapes):
        kind = str(rng.choice(["ellipse", "rectangle", "triangle", "polygon", "star", "ring"]))
        kinds.append(kind)
        mask, (ys, xs) = _shape_mask(rng, kind, h, w)
        bh, bw = mask.shape
        colour = _gradient(rng, bh, bw, hues=(rng.random(), rng.random()))
        dy, dx = int(rng.integers(0, h)), int(rng.integers(0, w))
        colour *= fill[ys.start + dy : ys.stop + dy, xs.start + dx : xs.stop + dx, None]
        rgb[ys, xs] = _lerp(rgb[ys, xs], colour, mask[..., None])
    return rgb, "", {"shapes": kinds}


_RENDERERS: dict[str, Callable[[BuiltinRecipe, np.random.Generator], Rendered]] = {
    "digit": _render_digit,
    "face": _render_lfw,
    "nonface": _render_lfw,
    "photo": _render_photo,
    "shape": _render_shape,
    "texture": _render_texture,
}


# --------------------------------------------------------------------------
# Sources shipped inside the wheels, read directly so that nothing downloads
# (several skimage.data functions go through pooch) and sklearn.datasets,
# slow to import, stays unimported.


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ProbeSetError(
            f"the built-in probe set needs the {package!r} package; install it "
            "(pip install scikit-image scikit-learn) or pass a folder of images"
        )
    return Path(spec.origin).parent


def _shipped_file(package: str, name: str) -> Path:
    sub = {"skimage": "data", "sklearn": "datasets/images"}[package]
    if name == "digits.csv.gz":
        sub = "datasets/data"
    path = _package_dir(package) / sub / name
    if not path.is_file():
        raise ProbeSetError(
            f"the built-in probe set needs {str(path)!r}, which this {package} install "
            "lacks; reinstall it from a wheel or pass a folder of images instead"
        )
    return path


@functools.cache
def _load_photo(package: str, name: str) -> Image.Image:
    with Image.open(_shipped_file(package, name)) as im:
        return im.convert("L" if name in _TEXTURE_PHOTOS else "RGB")


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(_shipped_file("sklearn", "digits.csv.gz"), delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)


@functools.lru_cache(maxsize=1)
def _lfw() -> np.ndarray:
    return np.load(_shipped_file("skimage", "lfw_subset.npy"))


@functools.cache
def _class_permutation(cls: str, seed: int, n: int) -> np.ndarray:
    # Drawn once per class so that images of a class never repeat a source row.
    return np.random.default_rng([seed, zlib.crc32(cls.encode()), 2**31]).permutation(n)


# --------------------------------------------------------------------------
# Pixel helpers (float arrays in [0, 1])


def _random_size(rng: np.random.Generator) -> tuple[int, int]:
    h, w = rng.integers(_MIN_SIDE, _MAX_SIDE + 1, size=2)
    return int(h), int(w)


def _random_crop_box(
    rng: np.random.Generator,
    size: tuple[int, int],
    frac: tuple[float, float, float, float],
    out: tuple[int, int] | None = None,
) -> tuple[float, float, float, float, int, int]:
    """A crop box ``(x0, y0, x1, y1, h, w)`` that downscales by at least 1.25.

    Downscaling keeps the photo's own texture sharp and washes out the block
    grid of JPEG sources, which would otherwise leak into JPEG audits.
    """
    width, height = size
    ux0, uy0 = frac[0] * width, frac[1] * height
    uw, uh = (frac[2] - frac[0]) * width, (frac[3] - frac[1]) * height
    h, w = out if out is not None else _random_size(rng)
    min_scale = 1.25
    max_scale = min(uw / w, uh / h)
    if max_scale < min_scale:
        shrink = max_scale / min_scale
        h, w = max(int(h * shrink), 32), max(int(w * shrink), 32)
        max_scale = min(uw / w, uh / h)
    scale = float(np.exp(rng.uniform(np.log(min_scale), np.log(min(max_scale, 4.0)))))
    cw, ch = w * scale, h * scale
    x0 = ux0 + rng.uniform(0, uw - cw)
    y0 = uy0 + rng.uniform(0, uh - ch)
    return x0, y0, x0 + cw, y0 + ch, h, w


def _resize_gray(gray: np.ndarray, h: int, w: int) -> np.ndarray:
    image = Image.fromarray(np.asarray(gray, dtype=np.float32))
    return np.asarray(image.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
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


def _fractal(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """1/f^beta noise: beta near 2 has the spectrum of natural photos."""
    radius = _frequencies(h, w)[2]
    return _spectral(rng, h, w, radius ** np.float32(-beta / 2))


def _oriented_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Band-pass noise around one direction: wood grain, brushed metal, ripples."""
    theta = rng.uniform(0, np.pi)
    f0 = rng.uniform(0.02, 0.12)
    su, sv = rng.uniform(0.004, 0.02), rng.uniform(0.004, 0.04)
    fy, fx, _ = _frequencies(h, w)
    u = fx * np.cos(theta) + fy * np.sin(theta)
    v = -fx * np.sin(theta) + fy * np.cos(theta)
    amplitude = np.exp(-((np.abs(u) - f0) ** 2) / (2 * su**2) - v**2 / (2 * sv**2))
    base = _spectral(rng, h, w, amplitude.astype(np.float32))
    return np.clip(0.8 * base + 0.2 * _fractal(rng, h, w, beta=1.6), 0, 1)


def _blob_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Isotropic band-pass noise through a soft threshold: spots, pebbles, foam."""
    f0, sigma = rng.uniform(0.01, 0.06), rng.uniform(0.005, 0.02)
    radius = _frequencies(h, w)[2]
    amplitude = np.exp(-((radius - f0) ** 2) / (2 * sigma**2))
    base = _spectral(rng, h, w, amplitude.astype(np.float32))
    sharp = 1 / (1 + np.exp(-rng.uniform(6, 14) * (base - rng.uniform(0.4, 0.6))))
    return np.clip(0.75 * sharp + 0.25 * _fractal(rng, h, w, beta=1.3), 0, 1)


def _stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Warped sinusoidal stripes with fine noise: fabric, sand ripples, agate."""
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(6, 40)
    warp = np.float32(rng.uniform(0.5, 4.0) * 2 * np.pi) * (_fractal(rng, h, w, beta=2.5) - 0.5)
    phase = _ramp(h, w, theta) * np.float32(2 * np.pi / period) + warp
    wave = 0.5 + 0.5 * np.sin(phase)
    wave = _smoothstep((wave - 0.5) * rng.uniform(1.0, 3.0) + 0.5)
    return np.clip(0.8 * wave + 0.2 * _fractal(rng, h, w, beta=1.0), 0, 1)


def _cells(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
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
    gray = shade * (1 - np.clip(3 * border, 0, 1)) + 0.15 * (_fractal(rng, h, w, beta=1.5) - 0.5)
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


def _gradient(
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


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | np.floating[Any]) -> np.ndarray:
    return a + (b - a) * t


def _colourise(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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
    tint = _gradient(rng, h, w, hues=(tint_hue, tint_hue + rng.uniform(0.25, 0.75)))
    return _lerp(mapped, tint, np.float32(alpha))


def _add_grain(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Independent per channel, like sensor noise, so chroma has fine detail too.
    # Uniform rather than Gaussian: several times cheaper to draw, and JPEG
    # only cares that there is fine detail, not about its distribution.
    amplitude = np.float32(rng.uniform(1.5, 4.0) / 255.0 * np.sqrt(12.0))
    return rgb + amplitude * (rng.random(rgb.shape, dtype=np.float32) - np.float32(0.5))


def _shape_mask(
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
