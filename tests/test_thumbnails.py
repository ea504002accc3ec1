"""The card's thumbnails: what each variant looks like, masked ones with their mask."""

import base64
import io

import numpy as np
from PIL import Image

from auditkit.encoders.geometry import InputGeometry
from auditkit.thumbnails import PREFIX, variant_thumbnails
from auditkit.transforms.mask import masked
from auditkit.transforms.quality import jpeg_grid


def _decoded(uri: str) -> np.ndarray:
    assert uri.startswith(PREFIX)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri[len(PREFIX):]))))


def test_centre_masked_thumbnail_shows_the_mask_and_the_border():
    photo = Image.new("RGB", (400, 300), (255, 0, 0))
    geometry = InputGeometry(resize=256, crop=(224, 224))
    variant = masked(jpeg_grid()[:1], geometry=geometry)[0]
    picture = _decoded(variant_thumbnails(photo, [variant])[variant.id])
    h, w, _ = picture.shape
    assert tuple(picture[h // 2, w // 2]) == (128, 128, 128)  # the mask
    assert picture[0, 0, 0] > 200 and picture[0, 0, 1] < 60  # the border the model keeps
    assert w == h  # the square the model's crop keeps, not the whole photo


def test_unmasked_thumbnail_is_a_native_crop():
    photo = Image.new("RGB", (400, 300), (255, 0, 0))
    variant = jpeg_grid()[0]
    picture = _decoded(variant_thumbnails(photo, [variant])[variant.id])
    assert picture.shape == (64, 64, 3) and picture[32, 32, 0] > 200
