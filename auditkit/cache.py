"""Content-addressed embedding store on disk.

One file per embedding, under ``<root>/<fingerprint[:16]>/<key[:2]>/<key>.emb``.
The key hashes everything that changes an embedding: the encoder
fingerprint, the image bytes, the variant key (id, params, version and a
hash of the transform's code, see :class:`~auditkit.transforms.base.Variant`),
the seed when the variant is random, the dtype, and the environment of
:func:`auditkit.numerics.embedding_environment` (device kind and capability,
matmul and convolution precision settings, Pillow, libjpeg and OpenCV
versions). A file is ``MAGIC``, a JSON header line, the raw array bytes
and a BLAKE2b digest of header and bytes: a torn or flipped file fails the
digest, is logged, deleted and recomputed.

Writes go to a temporary file in the same directory and are renamed into
place, so a crash or a kill mid-write leaves at most a temporary file, never a
wrong entry, and concurrent writers of the same key (xdist workers, two runs)
each rename a complete file. Temporary files are hidden (``.<key[:8]>.<host>-
<pid>.<random>.tmp``), never read as entries, and swept once abandoned: when
the process that wrote them is gone (same host) or after ``STALE_AFTER``
seconds. Sweeping a file that was in fact still being written (a pid
namespace the host tag cannot tell apart) costs that writer one entry: its
rename fails with a warning, and nothing wrong is ever read.

Nothing is fsynced: after a power cut a renamed entry may be torn, and the
digest then sends it back to be recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditkit.encoders.base import stable_hash
from auditkit.errors import CacheError
from auditkit.numerics import embedding_environment

log = logging.getLogger("auditkit")

MAGIC = b"AKEMB1\n"
DIGEST_SIZE = 32
SUFFIX = ".emb"
TEMP_SUFFIX = ".tmp"
#: Seconds after which any temporary file counts as abandoned. A write takes
#: milliseconds; this only has to outlast a writer paused mid-write.
STALE_AFTER = 600.0

#: Tags this host's temporary files, so that a pid is only judged where it means something.
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_WRITER = re.compile(r"^\.[^.]*\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.")


def default_cache_dir() -> Path:
    """The per-user cache directory (platformdirs), ``.../auditkit/embeddings``."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("auditkit")) / "embeddings"


def cache_key(
    fingerprint: str, image_sha256: str, variant_key: str, dtype: str, seed: int | None = None,
    environment: str | None = None,
) -> str:
    """The cache key of one embedding: a hash of every component.

    ``environment`` is :func:`environment_key` of the device the encoder runs on.

    Examples
    --------
    >>> len(cache_key("f", "i", "v", "float32", environment=environment_key("cpu")))
    64
    """
    return stable_hash("auditkit-emb-v2", fingerprint, image_sha256, variant_key, dtype, seed,
                       environment)


def environment_key(device: str) -> str:
    """Hash of :func:`~auditkit.numerics.embedding_environment`, read now.

    Read once per extraction, not once per pair: the settings are a handful
    of attribute reads, but a probe set has thousands of pairs.
    """
    return stable_hash(embedding_environment(device))


def checksum(data: bytes) -> bytes:
    """BLAKE2b digest of ``data``: what entries here and stored measurements are checked by."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


def encode_entry(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    header = json.dumps({"dtype": array.dtype.str, "shape": list(array.shape)}).encode() + b"\n"
    body = header + array.tobytes()
    return MAGIC + body + checksum(body)


def decode_entry(blob: bytes) -> np.ndarray:
    """Parse an entry; ``ValueError`` says what is wrong with it."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + DIGEST_SIZE:
        raise ValueError("bad magic or truncated header")
    body, digest = blob[len(MAGIC) : -DIGEST_SIZE], blob[-DIGEST_SIZE:]
    if checksum(body) != digest:
        raise ValueError("checksum mismatch (partial write or corruption)")
    header, _, payload = body.partition(b"\n")
    try:
        meta = json.loads(header)
        array = np.frombuffer(payload, dtype=np.dtype(meta["dtype"]))
        return array.reshape(meta["shape"]).copy()
    except (ValueError, KeyError, TypeError) as exc:
        # A good digest over a bad header: written by something else.
        raise ValueError(f"malformed header ({type(exc).__name__}: {exc})") from exc


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0


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


