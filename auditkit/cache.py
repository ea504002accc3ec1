"""Content-addressed embedding store: the front that extraction and ``auditkit cache`` use.

The key hashes everything that changes an embedding: the encoder
fingerprint, the image bytes, the variant key (id, params, version and a
hash of the transform's code, see :class:`~auditkit.transforms.base.Variant`),
the seed when the variant is random, the dtype, and the environment of
:func:`auditkit.numerics.embedding_environment` (device kind and capability,
matmul and convolution precision settings, Pillow, libjpeg and OpenCV
versions).

Entries are kept in shards (:mod:`auditkit.shards`): one immutable file per
write batch under ``<root>/<fingerprint[:16]>/shards/``, each row checked by
a BLAKE2b digest whenever it is read. The root is a local path or any
fsspec URL (:mod:`auditkit.location`), so that hosts of a cluster share it.
Entries of the older file-per-entry layout (:mod:`auditkit.entry_files`) in
the same root are still read, never written; ``compact`` moves them into
shards.

Writes are atomic (a temporary file renamed into place), so a crash or a
kill mid-write leaves at most a temporary file, never a wrong entry.
Temporary files are swept once abandoned (see
:func:`~auditkit.location.is_abandoned`). Nothing is fsynced: after a power
cut a renamed shard may be torn, and its digests then send its rows back to
be recomputed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditkit.encoders.base import stable_hash
from auditkit.entry_files import (
    MAGIC,
    SUFFIX,
    EntryFiles,
    decode_entry,
    encode_entry,
    is_entry_folder,
)
from auditkit.errors import CacheError
from auditkit.location import _HOST, STALE_AFTER, TEMP_SUFFIX, Location, is_abandoned, open_location
from auditkit.numerics import embedding_environment
from auditkit.shards import DIGEST_SIZE, KEY_WIDTH, ShardSet, checksum

__all__ = [
    "DIGEST_SIZE", "MAGIC", "STALE_AFTER", "SUFFIX", "TEMP_SUFFIX", "CacheStats",
    "EmbeddingCache", "cache_key", "checksum", "decode_entry", "default_cache_dir",
    "encode_entry", "environment_key", "is_abandoned",
]

log = logging.getLogger("auditkit")
_ = _HOST  # re-exported for the tests of temporary-file names


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



def _alnum(text: str) -> bool:
    """ASCII letters and digits only: keys are stored as bytes.

    ``str.isalnum`` alone also takes letters such as "é", which no shard can
    hold; and on ASCII text the bytes test runs several times faster (the
    check covers every key of every read).

    Examples
    --------
    >>> _alnum("ab12"), _alnum("é1"), _alnum("a-b"), _alnum("")
    (True, False, False, False)
    """
    return text.isascii() and text.encode("ascii").isalnum()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0


class EmbeddingCache:
    """Embeddings in a sharded store, keyed by :func:`cache_key`.

    Parameters
    ----------
    root : path or URL
        Directory of the store (created on first write), or an fsspec URL
        such as ``s3://bucket/auditkit`` (needs fsspec and its filesystem).

    Examples
    --------
    >>> import tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> cache.put("fp", "k" * 64, np.ones(3, np.float32))
    >>> cache.get("fp", "k" * 64)
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, root: str | Path) -> None:
        self.location: Location = open_location(root)
        self.url = str(self.location.root)
        if self.location.local:
            self.root = Path(self.location.root)
        else:
            # Stored measurements (auditkit.memo) are small and per machine:
            # beside a remote store they are kept under the local user cache.
            self.root = default_cache_dir().parent / "remote" / stable_hash(self.url)[:16]
        self.stats = CacheStats()
        self.legacy = EntryFiles(self.location.root) if self.location.local else None
        self._sets: dict[str, ShardSet] = {}
        self._legacy_in: dict[str, bool] = {}  # folder -> holds entry files
        self._swept: set[str] = set()

    @staticmethod
    def _check(fingerprint: str, key: str | None = None) -> str:
        if not _alnum(fingerprint) or (
                key is not None and not (_alnum(key) and len(key) <= KEY_WIDTH)):
            raise CacheError(
                f"cache key {key!r} or fingerprint {fingerprint!r} is not alphanumeric "
                f"(keys: at most {KEY_WIDTH} characters); copy a fingerprint from "
                "'auditkit cache info'"
            )
        return fingerprint[:16]

    def _check_all(self, fingerprint: str, keys: list[str]) -> str:
        # One check of all keys at once: a probe set has thousands.
        if keys and not (_alnum("".join(keys)) and max(map(len, keys)) <= KEY_WIDTH):
            for key in keys:
                self._check(fingerprint, key)
        return self._check(fingerprint)

    def _set(self, folder: str) -> ShardSet:
        shards = self._sets.get(folder)
        if shards is None:
            shards = self._sets[folder] = ShardSet(self.location, folder)
        return shards

    def _has_legacy(self, folder: str) -> bool:
        if self.legacy is None:
            return False
        if folder not in self._legacy_in:
            self._legacy_in[folder] = any(
                is_entry_folder(n) for n in self.location.listdir(folder))
        return self._legacy_in[folder]

    def get(self, fingerprint: str, key: str) -> np.ndarray | None:
        """The stored array, or ``None`` (missing, unreadable or corrupt: recompute it)."""
        return self.get_many(fingerprint, [key]).get(key)

    def get_many(self, fingerprint: str,
                 keys: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
        """The stored arrays of ``keys`` that are present and intact."""
        keys = list(keys)
        folder = self._check_all(fingerprint, keys)
        shards = self._set(folder)
        before = shards.corrupt
        try:
            found = shards.get_many(keys)
        except OSError as exc:
            log.warning("embedding cache: cannot read %s (%s); recomputing",
                        self.location.full(shards.dir), exc)
            found = {}
        self.stats.corrupt += shards.corrupt - before
        if len(found) < len(keys) and self._has_legacy(folder):
            assert self.legacy is not None
            before = self.legacy.corrupt
            found.update(self.legacy.get_many(fingerprint, [k for k in keys if k not in found]))
            self.stats.corrupt += self.legacy.corrupt - before
        self.stats.hits += len(found)
        self.stats.misses += len(keys) - len(found)
        return found

    def put(self, fingerprint: str, key: str, array: np.ndarray) -> None:
        """Store ``array`` atomically; a failed write is a warning, never an error."""
        self.put_many(fingerprint, {key: array})

    def put_many(self, fingerprint: str, entries: dict[str, np.ndarray]) -> None:
        """Store ``entries`` as one shard (per dtype and shape); failures are warnings."""
        if not entries:
            return
        folder = self._check_all(fingerprint, list(entries))
        if folder not in self._swept:
            self._swept.add(folder)
            self.sweep(fingerprint)
        shards = self._set(folder)
        try:
            shards.put(entries)
        except OSError as exc:
            # A cache that cannot be written costs speed, not correctness.
            log.warning("embedding cache: cannot write to %s (%s)",
                        self.location.full(shards.dir), exc)
            return
        self.stats.writes += len(entries)

    def _folders(self, fingerprint: str | None = None) -> list[str]:
        if fingerprint:
            folder = self._check(fingerprint)
            return [folder] if self.location.isdir(folder) else []
        return [n for n in self.location.listdir() if n.isalnum() and self.location.isdir(n)]

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
            for tmp in self.location.temporary(folder):
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
        """Per fingerprint prefix: ``entries``, ``bytes``, ``shards``, ``legacy``, ``temporary``
        and ``newer_format`` (shards a newer auditkit wrote: kept, not readable here).

        Entries are counted from the shards' headers (a key written twice by
        two racing writers counts twice until ``compact``) plus entry files of
        the old layout (``legacy``). Temporary files are never counted as
        entries: they are writes in progress or, after a crash, leftovers that
        :meth:`sweep` removes.

        Examples
        --------
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp())
        >>> cache.put("fp", "k" * 64, np.ones(3, np.float32))
        >>> cache.info()["fp"]
        {'entries': 1, 'bytes': 212, 'shards': 1, 'legacy': 0, 'temporary': 0, 'newer_format': 0}
        """
        out: dict[str, dict[str, int]] = {}
        for folder in self._folders():
            shards, rows, size, newer = self._set(folder).summary()
            legacy = 0
            if self._has_legacy(folder):
                assert self.legacy is not None
                for entry in self.legacy.entries(folder):
                    try:
                        size += entry.stat().st_size
                    except FileNotFoundError:  # deleted meanwhile (corrupt, or a clear)
                        continue
                    legacy += 1
            out[folder] = {"entries": rows + legacy, "bytes": size, "shards": shards,
                           "legacy": legacy, "temporary": len(self.location.temporary(folder)),
                           "newer_format": newer}
        return out

    def keys(self, fingerprint: str) -> set[str]:
        """Every key stored for ``fingerprint`` (shards and old entry files), each once."""
        folder = self._check(fingerprint)
        keys = self._set(folder).keys()
        if self._has_legacy(folder):
            assert self.legacy is not None
            keys.update(p.name[: -len(SUFFIX)] for p in self.legacy.entries(folder))
        return keys

    def verify(self, fingerprint: str | None = None) -> list[str]:
        """Read every entry; return the shards and files that failed their digests.

        A damaged shard's intact rows are rewritten to a new shard and the
        shard is deleted; a damaged entry file is deleted. Reading does the
        same on its own (what is lost is recomputed); this finds them up
        front, e.g. after a disk problem.

        Examples
        --------
        >>> import tempfile
        >>> EmbeddingCache(tempfile.mkdtemp()).verify()
        []
        """
        bad: list[str] = []
        for folder in self._folders(fingerprint):
            bad.extend(self._set(folder).verify())
            if self._has_legacy(folder):
                assert self.legacy is not None
                bad.extend(str(p) for p in self.legacy.verify(folder))
        return bad

    def compact(self, fingerprint: str | None = None) -> dict[str, tuple[int, int]]:
        """Merge small shards, and move old entry files into shards; per folder, shards
        (before, after). Safe beside readers and writers: a reader that finds a shard
        gone re-reads the folder."""
        out = {}
        for folder in self._folders(fingerprint):
            legacy = self._has_legacy(folder)
            extra = self.legacy.items(folder) if legacy and self.legacy is not None else ()
            out[folder] = self._set(folder).compact(extra)
            if legacy:
                for name in self.location.listdir(folder):
                    if is_entry_folder(name):
                        self.location.remove_tree(f"{folder}/{name}")
                self._legacy_in[folder] = False
        return out

    def clear(self, fingerprint: str | None = None) -> int:
        """Delete all entries (or one fingerprint's); returns the entries removed."""
        removed = 0
        for folder in self._folders(fingerprint):
            _, rows, _, _ = self._set(folder).summary()
            if self._has_legacy(folder):
                assert self.legacy is not None
                rows += sum(1 for _ in self.legacy.entries(folder))
            removed += rows
            self.location.remove_tree(folder)
            self._sets.pop(folder, None)
            self._legacy_in.pop(folder, None)
        return removed
