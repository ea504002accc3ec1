"""The local backend: DataLoader workers prepare, this process embeds.

Misses are grouped by source image so each image is decoded once; DataLoader
workers, kept across calls, apply the variants and the encoder's
preprocessing (they receive that preprocessing, never the model), and this
process runs the model on each batch in turn.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from auditkit.backends.base import Batch, Failure, Preparer, Work, prepare
from auditkit.backends.decoded import DEFAULT_BUDGET_BYTES, DecodedImages
from auditkit.encoders.base import Encoder


def default_workers() -> int:
    """DataLoader workers: none on small CPU machines (the model needs the cores)."""
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(8, cpus - 1)


def loader_workers(requested: int, n_images: int, images_per_batch: int) -> int:
    """Workers worth using for ``n_images``: none for a single batch.

    A single batch has nothing to overlap with, so it is prepared in this
    process; more workers than batches would sit idle. (The pool itself is
    started once per backend and encoder, with ``requested`` workers: see
    :class:`LocalBackend`.)

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


class _MissDataset(Dataset):
    """Prepares the :class:`Work` it is indexed with: the batch sampler hands them out.

    It holds the encoder's preprocessing (a :class:`Preparer`), never the
    encoder: this is what every worker receives pickled.
    """

    def __init__(self, preparer: Preparer, decoded: DecodedImages) -> None:
        self.preparer = preparer
        self.decoded = decoded

    def __getitem__(self, work: Work) -> list[tuple[str, Any]]:
        return prepare(self.preparer, work, self.decoded)


class _Batches(Sampler[list[Work]]):
    """The batches of the current call, replaced before each pass over the loader.

    A DataLoader keeps its batch sampler for life; one that is refilled per
    call lets persistent workers serve every ``embed`` call.
    """

    def __init__(self) -> None:
        self.batches: list[list[Work]] = []

    def __iter__(self) -> Iterator[list[Work]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _Pool:
    """DataLoader workers kept for one encoder across calls.

    Batch ``i`` of a call goes to worker ``i % workers``, so a call that asks
    for the same images in the same batches as an earlier one finds each
    image decoded in the worker that has it.
    """

    def __init__(self, encoder: Encoder, workers: int, decoded_bytes: int) -> None:
        self.encoder = encoder
        self.batches = _Batches()
        self.dataset = _MissDataset(Preparer.of(encoder),
                                    DecodedImages(decoded_bytes // workers, variants=False))
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.batches,
            num_workers=workers,
            collate_fn=_flatten,
            # The encoder's collate pins the stacked batch (pinning each item
            # before stacking would leave the copy to the device synchronous).
            pin_memory=False,
            persistent_workers=True,
        )

    def run(self, batches: list[list[Work]]) -> Iterator[list[tuple[str, Any]]]:
        self.batches.batches = batches
        yield from self.loader


def _flatten(items: list[list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    return [pair for group in items for pair in group]


class LocalBackend:
    """Embeds misses in this process, with DataLoader workers for the inputs.

    Workers are started on the first call that needs them and kept for later
    calls with the same encoder (the style audit makes one call per
    transformation); each keeps the images it decoded (:class:`DecodedImages`),
    as this process does for the calls it prepares itself.

    Parameters
    ----------
    batch_size : int or None
        Pairs per forward pass (default: the encoder's). Whole images' variants
        fill a batch, so an image's pairs are never split across two.
    num_workers : int or None
        DataLoader workers for decoding, transforms and preprocessing
        (default: :func:`default_workers`).
    progress : bool
        Show a tqdm progress bar for misses.
    decoded_bytes : int
        Budget of decoded images and variants kept across calls, shared among
        the workers.
    decoded : DecodedImages or None
        What this process keeps (default: its own, of ``decoded_bytes``).
        A run hands every encoder's backend the same one, so the variants
        one encoder asked for are not made again for the next; workers keep
        their own, per encoder.

    Examples
    --------
    >>> backend = LocalBackend(batch_size=64, num_workers=0)
    >>> backend.num_workers
    0
    """

    def __init__(
        self,
        batch_size: int | None = None,
        num_workers: int | None = None,
        progress: bool = False,
        decoded_bytes: int = DEFAULT_BUDGET_BYTES,
        decoded: DecodedImages | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.progress = progress
        self.decoded_bytes = decoded_bytes
        #: Decoded images and variants of the calls prepared in this process.
        self.decoded = DecodedImages(decoded_bytes) if decoded is None else decoded
        self._pool: _Pool | None = None

    def compute(self, encoder: Encoder, work: Sequence[Work]) -> Iterator[Batch]:
        """Embed every pair of ``work``; one :class:`Batch` per batch of whole images."""
        if not work:
            return
        per_image = max(len(w.pairs) for w in work)
        images_per_batch = max(1, (self.batch_size or encoder.default_batch_size) // per_image)
        batches = [list(work[i:i + images_per_batch])
                   for i in range(0, len(work), images_per_batch)]
        if loader_workers(self.num_workers, len(work), images_per_batch):
            prepared = self._pool_for(encoder).run(batches)
        else:
            preparer = Preparer.of(encoder)
            prepared = (
                _flatten([prepare(preparer, w, self.decoded) for w in batch]) for batch in batches
            )
        bar = _progress(sum(len(w.pairs) for w in work), encoder.spec, self.progress)
        try:
            for pairs in prepared:
                yield _forward(encoder, pairs)
                bar.update(len(pairs))
        finally:
            # Also when the front stops early (an error in its checks).
            bar.close()

    def close(self) -> None:
        """Stop the workers (they also stop with this process)."""
        # Dropping the last reference to the loader's iterator shuts its workers down.
        self._pool = None

    def _pool_for(self, encoder: Encoder) -> _Pool:
        if self._pool is None or self._pool.encoder is not encoder:
            self._pool = _Pool(encoder, self.num_workers, self.decoded_bytes)
        return self._pool


def _forward(encoder: Encoder, pairs: list[tuple[str, Any]]) -> Batch:
    """Run the model on the pairs of one batch that were prepared."""
    good = [(key, item) for key, item in pairs if not isinstance(item, Failure)]
    failures = tuple(item for _, item in pairs if isinstance(item, Failure))
    if not good:
        return Batch((), np.zeros((0, 0), np.float32), failures)
    batch = encoder.collate([item for _, item in good])
    vectors = np.asarray(encoder.embed_batch(batch), dtype=np.float32)
    return Batch(tuple(key for key, _ in good), vectors, failures)


def _progress(total: int, name: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"embedding {name}", unit="img", disable=not enabled, leave=False)
