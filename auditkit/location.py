"""Where the embedding store lives: a local directory, or any fsspec URL.

Local paths (NFS included) are first-class: writes go to a hidden temporary
file in the target's directory and are renamed into place, so a reader never
sees a partial file. Other URLs (``s3://``, ``gs://``, ``memory://``) go
through fsspec when it is installed; an object store's PUT is atomic on its
own, so the file is written under its final name. ``file://`` URLs are local
paths.

Temporary files are named ``.<tag>.<host>-<pid>.<random>.tmp``, so that an
abandoned one (its writer killed) can be told from a write in progress: see
:func:`is_abandoned`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.errors import CacheError

TEMP_SUFFIX = ".tmp"
#: Seconds after which any temporary file counts as abandoned. A write takes
#: milliseconds; this only has to outlast a writer paused mid-write.
STALE_AFTER = 600.0

#: Tags this host's temporary files, so that a pid is only judged where it means something.
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_WRITER = re.compile(r"^\.[^.]*\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")


def is_abandoned(path: Path, now: float | None = None, max_age: float = STALE_AFTER) -> bool:
    """Whether a temporary file is left over from a write that will never finish.

    True when it is older than ``max_age`` seconds, or when its name says it
    was written on this host by a process that is no longer running. A file
    that vanished meanwhile (renamed into place) is not abandoned.

    Examples
    --------
    >>> is_abandoned(Path(f".abcd1234.{_HOST}-{os.getpid()}.x.tmp"))
    False
    """
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > max_age:
        return True
    writer = _WRITER.match(path.name)
    if writer is None or writer["host"] != _HOST:
        return False
    return not _running(int(writer["pid"]))


def _running(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it there; rely on age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def open_location(root: str | Path) -> Location:
    """The :class:`Location` of ``root``: a local path, ``file://`` URL or fsspec URL.

    Examples
    --------
    >>> open_location("/tmp/x").local, open_location("file:///tmp/x").root
    (True, PosixPath('/tmp/x'))
    """
    text = str(root)
    if isinstance(root, Path) or not _URL.match(text):
        return Location(Path(root))
    if text.startswith("file://"):
        return Location(Path(text[len("file://"):]))
    try:
        import fsspec
    except ImportError as exc:
        raise CacheError(
            f"cache location {text!r} is a URL, which needs fsspec: pip install fsspec "
            "(and the filesystem's own package, e.g. s3fs), or give a local path"
        ) from exc
    fs, path = fsspec.core.url_to_fs(text)
    return Location(text, fs, path)


class Location:
    """A directory of files, local or behind an fsspec filesystem.

    Paths handed around are strings relative to the root (``"fp/shards/x"``).

    Parameters
    ----------
    root : Path or str
        The local directory, or the URL as given (what users see in messages).
    fs, base :
        The fsspec filesystem and its path of the root; ``None`` for a local root.
    """

    def __init__(self, root: Path | str, fs: Any = None, base: str | None = None) -> None:
        self.root = root
        self.fs = fs
        self.base = (base or "").rstrip("/")
        self.local = fs is None

    def full(self, rel: str) -> str:
        """What users see: the local path or the URL of ``rel``."""
        if self.local:
            return str(Path(self.root) / rel)
        return f"{str(self.root).rstrip('/')}/{rel}"

    def _path(self, rel: str) -> str:
        return str(Path(self.root) / rel) if self.local else f"{self.base}/{rel}"

    def listdir(self, rel: str = "") -> list[str]:
        """Names in the directory ``rel`` (files and folders); ``[]`` when it is missing."""
        if self.local:
            try:
                return sorted(os.listdir(self._path(rel)))
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            entries = self.fs.ls(self._path(rel), detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def isdir(self, rel: str) -> bool:
        if self.local:
            return os.path.isdir(self._path(rel))
        return bool(self.fs.isdir(self._path(rel)))

    def size(self, rel: str) -> int:
        if self.local:
            return os.stat(self._path(rel)).st_size
        return int(self.fs.size(self._path(rel)))

    def read(self, rel: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of a file (to its end when ``end`` is None)."""
        if self.local:
            with open(self._path(rel), "rb") as fh:
                fh.seek(start)
                return fh.read() if end is None else fh.read(max(0, end - start))
        return bytes(self.fs.cat_file(self._path(rel), start=start or None, end=end))

    def array(self, rel: str) -> np.ndarray:
        """The whole file as a read-only uint8 array: a memory map where it is local."""
        if self.local:
            return np.memmap(self._path(rel), dtype=np.uint8, mode="r")
        return np.frombuffer(self.read(rel), dtype=np.uint8)

    def write_atomic(self, rel: str, chunks: Sequence[bytes | memoryview]) -> None:
        """Write ``rel`` so that readers see all of it or nothing; ``OSError`` on failure."""
        if not self.local:
            self.fs.pipe_file(self._path(rel), b"".join(bytes(c) for c in chunks))
            return
        target = Path(self._path(rel))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=TEMP_SUFFIX,
                                   prefix=f".{target.name[:8]}.{_HOST}-{os.getpid()}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            os.replace(tmp, target)
        except BaseException:  # a failed or interrupted write leaves no temporary file
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, rel: str) -> bool:
        """Delete a file; False when it was already gone."""
        try:
            if self.local:
                os.unlink(self._path(rel))
            else:
                self.fs.rm_file(self._path(rel))
        except FileNotFoundError:
            return False
        return True

    def remove_tree(self, rel: str) -> None:
        if self.local:
            shutil.rmtree(self._path(rel), ignore_errors=False)
        elif self.fs.exists(self._path(rel)):
            self.fs.rm(self._path(rel), recursive=True)

    def temporary(self, rel: str) -> list[Path]:
        """Temporary files one level below ``rel`` (local only: object stores have none)."""
        if not self.local:
            return []
        return sorted(Path(self._path(rel)).glob(f"*/.*{TEMP_SUFFIX}"))
