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
* :class:`TracePlantedEncoder` does the same with five cheap statistics
  (image size and high-frequency energy per YCbCr channel) instead of the
  ``pixels`` features: fifty times cheaper, for studies that embed thousands
  of images (``benchmarks/calibration.py``).
* :class:`SizePlantedEncoder` plants only the image size: it reacts to
  resizing and hardly to any other processing (a one-family shift).

They are real :class:`Encoder` objects and go through the same extractor,
cache and probe as any model.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image

from auditkit.encoders.base import Encoder
from auditkit.encoders.geometry import InputGeometry
from auditkit.encoders.pixels import PixelsEncoder


class NoiseEncoder(Encoder):
    """Gaussian noise of dimension ``dim``, seeded, independent of the input."""

    post_on_image = True
    #: The whole image at native size.
    input_geometry = InputGeometry()

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
    #: The whole image at native size.
    input_geometry = InputGeometry()

    def preprocess(self, image: Image.Image) -> Any:
        return np.ones(8, np.float32)

    def embed_batch(self, batch: Any) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32)


class ThumbnailEncoder(Encoder):
    """A ``size`` x ``size`` grayscale thumbnail (box-averaged): content, hardly processing."""

    post_on_image = True
    #: The whole image at native size.
    input_geometry = InputGeometry()

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
    input_geometry = PixelsEncoder.input_geometry

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


def processing_traces(image: Image.Image) -> np.ndarray:
    """Five statistics that processing moves and content hardly does.

    Log width and height over 256 (resizing), and the log mean squared
    4-neighbour Laplacian of each YCbCr channel (JPEG quality removes
    high-frequency luma energy, 4:2:0 subsampling chroma energy).

    Examples
    --------
    >>> [round(float(v), 2) for v in processing_traces(Image.new("RGB", (256, 128)))]
    [0.0, -0.69, -6.91, -6.91, -6.91]
    """
    ycc = np.asarray(image.convert("YCbCr"), dtype=np.float32)
    energy = [
        np.log(np.mean(np.square(cv2.Laplacian(ycc[:, :, c], cv2.CV_32F, ksize=1))) + 1e-3)
        for c in range(3)
    ]
    w, h = image.size
    return np.array([np.log(w / 256.0), np.log(h / 256.0), *energy], dtype=np.float32)


class TracePlantedEncoder(Encoder):
    """Content thumbnail plus ``strength`` x :func:`processing_traces`.

    Unlike :class:`PlantedEncoder` the traces are not rescaled per image, so
    one strength moves every image's embedding by the same amount for the
    same processing; the effect it plants is a dial set by ``strength``.
    """

    post_on_image = True
    #: The whole image at native size.
    input_geometry = InputGeometry()

    def __init__(self, strength: float = 0.2, size: int = 16) -> None:
        self.spec = f"control:trace-planted/{strength:g}"
        self.strength = strength
        self._content = ThumbnailEncoder(size)

    def preprocess(self, image: Image.Image) -> Any:
        content = self._content.preprocess(image)
        traces = self.strength * processing_traces(image)
        return np.concatenate([content, traces]).astype(np.float32)

    def embed_batch(self, batch: Any) -> np.ndarray:
        return np.asarray(batch, dtype=np.float32)

    def describe_preprocessing(self) -> Any:
        return {"trace_planted": self.strength, "content": self._content.size}


class SizePlantedEncoder(TracePlantedEncoder):
    """Content thumbnail plus ``strength`` x the log image size: resizing traces only.

    JPEG and sharpening keep the size, and interpolation's random scale is
    drawn per image, not per kernel, so of the retrieval-shift families only
    resizing moves it.
    """

    def __init__(self, strength: float = 0.5, size: int = 16) -> None:
        super().__init__(strength, size)
        self.spec = f"control:size-planted/{strength:g}"

    def preprocess(self, image: Image.Image) -> Any:
        content = self._content.preprocess(image)
        # The first two of processing_traces, without its Laplacians.
        traces = self.strength * np.log(np.array(image.size, dtype=np.float32) / 256.0)
        return np.concatenate([content, traces]).astype(np.float32)

    def describe_preprocessing(self) -> Any:
        # Not TracePlantedEncoder's key: the same strength embeds differently.
        return {"size_planted": self.strength, "content": self._content.size}