class EmbeddingCache:
    """Embeddings on disk, keyed by :func:`cache_key`.

    Parameters
    ----------
    root : path
        Directory of the store; created on first write.

    Examples
    --------
    >>> import tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> cache.put("fp", "k" * 64, np.ones(3, np.float32))
    >>> cache.get("fp", "k" * 64)
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.stats = CacheStats()
        self._swept: set[str] = set()  # fingerprint folders swept by this process

    def _path(self, fingerprint: str, key: str) -> Path:
        if not (key.isalnum() and fingerprint.isalnum()):
            raise CacheError(
                f"cache key {key!r} or fingerprint {fingerprint!r} is not alphanumeric"
            )
        return self.root / fingerprint[:16] / key[:2] / f"{key}{SUFFIX}"

    def get(self, fingerprint: str, key: str) -> np.ndarray | None:
        """The stored array, or ``None`` (missing, unreadable or corrupt: recompute it)."""
        path = self._path(fingerprint, key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except OSError as exc:
            log.warning("embedding cache: cannot read %s (%s); recomputing", path, exc)
            self.stats.misses += 1
            return None
        try:
            array = decode_entry(blob)
        except ValueError as exc:
            log.warning("embedding cache: %s is unreadable (%s); recomputing", path, exc)
            self.stats.corrupt += 1
            self.stats.misses += 1
            path.unlink(missing_ok=True)
            return None
        self.stats.hits += 1
        return array

    def get_many(self, fingerprint: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        found = {}
        for key in keys:
            value = self.get(fingerprint, key)
            if value is not None:
                found[key] = value
        return found

    def put(self, fingerprint: str, key: str, array: np.ndarray) -> None:
        """Store ``array`` atomically; a failed write is a warning, never an error."""
        path = self._path(fingerprint, key)
        blob = encode_entry(array)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if fingerprint[:16] not in self._swept:
                self._swept.add(fingerprint[:16])
                self.sweep(fingerprint)
            fd, tmp = tempfile.mkstemp(
                dir=path.parent, prefix=f".{key[:8]}.{_HOST}-{os.getpid()}.", suffix=TEMP_SUFFIX
            )
        except OSError as exc:
            # A cache that cannot be written costs speed, not correctness.
            log.warning("embedding cache: cannot write %s (%s)", path, exc)
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.warning("embedding cache: cannot write %s (%s)", path, exc)
            return
        except BaseException:  # interrupted: leave no temporary file behind
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stats.writes += 1

    def put_many(self, fingerprint: str, entries: Mapping[str, np.ndarray]) -> None:
        for key, array in entries.items():
            self.put(fingerprint, key, array)

    def _folders(self, fingerprint: str | None = None) -> list[Path]:
        if fingerprint:
            if not fingerprint.isalnum():  # "../.." must never reach rmtree
                raise CacheError(
                    f"fingerprint {fingerprint!r} is not alphanumeric; copy it from "
                    "'auditkit cache info'"
                )
            folder = self.root / fingerprint[:16]
            return [folder] if folder.is_dir() else []
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir())

    def _temporary(self, folder: Path) -> Iterator[Path]:
        # Entries' and stored measurements' (auditkit.memo) temporary files alike.
        return folder.glob(f"*/.*{TEMP_SUFFIX}")

    def sweep(self, fingerprint: str | None = None, max_age: float = STALE_AFTER) -> int:
        """Delete abandoned temporary files (see :func:`is_abandoned`); returns how many.

        Files of writes still in progress, here or on another host sharing
        the directory, are left alone.

        Examples
        --------
        >>> import tempfile
        >>> EmbeddingCache(tempfile.mkdtemp()).sweep()
        0
        """
        now, removed = time.time(), 0
        for folder in self._folders(fingerprint):
            for tmp in self._temporary(folder):
                if is_abandoned(tmp, now, max_age):
                    try:
                        tmp.unlink()
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        log.warning("embedding cache: cannot remove %s (%s)", tmp, exc)
                        continue
                    log.info("embedding cache: removed abandoned temporary file %s", tmp)
                    removed += 1
        return removed

    def info(self) -> dict[str, dict[str, int]]:
        """Per fingerprint prefix: ``entries``, their ``bytes`` and ``temporary`` files.

        Temporary files are never counted as entries: they are writes in
        progress or, after a crash, leftovers that :meth:`sweep` removes.

        Examples
        --------
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp())
        >>> cache.put("fp", "k" * 64, np.ones(3, np.float32))
        >>> cache.info()
        {'fp': {'entries': 1, 'bytes': 82, 'temporary': 0}}
        """
        out: dict[str, dict[str, int]] = {}
        for folder in self._folders():
            entries, size = 0, 0
            for entry in folder.glob(f"*/*{SUFFIX}"):
                try:
                    size += entry.stat().st_size
                except FileNotFoundError:  # deleted meanwhile (corrupt, or a clear)
                    continue
                entries += 1
            temporary = sum(1 for _ in self._temporary(folder))
            out[folder.name] = {"entries": entries, "bytes": size, "temporary": temporary}
        return out

    def verify(self, fingerprint: str | None = None) -> list[Path]:
        """Read every entry; delete and return those that fail the digest.

        Reading does the same on its own (a corrupt entry is recomputed); this
        finds them up front, e.g. after a disk problem.

        Examples
        --------
        >>> import tempfile
        >>> EmbeddingCache(tempfile.mkdtemp()).verify()
        []
        """
        bad = []
        for folder in self._folders(fingerprint):
            for entry in sorted(folder.glob(f"*/*{SUFFIX}")):
                try:
                    decode_entry(entry.read_bytes())
                except FileNotFoundError:
                    continue
                except (OSError, ValueError) as exc:
                    log.warning("embedding cache: %s is unreadable (%s); removed", entry, exc)
                    entry.unlink(missing_ok=True)
                    bad.append(entry)
        return bad

    def clear(self, fingerprint: str | None = None) -> int:
        """Delete all entries (or one fingerprint's); returns the entries removed."""
        removed = 0
        for target in self._folders(fingerprint):
            removed += sum(1 for _ in target.glob(f"*/*{SUFFIX}"))
            shutil.rmtree(target)
        return removed
