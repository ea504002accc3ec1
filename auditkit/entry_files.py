"""The file-per-entry embedding store of auditkit up to 0.x: read, migrated, never grown.

One file per embedding, under ``<root>/<fingerprint[:16]>/<key[:2]>/<key>.emb``:
``MAGIC``, a JSON header line, the raw array bytes and a BLAKE2b digest of
header and bytes. :class:`~auditkit.cache.EmbeddingCache` still reads such
entries where a cache has them (a torn or flipped file fails the digest, is
logged, deleted and recomputed) and ``auditkit cache compact`` moves them into
shards (:mod:`auditkit.shards`). :meth:`EntryFiles.put` is kept for the
benchmark that compares the two stores and for tests that build an old cache.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from auditkit.location import _HOST, TEMP_SUFFIX
from auditkit.shards import DIGEST_SIZE, checksum

log = logging.getLogger("auditkit")

MAGIC = b"AKEMB1\n"
SUFFIX = ".emb"


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


def is_entry_folder(name: str) -> bool:
    """Whether a folder under a fingerprint's holds entry files (``<key[:2]>``)."""
    return len(name) == 2 and name.isalnum()


class EntryFiles:
    """Entry files under a local root; keys and fingerprints are checked by the caller.

    Examples
    --------
    >>> import tempfile
    >>> store = EntryFiles(tempfile.mkdtemp())
    >>> store.put("fp", "k" * 64, np.ones(3, np.float32))
    True
    >>> store.get("fp", "k" * 64)
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.corrupt = 0

    def path(self, fingerprint: str, key: str) -> Path:
        return self.root / fingerprint[:16] / key[:2] / f"{key}{SUFFIX}"

    def get(self, fingerprint: str, key: str) -> np.ndarray | None:
        """The stored array, or ``None`` (missing, unreadable or corrupt: recompute it)."""
        path = self.path(fingerprint, key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("embedding cache: cannot read %s (%s); recomputing", path, exc)
            return None
        try:
            return decode_entry(blob)
        except ValueError as exc:
            log.warning("embedding cache: %s is unreadable (%s); recomputing", path, exc)
            self.corrupt += 1
            path.unlink(missing_ok=True)
            return None

    def get_many(self, fingerprint: str, keys: list[str]) -> dict[str, np.ndarray]:
        found = {}
        for key in keys:
            value = self.get(fingerprint, key)
            if value is not None:
                found[key] = value
        return found

    def put(self, fingerprint: str, key: str, array: np.ndarray) -> bool:
        """Store ``array`` atomically; a failed write is a warning (False), never an error."""
        path = self.path(fingerprint, key)
        blob = encode_entry(array)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=path.parent, prefix=f".{key[:8]}.{_HOST}-{os.getpid()}.", suffix=TEMP_SUFFIX
            )
        except OSError as exc:
            log.warning("embedding cache: cannot write %s (%s)", path, exc)
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.warning("embedding cache: cannot write %s (%s)", path, exc)
            return False
        except BaseException:  # interrupted: leave no temporary file behind
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def put_many(self, fingerprint: str, entries: Mapping[str, np.ndarray]) -> None:
        for key, array in entries.items():
            self.put(fingerprint, key, array)

    def entries(self, folder: str) -> Iterator[Path]:
        """Entry files of one fingerprint folder."""
        return (self.root / folder).glob(f"*/*{SUFFIX}")

    def items(self, folder: str) -> Iterator[tuple[str, np.ndarray]]:
        """(key, array) of every intact entry of a folder; damaged ones are removed."""
        for entry in sorted(self.entries(folder)):
            try:
                yield entry.name[: -len(SUFFIX)], decode_entry(entry.read_bytes())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("embedding cache: %s is unreadable (%s); removed", entry, exc)
                entry.unlink(missing_ok=True)

    def verify(self, folder: str) -> list[Path]:
        """Read every entry of a folder; delete and return those that fail the digest."""
        bad = []
        for entry in sorted(self.entries(folder)):
            try:
                decode_entry(entry.read_bytes())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("embedding cache: %s is unreadable (%s); removed", entry, exc)
                entry.unlink(missing_ok=True)
                bad.append(entry)
        return bad
