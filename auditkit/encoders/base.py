"""The encoder interface every adapter implements.

An encoder turns a list of images into an ``(N, D)`` array. Extraction is
split in two so that decoding and preprocessing can run in DataLoader workers
while the model runs in the main process:

* :meth:`Encoder.preprocess` runs per image on the CPU and must be picklable
  (:attr:`Encoder.preprocessor` is what workers receive of it);
* :meth:`Encoder.collate` stacks preprocessed items into a batch;
* :meth:`Encoder.embed_batch` runs the model on a batch and returns float32.

The fingerprint covers everything that changes an embedding: the spec, the
weights bytes and the preprocessing. It is part of every cache key; an
encoder whose fingerprint cannot follow its weights says so in
:attr:`Encoder.unstorable_reason`, and nothing of it is stored.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from auditkit.encoders.geometry import InputGeometry


def stable_hash(*parts: Any) -> str:
    """SHA-256 over a JSON rendering of ``parts`` (sorted keys, str fallback)."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class Encoder(abc.ABC):
    """Base class of auditkit encoders.

    Subclasses set :attr:`spec`, :attr:`weights_sha256` and implement
    :meth:`preprocess` and :meth:`embed_batch`; :meth:`describe_preprocessing`
    returns a JSON-able description that enters the fingerprint.
    """

    spec: str = ""
    #: SHA-256 of the weights actually loaded (None for parameter-free encoders).
    weights_sha256: str | None = None
    #: Where the weights came from (a path, a hub id, "random seed 0").
    weights_source: str = ""
    #: Batch size the extractor uses unless told otherwise.
    default_batch_size: int = 32
    #: Output dtype of the embedding as stored in the cache.
    dtype: str = "float32"
    #: Whether a variant's post-preprocessing step (the masked control) must
    #: act on the image: true where ``preprocess`` computes features rather
    #: than a resized, normalised pixel tensor (``pixels``, user ``embed``).
    post_on_image: bool = False
    #: The resize and centre crop that make the model's input from the image
    #: (None: not declared). The masked control draws its mask in this frame
    #: when it acts on the image (``post_on_image``); see
    #: :mod:`auditkit.encoders.geometry`.
    input_geometry: InputGeometry | None = None
    #: Why the fingerprint cannot be trusted to change with the weights (a
    #: ``python:`` object that shows auditkit none of its weights), or None.
    #: Such an encoder's embeddings and measurements are never stored on disk.
    unstorable_reason: str | None = None

    @abc.abstractmethod
    def preprocess(self, image: Image.Image) -> Any:
        """Turn one RGB image into the model's input (CPU, picklable)."""

    @property
    def preprocessor(self) -> Callable[[Image.Image], Any]:
        """What :meth:`preprocess` runs, as a picklable callable: what workers receive.

        DataLoader workers get this, never the encoder. The default is the
        bound :meth:`preprocess`, which pickles the whole encoder with it;
        an encoder that holds a model overrides it with its transform alone.
        """
        return self.preprocess

    def collate(self, items: Sequence[Any]) -> Any:
        """Stack preprocessed items into one batch."""
        first = items[0]
        if isinstance(first, np.ndarray):
            return np.stack(items)
        import torch

        if isinstance(first, torch.Tensor):
            return torch.stack(list(items))
        return list(items)

    @abc.abstractmethod
    def embed_batch(self, batch: Any) -> np.ndarray:
        """Embed one collated batch; returns float32 ``(B, D)``."""

    def describe_preprocessing(self) -> Any:
        """JSON-able description of the preprocessing (enters the fingerprint)."""
        return None

    def to(self, device: str) -> Encoder:
        """Move the model to ``device``; parameter-free encoders ignore it."""
        return self

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def precision(self) -> str | None:
        """Reduced precision of the forward pass (None: the model's own)."""
        return None

    @property
    def cacheable(self) -> bool:
        """Whether this encoder's embeddings and measurements may be stored on disk."""
        return self.unstorable_reason is None

    @property
    def fingerprint(self) -> str:
        """Hash of spec, weights bytes, preprocessing, output dtype and precision."""
        parts = [
            "auditkit-encoder-v1",
            self.spec,
            self.weights_sha256,
            self.describe_preprocessing(),
            self.dtype,
            type(self).__qualname__,
        ]
        # Only when set, so that full-precision fingerprints (and caches) stay as they were.
        if self.precision is not None:
            parts.append(self.precision)
        return stable_hash(*parts)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed a list of images in one batch (convenience, no cache)."""
        batch = self.collate([self.preprocess(im) for im in images])
        return np.asarray(self.embed_batch(batch), dtype=np.float32)
