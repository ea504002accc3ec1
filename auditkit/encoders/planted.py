"""Control encoders with known behaviour, for testing audits and calibrating verdicts.

* :class:`NoiseEncoder` returns noise independent of the image: every audit
  must find it at chance (a null encoder).
* :class:`ConstantEncoder` returns the same vector for every image: a probe
  on it is degenerate and must never be read as a confident pass.
* :class:`ThumbnailEncoder` keeps only coarse content: a small grayscale
  thumbnail, which processing traces barely move (a content-only encoder).
* :class:`PlantedEncoder` concatenates the thumbnail with ``strength`` times
  the standardised ``pixels`` features, so it carries processing and
  acquisition traces on top of content, with a dial for how much.

They are real :class:`Encoder` objects and go through the same extractor,
cache and probe as any model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from auditkit.encoders.base import Encoder
from auditkit.encoders.pixels import PixelsEncoder


class NoiseEncoder(Encoder):
    """Gaussian noise of dimension ``dim``, seeded, independent of the input."""

    post_on_image = True

    def __init__(self, dim: int = 32, seed: int = 0) -> None:
        self.spec = f"control:noise/{dim}/{seed}"
        self.dim = dim
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def preprocess(self, image: Image.Image) -> Any:
        return np.zeros(1, np.float32)

    def embed_batch(self, batch: Any) -> np.ndarray:
        return self._rng.normal(size=(len(batch), self.dim)).astype(np.float32)

    def describe_preprocessing(self) -> Any:
        # Every instance draws fresh noise: its embeddings must never be cached
        # across instances as if they were a function of the image.
        return {"noise": self.dim, "seed": self.seed, "instance": id(self)}


class ConstantEncoder(Encoder):
    """The same vector for every image."""

    spec = "control:constant"
    post_on_image = True

    def preprocess(self, image: Image.Image) -> Any:
        return np.ones(8, np.float32)

    def embed_batch(self, batch: Any) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32)


class ThumbnailEncoder(Encoder):
    """A ``size`` x ``size`` grayscale thumbnail (box-averaged): content, hardly processing."""

    post_on_image = True

    def __init__(self, size: int = 16) -> None:
        self.spec = f"control:thumbnail/{size}"
        self.size = size

    def preprocess(self, image: Image.Image) -> Any:
        thumb = image.convert("L").resize((self.size, self.size), Image.Resampling.BOX)
        x = np.asarray(thumb, dtype=np.float32).ravel() / 255.0
        return x - x.mean()

    def embed_batch(self, batch: Any) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32)

    def describe_preprocessing(self) -> Any:
        return {"thumbnail": self.size}


class PlantedEncoder(Encoder):
    """Content thumbnail plus ``strength`` x the standardised ``pixels`` features."""

    post_on_image = True

    def __init__(self, strength: float = 1.0, size: int = 16) -> None:
        self.spec = f"control:planted/{strength:g}"
        self.strength = strength
        self._content = ThumbnailEncoder(size)
        self._traces = PixelsEncoder()

    def preprocess(self, image: Image.Image) -> Any:
        content = self._content.preprocess(image)
        traces = np.asarray(self._traces.embed([image])[0], dtype=np.float32)
        traces = (traces - traces.mean()) / (traces.std() + 1e-8)
        # Scale to the content's norm so that strength 1 means an equal share.
        scale = self.strength * np.linalg.norm(content) / (np.linalg.norm(traces) + 1e-8)
        return np.concatenate([content, scale * traces]).astype(np.float32)

    def embed_batch(self, batch: Any) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32)

    def describe_preprocessing(self) -> Any:
        return {"planted": self.strength, "content": self._content.size}
