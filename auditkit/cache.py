"""Content-addressed embedding store on disk.

One file per embedding, under ``<root>/<fingerprint[:16]>/<key[:2]>/<key>.emb``.
The key hashes everything that changes an embedding (encoder fingerprint,
image bytes, variant id, params and version, seed when the variant is
random, dtype). A file is ``MAGIC``, a JSON header line, the raw array bytes
and a BLAKE2b digest of header and bytes: a torn or flipped file fails the
digest, is logged, deleted and recomputed. Writes go to a temporary file in
the same directory and are renamed into place, so a crash mid-write leaves at
most a stray temporary file, never a wrong entry, and concurrent writers of
the same key (xdist workers) each rename a complete file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditkit.encoders.base import stable_hash
from auditkit.errors import CacheError

log = logging.getLogger("auditkit")

MAGIC = b"AKEMB1\n"
DIGEST_SIZE = 32
SUFFIX = ".emb"


def default_cache_dir() -> Path:
    """The per-user cache directory (platformdirs), ``.../auditkit/embeddings``."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("auditkit")) / "embeddings"


def cache_key(
    fingerprint: str, image_sha256: str, variant_key: str, dtype: str, seed: int | None = None
) -> str:
    """The cache key of one embedding: a hash of every component.

    Examples
    --------
    >>> len(cache_key("f", "i", "v", "float32"))
    64
    """
    return stable_hash("auditkit-emb-v1", fingerprint, image_sha256, variant_key, dtype, seed)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


def encode_entry(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    header = json.dumps({"dtype": array.dtype.str, "shape": list(array.shape)}).encode() + b"\n"
    body = header + array.tobytes()
    return MAGIC + body + _digest(body)


def decode_entry(blob: bytes) -> np.ndarray:
    """Parse an entry; ``ValueError`` says what is wrong with it."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + DIGEST_SIZE:
        raise ValueError("bad magic or truncated header")
    body, digest = blob[len(MAGIC) : -DIGEST_SIZE], blob[-DIGEST_SIZE:]
    if _digest(body) != digest:
        raise ValueError("checksum mismatch (partial write or corruption)")
    header, _, payload = body.partition(b"\n")
    meta = json.loads(header)
    array = np.frombuffer(payload, dtype=np.dtype(meta["dtype"]))
    return array.reshape(meta["shape"]).copy()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0


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

    def _path(self, fingerprint: str, key: str) -> Path:
        if not (key.isalnum() and fingerprint.isalnum()):
            raise CacheError(f"cache key {key!r} or fingerprint {fingerprint!r} is not alphanumeric")
        return self.root / fingerprint[:16] / key[:2] / f"{key}{SUFFIX}"

    def get(self, fingerprint: str, key: str) -> np.ndarray | None:
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
        except (ValueError, KeyError) as exc:
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
        path = self._path(fingerprint, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode_entry(array))
            os.replace(tmp, path)
        except OSError as exc:
            # A cache that cannot be written costs speed, not correctness.
            log.warning("embedding cache: cannot write %s (%s)", path, exc)
            return
        self.stats.writes += 1

    def put_many(self, fingerprint: str, entries: Mapping[str, np.ndarray]) -> None:
        for key, array in entries.items():
            self.put(fingerprint, key, array)

    def info(self) -> dict[str, dict[str, int]]:
        """Entries and bytes per fingerprint prefix."""
        out: dict[str, dict[str, int]] = {}
        if not self.root.is_dir():
            return out
        for fp_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            files = list(fp_dir.glob(f"*/*{SUFFIX}"))
            out[fp_dir.name] = {
                "entries": len(files),
                "bytes": sum(f.stat().st_size for f in files),
            }
        return out

    def clear(self, fingerprint: str | None = None) -> int:
        """Delete all entries (or one fingerprint's); returns the entries removed."""
        if fingerprint:
            targets = [self.root / fingerprint[:16]]
        elif self.root.is_dir():
            targets = [p for p in self.root.iterdir() if p.is_dir()]
        else:
            targets = []
        removed = 0
        for target in targets:
            if target.is_dir():
                removed += sum(1 for _ in target.glob(f"*/*{SUFFIX}"))
                shutil.rmtree(target)
        return removed
