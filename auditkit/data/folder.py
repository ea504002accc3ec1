"""Probe sets from the user's own images: a folder tree or a CSV manifest.

Every file is read once while the set is built: its bytes are hashed (the
``sha256`` that keys caches) and decoded, so that unreadable files are found
up front, recorded in :attr:`ProbeSet.skipped` with the reason and left out,
and the run goes on. Pixels are kept as stored (no EXIF rotation: the
orientation tag is itself one of the traces audits look for) and converted
to 8-bit RGB by :func:`decode_image_bytes`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from auditkit.data.base import ProbeSet, Skipped, SourceImage, take_balanced
from auditkit.errors import BadImageError, ProbeSetError

__all__ = [
    "IMAGE_EXTENSIONS",
    "Decoded",
    "FileLoader",
    "decode_image_bytes",
    "folder_probe_set",
    "manifest_probe_set",
    "read_exif",
]

logger = logging.getLogger("auditkit")

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
)
FLAT_LABEL = "all"

# Reading a file means holding its bytes in memory; refuse absurd ones before
# Pillow's own decompression-bomb check (which only sees the pixel count).
_MAX_FILE_BYTES = 512 * 1024 * 1024
_MAX_REASON_CHARS = 160
_MAX_EXIF_CHARS = 256
# Pointers to sub-IFDs and opaque vendor blobs: no use as text.
_EXIF_SKIP = frozenset(
    {
        "ExifOffset",
        "GPSInfo",
        "InteropOffset",
        "MakerNote",
        "PrintImageMatching",
        "ComponentsConfiguration",
    }
)


# --------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True)
class Decoded:
    """What decoding a file yields besides the pixels."""

    format: str | None
    mode: str
    size: tuple[int, int]
    exif: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileLoader:
    """Picklable loader: re-reads one file and decodes it as the scan did.

    Parameters
    ----------
    path : str
        Absolute path of the file.
    sha256 : str or None
        Hash of the bytes when the probe set was built; a file that changed
        since raises :class:`BadImageError` rather than silently feeding
        different pixels under the old cache key.
    """

    path: str
    sha256: str | None = None

    def __call__(self) -> Image.Image:
        data = _read_bytes(Path(self.path))
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            raise BadImageError(
                f"{self.path!r} changed since the probe set was built; rebuild the probe "
                "set (or restore the file) so that cached embeddings stay valid"
            )
        image, _ = decode_image_bytes(data, name=self.path)
        return image


def decode_image_bytes(data: bytes, name: str = "<bytes>") -> tuple[Image.Image, Decoded]:
    """Decode an encoded image to 8-bit RGB, keeping pixels as stored.

    Conversions: grayscale, palette, CMYK and YCbCr go through Pillow;
    transparency (alpha, palette or colour-key) is composited over white;
    16-bit images are scaled to 8 bits; float images are scaled from [0, 1]
    (or from their own range when outside it). Only the first frame of a
    multi-frame file is used.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        Used in messages only.

    Returns
    -------
    image : PIL.Image.Image
        Mode ``RGB``.
    info : Decoded
        Original format, mode and size, and the EXIF fields as text.

    Raises
    ------
    BadImageError
        Empty, truncated, unrecognised, oversized (decompression bomb) or
        otherwise undecodable data; the message is short enough for a table.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (4, 3), 128).save(buffer, format="PNG")
    >>> image, info = decode_image_bytes(buffer.getvalue())
    >>> image.mode, image.size, info.mode
    ('RGB', (4, 3), 'L')
    """
    if not data:
        raise BadImageError("empty file")
    with warnings.catch_warnings(record=True) as caught:
        # Pillow warns (not raises) between one and two times MAX_IMAGE_PIXELS;
        # such a file is as unwelcome as one above the hard limit.
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                info = Decoded(
                    format=opened.format,
                    mode=opened.mode,
                    size=opened.size,
                    exif=read_exif(opened),
                )
                image = _to_rgb(opened)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise BadImageError(
                _short(f"too many pixels (decompression bomb guard): {exc}")
            ) from exc
        except UnidentifiedImageError as exc:
            raise BadImageError("not an image Pillow can decode") from exc
        except BadImageError:
            raise
        except Exception as exc:
            # Decoders meet hostile and broken files: Pillow raises OSError,
            # SyntaxError, ValueError, struct.error... One bad file must not
            # end the run, so every failure here becomes a BadImageError.
            raise BadImageError(_short(f"{type(exc).__name__}: {exc}")) from exc
    for warning in caught:
        logger.debug("decoding %s: %s", name, warning.message)
    return image, info


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image), mode)).convert("RGB")
    has_alpha = "A" in mode or "a" in mode or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise BadImageError(
            f"unsupported mode {mode!r}; convert the file to RGB or grayscale"
        ) from exc


def _to_uint8(array: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float single-channel image to 8 bits."""
    values = array.astype(np.float64)
    if mode.startswith("I;16"):
        scaled = values / 257.0
    elif mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
        scaled = values * 255.0
    elif values.size and values.min() >= 0 and values.max() <= 255 and mode == "I":
        scaled = values  # 8-bit data stored in a 32-bit container
    elif values.size and values.min() >= 0 and values.max() <= 65535 and mode == "I":
        scaled = values / 257.0  # older Pillow opens 16-bit PNGs as "I"
    else:
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        scaled = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def read_exif(image: Image.Image) -> dict[str, str]:
    """EXIF fields of an opened image as ``{tag name: text}``; never raises.

    Reads the main IFD and the Exif sub-IFD (``Make``, ``Model``,
    ``DateTime``, ``DateTimeOriginal``, ``LensModel``, ``Orientation`` ...).
    Bytes are decoded as UTF-8 with replacement, NUL padding is stripped,
    binary blobs and sub-IFD pointers are left out and values are capped at
    256 characters.

    Examples
    --------
    >>> exif = Image.Exif()
    >>> exif[0x010F] = "Canon"
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (8, 8)).save(buffer, format="JPEG", exif=exif)
    >>> _ = buffer.seek(0)
    >>> read_exif(Image.open(buffer))["Make"]
    'Canon'
    """
    try:
        exif = image.getexif()
        items = list(exif.items())
    except Exception:  # malformed EXIF must not cost the image
        logger.debug("unreadable EXIF block", exc_info=True)
        return {}
    try:
        items += list(exif.get_ifd(ExifTags.IFD.Exif).items())
    except Exception:
        logger.debug("unreadable Exif sub-IFD", exc_info=True)
    fields: dict[str, str] = {}
    for tag, value in items:
        name = ExifTags.TAGS.get(tag, f"0x{tag:04X}") if isinstance(tag, int) else str(tag)
        if name in _EXIF_SKIP:
            continue
        text = _exif_text(value)
        if text:
            fields[name] = text
    return fields


