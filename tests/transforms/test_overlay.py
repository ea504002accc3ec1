import numpy as np
from PIL import Image

from auditkit.transforms.overlay import caption, icons, scattered_text, watermark

GREY = Image.new("RGB", (240, 180), (120, 120, 120))


def _changed(out):
    return (np.asarray(out) != np.asarray(GREY)).any(axis=-1)


def test_caption_sits_in_a_band_at_the_bottom():
    changed = _changed(caption(GREY, {"text": "hello", "size": 18}, 0))
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() > 180 * 0.75 and rows.max() == 179
    assert changed[rows.min():].all(axis=1).all()  # the band spans the width


def test_watermark_covers_the_image_faintly():
    out = watermark(GREY, {"text": "© auditkit", "size": 22, "alpha": 0.35}, 0)
    changed = _changed(out)
    assert changed[:90].any() and changed[90:].any() and changed[:, :120].any()
    assert changed[:, 120:].any()
    assert np.asarray(out).max() <= 120 + 0.35 * (255 - 120) + 1  # translucent, never opaque


def test_text_and_icons_land_where_the_seed_says():
    for fn, params in [(scattered_text, {"count": 4, "size": 26}),
                       (icons, {"count": 6, "size": 34})]:
        a, b = _changed(fn(GREY, params, 1)), _changed(fn(GREY, params, 2))
        assert a.mean() > 0.01 and b.mean() > 0.01, fn.__name__
        assert np.array_equal(a, _changed(fn(GREY, params, 1)))
        assert (a != b).mean() > 0.01, fn.__name__
