"""``SPEC+erase:PATH``: an encoder whose embeddings pass through an eraser.

The eraser (:class:`auditkit.erasure.Eraser`, written by ``auditkit
mitigate``) is applied to the base encoder's output in :meth:`embed_batch`.
The fingerprint is the base's with the eraser's digest, so erased and plain
embeddings never share a cache key or a stored measurement; the eraser's
path does not enter it (a moved file keys the same).

Cache: the erased spec keys its own entries, computed with the base's forward
pass; it does not read the base's stored embeddings. ``auditkit mitigate``
compares before and after through the base's cache and applies the map after
(:class:`auditkit.erasure.ErasedEmbedder`), so the comparison embeds once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from auditkit.encoders.base import Encoder, stable_hash
from auditkit.erasure import Eraser
from auditkit.errors import SpecError


class ErasedEncoder(Encoder):
    """``base`` followed by ``eraser``.

    Raises
    ------
    SpecError
        The eraser was fitted on another encoder (its recorded fingerprint
        differs from ``base``'s).

    Examples
    --------
    >>> build_encoder("pixels+erase:pixels-jpeg.safetensors")  # doctest: +SKIP
    """

    def __init__(self, base: Encoder, eraser: Eraser, spec: str, path: str = "") -> None:
        fitted_on = eraser.metadata.get("source_fingerprint")
        if fitted_on and fitted_on != base.fingerprint:
            raise SpecError(
                f"eraser {path!r} was fitted on {eraser.metadata.get('source')!r} (fingerprint "
                f"{fitted_on[:12]}), not on {base.spec!r} ({base.fingerprint[:12]}): fit one "
                f"for this encoder with 'auditkit mitigate --encoder {base.spec}'"
            )
        self.base = base
        self.eraser = eraser
        self.path = path
        self.spec = spec
        self.weights_sha256 = base.weights_sha256
        self.weights_source = base.weights_source
        self.default_batch_size = base.default_batch_size
        self.post_on_image = base.post_on_image
        self.input_geometry = base.input_geometry
        self.unstorable_reason = base.unstorable_reason

    def preprocess(self, image: Image.Image) -> Any:
        return self.base.preprocess(image)

    @property
    def preprocessor(self) -> Callable[[Image.Image], Any]:
        return self.base.preprocessor

    def collate(self, items: Sequence[Any]) -> Any:
        return self.base.collate(items)

    def embed_batch(self, batch: Any) -> np.ndarray:
        return self.eraser.apply(self.base.embed_batch(batch))

    def describe_preprocessing(self) -> Any:
        return self.base.describe_preprocessing()

    def to(self, device: str) -> Encoder:
        self.base = self.base.to(device)
        return self

    @property
    def device(self) -> str:
        return self.base.device

    @property
    def precision(self) -> str | None:
        return self.base.precision

    @property
    def fingerprint(self) -> str:
        """The base's fingerprint with the eraser's digest."""
        return stable_hash("auditkit-erased-v1", self.base.fingerprint, self.eraser.digest)
