"""The cache front of extraction: each (image, variant) pair is embedded once.

Every pair is looked up in memory, then on disk; only misses go to a backend
(:mod:`auditkit.backends`), and each batch it hands back is checked and
written to the disk cache as soon as it arrives, so an interrupted run keeps
what it computed. Audits see only :class:`Embedder`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from auditkit import seeds
from auditkit.backends.base import Backend, Batch, Work
from auditkit.backends.local import LocalBackend
from auditkit.cache import EmbeddingCache, cache_key, environment_key
from auditkit.data.base import SourceImage
from auditkit.device import tensor_device
from auditkit.encoders.base import Encoder
from auditkit.transforms.base import Variant

__all__ = [
    "Embedder",
    "EmbeddingTable",
    "ExtractStats",
    "Extractor",
]

log = logging.getLogger("auditkit")

#: Computed embeddings written to the store at once: one shard, and at most
#: this many recomputed after a crash (at D = 512, float32: 8 MiB).
FLUSH_ENTRIES = 4096


@dataclass
class EmbeddingTable:
    """Embeddings of (image, variant) pairs with their labels and groups.

    Rows are image-major: all variants of image 0, then of image 1, ...
    ``X`` is the host copy the store and scikit-learn read; :meth:`on` is
    the table on a device, for the probes and the k-NN to use there.
    """

    X: np.ndarray
    image_ids: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    variant_ids: np.ndarray
    _on: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False,
                                         compare=False)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def on(self, device: str) -> torch.Tensor:
        """``X`` as a float32 tensor on ``device``, copied there once per table.

        Examples
        --------
        >>> table.on("cuda").device  # doctest: +SKIP
        device(type='cuda', index=0)
        """
        if device not in self._on:
            self._on[device] = torch.as_tensor(self.X, dtype=torch.float32, device=device)
        return self._on[device]

    def features(self) -> np.ndarray | torch.Tensor:
        """``X`` where the measurement in progress computes (:func:`auditkit.device.tensor_device`).

        On an accelerator, the table's tensor there (:meth:`on`): the probes
        and the k-NN gather each fit's rows on the device instead of copying
        them from the host per fit. On the CPU, the host array itself.
        """
        on = tensor_device()
        return self.X if on is None else self.on(on)

    def select(self, mask: np.ndarray) -> EmbeddingTable:
        out = EmbeddingTable(
            self.X[mask], self.image_ids[mask], self.labels[mask], self.groups[mask],
            self.variant_ids[mask],
        )
        # A copy already on a device is sliced there, not copied from the host again.
        for name, tensor in self._on.items():
            out._on[name] = tensor[torch.as_tensor(mask, device=tensor.device)]
        return out


@runtime_checkable
class Embedder(Protocol):
    """What an audit needs to embed its images: :class:`Extractor`, or a test double.

    Examples
    --------
    >>> isinstance(Extractor(encoder), Embedder)  # doctest: +SKIP
    True
    """

    def embed(self, images: Sequence[SourceImage], variants: Sequence[Variant]) -> EmbeddingTable:
        """Embeddings of every (image, variant) pair, image-major; failures left out."""
        ...


@dataclass
class ExtractStats:
    requested: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    computed: int = 0
    batches: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


class Extractor:
    """Embeds (image, variant) pairs once per encoder, through memory and disk caches.

    Parameters
    ----------
    encoder : Encoder
        Already moved to its device.
    cache : EmbeddingCache or None
        Disk store; ``None`` keeps embeddings in memory only, as does an
        encoder that is not :attr:`~auditkit.encoders.base.Encoder.cacheable`.
    batch_size : int or None
        Pairs per forward pass of the default backend (default: the encoder's).
    num_workers : int or None
        DataLoader workers of the default backend.
    seed : int
        Base seed of random variants.
    progress : bool
        Show a tqdm progress bar for misses (default backend).
    backend : Backend or None
        Computes the misses (default: a :class:`~auditkit.backends.LocalBackend`
        built from ``batch_size``, ``num_workers`` and ``progress``; a given
        backend carries its own settings, so those three must be left unset).

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
        backend: Backend | None = None,
    ) -> None:
        if backend is None:
            backend = LocalBackend(batch_size or encoder.default_batch_size, num_workers, progress)
        elif batch_size is not None or num_workers is not None or progress:
            raise TypeError(
                f"batch_size={batch_size!r}, num_workers={num_workers!r} and "
                f"progress={progress!r} configure the default LocalBackend, but a backend "
                f"was given too ({backend!r}): set them on that backend instead"
            )
        self.encoder = encoder
        # A fingerprint that cannot follow the weights must not key anything on disk.
        self.cache = cache if encoder.cacheable else None
        self.seed = seed
        self.backend = backend
        self.memory: dict[str, np.ndarray] = {}
        self.stats = ExtractStats()
        self._fingerprint = encoder.fingerprint
        #: Computed, not yet written: the store gets one shard per call (or per
        #: FLUSH_ENTRIES), not one per forward batch of 16.
        self._unstored: dict[str, np.ndarray] = {}

    def key(self, image: SourceImage, variant: Variant, environment: str | None = None) -> str:
        """The cache key of one pair; ``environment`` (default: read now) is
        :func:`~auditkit.cache.environment_key` of the encoder's device."""
        seed = seeds.image_seed(self.seed, image.sha256) if variant.stochastic else None
        if environment is None:
            environment = environment_key(self.encoder.device)
        return cache_key(self._fingerprint, image.sha256, variant.key, self.encoder.dtype, seed,
                         environment)

    def embed(self, images: Sequence[SourceImage], variants: Sequence[Variant]) -> EmbeddingTable:
        """Embeddings of every (image, variant) pair; failures are left out and recorded."""
        # Read per call: a precision setting changed between two audits keys apart.
        environment = environment_key(self.encoder.device)
        keys = [[self.key(im, v, environment) for v in variants] for im in images]
        self.stats.requested += sum(len(k) for k in keys)
        wanted = [k for row in keys for k in row if k not in self.memory]
        # One read for the call: the store visits each shard once for all its keys.
        stored = (self.cache.get_many(self._fingerprint, list(dict.fromkeys(wanted)))
                  if self.cache and wanted else {})
        todo = []
        for image, row in zip(images, keys, strict=True):
            missing = []
            for key, variant in zip(row, variants, strict=True):
                if key in self.memory:
                    self.stats.memory_hits += 1
                elif key in stored:
                    self.memory[key] = stored[key]
                    self.stats.disk_hits += 1
                else:
                    missing.append((key, variant))
            if missing:
                todo.append(Work(image, tuple(missing), seeds.image_seed(self.seed, image.sha256)))
        if todo:
            try:
                self._compute(todo)
            finally:
                # Even when a batch fails, what was computed before it is kept.
                self._flush()
        return self._table(images, variants, keys)

    def _compute(self, todo: list[Work]) -> None:
        owners = {key: (w.image.id, v.id) for w in todo for key, v in w.pairs}
        for batch in self.backend.compute(self.encoder, todo):
            for failure in batch.failures:
                self._fail(failure.image_id, failure.reason)
            if batch.keys:
                self._store(batch, owners)

    def _store(self, batch: Batch, owners: dict[str, tuple[str, str]]) -> None:
        # Checked here, not in a backend, so that every backend's output is
        # held to the same rules before it reaches the caches.
        vectors = batch.vectors
        if vectors.ndim != 2 or vectors.shape[0] != len(batch.keys):
            raise ValueError(
                f"encoder {self.encoder.spec!r} returned an array of shape {vectors.shape} "
                f"for a batch of {len(batch.keys)} images; expected ({len(batch.keys)}, D)"
            )
        self.stats.batches += 1
        fresh = {}
        for key, vector in zip(batch.keys, vectors, strict=True):
            if np.isfinite(vector).all():
                fresh[key] = vector
            else:
                # NaN or inf would poison the probe fit for every image (and
                # the cache for later runs): leave the pair out, by name.
                image_id, variant_id = owners[key]
                self._fail(image_id, f"{variant_id}: embedding has NaN or infinite values")
        self.stats.computed += len(fresh)
        self.memory.update(fresh)
        if self.cache is not None:
            self._unstored.update(fresh)
            if len(self._unstored) >= FLUSH_ENTRIES:
                self._flush()

    def _flush(self) -> None:
        """Write what was computed since the last write, as one shard."""
        if self.cache is not None and self._unstored:
            self.cache.put_many(self._fingerprint, self._unstored)
        self._unstored = {}

    def _fail(self, image_id: str, reason: str) -> None:
        log.error("image %s skipped: %s", image_id, reason)
        self.stats.failed.append((image_id, reason))

    def _table(
        self, images: Sequence[SourceImage], variants: Sequence[Variant], keys: list[list[str]]
    ) -> EmbeddingTable:
        rows, meta = [], []
        for image, row in zip(images, keys, strict=True):
            for key, variant in zip(row, variants, strict=True):
                if key in self.memory:
                    rows.append(self.memory[key])
                    meta.append((image.id, image.label, image.group, variant.id))
        if not rows:
            return EmbeddingTable(np.zeros((0, 0), np.float32), *(np.array([], dtype=object),) * 4)
        cols = [np.array(c, dtype=object) for c in zip(*meta, strict=True)]
        return EmbeddingTable(np.stack(rows).astype(np.float32), *cols)
