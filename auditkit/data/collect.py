"""Turning candidate files into the images of a probe set.

Shared by folder and manifest probe sets. Every file is read once while the
set is built: its bytes are hashed (the ``sha256`` that keys caches) and
decoded, so that unusable files are found up front, recorded in
:attr:`ProbeSet.skipped` with the reason and left out, and the run goes on.

Reasons start with their kind, which :meth:`ProbeSet.skipped_counts` counts:

``unreadable``  empty, truncated, not an image, an unreadable link or file;
``too large``   over Pillow's decompression-bomb limit (judged from the header);
``too small``   under ``MIN_SIDE`` pixels a side: less than one JPEG block;
``duplicate``   the same bytes, or the same name, as a file already kept;
``missing``, ``unlabelled``  manifest rows and folder layout (their modules).

Usable files in any mode (16-bit, CMYK, palette with transparency,
grayscale) are kept and decoded to 8-bit RGB.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from auditkit import seeds
from auditkit.data.base import Skipped, SourceImage, take_balanced
from auditkit.data.decode import (
    IMAGE_EXTENSIONS,
    FileLoader,
    decode_image_bytes,
    read_bytes,
    shown,
)
from auditkit.errors import BadImageError, ProbeSetError

__all__ = [
    "FLAT_LABEL",
    "MIN_SIDE",
    "Builder",
    "Candidate",
    "log_summary",
    "nothing_usable",
]

logger = logging.getLogger("auditkit")

FLAT_LABEL = "all"

#: Smallest width and height kept. Every trace the audits look for (JPEG
#: quantisation, resampling, sharpening, sensor noise) lives in 8x8 blocks or
#: their neighbourhoods; a smaller image has none of them, only a few colours,
#: and is most likely an icon or a tracking pixel rather than a photo.
MIN_SIDE = 8


@dataclass(frozen=True)
class Candidate:
    id: str
    path: Path
    label: str
    group: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Builder:
    """Validates candidates (read, hash, decode) and collects what is skipped."""

    skipped: list[Skipped] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # sha256 -> id of first file
    ids: set[str] = field(default_factory=set)  # ids of the images kept

    def skip(self, path: str, reason: str) -> None:
        path = shown(path)
        logger.info("skipping %s: %s", path, reason)
        self.skipped.append(Skipped(path=path, reason=reason))

    def validate(self, candidate: Candidate) -> SourceImage | None:
        try:
            data = read_bytes(candidate.path)
            digest = hashlib.sha256(data).hexdigest()
            _, info = decode_image_bytes(data, name=shown(str(candidate.path)))
        except BadImageError as exc:
            kind = "too large" if _is_bomb(exc) else "unreadable"
            self.skip(candidate.id, f"{kind}: {exc}")
            return None
        width, height = info.size
        if min(width, height) < MIN_SIDE:
            self.skip(
                candidate.id,
                f"too small: {width}x{height} pixels, under {MIN_SIDE} a side (one JPEG "
                "block); use the full-size original",
            )
            return None
        if candidate.id in self.ids:
            # Two names that differ only in bytes that are not UTF-8 can be
            # shown alike; ids key results and groups, so they must be unique.
            self.skip(candidate.id, "duplicate: another file is shown under the same name")
            return None
        first = self.seen.setdefault(digest, candidate.id)
        if first != candidate.id:
            # Identical bytes under two names would sit in two groups and leak
            # across any train/test split.
            self.skip(candidate.id, f"duplicate: same bytes as {first!r}")
            return None
        self.ids.add(candidate.id)
        where = shown(str(candidate.path))
        metadata = {
            **candidate.extra,
            "path": where,
            "format": info.format,
            "mode": info.mode,
            "size": list(info.size),
            "exif": info.exif,
        }
        return SourceImage(
            id=candidate.id,
            label=candidate.label,
            group=candidate.group,
            sha256=digest,
            # The loader opens the real name; everything shown uses ``where``.
            loader=FileLoader(str(candidate.path), digest),
            path=where,
            metadata=metadata,
        )

    def build(
        self, candidates: list[Candidate], max_images: int | None, seed: int
    ) -> list[SourceImage]:
        """Validate candidates, class by class in turn, until ``max_images`` pass."""
        if max_images is not None and max_images < 1:
            raise ProbeSetError(
                f"max_images={max_images!r} leaves no image; pass a positive number or None"
            )
        by_label: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            by_label.setdefault(candidate.label, []).append(candidate)
        if max_images is not None:
            # The seed picks which files a truncated set keeps, per class.
            rng = seeds.rng(seed)
            by_label = {
                label: [items[i] for i in rng.permutation(len(items))]
                for label, items in sorted(by_label.items())
            }
        streams = {label: self._valid(items) for label, items in by_label.items()}
        images = take_balanced(streams, max_images)
        images.sort(key=lambda im: im.id)
        self.skipped.sort(key=lambda s: s.path)
        return images

    def _valid(self, candidates: list[Candidate]) -> Iterator[SourceImage]:
        for candidate in candidates:
            image = self.validate(candidate)
            if image is not None:
                yield image


def _is_bomb(exc: BadImageError) -> bool:
    return isinstance(exc.__cause__, (Image.DecompressionBombError, Image.DecompressionBombWarning))


def log_summary(where: str, images: list[SourceImage], skipped: list[Skipped]) -> None:
    if skipped:
        counts = Counter(s.reason.split(":")[0] for s in skipped)
        logger.warning(
            "%s: kept %d images, skipped %d (%s); see ProbeSet.skipped",
            where,
            len(images),
            len(skipped),
            ", ".join(f"{reason} x{n}" for reason, n in sorted(counts.items())),
        )


def nothing_usable(where: str, found: str, skipped: list[Skipped]) -> ProbeSetError:
    counts = Counter(s.reason.split(":")[0] for s in skipped)
    detail = ", ".join(f"{reason} x{n}" for reason, n in sorted(counts.items()))
    examples = "; ".join(f"{s.path!r}: {s.reason}" for s in skipped[:3])
    return ProbeSetError(
        f"no usable image in {where}: found {found}"
        + (f", all skipped ({detail}), e.g. {examples}" if skipped else "")
        + f". Add readable images ({', '.join(sorted(IMAGE_EXTENSIONS))}) or use "
        "the built-in probe set"
    )
