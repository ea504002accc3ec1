import pickle

import numpy as np
import pytest
from PIL import Image

from auditkit.backends import Backend, Batch, Failure, LocalBackend
from auditkit.cache import EmbeddingCache
from auditkit.data.base import SourceImage, sha256_of_image
from auditkit.encoders.base import Encoder
from auditkit.extract import Embedder, Extractor
from auditkit.seeds import image_seed
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


class FakeBackend:
    """An in-memory backend: a vector per cache key; records every miss it is sent.

    Keys listed in ``poison`` come back with a NaN (or inf) row; images listed
    in ``unreadable`` come back as failures, as a backend reports them.
    """

    def __init__(self, poison=(), unreadable=()):
        self.poison = set(poison)
        self.unreadable = set(unreadable)
        self.calls = []

    @staticmethod
    def vector(key):
        return np.array([int(key[i : i + 2], 16) for i in range(0, 8, 2)], np.float32)

    def compute(self, encoder, work):
        self.calls.append(list(work))
        for w in work:
            if w.image.id in self.unreadable:
                yield Batch((), np.zeros((0, 0), np.float32),
                            tuple(Failure(w.image.id, "cannot load: fake") for _ in w.pairs))
                continue
            keys = tuple(key for key, _ in w.pairs)
            rows = np.stack([self.vector(key) for key in keys])
            for i, key in enumerate(keys):
                if key in self.poison:
                    rows[i, i % 4] = np.nan if i % 2 else np.inf
            yield Batch(keys, rows)


def _asked(backend):
    return [(w.image.id, v.id) for call in backend.calls for w in call for _, v in w.pairs]


def test_the_front_needs_only_the_backend_protocol(tmp_path):
    enc, backend = CountingEncoder(), FakeBackend()
    assert isinstance(backend, Backend) and isinstance(LocalBackend(num_workers=0), Backend)
    ex = Extractor(enc, EmbeddingCache(tmp_path), seed=7, backend=backend)
    assert isinstance(ex, Embedder)
    images, variants = _images(6), jpeg_grid()
    ex.embed(images[:4], variants[:3])
    table = ex.embed(images, variants)  # overlaps the first call
    ex.embed(images, variants)  # all hits: the backend is not called
    assert len(backend.calls) == 2 and enc.forward_calls == 0
    asked = _asked(backend)
    assert sorted(asked) == sorted({(im.id, v.id) for im in images for v in variants})
    assert asked[:12] == [(im.id, v.id) for im in images[:4] for v in variants[:3]]
    assert all(w.seed == image_seed(7, w.image.sha256) for c in backend.calls for w in c)
    assert pickle.loads(pickle.dumps([w.pairs for c in backend.calls for w in c]))
    # Rows in request order, whichever call computed them.
    keys = [ex.key(im, v) for im in images for v in variants]
    np.testing.assert_array_equal(table.X, np.stack([FakeBackend.vector(k) for k in keys]))
    assert list(table.image_ids) == [im.id for im in images for _ in variants]
    assert (ex.stats.requested, ex.stats.computed, ex.stats.batches) == (12 + 72, 36, 10)
    assert ex.stats.memory_hits == 12 + 36

    fresh = FakeBackend()
    again = Extractor(enc, EmbeddingCache(tmp_path), seed=7, backend=fresh)
    np.testing.assert_array_equal(again.embed(images, variants).X, table.X)
    assert fresh.calls == [] and again.stats.disk_hits == 36


def test_non_finite_rows_from_a_backend_are_failures_never_cached(tmp_path, caplog):
    images, variants = _images(3), jpeg_grid()[:2]
    probe = Extractor(CountingEncoder(), None, backend=FakeBackend())
    bad = {probe.key(images[0], variants[1]), probe.key(images[2], variants[0])}
    cache = EmbeddingCache(tmp_path)
    ex = Extractor(CountingEncoder(), cache, backend=FakeBackend(poison=bad, unreadable={"img1"}))
    table = ex.embed(images, variants)
    assert list(zip(table.image_ids, table.variant_ids, strict=True)) == [
        ("img0", variants[0].id), ("img2", variants[1].id)]
    assert np.isfinite(table.X).all()
    assert ex.stats.failed == [
        ("img0", f"{variants[1].id}: embedding has NaN or infinite values"),
        ("img1", "cannot load: fake"),
        ("img1", "cannot load: fake"),
        ("img2", f"{variants[0].id}: embedding has NaN or infinite values"),
    ]
    assert "image img0 skipped" in caplog.text and "image img1 skipped" in caplog.text
    assert ex.stats.computed == 2 and ex.stats.batches == 2
    assert all(cache.get(ex.encoder.fingerprint, key) is None for key in bad)
    assert bad.isdisjoint(ex.memory)
    # Never kept, so asked for again (and failing again) on the next call.
    ex.embed(images, variants)
    assert sorted(_asked(ex.backend)[6:]) == sorted(
        [("img0", variants[1].id), ("img1", variants[0].id), ("img1", variants[1].id),
         ("img2", variants[0].id)])


