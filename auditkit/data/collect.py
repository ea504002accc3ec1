"""Turning candidate files into the images of a probe set.

Shared by folder and manifest probe sets. Every file is read once while the
set is built: its bytes are hashed (the ``sha256`` that keys caches) and
decoded, so that unreadable files are found up front, recorded in
:attr:`ProbeSet.skipped` with the reason and left out, and the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.data.base import Skipped, SourceImage, take_balanced
from auditkit.data.decode import IMAGE_EXTENSIONS, FileLoader, decode_image_bytes, read_bytes
from auditkit.errors import BadImageError, ProbeSetError

__all__ = [
    "FLAT_LABEL",
    "Builder",
    "Candidate",
    "log_summary",
    "nothing_usable",
]

logger = logging.getLogger("auditkit")

FLAT_LABEL = "all"


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

    def skip(self, path: str, reason: str) -> None:
        logger.info("skipping %s: %s", path, reason)
        self.skipped.append(Skipped(path=path, reason=reason))

    def validate(self, candidate: Candidate) -> SourceImage | None:
        try:
            data = read_bytes(candidate.path)
            digest = hashlib.sha256(data).hexdigest()
            _, info = decode_image_bytes(data, name=str(candidate.path))
        except BadImageError as exc:
            self.skip(candidate.id, f"unreadable: {exc}")
            return None
        first = self.seen.setdefault(digest, candidate.id)
        if first != candidate.id:
            # Identical bytes under two names would sit in two groups and leak
            # across any train/test split.
            self.skip(candidate.id, f"duplicate: same bytes as {first!r}")
            return None
        metadata = {
            **candidate.extra,
            "path": str(candidate.path),
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
            loader=FileLoader(str(candidate.path), digest),
            path=str(candidate.path),
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
            rng = np.random.default_rng(seed)
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
