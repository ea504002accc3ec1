"""Reading and decoding one image file into 8-bit RGB, with its EXIF fields.

Pixels are kept as stored (no EXIF rotation: the orientation tag is itself
one of the traces audits look for) and converted to 8-bit RGB by
:func:`decode_image_bytes`; every decoding failure becomes a
:class:`BadImageError` with a message short enough for a table.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from auditkit.errors import BadImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "Decoded",
    "FileLoader",
    "decode_image_bytes",
    "read_bytes",
    "read_exif",
    "short",
    "shown",
]

logger = logging.getLogger("auditkit")

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
)

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
        data = read_bytes(Path(self.path))
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
            # Raised by Image.open from the header alone: nothing was allocated.
            raise BadImageError(_bomb_reason(exc)) from exc
        except UnidentifiedImageError as exc:
            raise BadImageError("not an image Pillow can decode") from exc
        except BadImageError:
            raise
        except Exception as exc:
            # Decoders meet hostile and broken files: Pillow raises OSError,
            # SyntaxError, ValueError, struct.error... One bad file must not
            # end the run, so every failure here becomes a BadImageError.
            raise BadImageError(short(f"{type(exc).__name__}: {exc}")) from exc
    for warning in caught:
        logger.debug("decoding %s: %s", name, warning.message)
    return image, info


def _bomb_reason(exc: Exception) -> str:
    found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow states the size it read
    size = f"{int(found.group(1)):,} pixels" if found else "the size in its header"
    return short(
        f"{size}, over the decompression bomb limit "
        f"PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS}; downscale it or raise the limit"
    )


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
    Text is read as UTF-8, falling back to Latin-1 (also for ASCII tags that
    Pillow read as Latin-1), NULs are dropped, other control characters and
    runs of white space become one space, numbers become their decimal text,
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
            text = _bytes_text(bytes(value))
        elif isinstance(value, str):
            text = _repair_latin1(value)
        elif isinstance(value, (tuple, list)):
            parts = [_exif_text(v) for v in value]
            text = ", ".join(p for p in parts if p is not None)
        elif isinstance(value, Mapping):
            return None
        else:
            text = str(value)
        return _clean(text)[:_MAX_EXIF_CHARS]
    except Exception:
        return None


def _bytes_text(raw: bytes) -> str:
    # UTF-8 is what current writers use; anything else is most likely a
    # legacy 8-bit code page, and Latin-1 keeps every byte visible.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _repair_latin1(text: str) -> str:
    """Undo Pillow's Latin-1 reading of ASCII tags that hold UTF-8 (``'CafÃ©'``)."""
    try:
        return _bytes_text(text.encode("latin-1"))
    except UnicodeEncodeError:  # not from bytes read as Latin-1: leave it
        return text


def _clean(text: str) -> str:
    # NULs are dropped, not cut at: padding and UTF-16 written into ASCII
    # tags ("C\0a\0n\0o\0n") both keep their text. Other control
    # characters (tabs, newlines, C1 codes of mojibake) become spaces.
    text = text.replace("\x00", "")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > _MAX_FILE_BYTES:
            raise BadImageError(
                f"file of {size} bytes is over the {_MAX_FILE_BYTES} byte limit; downscale it first"
            )
        return path.read_bytes()
    except OSError as exc:
        raise BadImageError(short(exc.strerror or f"{type(exc).__name__}: {exc}")) from exc


def shown(text: str) -> str:
    """``text`` safe to print and encode as UTF-8.

    File names are bytes on POSIX; Python keeps the ones that are not UTF-8
    as lone surrogates, which no UTF-8 writer (results, cards, terminals)
    accepts. They are shown as ``\\xNN`` escapes instead; the file itself is
    still opened by its real name.

    Examples
    --------
    >>> shown("caf\\udce9.jpg")
    'caf\\\\xe9.jpg'
    >>> shown("café.jpg")
    'café.jpg'
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."