def test_a_backend_row_count_that_does_not_match_its_keys_is_an_error():
    class Short(FakeBackend):
        def compute(self, encoder, work):
            for batch in super().compute(encoder, work):
                yield Batch(batch.keys, batch.vectors[:-1])

    ex = Extractor(CountingEncoder(), None, backend=Short())
    shape = r"returned an array of shape \(1, 4\) .* expected \(2, D\)"
    with pytest.raises(ValueError, match=shape):
        ex.embed(_images(1), jpeg_grid()[:2])
    assert ex.memory == {} and ex.stats.batches == 0


@pytest.mark.parametrize(
    "settings",
    [{"batch_size": 4}, {"num_workers": 0}, {"progress": True}],
    ids=["batch-size", "workers", "progress"],
)
def test_local_settings_with_another_backend_are_refused(settings):
    with pytest.raises(TypeError, match="set them on that backend"):
        Extractor(CountingEncoder(), None, backend=FakeBackend(), **settings)


def test_default_backend_is_local_with_the_given_settings():
    ex = Extractor(CountingEncoder(), None, batch_size=None, num_workers=3, progress=True)
    assert isinstance(ex.backend, LocalBackend)
    assert (ex.backend.batch_size, ex.backend.num_workers, ex.backend.progress) == (8, 3, True)


def test_one_embed_call_writes_one_shard_not_one_per_batch(tmp_path):
    """Forward batches of 2 would make 24 shards of 2 rows; the store gets one."""
    from auditkit.data import builtin_probe_set
    from auditkit.encoders import build_encoder

    images = builtin_probe_set(seed=0, max_images=24).images
    cache = EmbeddingCache(tmp_path / "cache")
    extractor = Extractor(build_encoder("pixels"), cache, batch_size=2, num_workers=0)
    table = extractor.embed(images, jpeg_grid()[:2])
    assert len(table.X) == 48
    assert len(list((tmp_path / "cache").rglob("*.aks"))) == 1
    again = Extractor(build_encoder("pixels"), EmbeddingCache(tmp_path / "cache"), num_workers=0)
    np.testing.assert_array_equal(again.embed(images, jpeg_grid()[:2]).X, table.X)
    assert (again.stats.disk_hits, again.stats.computed) == (48, 0)


@pytest.mark.parametrize("spec", ["pixels", "random:timm:vit_tiny_patch16_224"])
@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-dataloader-workers"])
def test_embeddings_equal_the_encoder_run_directly_bit_for_bit(spec, workers):
    from auditkit.data import builtin_probe_set
    from auditkit.encoders import build_encoder

    encoder = build_encoder(spec)
    images, variants = builtin_probe_set(seed=0, max_images=6).images, jpeg_grid()[:2]
    extractor = Extractor(encoder, cache=None, batch_size=4, num_workers=workers, seed=3)
    # Twice: the second call's pairs come from the images kept decoded.
    extractor.embed(images, variants[:1])
    table = extractor.embed(images, variants)
    # The same pairs, in batches of whole images, run without the backend.
    expected = []
    for start in range(0, len(images), 2):
        inputs = [v.apply(im.load(), image_seed(3, im.sha256))
                  for im in images[start:start + 2] for v in variants]
        expected.append(encoder.embed(inputs))
    assert table.X.dtype == np.float32
    np.testing.assert_array_equal(table.X, np.concatenate(expected))


def test_a_table_gives_its_measurement_the_device_tensor_and_keeps_it_when_selected(monkeypatch):
    import torch

    from auditkit import device
    from auditkit.device import computing_on
    from auditkit.extract import EmbeddingTable

    X = np.random.default_rng(0).normal(size=(6, 512)).astype(np.float32)
    cols = [np.array(list("abcdef"), dtype=object)] * 4
    table = EmbeddingTable(X, *cols)
    assert table.features() is table.X  # outside a measurement: the host array
    with computing_on("cpu"):
        assert table.features() is table.X  # the CPU keeps the host path
    monkeypatch.setattr(device, "HOST_DEVICES", frozenset())
    with computing_on("cpu"):
        moved = table.features()
        assert isinstance(moved, torch.Tensor) and table.features() is moved  # copied once
        mask = np.array([True, False, True, True, False, False])
        part = table.select(mask)
        assert "cpu" in part._on  # sliced on the device, not copied from the host again
        np.testing.assert_array_equal(part.features().numpy(), X[mask])
