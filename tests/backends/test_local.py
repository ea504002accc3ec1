import os
import pickle

import numpy as np
import pytest
from PIL import Image

from auditkit.backends import Batch, Failure, LocalBackend, Work
from auditkit.backends import local as local_module
from auditkit.backends.local import default_workers, loader_workers
from auditkit.data import builtin_probe_set
from auditkit.data.base import SourceImage, sha256_of_image
from auditkit.encoders import build_encoder
from auditkit.encoders.base import Encoder
from auditkit.extract import Extractor
from auditkit.transforms.quality import jpeg_grid


@pytest.mark.parametrize(
    ("requested", "n_images", "per_batch", "expected"),
    [
        (8, 10, 32, 0),  # one batch: nothing to overlap with
        (8, 32, 32, 0),  # exactly one batch
        (8, 33, 32, 2),  # two batches: no more workers than batches
        (8, 100, 32, 4),
        (2, 1000, 32, 2),  # never more than asked for
        (0, 1000, 32, 0),
    ],
)
def test_loader_workers(requested, n_images, per_batch, expected):
    assert loader_workers(requested, n_images=n_images, images_per_batch=per_batch) == expected


@pytest.mark.parametrize(("cpus", "expected"), [(None, 0), (1, 0), (2, 0), (4, 3), (16, 8)])
def test_default_workers_leave_small_machines_to_the_model(monkeypatch, cpus, expected):
    monkeypatch.setattr(local_module.os, "cpu_count", lambda: cpus)
    assert default_workers() == expected
    assert LocalBackend().num_workers == expected


def _unreadable():
    raise OSError("truncated file")


@pytest.fixture(scope="module")
def work():
    variants = jpeg_grid()[:2]
    images = builtin_probe_set(seed=0, max_images=4).images
    broken = SourceImage("bad.jpg", "c0", "gx", "0" * 64, _unreadable)
    todo = [*images[:2], broken, *images[2:]]
    return [
        Work(im, tuple((f"{im.id}|{v.id}", v) for v in variants), seed=i)
        for i, im in enumerate(todo)
    ]


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-dataloader-workers"])
def test_one_batch_per_loader_batch_of_whole_images(work, workers):
    encoder = build_encoder("pixels")
    # Two pairs an image, four pairs a batch: two images a batch, three batches.
    batches = list(LocalBackend(batch_size=4, num_workers=workers).compute(encoder, work))
    assert all(isinstance(b, Batch) for b in batches) and len(batches) == 3
    keys = [key for w in work for key, _ in w.pairs]
    assert [b.keys for b in batches] == [tuple(keys[:4]), tuple(keys[6:8]), tuple(keys[8:])]
    assert [len(b.failures) for b in batches] == [0, 2, 0]
    assert batches[1].failures[0] == Failure("bad.jpg", "cannot load: truncated file")
    for b in batches:
        assert b.vectors.dtype == np.float32 and b.vectors.shape[0] == len(b.keys)


def test_a_batch_with_only_failures_runs_no_forward_pass(work):
    class Counting:
        """The pixels encoder, counting its forward passes."""

        def __init__(self):
            self.inner, self.calls = build_encoder("pixels"), 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def embed_batch(self, batch):
            self.calls += 1
            return self.inner.embed_batch(batch)

    encoder = Counting()
    # One image a batch: the unreadable one is a batch of its own.
    batches = list(LocalBackend(batch_size=2, num_workers=0).compute(encoder, work))
    assert len(batches) == 5 and encoder.calls == 4
    assert batches[2].keys == () and batches[2].vectors.size == 0
    assert [f.image_id for f in batches[2].failures] == ["bad.jpg", "bad.jpg"]


def test_no_work_is_no_batch():
    assert list(LocalBackend(num_workers=0).compute(build_encoder("pixels"), [])) == []


class PidEncoder(Encoder):
    """Embeds each pair as the id of the process that prepared it."""

    spec = "pid"

    def preprocess(self, image):
        return np.array([os.getpid()], dtype=np.float32)

    def embed_batch(self, batch):
        return batch


