"""Decoded source images kept across ``embed`` calls, within a byte budget.

Decoding a file means reading it, checking its SHA-256 against the probe
set's and decoding it; the style audit asks for the same images once per
transformation. :class:`DecodedImages` keeps the most recently used decoded
images of one process, keyed by the image's id and content hash, and drops
the least recently used beyond its budget.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PIL import Image

from auditkit.data.base import SourceImage

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
    """An LRU of decoded images within ``budget_bytes``.

    Parameters
    ----------
    budget_bytes : int
        Most pixel bytes kept; 0 keeps nothing. An image larger than the
        whole budget is decoded and handed back, never kept.

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

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        if budget_bytes < 0:
            raise ValueError(
                f"budget_bytes={budget_bytes!r} is negative; pass 0 to keep nothing"
            )
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self.hits = 0
        self.misses = 0
        self._images: OrderedDict[tuple[str, str], Image.Image] = OrderedDict()

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
        kept = self._images.get(key)
        if kept is not None:
            self._images.move_to_end(key)
            self.hits += 1
            return kept
        self.misses += 1
        pil = image.load()
        size = image_bytes(pil)
        if size <= self.budget_bytes:
            self._images[key] = pil
            self.used_bytes += size
            while self.used_bytes > self.budget_bytes:
                _, dropped = self._images.popitem(last=False)
                self.used_bytes -= image_bytes(dropped)
        return pil

    def __getstate__(self) -> dict[str, Any]:
        return {"budget_bytes": self.budget_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["budget_bytes"])  # type: ignore[misc]
