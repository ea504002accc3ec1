import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from auditkit.errors import BadImageError
from auditkit.transforms.processing import (
    interpolation_variants,
    resizing_variants,
    sharpening_variants,
)
from auditkit.transforms.quality import jpeg_grid


def _photo(seed=0, size=(80, 64)):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)


ALL = sharpening_variants() + resizing_variants() + interpolation_variants()


@pytest.mark.parametrize("variant", ALL, ids=lambda v: v.id)
def test_every_class_ends_in_jpeg95_444_and_is_deterministic(variant, saved_bytes):
    a = np.asarray(variant.apply(_photo(), seed=7))
    b = np.asarray(variant.apply(_photo(), seed=7))
    assert np.array_equal(a, b)
    encoded = Image.open(io.BytesIO(saved_bytes[-1]))
    assert JpegImagePlugin.get_sampling(encoded) == 0  # 4:4:4


def test_resizing_changes_size_by_the_stated_factor():
    sizes = [v.apply(_photo()).size for v in resizing_variants()]
    assert sizes == [(40, 32), (80, 64), (160, 128)]


def test_a_resize_below_one_jpeg_block_is_refused_by_name():
    # Refused with the reason, so the extractor leaves out that pair and the audit goes on.
    half = resizing_variants()[0]
    with pytest.raises(BadImageError, match=r"8x8 pixels is too small for a x0.5 resize: 4x4"):
        half.apply(_photo(size=(8, 8)))
    assert half.apply(_photo(size=(16, 16))).size == (8, 8)


def test_interpolation_scale_is_random_per_seed_within_twenty_percent():
    variant = interpolation_variants()[0]
    assert variant.stochastic
    widths = {variant.apply(_photo(), seed=s).size[0] for s in range(20)}
    assert len(widths) > 3
    assert all(64 <= w <= 96 for w in widths)


def test_sharpening_classes_differ_and_keep_size():
    outs = [np.asarray(v.apply(_photo()), dtype=int) for v in sharpening_variants()]
    assert all(o.shape == (64, 80, 3) for o in outs)
    assert np.abs(outs[2] - outs[0]).mean() > np.abs(outs[1] - outs[0]).mean() > 0


def test_ids_are_unique_within_each_family_and_baselines_are_shared():
    for family in (sharpening_variants(), resizing_variants(), interpolation_variants()):
        assert len({v.id for v in family}) == len(family)
    # The no-processing class is the JPEG audit's JPEG 95 4:4:4: one cache key for all.
    jpeg95 = next(v for v in jpeg_grid() if v.id == "jpeg/q95-444")
    assert sharpening_variants()[0].key == resizing_variants()[1].key == jpeg95.key
    assert len({v.key for v in ALL}) == 9
