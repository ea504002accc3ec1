import numpy as np
from PIL import Image

from auditkit.backends import Failure, Work, prepare
from auditkit.data.base import SourceImage
from auditkit.transforms.base import ORIGINAL, Variant


class Recorder:
    """An encoder whose preprocessing records the order of steps on a list."""

    def __init__(self, post_on_image):
        self.post_on_image = post_on_image

    def preprocess(self, image):
        return [*image.info.get("steps", []), "preprocess"]


def _mark(step):
    def fn(image, params, seed):
        out = image.copy()
        out.info["steps"] = [*image.info.get("steps", []), f"{step}:{seed}"]
        return out

    return fn


def _post(x, params):
    if isinstance(x, Image.Image):
        out = x.copy()
        out.info["steps"] = [*x.info.get("steps", []), "post"]
        return out
    return [*x, "post"]


def _fails(image, params, seed):
    raise ValueError("no such quality")


def _image(loader=None):
    return SourceImage("a.png", "c", "g", "f" * 64,
                       loader or (lambda: Image.fromarray(np.zeros((4, 4, 3), np.uint8))))


def test_each_pair_is_transformed_with_the_image_seed_then_preprocessed():
    masked = Variant("mask/x", "mask", _mark("apply"), post=_post)
    plain = Variant("q/x", "q", _mark("apply"))
    work = Work(_image(), (("k1", masked), ("k2", plain)), seed=5)
    after = prepare(Recorder(post_on_image=False), work)
    assert after == [("k1", ["apply:5", "preprocess", "post"]), ("k2", ["apply:5", "preprocess"])]
    on_image = prepare(Recorder(post_on_image=True), work)
    assert on_image[0] == ("k1", ["apply:5", "post", "preprocess"])


def test_failures_are_by_name_and_per_pair():
    broken = Variant("q/broken", "q", _fails)
    work = Work(_image(), (("k1", broken), ("k2", ORIGINAL)), seed=0)
    out = prepare(Recorder(False), work)
    assert out[0] == ("k1", Failure("a.png", "q/broken: ValueError: no such quality"))
    assert out[1] == ("k2", ["preprocess"])


def test_an_unreadable_image_fails_every_pair():
    def unreadable():
        raise OSError("truncated file")

    work = Work(_image(unreadable), (("k1", ORIGINAL), ("k2", ORIGINAL)), seed=0)
    assert prepare(Recorder(False), work) == [
        ("k1", Failure("a.png", "cannot load: truncated file")),
        ("k2", Failure("a.png", "cannot load: truncated file")),
    ]
