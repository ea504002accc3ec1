import numpy as np
import pytest
from PIL import Image

from auditkit.cache import EmbeddingCache
from auditkit.data.base import SourceImage, sha256_of_image
from auditkit.encoders.base import Encoder
from auditkit.extract import Extractor
from auditkit.transforms.quality import jpeg_grid


class CountingEncoder(Encoder):
    """Mean colour per image; counts what reaches the model."""

    spec = "counting"
    default_batch_size = 8

    def __init__(self):
        self.forward_images = 0
        self.forward_calls = 0

    def preprocess(self, image):
        return np.asarray(image, dtype=np.float32).mean(axis=(0, 1))

    def embed_batch(self, batch):
        self.forward_calls += 1
        self.forward_images += len(batch)
        return batch


class _Array:
    def __init__(self, array):
        self.array = array

    def __call__(self):
        return Image.fromarray(self.array)


class _Broken:
    def __call__(self):
        raise OSError("truncated file")


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
        im = Image.fromarray(arr)
        out.append(SourceImage(f"img{i}", f"c{i % 2}", f"g{i}", sha256_of_image(im), _Array(arr)))
    return out


def test_second_run_embeds_nothing(tmp_path):
    images, variants = _images(10), jpeg_grid()
    first = CountingEncoder()
    table = Extractor(first, EmbeddingCache(tmp_path), num_workers=0).embed(images, variants)
    assert first.forward_images == 60 and len(table) == 60
    second = CountingEncoder()
    ex = Extractor(second, EmbeddingCache(tmp_path), num_workers=0)
    again = ex.embed(images, variants)
    assert second.forward_images == 0 and second.forward_calls == 0
    assert ex.stats.disk_hits == 60
    np.testing.assert_array_equal(again.X, table.X)
    assert list(again.variant_ids[:6]) == [v.id for v in variants]


def test_each_pair_embedded_once_across_calls_and_overlaps():
    enc = CountingEncoder()
    ex = Extractor(enc, cache=None, num_workers=0)
    images, variants = _images(6), jpeg_grid()
    ex.embed(images[:4], variants[:3])
    ex.embed(images, variants)  # overlaps the first call
    ex.embed(images, variants)
    assert enc.forward_images == 6 * 6
    assert ex.stats.memory_hits == 4 * 3 + 36


def test_an_unreadable_image_is_skipped_by_name(caplog):
    images = _images(3)
    broken = SourceImage("bad.jpg", "c0", "gx", "0" * 64, _Broken())
    ex = Extractor(CountingEncoder(), cache=None, num_workers=0)
    table = ex.embed([*images, broken], jpeg_grid()[:2])
    assert len(table) == 6
    assert "bad.jpg" not in set(table.image_ids)
    assert ex.stats.failed and ex.stats.failed[0][0] == "bad.jpg"
    assert "truncated file" in caplog.text


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-dataloader-workers"])
def test_workers_give_the_same_embeddings(workers):
    images, variants = _images(5), jpeg_grid()[:2]
    serial = Extractor(CountingEncoder(), None, num_workers=0).embed(images, variants)
    # Two pairs a batch: five batches, so the workers are really started.
    other = Extractor(CountingEncoder(), None, batch_size=2, num_workers=workers)
    np.testing.assert_array_equal(serial.X, other.embed(images, variants).X)
    assert other.stats.batches == 5


class TensorEncoder(CountingEncoder):
    """Preprocessing yields a tensor: the masked control acts on it."""

    def preprocess(self, image):
        import torch

        return torch.as_tensor(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)

    def embed_batch(self, batch):
        self.forward_calls += 1
        return batch.flatten(1).numpy()


@pytest.mark.parametrize(
    ("encoder", "expect_grey"),
    [(TensorEncoder, False), (CountingEncoder, True)],
    ids=["tensor-encoder-masks-its-input-tensor", "feature-encoder-masks-the-image"],
)
def test_masked_control_acts_after_preprocessing(encoder, expect_grey):
    from auditkit.transforms.mask import masked

    variant = masked(jpeg_grid()[:1])[0]
    enc = encoder()
    enc.post_on_image = expect_grey
    (image,) = _images(1)
    table = Extractor(enc, None, num_workers=0).embed([image], [variant])
    if expect_grey:
        # The mean colour of a mostly grey image is close to 128.
        assert np.allclose(table.X[0], 128, atol=8)
    else:
        pixels = table.X[0].reshape(3, 32, 40)
        assert pixels[:, 16, 20].tolist() == [0, 0, 0] and pixels[:, -1, -1].any()
