import pickle

import pytest
from PIL import Image

from auditkit.backends.decoded import DecodedImages
from auditkit.data.base import SourceImage


class _Counting:
    """A loader that counts its decodes."""

    def __init__(self, size):
        self.size = size
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return Image.new("RGB", (self.size, self.size))


def _image(name, size=8, sha="0" * 64):
    return SourceImage(name, "c", "g", sha, _Counting(size))


def test_a_kept_image_is_not_decoded_again():
    decoded, image = DecodedImages(1024), _image("a")
    first = decoded.load(image)
    assert decoded.load(image) is first
    assert image.loader.calls == 1 and (decoded.hits, decoded.misses) == (1, 1)


def test_least_recently_used_images_go_first_beyond_the_budget():
    decoded = DecodedImages(budget_bytes=2 * 8 * 8 * 3)  # two 8x8 RGB images
    a, b, c = _image("a"), _image("b"), _image("c")
    decoded.load(a), decoded.load(b), decoded.load(a), decoded.load(c)  # b is the oldest
    assert len(decoded) == 2 and decoded.used_bytes == 2 * 192
    decoded.load(a)
    decoded.load(b)
    assert (a.loader.calls, b.loader.calls, c.loader.calls) == (1, 2, 1)
    assert decoded.used_bytes <= decoded.budget_bytes


def test_an_image_over_the_budget_is_handed_back_not_kept():
    decoded, big = DecodedImages(100), _image("big", size=16)
    assert decoded.load(big).size == (16, 16)
    assert len(decoded) == 0 and decoded.used_bytes == 0


def test_the_same_id_with_other_content_is_decoded_anew():
    decoded = DecodedImages(1024)
    decoded.load(_image("a", sha="0" * 64))
    other = _image("a", sha="1" * 64)
    decoded.load(other)
    assert other.loader.calls == 1


def test_it_pickles_empty_for_a_worker():
    decoded = DecodedImages(10_000)
    decoded.load(_image("a"))
    copy = pickle.loads(pickle.dumps(decoded))
    assert len(copy) == 0 and copy.budget_bytes == 10_000 and copy.used_bytes == 0


def test_a_negative_budget_is_refused_by_value():
    with pytest.raises(ValueError, match="budget_bytes=-1"):
        DecodedImages(-1)


def test_a_kept_variant_is_keyed_by_the_variant_and_its_seed():
    from auditkit.transforms import geometric, noise

    decoded, image = DecodedImages(10**6), _image("a", size=16)
    source = decoded.load(image)
    stochastic = noise.variants()[0]
    fixed = geometric.variants()[0]
    assert stochastic.stochastic and not fixed.stochastic
    assert decoded.variant(image, stochastic, 1, source) is decoded.variant(
        image, stochastic, 1, source)
    assert decoded.variant(image, stochastic, 2, source) is not decoded.variant(
        image, stochastic, 1, source)
    # A variant that ignores its seed is the same pixels whatever the seed.
    assert decoded.variant(image, fixed, 1, source) is decoded.variant(image, fixed, 2, source)
    other = _image("a", size=16, sha="1" * 64)  # same id, other pixels
    assert decoded.variant(other, fixed, 1, decoded.load(other)) is not decoded.variant(
        image, fixed, 1, source)


def test_a_store_for_one_encoder_keeps_no_variants():
    from auditkit.transforms import geometric

    decoded, image = DecodedImages(10**6, variants=False), _image("a", size=16)
    source = decoded.load(image)
    fixed = geometric.variants()[0]
    assert decoded.variant(image, fixed, 1, source) is not decoded.variant(image, fixed, 1, source)
    assert len(decoded) == 1  # the decoded image only
    assert pickle.loads(pickle.dumps(decoded)).variants is False
