import numpy as np
import pytest
import torch
from PIL import Image

from auditkit.transforms.mask import centre_box, mask_centre, masked
from auditkit.transforms.quality import jpeg_grid


@pytest.mark.parametrize(("w", "h"), [(224, 224), (300, 200), (7, 5)])
def test_box_covers_the_stated_area_and_is_centred(w, h):
    left, top, right, bottom = centre_box(w, h, 0.95)
    covered = (right - left) * (bottom - top) / (w * h)
    assert covered == pytest.approx(0.95, abs=0.1 if w < 10 else 0.01)
    assert abs(left - (w - right)) <= 1 and abs(top - (h - bottom)) <= 1


def test_tensor_centre_is_zeroed_and_border_kept():
    x = torch.ones(3, 224, 224)
    out = mask_centre(x, {"mask_area": 0.95})
    assert out[:, 112, 112].eq(0).all() and out[:, 0, 0].eq(1).all()
    assert float((out == 0).float().mean()) == pytest.approx(0.95, abs=0.01)
    assert x.eq(1).all()  # the input is left alone


def test_image_centre_is_grey_and_border_kept():
    image = Image.new("RGB", (100, 80), (255, 0, 0))
    arr = np.asarray(mask_centre(image, {"mask_area": 0.95}))
    assert tuple(arr[40, 50]) == (128, 128, 128) and tuple(arr[0, 0]) == (255, 0, 0)


def test_masked_variants_get_new_ids_and_keys():
    plain, hidden = jpeg_grid(), masked(jpeg_grid())
    assert all(h.id.endswith("+mask0.95") and h.post is mask_centre for h in hidden)
    assert not {p.key for p in plain} & {h.key for h in hidden}
