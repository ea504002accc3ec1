"""Batched embedding of (image, variant) pairs through the cache.

Every pair is looked up in memory, then on disk; only misses reach the
encoder. Misses are grouped by source image so each image is decoded once,
transformed and preprocessed in DataLoader workers, embedded in batches and
written to the disk cache as soon as each batch is done, so an interrupted
run keeps what it computed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from auditkit.cache import EmbeddingCache, cache_key
from auditkit.data.base import SourceImage
from auditkit.encoders.base import Encoder
from auditkit.transforms.base import Variant

log = logging.getLogger("auditkit")


@dataclass
class EmbeddingTable:
    """Embeddings of (image, variant) pairs with their labels and groups.

    Rows are image-major: all variants of image 0, then of image 1, ...
    """

    X: np.ndarray
    image_ids: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    variant_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def select(self, mask: np.ndarray) -> EmbeddingTable:
        return EmbeddingTable(
            self.X[mask], self.image_ids[mask], self.labels[mask], self.groups[mask],
            self.variant_ids[mask],
        )


@dataclass
class ExtractStats:
    requested: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    computed: int = 0
    batches: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def transform_seed(base_seed: int, image_sha256: str) -> int:
    """Per-image seed: random variants differ across images, repeat across runs."""
    return (int(image_sha256[:8], 16) ^ base_seed) & 0x7FFFFFFF


class _MissDataset(Dataset):
    """One item per source image: all of its variants still to embed."""

    def __init__(
        self,
        encoder: Encoder,
        todo: list[tuple[SourceImage, list[tuple[str, Variant]]]],
        seed: int,
    ) -> None:
        self.encoder = encoder
        self.todo = todo
        self.seed = seed

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, index: int) -> list[tuple[str, Any]]:
        image, pairs = self.todo[index]
        try:
            pil = image.load()
        except Exception as exc:  # noqa: BLE001 - reported by name, run goes on
            return [(key, _Failure(image.id, f"cannot load: {exc}")) for key, _ in pairs]
        out = []
        seed = transform_seed(self.seed, image.sha256)
        for key, variant in pairs:
            try:
                image_in = variant.apply(pil, seed)
                on_image = variant.post is not None and self.encoder.post_on_image
                if on_image:
                    image_in = variant.post(image_in, variant.params)
                item = self.encoder.preprocess(image_in)
                if variant.post is not None and not on_image:
                    item = variant.post(item, variant.params)
            except Exception as exc:  # noqa: BLE001 - reported by name, run goes on
                item = _Failure(image.id, f"{variant.id}: {type(exc).__name__}: {exc}")
            out.append((key, item))
        return out


@dataclass
class _Failure:
    image_id: str
    reason: str


def _flatten(items: list[list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    return [pair for group in items for pair in group]


def default_workers() -> int:
    """DataLoader workers: none on small CPU machines (the model needs the cores)."""
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(8, cpus - 1)


def loader_workers(requested: int, n_images: int, images_per_batch: int) -> int:
    """Workers worth starting for ``n_images``: none for a single batch.

    A worker pool costs a process start per worker (up to about 0.9 s with
    8 workers), paid on every ``embed`` call; the style audit makes one call
    per transformation. A single batch has nothing to overlap with, and more
    workers than batches sit idle.

    Examples
    --------
    >>> loader_workers(8, n_images=10, images_per_batch=32)
    0
    >>> loader_workers(8, n_images=100, images_per_batch=32)
    4
    >>> loader_workers(2, n_images=1000, images_per_batch=32)
    2
    """
    batches = -(-n_images // images_per_batch)
    return 0 if batches <= 1 else min(requested, batches)


class Extractor:
    """Embeds (image, variant) pairs once per encoder, through memory and disk caches.

    Parameters
    ----------
    encoder : Encoder
        Already moved to its device.
    cache : EmbeddingCache or None
        Disk store; ``None`` keeps embeddings in memory only.
    batch_size : int or None
        Pairs per forward pass (default: the encoder's).
    num_workers : int or None
        DataLoader workers for decoding, transforms and preprocessing.
    seed : int
        Base seed of random variants.
    progress : bool
        Show a tqdm progress bar for misses.

    Examples
    --------
    >>> ex = Extractor(encoder, cache=None)          # doctest: +SKIP
    >>> table = ex.embed(probe_set.images, variants)  # doctest: +SKIP
    """

    def __init__(
        self,
        encoder: Encoder,
        cache: EmbeddingCache | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.encoder = encoder
        self.cache = cache
        self.batch_size = batch_size or encoder.default_batch_size
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.seed = seed
        self.progress = progress
        self.memory: dict[str, np.ndarray] = {}
        self.stats = ExtractStats()
        self._fingerprint = encoder.fingerprint

    def key(self, image: SourceImage, variant: Variant) -> str:
        seed = transform_seed(self.seed, image.sha256) if variant.stochastic else None
        return cache_key(self._fingerprint, image.sha256, variant.key, self.encoder.dtype, seed)

    def embed(self, images: Sequence[SourceImage], variants: Sequence[Variant]) -> EmbeddingTable:
        """Embeddings of every (image, variant) pair; failures are left out and recorded."""
        keys = [[self.key(im, v) for v in variants] for im in images]
        self.stats.requested += sum(len(k) for k in keys)
        todo = []
        for image, row in zip(images, keys):
            missing = []
            for key, variant in zip(row, variants):
                if key in self.memory:
                    self.stats.memory_hits += 1
                    continue
                stored = self.cache.get(self._fingerprint, key) if self.cache else None
                if stored is not None:
                    self.memory[key] = stored
                    self.stats.disk_hits += 1
                else:
                    missing.append((key, variant))
            if missing:
                todo.append((image, missing))
        if todo:
            self._compute(todo)
        return self._table(images, variants, keys)

    def _compute(self, todo: list[tuple[SourceImage, list[tuple[str, Variant]]]]) -> None:
        per_image = max(len(pairs) for _, pairs in todo)
        images_per_batch = max(1, self.batch_size // per_image)
        loader = DataLoader(
            _MissDataset(self.encoder, todo, self.seed),
            batch_size=images_per_batch,
            num_workers=loader_workers(self.num_workers, len(todo), images_per_batch),
            collate_fn=_flatten,
            pin_memory=self.encoder.device.startswith("cuda"),
            persistent_workers=False,
        )
        total = sum(len(pairs) for _, pairs in todo)
        bar = _progress(total, self.encoder.spec, self.progress)
        owners = {key: (image.id, v.id) for image, keyed in todo for key, v in keyed}
        for pairs in loader:
            good = [(k, item) for k, item in pairs if not isinstance(item, _Failure)]
            for _, item in pairs:
                if isinstance(item, _Failure):
                    log.error("image %s skipped: %s", item.image_id, item.reason)
                    self.stats.failed.append((item.image_id, item.reason))
            if good:
                self._embed_good(good, owners)
            bar.update(len(pairs))
        bar.close()

    def _embed_good(
        self, good: list[tuple[str, Any]], owners: dict[str, tuple[str, str]]
    ) -> None:
        batch = self.encoder.collate([item for _, item in good])
        vectors = np.asarray(self.encoder.embed_batch(batch), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(good):
            raise ValueError(
                f"encoder {self.encoder.spec!r} returned an array of shape {vectors.shape} "
                f"for a batch of {len(good)} images; expected ({len(good)}, D)"
            )
        self.stats.batches += 1
        fresh = {}
        for (key, _), vector in zip(good, vectors, strict=True):
            if np.isfinite(vector).all():
                fresh[key] = vector
            else:
                # NaN or inf would poison the probe fit for every image (and
                # the cache for later runs): leave the pair out, by name.
                image_id, variant_id = owners[key]
                reason = f"{variant_id}: embedding has NaN or infinite values"
                log.error("image %s skipped: %s", image_id, reason)
                self.stats.failed.append((image_id, reason))
        self.stats.computed += len(fresh)
        self.memory.update(fresh)
        if self.cache is not None:
            self.cache.put_many(self._fingerprint, fresh)

    def _table(
        self, images: Sequence[SourceImage], variants: Sequence[Variant], keys: list[list[str]]
    ) -> EmbeddingTable:
        rows, meta = [], []
        for image, row in zip(images, keys):
            for key, variant in zip(row, variants):
                if key in self.memory:
                    rows.append(self.memory[key])
                    meta.append((image.id, image.label, image.group, variant.id))
        if not rows:
            return EmbeddingTable(np.zeros((0, 0), np.float32), *(np.array([], dtype=object),) * 4)
        cols = [np.array(c, dtype=object) for c in zip(*meta)]
        return EmbeddingTable(np.stack(rows).astype(np.float32), *cols)


def _progress(total: int, name: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"embedding {name}", unit="img", disable=not enabled, leave=False)


def pick_device(requested: str | None) -> str:
    """``cuda`` when there is one (or what the user asked for), else ``cpu``."""
    if requested and requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"
