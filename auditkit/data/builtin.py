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

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from auditkit import seeds
from auditkit.data.base import ProbeSet, SourceImage, sha256_of_image, take_balanced
from auditkit.data.synth import (
    add_grain,
    blob_noise,
    cells,
    colourise,
    fractal,
    gradient,
    lerp,
    oriented_noise,
    resize_gray,
    shape_mask,
    smoothstep,
    stripes,
)
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
    rng = seeds.rng(recipe.seed, recipe.cls, recipe.index)
    rgb, group, metadata = _RENDERERS[recipe.cls](recipe, rng)
    rgb = add_grain(rgb, rng) if recipe.cls != "photo" else rgb
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
    glyph = resize_gray(digits[row] / 16.0, side, side)
    # A soft threshold turns the blurry bicubic blob into a stroke with a clean edge.
    mask = np.zeros((h, w), dtype=np.float32)
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    mask[y0 : y0 + side, x0 : x0 + side] = smoothstep((glyph - 0.25) / 0.35)

    bg_hue = rng.random()
    bg_dark = rng.random() < 0.5
    bg_value = rng.uniform(0.15, 0.4) if bg_dark else rng.uniform(0.65, 0.95)
    background = gradient(
        rng, h, w, hues=(bg_hue, bg_hue + rng.uniform(-0.2, 0.2)), values=(bg_value, bg_value)
    )
    background *= (0.8 + 0.4 * fractal(rng, h, w, beta=rng.uniform(1.4, 2.4)))[..., None]
    fg_hue = bg_hue + rng.uniform(0.3, 0.7)
    fg_value = rng.uniform(0.75, 1.0) if bg_dark else rng.uniform(0.05, 0.35)
    foreground = gradient(
        rng, h, w, hues=(fg_hue, fg_hue + rng.uniform(-0.1, 0.1)), values=(fg_value, fg_value)
    )
    foreground *= (0.85 + 0.3 * fractal(rng, h, w, beta=1.0))[..., None]
    rgb = lerp(background, foreground, mask[..., None])
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
    gray = resize_gray(crops[row], side, side)
    y0, x0 = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
    gray = gray[y0 : y0 + h, x0 : x0 + w]
    # Upscaled 25x25 crops are smooth; fine fractal detail gives JPEG something to bite.
    gray = gray + 0.12 * (fractal(rng, h, w, beta=1.2) - 0.5)
    rgb = colourise(np.clip(gray, 0, 1), rng)
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
        gray = fractal(rng, h, w, beta=rng.uniform(1.2, 2.8))
    elif kind == "oriented":
        gray = oriented_noise(rng, h, w)
    elif kind == "blobs":
        gray = blob_noise(rng, h, w)
    elif kind == "stripes":
        gray = stripes(rng, h, w)
    else:
        gray = cells(rng, h, w)
    return colourise(gray, rng), group, meta


def _render_shape(recipe: BuiltinRecipe, rng: np.random.Generator) -> Rendered:
    h, w = _random_size(rng)
    hue = rng.random()
    rgb = gradient(rng, h, w, hues=(hue, hue + rng.uniform(0.1, 0.4)))
    rgb *= (0.75 + 0.5 * fractal(rng, h, w, beta=rng.uniform(1.5, 2.5)))[..., None]
    # One fill texture, tiled and read at a random offset per shape: as varied
    # as a texture each, far cheaper.
    fill = np.tile(0.85 + 0.3 * fractal(rng, h, w, beta=rng.uniform(0.8, 2.0)), (2, 2))
    n_shapes = int(rng.integers(3, 8))
    kinds = []
    for _ in range(n_shapes):
        kind = str(rng.choice(["ellipse", "rectangle", "triangle", "polygon", "star", "ring"]))
        kinds.append(kind)
        mask, (ys, xs) = shape_mask(rng, kind, h, w)
        bh, bw = mask.shape
        colour = gradient(rng, bh, bw, hues=(rng.random(), rng.random()))
        dy, dx = int(rng.integers(0, h)), int(rng.integers(0, w))
        colour *= fill[ys.start + dy : ys.stop + dy, xs.start + dx : xs.stop + dx, None]
        rgb[ys, xs] = lerp(rgb[ys, xs], colour, mask[..., None])
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
    return seeds.rng(seed, cls, seeds.BUILTIN_ORDER).permutation(n)


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
