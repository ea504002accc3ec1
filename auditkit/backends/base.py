"""What a backend is given, what it hands back, and how one pair becomes model input.

The extractor's cache front decides which (image, variant) pairs are missing
and hands a backend only picklable descriptions of them (:class:`Work`); the
backend runs the encoder and yields :class:`Batch` es. The cache never leaves
the front, so a backend in another process or on another machine needs no
access to it.

:func:`prepare` is shared by every backend on purpose: the cache keys do not
name the backend, so an entry computed by one must equal what any other
would compute for the same pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from auditkit.backends.decoded import DecodedImages
from auditkit.data.base import SourceImage
from auditkit.encoders.base import Encoder
from auditkit.transforms.base import Variant


@dataclass(frozen=True)
class Work:
    """One source image and those of its variants that the caches lacked.

    Parameters
    ----------
    image : SourceImage
        The image, decoded by the backend.
    pairs : tuple of (str, Variant)
        Cache key and variant of each pair to embed, in request order.
    seed : int
        Transform seed of this image (see ``auditkit.seeds.image_seed``).
    """

    image: SourceImage
    pairs: tuple[tuple[str, Variant], ...]
    seed: int


@dataclass(frozen=True)
class Failure:
    """A pair that never reached the model, with the reason by name."""

    image_id: str
    reason: str


@dataclass(frozen=True)
class Batch:
    """One forward pass of a backend, as handed back to the front.

    Parameters
    ----------
    keys : tuple of str
        Cache keys of the rows of ``vectors``; empty when every pair of the
        batch failed before the model (no forward pass was made).
    vectors : numpy.ndarray
        The encoder's output as ``float32``, one row per key, unchecked: the
        front checks shape and finiteness for every backend alike.
    failures : tuple of Failure
        Pairs of this batch that could not be loaded, transformed or
        preprocessed.
    """

    keys: tuple[str, ...]
    vectors: np.ndarray
    failures: tuple[Failure, ...] = ()


@runtime_checkable
class Backend(Protocol):
    """Computes the embeddings the caches lacked.

    Examples
    --------
    >>> from auditkit.backends import LocalBackend
    >>> isinstance(LocalBackend(num_workers=0), Backend)
    True
    """

    def compute(self, encoder: Encoder, work: Sequence[Work]) -> Iterator[Batch]:
        """Embed every pair of ``work`` with ``encoder``, one batch at a time.

        Yielding batch by batch lets the front store each one as soon as it
        is done, so an interrupted run keeps what it computed.
        """
        ...


class Preprocessing(Protocol):
    """What :func:`prepare` needs of an encoder: an :class:`Encoder` or a :class:`Preparer`."""

    @property
    def post_on_image(self) -> bool: ...

    def preprocess(self, image: Any) -> Any: ...


@dataclass(frozen=True)
class Preparer:
    """The encoder's preprocessing without its model: what DataLoader workers hold.

    A worker started by spawn or forkserver receives its dataset pickled;
    given the encoder, it would receive the weights too (343 MB for
    ViT-B/32). The variants travel with each :class:`Work`.

    Parameters
    ----------
    preprocess : callable
        The encoder's :attr:`~auditkit.encoders.base.Encoder.preprocessor`.
    post_on_image : bool
        As the encoder's :attr:`~auditkit.encoders.base.Encoder.post_on_image`.

    Examples
    --------
    >>> from auditkit.encoders import build_encoder
    >>> Preparer.of(build_encoder("pixels")).post_on_image
    True
    """

    preprocess: Callable[[Any], Any]
    post_on_image: bool

    @classmethod
    def of(cls, encoder: Encoder) -> Preparer:
        return cls(encoder.preprocessor, encoder.post_on_image)


def prepare(
    encoder: Preprocessing, work: Work, decoded: DecodedImages | None = None
) -> list[tuple[str, Any]]:
    """Model inputs of every pair of ``work``, or a :class:`Failure` in its place.

    The image is decoded once (or taken from ``decoded``, which keeps it and
    its variants for later calls, other encoders' included); each variant is
    applied with the image's seed, then the
    encoder's preprocessing, with the variant's ``post`` step before or after
    it as the encoder asks (``Encoder.post_on_image``).

    Examples
    --------
    >>> items = prepare(encoder, work)  # doctest: +SKIP
    >>> [key for key, _ in items] == [key for key, _ in work.pairs]  # doctest: +SKIP
    True
    """
    image = work.image
    try:
        pil = image.load() if decoded is None else decoded.load(image)
    except Exception as exc:  # reported by name; the run goes on
        return [(key, Failure(image.id, f"cannot load: {exc}")) for key, _ in work.pairs]
    out: list[tuple[str, Any]] = []
    for key, variant in work.pairs:
        try:
            post = variant.post
            image_in = (variant.apply(pil, work.seed) if decoded is None
                        else decoded.variant(image, variant, work.seed, pil))
            if post is not None and encoder.post_on_image:
                image_in = post(image_in, variant.params)
            item = encoder.preprocess(image_in)
            if post is not None and not encoder.post_on_image:
                item = post(item, variant.params)
        except Exception as exc:  # reported by name; the run goes on
            item = Failure(image.id, f"{variant.id}: {type(exc).__name__}: {exc}")
        out.append((key, item))
    return out