def _exif_text(value: Any) -> str | None:
    try:
        if isinstance(value, (bytes, bytearray)):
            if len(value) > _MAX_EXIF_CHARS:
                return None  # an opaque blob (thumbnail, vendor data), not a field
            text = bytes(value).decode("utf-8", errors="replace")
        elif isinstance(value, (tuple, list)):
            parts = [_exif_text(v) for v in value]
            text = ", ".join(p for p in parts if p is not None)
        elif isinstance(value, Mapping):
            return None
        else:
            text = str(value)
        text = text.replace("\x00", "").strip()
        return text[:_MAX_EXIF_CHARS]
    except Exception:
        return None


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > _MAX_FILE_BYTES:
            raise BadImageError(
                f"file of {size} bytes is over the {_MAX_FILE_BYTES} byte limit; downscale it first"
            )
        return path.read_bytes()
    except OSError as exc:
        raise BadImageError(_short(exc.strerror or f"{type(exc).__name__}: {exc}")) from exc


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


# --------------------------------------------------------------------------
# Building a probe set from candidate files


@dataclass(frozen=True)
class _Candidate:
    id: str
    path: Path
    label: str
    group: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Builder:
    """Validates candidates (read, hash, decode) and collects what is skipped."""

    skipped: list[Skipped] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # sha256 -> id of first file

    def skip(self, path: str, reason: str) -> None:
        logger.info("skipping %s: %s", path, reason)
        self.skipped.append(Skipped(path=path, reason=reason))

    def validate(self, candidate: _Candidate) -> SourceImage | None:
        try:
            data = _read_bytes(candidate.path)
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
        self, candidates: list[_Candidate], max_images: int | None, seed: int
    ) -> list[SourceImage]:
        """Validate candidates, class by class in turn, until ``max_images`` pass."""
        if max_images is not None and max_images < 1:
            raise ProbeSetError(
                f"max_images={max_images!r} leaves no image; pass a positive number or None"
            )
        by_label: dict[str, list[_Candidate]] = {}
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

    def _valid(self, candidates: list[_Candidate]) -> Iterator[SourceImage]:
        for candidate in candidates:
            image = self.validate(candidate)
            if image is not None:
                yield image


