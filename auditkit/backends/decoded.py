"""Decoded source images and their variants kept across ``embed`` calls, within a byte budget.

Decoding a file means reading it, checking its SHA-256 against the probe
set's and decoding it; the style audit asks for the same images once per
transformation. Every encoder of a run asks for the same variants of the
same images, one audit after another, and a variant (a JPEG round trip, a
simulated camera, a stylisation) costs more than the decode: in the default
run the variants were half of the time spent preparing model inputs.
:class:`DecodedImages` keeps the most recently used of both in one process,
keyed by the image's id and content hash (and the variant's key and seed),
and drops the least recently used beyond its budget.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from PIL import Image

from auditkit.data.base import SourceImage

if TYPE_CHECKING:
    from auditkit.transforms.base import Variant

__all__ = ["DEFAULT_BUDGET_BYTES", "DecodedImages", "image_bytes"]

#: Budget of one backend's decoded images, shared among its workers: about
#: 1,900 ImageNet-sized images (500 x 375 RGB), or every built-in one.
DEFAULT_BUDGET_BYTES = 1024**3


def image_bytes(image: Image.Image) -> int:
    """Bytes of the pixel buffer of ``image`` (what keeping it costs).

    Examples
    --------
    >>> image_bytes(Image.new("RGB", (4, 3)))
    36
    """
    width, height = image.size
    return width * height * len(image.getbands())


class DecodedImages:
    """An LRU of decoded images and their variants within ``budget_bytes``.

    Parameters
    ----------
    budget_bytes : int
        Most pixel bytes kept; 0 keeps nothing. An image larger than the
        whole budget is decoded and handed back, never kept.
    variants : bool
        Keep variants too. A DataLoader worker serves one encoder, which asks
        for each pair once, so its store keeps only the decoded images: kept
        variants would never be asked for again, and would push those out.

    Notes
    -----
    It pickles empty: a DataLoader worker starts with its own, and the
    images never travel between processes.

    Examples
    --------
    >>> decoded = DecodedImages(budget_bytes=1024)
    >>> image = SourceImage("a", "c", "g", "0" * 64, lambda: Image.new("RGB", (8, 8)))
    >>> decoded.load(image) is decoded.load(image)
    True
    >>> decoded.used_bytes, decoded.misses, decoded.hits
    (192, 1, 1)
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES, variants: bool = True) -> None:
        if budget_bytes < 0:
            raise ValueError(
                f"budget_bytes={budget_bytes!r} is negative; pass 0 to keep nothing"
            )
        self.budget_bytes = budget_bytes
        self.variants = variants
        self.used_bytes = 0
        self.hits = 0
        self.misses = 0
        self._images: OrderedDict[tuple[str, ...], Image.Image] = OrderedDict()

    def __len__(self) -> int:
        return len(self._images)

    def load(self, image: SourceImage) -> Image.Image:
        """``image`` decoded: kept from an earlier call, or loaded now (and kept).

        Callers must not modify what they get: the same object is handed to
        every later call (variants already share one decoded image).
        """
        # The content hash is in the key: two probe sets that reuse an id for
        # different pixels never see each other's image.
        key = (image.id, image.sha256)
        kept = self._get(key)
        if kept is None:
            kept = image.load()
            self._put(key, kept)
        return kept

    def variant(self, image: SourceImage, variant: Variant, seed: int,
                source: Image.Image) -> Image.Image:
        """``variant`` of ``image`` (decoded as ``source``): kept, or applied now (and kept).

        The key is the variant's own (:attr:`Variant.key`: id, parameters,
        version and code), and the seed where the variant uses one, so every
        encoder is handed the pixels it would have made itself.

        Examples
        --------
        >>> from auditkit.transforms.quality import jpeg_variant
        >>> decoded = DecodedImages(budget_bytes=1024)
        >>> image = SourceImage("a", "c", "g", "0" * 64, lambda: Image.new("RGB", (8, 8)))
        >>> v = jpeg_variant(75, "420")
        >>> first = decoded.variant(image, v, 0, decoded.load(image))
        >>> decoded.variant(image, v, 1, decoded.load(image)) is first
        True
        """
        if not self.variants:
            return variant.apply(source, seed)
        key = (image.id, image.sha256, variant.key, str(seed) if variant.stochastic else "")
        kept = self._get(key)
        if kept is None:
            kept = variant.apply(source, seed)
            if kept is not source:  # an identity variant: the source is kept already
                self._put(key, kept)
        return kept

    def _get(self, key: tuple[str, ...]) -> Image.Image | None:
        kept = self._images.get(key)
        if kept is None:
            self.misses += 1
            return None
        self._images.move_to_end(key)
        self.hits += 1
        return kept

    def _put(self, key: tuple[str, ...], image: Image.Image) -> None:
        size = image_bytes(image)
        if size > self.budget_bytes:
            return
        self._images[key] = image
        self.used_bytes += size
        while self.used_bytes > self.budget_bytes:
            _, dropped = self._images.popitem(last=False)
            self.used_bytes -= image_bytes(dropped)

    def __getstate__(self) -> dict[str, Any]:
        return {"budget_bytes": self.budget_bytes, "variants": self.variants}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["budget_bytes"], state["variants"])  # type: ignore[misc]
