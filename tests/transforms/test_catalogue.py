"""The transformation catalogue: every member's contract, ids, and user registration."""

import pickle

import numpy as np
import pytest
from PIL import Image

from auditkit.errors import ConfigError
from auditkit.transforms import catalogue as cat
from auditkit.transforms.base import Variant
from auditkit.transforms.catalogue import (
    FAMILY_ORDER,
    catalogue,
    families,
    register,
    register_transform,
    registered,
    unregister,
)

ALL = catalogue()

#: The ids are part of every cache key and of results.json: renaming one is a
#: breaking change, so the list is spelled out.
EXPECTED_IDS = [
    "geometric/mirror", "geometric/quarter-turn", "geometric/rotate15", "geometric/zoom",
    "geometric/keystone",
    "colour/grayscale", "colour/invert", "colour/saturate", "colour/low-contrast",
    "colour/hue-shift", "colour/sepia",
    "filter/gaussian-blur", "filter/motion-blur", "filter/defocus", "filter/median",
    "filter/unsharp",
    "noise/gaussian", "noise/salt-pepper", "noise/speckle", "noise/shot",
    "quality/jpeg-q10", "quality/jpeg-q30", "quality/webp-q15", "quality/pixelate",
    "quality/low-resolution",
    "overlay/caption", "overlay/text", "overlay/icons", "overlay/watermark",
    "style/stylization", "style/pencil-gray", "style/pencil-colour", "style/edge-preserving",
    "style/cartoon", "style/posterize", "style/halftone", "style/oil-paint", "style/mosaic",
    "style/emboss", "style/watercolour",
]


def _textured(w, h, seed=0):
    """A smooth colour gradient with texture: no symmetry a flip or blur could miss."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([200 * xx + 30, 180 * yy + 40, 120 * (1 - xx) * yy + 60], axis=-1)
    coarse = rng.normal(0, 25, (max(1, h // 6), max(1, w // 6), 3))
    blotches = np.asarray(Image.fromarray(np.uint8(np.clip(coarse + 128, 0, 255))).resize(
        (w, h), Image.Resampling.BICUBIC), dtype=float) - 128
    return Image.fromarray(np.uint8(np.clip(base + blotches + rng.normal(0, 6, (h, w, 3)), 0, 255)))


BIG, SMALL = _textured(300, 200), _textured(9, 9, seed=1)


def _same(a, b):
    return a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("variant", ALL, ids=lambda v: v.id)
def test_member_contract(variant):
    for image in (BIG, SMALL):
        out = variant.apply(image, seed=11)
        assert out.mode == "RGB"
        w, h = image.size
        assert out.size == ((h, w) if variant.id == "geometric/quarter-turn" else (w, h))
        assert _same(out, variant.apply(image, seed=11)), "not deterministic"
    assert not _same(variant.apply(BIG, seed=11), BIG), "leaves the image unchanged"
    if variant.stochastic:
        assert not _same(variant.apply(BIG, seed=11), variant.apply(BIG, seed=12))
    else:
        # The seed is not in the cache key of a non-stochastic variant.
        assert _same(variant.apply(BIG, seed=11), variant.apply(BIG, seed=12))
    assert variant.apply(BIG.convert("L"), seed=1).mode == "RGB"
    assert pickle.loads(pickle.dumps(variant)).id == variant.id


def test_ids_are_stable_unique_and_name_their_family():
    assert [v.id for v in ALL] == EXPECTED_IDS
    assert len({v.key for v in ALL}) == len(ALL)
    assert all(v.id.split("/")[0] == v.family and v.label for v in ALL)
    assert [v.key for v in catalogue()] == [v.key for v in ALL]


def test_sizes_and_families():
    fams = families()
    assert list(fams) == list(FAMILY_ORDER)
    assert len(ALL) >= 30 and len(fams["style"]) >= 8
    assert all(len(members) >= 2 for members in fams.values())
    assert {v.id for v in catalogue(["noise", "style"])} == {
        v.id for v in ALL if v.family in ("noise", "style")
    }


def test_unknown_family_is_named():
    with pytest.raises(ConfigError, match="'brushes'"):
        catalogue(["style", "brushes"])


def user_tint(image, params, seed):
    return Image.blend(image.convert("RGB"), Image.new("RGB", image.size, (255, 0, 0)),
                       params["amount"])


def other_tint(image, params, seed):
    return image


@pytest.fixture
def clean_registry():
    before = registered()
    yield
    for v in registered():
        if v not in before:
            unregister(v.id)


def test_registered_transform_joins_its_family(clean_registry):
    fn = register_transform("colour/red-tint", "colour", label="red tint", amount=0.3)(user_tint)
    assert fn is user_tint
    ids = [v.id for v in catalogue()]
    assert ids.index("colour/red-tint") == ids.index("colour/sepia") + 1
    (variant,) = [v for v in catalogue(["colour"]) if v.id == "colour/red-tint"]
    assert variant.params == {"amount": 0.3} and variant.label == "red tint"
    register(Variant("brushes/red", "brushes", user_tint, {"amount": 0.5}))
    assert catalogue()[-1].id == "brushes/red" and list(families())[-1] == "brushes"


def test_duplicate_ids_are_rejected(clean_registry):
    with pytest.raises(ConfigError, match="'style/emboss' is already taken by a built-in"):
        register(Variant("style/emboss", "style", user_tint, {"amount": 0.1}))
    register(Variant("colour/red-tint", "colour", user_tint, {"amount": 0.3}))
    with pytest.raises(ConfigError, match=r"registered from .*user_tint"):
        register(Variant("colour/red-tint", "colour", other_tint, {"amount": 0.3}))
    with pytest.raises(ConfigError, match="already taken"):
        register(Variant("colour/red-tint", "colour", user_tint, {"amount": 0.9}))
    # A conftest imported twice registers the very same transformation again: a no-op.
    register(Variant("colour/red-tint", "colour", user_tint, {"amount": 0.3}))
    assert [v.id for v in registered()].count("colour/red-tint") == 1


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        (Variant("red-tint", "colour", user_tint), "expected 'colour/<name>'"),
        (Variant("style/red-tint", "colour", user_tint), "expected 'colour/<name>'"),
        (Variant("colour/local", "colour", lambda im, p, s: im), "module-level function"),
    ],
    ids=["no family prefix", "prefix is another family", "lambda does not pickle"],
)
def test_malformed_registrations_are_rejected(variant, message, clean_registry):
    with pytest.raises(ConfigError, match=message):
        register(variant)
    assert variant.id not in {v.id for v in cat.registered()}
