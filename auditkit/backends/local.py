"""The local backend: DataLoader workers prepare, this process embeds.

Misses are grouped by source image so each image is decoded once; DataLoader
workers apply the variants and the encoder's preprocessing, and this process
runs the model on each batch in turn.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from auditkit.backends.base import Batch, Failure, Work, prepare
from auditkit.encoders.base import Encoder


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


class _MissDataset(Dataset):
    """One item per source image: all of its variants still to embed."""

    def __init__(self, encoder: Encoder, work: Sequence[Work]) -> None:
        self.encoder = encoder
        self.work = work

    def __len__(self) -> int:
        return len(self.work)

    def __getitem__(self, index: int) -> list[tuple[str, Any]]:
        return prepare(self.encoder, self.work[index])


def _flatten(items: list[list[tuple[str, Any]]]) -> list[tuple[str, Any]]:
    return [pair for group in items for pair in group]


class LocalBackend:
    """Embeds misses in this process, with DataLoader workers for the inputs.

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

    Examples
    --------
    >>> backend = LocalBackend(batch_size=64, num_workers=0)
    >>> backend.num_workers
    0
    """

    def __init__(
        self, batch_size: int | None = None, num_workers: int | None = None, progress: bool = False
    ) -> None:
        self.batch_size = batch_size
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.progress = progress

    def compute(self, encoder: Encoder, work: Sequence[Work]) -> Iterator[Batch]:
        """Embed every pair of ``work``; one :class:`Batch` per DataLoader batch."""
        if not work:
            return
        per_image = max(len(w.pairs) for w in work)
        images_per_batch = max(1, (self.batch_size or encoder.default_batch_size) // per_image)
        loader = DataLoader(
            _MissDataset(encoder, work),
            batch_size=images_per_batch,
            num_workers=loader_workers(self.num_workers, len(work), images_per_batch),
            collate_fn=_flatten,
            pin_memory=encoder.device.startswith("cuda"),
            persistent_workers=False,
        )
        bar = _progress(sum(len(w.pairs) for w in work), encoder.spec, self.progress)
        try:
            for pairs in loader:
                yield _forward(encoder, pairs)
                bar.update(len(pairs))
        finally:
            # Also when the front stops early (an error in its checks).
            bar.close()


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