def _log_summary(where: str, images: list[SourceImage], skipped: list[Skipped]) -> None:
    if skipped:
        counts = Counter(s.reason.split(":")[0] for s in skipped)
        logger.warning(
            "%s: kept %d images, skipped %d (%s); see ProbeSet.skipped",
            where,
            len(images),
            len(skipped),
            ", ".join(f"{reason} x{n}" for reason, n in sorted(counts.items())),
        )


def _nothing_usable(where: str, found: str, skipped: list[Skipped]) -> ProbeSetError:
    counts = Counter(s.reason.split(":")[0] for s in skipped)
    detail = ", ".join(f"{reason} x{n}" for reason, n in sorted(counts.items()))
    examples = "; ".join(f"{s.path!r}: {s.reason}" for s in skipped[:3])
    return ProbeSetError(
        f"no usable image in {where}: found {found}"
        + (f", all skipped ({detail}), e.g. {examples}" if skipped else "")
        + f". Add readable images ({', '.join(sorted(IMAGE_EXTENSIONS))}) or use "
        "the built-in probe set"
    )


# --------------------------------------------------------------------------
# Folders


def folder_probe_set(path: Path, seed: int = 0, max_images: int | None = None) -> ProbeSet:
    """Build a probe set from a folder of images.

    With class subfolders (``root/<label>/.../image.jpg``) the label is the
    top-level subfolder's name and files lying directly in ``root`` are
    skipped; with no subfolder holding images the layout is flat and every
    image gets the label ``"all"``. Files are found recursively (extensions
    jpg, jpeg, png, bmp, tif, tiff, webp in any case), following symbolic
    links but never entering a folder twice, so link loops end. Hidden files
    and folders (name starting with ``.``) are ignored. The id and group of
    an image are its path relative to ``root``, in POSIX form.

    Parameters
    ----------
    path : Path
        The folder.
    seed : int
        Which files a truncated set keeps (with ``max_images``); the order is
        always sorted by path.
    max_images : int or None
        Keep at most this many images, as evenly across classes as possible.
        Only the files needed are decoded.

    Returns
    -------
    ProbeSet
        Unreadable and duplicate files appear in ``skipped`` with the reason.

    Raises
    ------
    ProbeSetError
        The folder does not exist or holds no usable image.

    Examples
    --------
    >>> probe = folder_probe_set(Path("photos"))  # doctest: +SKIP
    >>> probe.class_counts(), probe.skipped_counts()  # doctest: +SKIP
    ({'cats': 120, 'dogs': 118}, {'unreadable': 2})
    """
    # Absolute (links kept) so that loaders work from any working directory.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.is_dir():
        raise ProbeSetError(
            f"probe-set folder {str(root)!r} does not exist or is not a folder; "
            "pass a folder of images, a .csv manifest or 'builtin'"
        )
    builder = _Builder()
    files, others = _discover(root, builder)
    rel_paths = [f.relative_to(root).as_posix() for f in files]
    classed = any("/" in rel for rel in rel_paths)
    candidates = []
    for file, rel in zip(files, rel_paths, strict=True):
        if classed and "/" not in rel:
            builder.skip(
                rel,
                "unlabelled: file at the top of a folder with class subfolders; "
                "move it into a class subfolder",
            )
            continue
        label = rel.split("/", 1)[0] if classed else FLAT_LABEL
        candidates.append(_Candidate(id=rel, path=file, label=label, group=rel))
    images = builder.build(candidates, max_images, seed)
    if not images:
        found = f"{len(files)} file(s) with an image extension and {others} other file(s)"
        raise _nothing_usable(repr(str(root)), found, builder.skipped)
    _log_summary(str(root), images, builder.skipped)
    n_classes = len({im.label for im in images})
    layout = "labels from subfolder names" if classed else f"one label {FLAT_LABEL!r}"
    return ProbeSet(
        name=root.resolve().name or str(root),
        images=images,
        skipped=builder.skipped,
        description=(
            f"{len(images)} images from folder {str(root)!r} in {n_classes} class(es) ({layout})."
        ),
    )


def _discover(root: Path, builder: _Builder) -> tuple[list[Path], int]:
    """Image files under ``root`` sorted by relative path, and a count of the rest."""
    files: list[Path] = []
    others = 0
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            stat = folder.stat()
            key = (stat.st_dev, stat.st_ino)
            if key in visited:
                logger.debug("not entering %s again (symbolic link loop)", folder)
                continue
            visited.add(key)
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            rel = folder.relative_to(root).as_posix()
            builder.skip(rel, f"unreadable: cannot list folder: {_short(str(exc.strerror))}")
            continue
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows links; loops are caught by ``visited``
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(Path(entry.path))
            elif Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                # Broken links are kept: reading them records why they failed.
                files.append(Path(entry.path))
            else:
                others += 1
    files.sort(key=lambda f: f.relative_to(root).as_posix())
    return files, others