def _prepared_by(backend, encoder, work):
    return {int(v) for b in backend.compute(encoder, work) for v in b.vectors[:, 0]}


def test_workers_persist_across_calls(work):
    backend, encoder = LocalBackend(batch_size=2, num_workers=2), PidEncoder()
    good = [w for w in work if w.image.id != "bad.jpg"]
    first = _prepared_by(backend, encoder, good)
    assert len(first) == 2 and os.getpid() not in first
    assert _prepared_by(backend, encoder, good[::-1]) == first  # the same two processes
    backend.close()
    assert _prepared_by(backend, encoder, good).isdisjoint(first)  # closed: a new pool


def test_workers_hold_the_preprocessing_not_the_model():
    encoder = build_encoder("random:timm:vit_tiny_patch16_224")
    images = builtin_probe_set(seed=0, max_images=4).images
    variant = jpeg_grid()[0]
    work = [Work(im, ((im.id, variant),), seed=0) for im in images]
    backend = LocalBackend(batch_size=2, num_workers=2)
    assert sum(len(b.keys) for b in backend.compute(encoder, work)) == 4
    # What a spawn or forkserver worker receives: bytes, not the 22 MB of weights.
    # One encoder asks for each pair once: its workers keep decoded images, not variants.
    assert backend._pool.dataset.decoded.variants is False
    sent = len(pickle.dumps(backend._pool.loader.dataset))
    assert sent < 10_000, sent
    assert len(pickle.dumps(encoder)) > 1000 * sent


class _CountedDecode:
    """A loader that appends a line to a file per decode (workers are processes)."""

    def __init__(self, log, array):
        self.log, self.array = log, array

    def __call__(self):
        with open(self.log, "a") as f:
            f.write("decoded\n")
        return Image.fromarray(self.array)


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-dataloader-workers"])
def test_a_second_call_on_the_same_images_decodes_nothing(tmp_path, workers):
    log = tmp_path / "decodes.txt"
    rng = np.random.default_rng(0)
    images = []
    for i in range(8):
        arr = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
        images.append(SourceImage(f"im{i}", "c", f"g{i}", sha256_of_image(Image.fromarray(arr)),
                                  _CountedDecode(str(log), arr)))
    extractor = Extractor(build_encoder("pixels"), cache=None, batch_size=2, num_workers=workers)
    first, second = jpeg_grid()[:2]
    assert len(extractor.embed(images, [first])) == 8
    assert log.read_text().count("decoded") == 8
    # A new variant: every pair is computed again, from the images kept decoded.
    assert len(extractor.embed(images, [second])) == 8
    assert extractor.stats.computed == 16
    assert log.read_text().count("decoded") == 8


_APPLIED: list[str] = []


def _counted_jpeg(image, params, seed):
    # In-process backends only: the list is this process's.
    _APPLIED.append(params["tag"])
    return jpeg_grid()[0].apply(image, seed)


def test_encoders_sharing_a_store_apply_each_variant_once():
    from auditkit.backends.decoded import DecodedImages
    from auditkit.transforms.base import Variant

    images = builtin_probe_set(seed=0, max_images=6).images
    variant = Variant("test/counted-jpeg", "quality", _counted_jpeg, {"tag": "a"})
    work = [Work(im, ((im.id, variant),), seed=0) for im in images]
    shared = DecodedImages()
    first = LocalBackend(batch_size=4, num_workers=0, decoded=shared)
    second = LocalBackend(batch_size=4, num_workers=0, decoded=shared)
    _APPLIED.clear()
    a = [b.vectors for b in first.compute(build_encoder("pixels"), work)]
    b = [b.vectors for b in second.compute(PidEncoder(), work)]
    assert len(_APPLIED) == 6  # not 12: the second encoder got the kept variants
    assert sum(len(v) for v in a) == sum(len(v) for v in b) == 6
    # Each backend keeps its own store unless handed one.
    LocalBackend(num_workers=0).compute(PidEncoder(), work).__next__()
    assert len(_APPLIED) == 12
