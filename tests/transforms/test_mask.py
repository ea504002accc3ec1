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


# --- The mask in the frame of the model's input, for every encoder kind. ---

#: A user's module: an ``embed`` object with CLIP's own preprocessing, which
#: records how much of each model input is not blank (grey).
USER_CLIP = '''
import numpy as np
import open_clip
import torch
from PIL import Image

SEEN = []


class ClipLike:
    fingerprint = "clip-like-v1"

    def __init__(self, declare):
        _, _, self.transform = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
        if declare:
            self.input_geometry = {"resize": 224, "crop": 224}
        grey = self.transform(Image.new("RGB", (8, 8), (128, 128, 128)))[:, 4, 4]
        red = self.transform(Image.new("RGB", (8, 8), (255, 0, 0)))[:, 4, 4]
        self.colours = grey[None, :, None, None], red[None, :, None, None]

    def embed(self, images):
        x = torch.stack([self.transform(im) for im in images])
        grey, red = self.colours
        border = (x - red).norm(dim=1) < (x - grey).norm(dim=1)
        SEEN.extend(border.float().mean(dim=(1, 2)).tolist())
        return np.zeros((len(images), 4), np.float32)


def declared():
    return ClipLike(declare=True)


def silent():
    return ClipLike(declare=False)
'''


@pytest.fixture
def user_clip(tmp_path, monkeypatch):
    import sys

    (tmp_path / "user_clip.py").write_text(USER_CLIP)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("user_clip", None)


@pytest.fixture
def photos(tmp_path):
    from auditkit.data import folder_probe_set

    # Red, so that a pixel of the model's input is border or mask by which it
    # is nearer; not square, so that a mask drawn on the whole image loses
    # part of its border to the model's centre crop.
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(320, 200), (200, 300), (640, 480), (480, 720)]):
        Image.new("RGB", size, (255, 0, 0)).save(folder / f"{i}.png")
    return folder_probe_set(folder).images


def _border_share(x, blank, transform):
    """Share of each model input nearer the (red) photo than the mask's ``blank`` value."""
    red = transform(Image.new("RGB", (8, 8), (255, 0, 0)))[:, 4, 4]
    near_red = (x - red[None, :, None, None]).norm(dim=1)
    near_blank = (x - blank[None, :, None, None]).norm(dim=1)
    return (near_red < near_blank).float().mean(dim=(1, 2)).tolist()


def _open_clip_border(photos):
    """Border share of the input tensors open_clip's ViT-B-32 gets under the masked control."""
    from auditkit.encoders import build_encoder
    from auditkit.extract import Extractor
    from auditkit.transforms.mask import encoder_geometry, mask_details

    encoder = build_encoder("random:open_clip:ViT-B-32")
    seen: list[float] = []

    def record(x):  # the model's input; the weights play no part in the mask
        seen.extend(_border_share(x, torch.zeros(3), encoder.transform))
        return torch.zeros(len(x), 4)

    encoder._forward = record
    extractor = Extractor(encoder)
    variants = masked(jpeg_grid()[:1], geometry=encoder_geometry(extractor))
    extractor.embed(photos, variants)
    return float(np.mean(seen)), mask_details(extractor, variants[0], photos)


def _python_border(photos, factory):
    import sys

    from auditkit.encoders import build_encoder
    from auditkit.extract import Extractor
    from auditkit.transforms.mask import encoder_geometry, mask_details

    extractor = Extractor(build_encoder(f"python:user_clip:{factory}"))
    variants = masked(jpeg_grid()[:1], geometry=encoder_geometry(extractor))
    seen = sys.modules["user_clip"].SEEN  # what the user's model was given
    seen.clear()
    extractor.embed(photos, variants)
    return float(np.mean(seen)), mask_details(extractor, variants[0], photos)


def test_masked_border_is_equal_for_open_clip_and_a_python_encoder(user_clip, photos):
    clip_seen, clip_report = _open_clip_border(photos)
    user_seen, user_report = _python_border(photos, "declared")
    # The centre 95 % of what each model sees is blanked: about 5 % border.
    assert clip_seen == pytest.approx(0.05, abs=0.006)
    assert user_seen == pytest.approx(clip_seen, abs=0.01)
    # The card's figure is the one that reached the model.
    assert clip_report["border_fraction"] == pytest.approx(clip_seen, abs=0.01)
    assert user_report["border_fraction"] == pytest.approx(user_seen, abs=0.01)
    assert user_report["frame"] == "image, inside the declared input geometry"


def test_an_undeclared_python_encoder_is_said_to_have_an_unknown_border(user_clip, photos):
    _, report = _python_border(photos, "silent")
    assert report["border_fraction"] is None
    assert "unknown" in report["note"] and "input_geometry" in report["note"]


def test_the_mask_geometry_keys_the_variants_apart():
    from auditkit.encoders.geometry import InputGeometry

    plain = masked(jpeg_grid()[:1])[0]
    framed = masked(jpeg_grid()[:1], geometry=InputGeometry(resize=256, crop=(224, 224)))[0]
    other = masked(jpeg_grid()[:1], geometry=InputGeometry(resize=224, crop=(224, 224)))[0]
    assert len({plain.key, framed.key, other.key}) == 3


def test_image_mask_lands_on_the_centre_of_what_the_model_keeps():
    from auditkit.encoders.geometry import InputGeometry

    geometry = InputGeometry(resize=256, crop=(224, 224))
    image = Image.new("RGB", (640, 480), (255, 0, 0))
    params = masked(jpeg_grid()[:1], geometry=geometry)[0].params
    view = np.asarray(geometry.view(mask_centre(image, params)), dtype=np.int16)
    border = (np.abs(view - 128) > 64).any(axis=-1)
    assert float(border.mean()) == pytest.approx(0.05, abs=0.01)
    # Resize 256 / crop 224 on the whole-image mask leaves the model no border at all.
    whole = np.asarray(geometry.view(mask_centre(image, {"mask_area": 0.95})), dtype=np.int16)
    assert float((np.abs(whole - 128) > 64).any(axis=-1).mean()) < 0.005