# --------------------------------------------------------------------------
# CSV manifests


_RESERVED_COLUMNS = ("path", "label", "group")


def manifest_probe_set(csv_path: Path, seed: int = 0, max_images: int | None = None) -> ProbeSet:
    """Build a probe set from a CSV manifest.

    Columns: ``path`` (required; relative to the CSV's folder or absolute),
    ``label`` (optional, default ``"all"``), ``group`` (optional, default the
    path); every other column is copied, as text, into each image's
    metadata. Rows naming a missing or unreadable file, with an empty path or
    label, or repeating an earlier row's path are skipped with the reason.

    Parameters
    ----------
    csv_path : Path
        The manifest.
    seed : int
        Which rows a truncated set keeps (with ``max_images``).
    max_images : int or None
        Keep at most this many images, as evenly across labels as possible.

    Returns
    -------
    ProbeSet

    Raises
    ------
    ProbeSetError
        The CSV cannot be parsed, has no ``path`` column or lists no usable
        image.

    Examples
    --------
    >>> probe = manifest_probe_set(Path("probe.csv"))  # doctest: +SKIP
    >>> probe.images[0].metadata["camera"]  # doctest: +SKIP
    'Canon EOS 5D'
    """
    import pandas as pd  # pandas is slow to import; only manifests need it

    csv_path = Path(csv_path).expanduser()
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise ProbeSetError(f"manifest {str(csv_path)!r} does not exist; check the path") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise ProbeSetError(
            f"cannot parse manifest {str(csv_path)!r} as CSV ({_short(str(exc))}); "
            "save it as UTF-8 CSV with a header row"
        ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    if "path" not in table.columns:
        raise ProbeSetError(
            f"manifest {str(csv_path)!r} has no 'path' column (columns found: "
            f"{list(table.columns)!r}); add a header row with a 'path' column"
        )
    base = Path(os.path.abspath(csv_path)).parent
    extra_columns = [c for c in table.columns if c not in _RESERVED_COLUMNS]
    builder = _Builder()
    candidates: list[_Candidate] = []
    first_row: dict[str, int] = {}
    for offset, row in enumerate(table.to_dict("records")):
        line = offset + 2  # the header is line 1
        written = str(row["path"]).strip()
        if not written:
            builder.skip(f"{csv_path.name}:{line}", f"missing: line {line} has an empty path")
            continue
        file = Path(os.path.normpath(base / Path(written).expanduser()))
        image_id = _manifest_id(file, base)
        if image_id in first_row:
            builder.skip(
                image_id,
                f"duplicate: line {line} repeats the path of line {first_row[image_id]}; "
                "the first is kept",
            )
            continue
        first_row[image_id] = line
        label = str(row.get("label", FLAT_LABEL)).strip()
        if not label:
            builder.skip(image_id, f"unlabelled: line {line} has an empty label; fill it in")
            continue
        if not file.is_file():
            what = "a folder, not a file" if file.is_dir() else "no such file"
            builder.skip(image_id, f"missing: {str(file)!r} is {what}")
            continue
        group = str(row.get("group", "")).strip() or image_id
        extra = {
            (f"manifest_{c}" if c in ("exif", "format", "mode", "size") else c): row[c]
            for c in extra_columns
        }
        candidates.append(_Candidate(image_id, file, label, group, extra))
    images = builder.build(candidates, max_images, seed)
    if not images:
        raise _nothing_usable(
            f"manifest {str(csv_path)!r}", f"{len(table)} row(s)", builder.skipped
        )
    _log_summary(str(csv_path), images, builder.skipped)
    return ProbeSet(
        name=csv_path.stem,
        images=images,
        skipped=builder.skipped,
        description=(
            f"{len(images)} images listed in manifest {str(csv_path)!r} in "
            f"{len({im.label for im in images})} class(es)."
        ),
    )


def _manifest_id(file: Path, base: Path) -> str:
    # Relative to the manifest's folder, so that ids (and results keyed by
    # them) survive moving the manifest together with its images.
    try:
        return Path(os.path.relpath(file, base)).as_posix()
    except ValueError:  # another drive on Windows
        return file.as_posix()
