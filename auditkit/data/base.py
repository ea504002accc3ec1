"""Source images and probe sets: what every audit starts from."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PIL import Image

T = TypeVar("T")


@dataclass(frozen=True)
class SourceImage:
    """One source image of a probe set, before any variant is applied.

    Parameters
    ----------
    id : str
        Unique within its probe set and stable across runs (a relative path
        for files, ``builtin/<class>/<n>`` for built-in images).
    label : str
        Semantic class.
    group : str
        Splits never put two images of the same group on both sides of a
        train/test boundary (a photographer, a scene, a parent photo).
    sha256 : str
        Content hash: of the file bytes for files, of the pixel buffer for
        generated images. Part of every cache key.
    loader : callable
        Returns the decoded image as ``PIL.Image.Image`` in mode ``RGB``.
    path : str or None
        Where the image came from on disk, for messages.
    metadata : mapping
        Extra columns (EXIF fields, manifest columns).
    """

    id: str
    label: str
    group: str
    sha256: str
    loader: Callable[[], Image.Image] = field(repr=False, compare=False)
    path: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def load(self) -> Image.Image:
        """Decode the image (mode ``RGB``)."""
        return self.loader()


@dataclass(frozen=True)
class Skipped:
    """An input left out of a probe set, with the reason."""

    path: str
    reason: str


@dataclass
class ProbeSet:
    """An ordered collection of source images with labels and groups."""

    name: str
    images: list[SourceImage]
    skipped: list[Skipped] = field(default_factory=list)
    description: str = ""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> list[str]:
        return [im.label for im in self.images]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @property
    def digest(self) -> str:
        """Hash of the set's content, labels and groups (provenance)."""
        h = hashlib.sha256()
        for im in self.images:
            h.update(f"{im.id}\0{im.label}\0{im.group}\0{im.sha256}\n".encode())
        return h.hexdigest()

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def skipped_counts(self) -> dict[str, int]:
        """Counts of skipped inputs by reason (first clause of the message)."""
        return dict(Counter(s.reason.split(":")[0] for s in self.skipped))

    def subset(self, indices: Sequence[int]) -> ProbeSet:
        return ProbeSet(
            name=self.name,
            images=[self.images[i] for i in indices],
            skipped=list(self.skipped),
            description=self.description,
        )


def sha256_of_image(image: Image.Image) -> str:
    """Content hash of a decoded image: mode, size and pixel bytes."""
    h = hashlib.sha256()
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}\0".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def take_balanced(per_label: Mapping[str, Iterable[T]], n: int | None) -> list[T]:
    """Take up to ``n`` items, as evenly across labels as their sizes allow.

    Labels are visited round-robin in sorted order, one item each turn, so
    class counts differ by at most one unless a class runs out. Iterables are
    consumed lazily: a generator that validates items as it yields them is
    only asked for as many as are needed.

    Parameters
    ----------
    per_label : mapping of str to iterable
        The candidates of each label, in order of preference.
    n : int or None
        How many to take; ``None`` takes everything.

    Returns
    -------
    list
        The items taken, in round-robin order (callers re-sort as they need).

    Examples
    --------
    >>> take_balanced({"b": [1, 2, 3], "a": [4, 5]}, 3)
    [4, 1, 5]
    """
    iterators = {label: iter(per_label[label]) for label in sorted(per_label)}
    taken: list[T] = []
    while iterators and (n is None or len(taken) < n):
        for label in list(iterators):
            if n is not None and len(taken) >= n:
                break
            item = next(iterators[label], _EXHAUSTED)
            if item is _EXHAUSTED:
                del iterators[label]
            else:
                taken.append(item)  # type: ignore[arg-type]
    return taken


_EXHAUSTED = object()
