"""Source images and probe sets: what every audit starts from."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PIL import Image

from auditkit.errors import ProbeSetError

T = TypeVar("T")

#: Fewest source images a probe audit can judge. The probe is a grouped
#: 5-fold split with images as groups: under two images per test fold the
#: folds shrink and the bootstrap over images has too few distinct
#: resamples for its interval to back a verdict (on three images a pixel
#: probe "passes" ``min_accuracy`` with an interval of width 0.17).
MIN_IMAGES = 10


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

    def require(
        self, min_images: int = MIN_IMAGES, min_classes: int = 1, purpose: str = "the audits"
    ) -> ProbeSet:
        """Raise :class:`ProbeSetError` unless the set is big enough for ``purpose``.

        The message gives the counts, what was skipped while loading and why
        (the usual reason a set ends up too small) and what to do.

        Parameters
        ----------
        min_images : int
            Fewest images.
        min_classes : int
            Fewest semantic classes (2 for audits whose labels are the classes).
        purpose : str
            What needs them, for the message.

        Returns
        -------
        ProbeSet
            ``self``, so that the check chains.

        Examples
        --------
        >>> ProbeSet("tiny", []).require(purpose="the JPEG audit")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        auditkit.errors.ProbeSetError: probe set 'tiny' has 0 usable image(s)...
        """
        n, classes = len(self), self.class_counts()
        if n >= min_images and len(classes) >= min_classes:
            return self
        need = f"at least {min_images} images"
        if min_classes > 1:
            need += f" in at least {min_classes} classes"
        message = (
            f"probe set {self.name!r} has {n} usable image(s) in {len(classes)} class(es) "
            f"{classes}; {purpose} needs {need}"
        )
        if self.skipped:
            kinds = ", ".join(f"{kind} x{k}" for kind, k in sorted(self.skipped_counts().items()))
            examples = "; ".join(f"{s.path!r}: {s.reason}" for s in self.skipped[:3])
            message += f". {len(self.skipped)} input(s) were skipped ({kinds}), e.g. {examples}"
        raise ProbeSetError(message + ". Add images or use the built-in probe set")

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
