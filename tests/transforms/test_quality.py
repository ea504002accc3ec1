import io

import numpy as np
import pytest
from PIL import Image

from auditkit.transforms.quality import SUBSAMPLING, jpeg, jpeg_grid


def _photo(seed=0, size=(96, 80)):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def _encode(image, quality, subsampling):
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, subsampling=SUBSAMPLING[subsampling])
    return Image.open(io.BytesIO(buf.getvalue()))


def _reference_tables(quality):
    """Pillow's quantization tables for a plain save at ``quality``."""
    return _encode(_photo(1), quality, "444").quantization


@pytest.mark.parametrize("variant", jpeg_grid(), ids=lambda v: v.id)
def test_file_has_requested_quality_and_subsampling(variant, saved_bytes):
    """Intercept the encoded bytes and read back the JPEG header fields."""
    out = variant.apply(_photo())
    assert out.mode == "RGB" and out.size == (96, 80)
    (blob,) = saved_bytes
    decoded = Image.open(io.BytesIO(blob))
    from PIL import JpegImagePlugin

    assert JpegImagePlugin.get_sampling(decoded) == SUBSAMPLING[variant.params["subsampling"]]
    assert decoded.quantization == _reference_tables(variant.params["quality"])
    # Luma sampling factors: 2x2 under 4:2:0, 1x1 under 4:4:4.
    assert decoded.layer[0][1:3] == ((2, 2) if variant.params["subsampling"] == "420" else (1, 1))


def test_qualities_have_distinct_tables_and_ids():
    tables = {q: _reference_tables(q)[0][0] for q in (75, 85, 95)}
    assert tables[75] > tables[85] > tables[95]
    ids = [v.id for v in jpeg_grid()]
    assert len(set(ids)) == 6 and len({v.key for v in jpeg_grid()}) == 6


def test_jpeg_is_deterministic_and_lossy():
    img = _photo(3)
    a = jpeg(img, {"quality": 75, "subsampling": "420"}, 0)
    b = jpeg(img, {"quality": 75, "subsampling": "420"}, 99)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(img))


def test_catalogue_quality_variants_degrade_visibly():
    from auditkit.transforms.quality import quality_variants

    image = _photo(4, size=(128, 96))
    original = np.asarray(image, dtype=float)
    for variant in quality_variants():
        out = variant.apply(image)
        assert out.size == image.size and out.mode == "RGB"
        # Random pixels are the worst case for every codec: each variant loses a lot.
        assert np.abs(np.asarray(out, dtype=float) - original).mean() > 20, variant.id
    assert all(v.id.startswith("quality/") and v.family == "quality" for v in quality_variants())


def test_pixelate_gives_flat_blocks():
    from auditkit.transforms.quality import resample_down_up

    out = np.asarray(resample_down_up(_photo(5, size=(64, 64)),
                                      {"scale": 0.125, "down": "box", "up": "nearest"}, 0))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 64
    assert (out[:8, :8] == out[0, 0]).all()


def test_webp_is_lossy_and_deterministic():
    from auditkit.transforms.quality import webp

    img = _photo(6)
    a, b = webp(img, {"quality": 15}, 0), webp(img, {"quality": 15}, 1)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(img))
