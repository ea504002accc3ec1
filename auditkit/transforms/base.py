"""Variants: a named, parametrised transformation of a source image.

A :class:`Variant` is what the cache key and the probe label see: a stable
``id`` (``family/name``), its ``params`` and a ``version`` that is bumped when
the implementation changes the pixels it produces. Applying a variant is
deterministic given (image, seed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from auditkit.encoders.base import stable_hash

TransformFn = Callable[[Image.Image, Mapping[str, Any], int], Image.Image]


@dataclass(frozen=True)
class Variant:
    """One transformation with fixed parameters.

    Parameters
    ----------
    id : str
        Stable identifier, ``family/name`` (e.g. ``jpeg/q75-420``).
    family : str
        Transformation family (``quality``, ``geometric``, ``style`` ...).
    fn : callable
        ``fn(image, params, seed) -> image``; must be a module-level function
        so that variants pickle into DataLoader workers.
    params : mapping
        Parameters recorded in results and in the cache key.
    version : int
        Bumped when ``fn`` changes its output for the same input.
    label : str
        Human-readable name for cards ("JPEG 75 4:2:0").
    stochastic : bool
        Whether ``fn`` uses its seed; only then does the seed enter cache keys.
    post : callable or None
        ``post(x, params) -> x`` applied after the encoder's own preprocessing
        (the masked semantic control); module-level for pickling. ``x`` is the
        model's input tensor, or the PIL image for encoders whose
        preprocessing is not a pixel transform (see ``Encoder.post_on_image``).
    """

    id: str
    family: str
    fn: TransformFn = field(compare=False, repr=False)
    params: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    label: str = ""
    stochastic: bool = False
    post: Callable[[Any, Mapping[str, Any]], Any] | None = field(
        default=None, compare=False, repr=False)

    def apply(self, image: Image.Image, seed: int = 0) -> Image.Image:
        out = self.fn(image, self.params, seed)
        return out if out.mode == "RGB" else out.convert("RGB")

    @property
    def key(self) -> str:
        """Hash of id, params and version: the variant's part of a cache key."""
        return stable_hash("variant", self.id, dict(self.params), self.version)


def identity(image: Image.Image, params: Mapping[str, Any], seed: int) -> Image.Image:
    return image


ORIGINAL = Variant(id="original", family="none", fn=identity, label="original")
