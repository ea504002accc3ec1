"""Embeddings in immutable shards: one file per write batch, many entries per file.

A fingerprint's shards live in ``<root>/<fingerprint[:16]>/shards/<name>.aks``.
Each :meth:`ShardSet.put` writes one shard per (dtype, shape) under a new
name, atomically (:meth:`~auditkit.location.Location.write_atomic`), and
never touches it again: concurrent writers (xdist workers, hosts sharing the
store) never write the same file, so no locks are needed. The name is a hash
of the shard's header and keys, so the same batch written twice is one file.

A shard is::

    MAGIC, a JSON header line padded to 64 bytes   rows, dtype, shape
    keys                                           rows x 64 bytes (NUL-padded)
    head digest                                    BLAKE2b-256 of all of the above
    padding to 64 bytes
    rows                                           the (rows, *shape) array
    row digests                                    a checksum of each row, keyed by its key

The header's ``format`` says which row checksum the shard carries:

``2`` (written since 2026-12-02)  XXH3-64 of the row, seeded by XXH3-64 of its key
                                  (8 bytes a row);
``1``                             BLAKE2b-128 of the row, keyed by its key (16 bytes).

Both are read. The row checksum guards against damage (torn writes, flipped
bits, a row served under another key), not against someone forging rows; the
head, whose keys say what a shard claims to hold, keeps its BLAKE2b. XXH3
because every read checks every row it serves: BLAKE2b hashed about 1 GB/s
here, so a warm read could not get below about 2 µs a row at D = 512, where
XXH3 (the ``xxhash`` package) costs a small fraction of that
(``benchmarks/store.py``).

A reader indexes the keys of every shard (a sorted array of 64-bit key ids,
so memory is 16 bytes an entry however many shards there are), reads rows
through a memory map (a whole-file read on fsspec filesystems), and checks
each row's digest every time it serves it. A row that fails is never served:
the shard's good rows are written to a new shard, the damaged one is deleted,
and the caller recomputes what is missing. A shard whose head fails is
deleted whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import struct
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from auditkit.location import Location

log = logging.getLogger("auditkit")

MAGIC = b"AKSHARD1\n"
SUFFIX = ".aks"
KEY_WIDTH = 64
DIGEST_SIZE = 32
#: The row checksum's format written, and the width of each format's row digests.
FORMAT = 2
ROW_DIGEST = {1: 16, 2: 8}
ALIGN = 64
#: Bytes read to find a shard's header (the header itself is a few dozen).
HEAD_PROBE = 4096


def _open_shards() -> int:
    """Shards one store keeps mapped: an eighth of the soft open-file limit, 32 to 1024.

    Each map holds a file descriptor. A read of keys spread over more shards
    than this maps some again on every call (at 100 k entries in 391 shards
    and 128 kept, a third of a read's time), so the bound follows what the
    process may open: 1024 under Linux's usual soft limit of 8192 or more,
    128 under 1024, 32 under macOS's 256.

    Examples
    --------
    >>> 32 <= _open_shards() <= 1024
    True
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # no resource module off POSIX
        return 128
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(32, min(1024, soft // 8))


#: Shards kept open (memory maps hold a file descriptor each).
OPEN_SHARDS = _open_shards()
#: Seconds between two rescans of the folder for shards other writers added.
RESCAN_AFTER = 1.0
#: Rows of a shard written by :meth:`ShardSet.compact` (128 MiB at D = 512, float32).
COMPACT_ROWS = 65536
#: Reads of at most this many keys go key by key in plain Python: the array path's
#: fixed cost (some forty numpy calls on tiny arrays, about 100 µs) would dominate.
FEW_KEYS = 8


def checksum(data: bytes | memoryview) -> bytes:
    """BLAKE2b digest of ``data``: what shards, entries and stored measurements are checked by."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


def row_digests(keys: Sequence[bytes], rows: np.ndarray, format: int) -> np.ndarray:
    """The digests of ``rows[i]`` under ``keys[i]``, one row of bytes each (shard ``format``).

    Keyed by the key, so that a row cannot pass under another key.
    """
    rows = np.ascontiguousarray(rows)
    if not len(rows):
        return np.zeros((0, ROW_DIGEST[format]), np.uint8)
    if format == 1:
        joined = b"".join(
            hashlib.blake2b(r.data, digest_size=ROW_DIGEST[1], key=k.rstrip(b"\0")).digest()
            for k, r in zip(keys, rows, strict=True))
        return np.frombuffer(joined, np.uint8).reshape(len(rows), ROW_DIGEST[1])
    # One flat buffer sliced per row: a numpy view per row costs more than the hash.
    flat = rows.reshape(len(rows), -1).view(np.uint8).reshape(-1).data
    width = rows[0].nbytes
    seeds = [xxhash.xxh3_64_intdigest(k.rstrip(b"\0")) for k in keys]
    sums = np.fromiter(
        (xxhash.xxh3_64_intdigest(flat[i * width:(i + 1) * width], seed)
         for i, seed in enumerate(seeds)), dtype="<u8", count=len(seeds))
    return sums.view(np.uint8).reshape(len(rows), ROW_DIGEST[2])


def key_ids(keys: np.ndarray) -> np.ndarray:
    """64-bit ids of ``S64`` keys (a mix of their eight words); equal ids are confirmed by key."""
    words = np.ascontiguousarray(keys, dtype=f"S{KEY_WIDTH}").view("<u8").reshape(-1, 8)
    h = np.full(len(words), 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(8):
            h = (h ^ words[:, j]) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    return h


_ID_MASK = (1 << 64) - 1


def key_id(key: bytes) -> int:
    """:func:`key_ids` of one key, in plain Python (for reads of a few keys).

    Examples
    --------
    >>> key = b"0123abc"
    >>> key_id(key) == int(key_ids(np.array([key], dtype=f"S{KEY_WIDTH}"))[0])
    True
    """
    h = 0xCBF29CE484222325
    for word in struct.unpack("<8Q", key.ljust(KEY_WIDTH, b"\0")):
        h = ((h ^ word) * 0x100000001B3) & _ID_MASK
        h ^= h >> 29
    return h


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _merge_threshold(indexed: int) -> int:
    """Entries held in the exact dict before it is merged into the sorted arrays."""
    return max(65536, indexed // 4)


@dataclass(frozen=True)
class Layout:
    """Where each block of a shard lies, from its header."""

    rows: int
    dtype: np.dtype
    shape: tuple[int, ...]
    header_len: int
    format: int

    @property
    def row_nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def digest_at(self) -> int:
        return self.header_len + self.rows * KEY_WIDTH

    @property
    def rows_at(self) -> int:
        return _aligned(self.digest_at + DIGEST_SIZE)

    @property
    def row_digests_at(self) -> int:
        return self.rows_at + self.rows * self.row_nbytes

    @property
    def row_digest_size(self) -> int:
        return ROW_DIGEST[self.format]

    @property
    def size(self) -> int:
        return self.row_digests_at + self.rows * self.row_digest_size

    def blocks(self, data: np.ndarray) -> _Open:
        """The keys, rows and row digests of a shard's bytes ``data``, as views of it."""
        return _Open(
            data[self.header_len:self.digest_at].view(f"S{KEY_WIDTH}"),
            data[self.rows_at:self.row_digests_at].view(self.dtype).reshape(
                self.rows, *self.shape),
            data[self.row_digests_at:self.size].reshape(self.rows, self.row_digest_size),
            self.format,
        )


@dataclass
class _Open:
    keys: np.ndarray
    rows: np.ndarray
    digests: np.ndarray
    format: int


class UnknownFormat(ValueError):
    """A shard in a format this auditkit does not know: another version's, never deleted."""


def encode_shard(keys: Sequence[str], array: np.ndarray) -> tuple[str, list[bytes]]:
    """The name and the bytes (in chunks) of a shard holding ``array[i]`` under ``keys[i]``."""
    array = np.ascontiguousarray(array)
    meta = {"format": FORMAT, "rows": len(keys), "dtype": array.dtype.str,
            "shape": list(array.shape[1:])}
    line = MAGIC + json.dumps(meta).encode()
    header = line + b" " * (_aligned(len(line) + 1) - len(line) - 1) + b"\n"
    key_block = np.array(list(keys), dtype=f"S{KEY_WIDTH}")
    head = header + key_block.tobytes()
    digest = checksum(head)
    layout = Layout(len(keys), array.dtype, tuple(array.shape[1:]), len(header), FORMAT)
    pad = b"\0" * (layout.rows_at - layout.digest_at - DIGEST_SIZE)
    digests = row_digests(key_block.tolist(), array, FORMAT).tobytes()
    return digest.hex()[:32] + SUFFIX, [head, digest, pad, array.tobytes(), digests]


def decode_head(blob: bytes) -> tuple[Layout, np.ndarray | None]:
    """The layout of a shard and, when ``blob`` reaches that far, its keys (head digest checked).

    ``ValueError`` says what is wrong.
    """
    if not blob.startswith(MAGIC):
        raise ValueError("bad magic (not a shard, or truncated)")
    end = blob.find(b"\n", len(MAGIC))
    if end < 0:
        raise ValueError("header line not terminated")
    try:
        meta = json.loads(blob[len(MAGIC):end])
        layout = Layout(int(meta["rows"]), np.dtype(meta["dtype"]),
                        tuple(int(n) for n in meta["shape"]), end + 1, meta["format"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed header ({type(exc).__name__}: {exc})") from exc
    if layout.format not in ROW_DIGEST:
        raise UnknownFormat(f"format {layout.format!r}, expected one of {sorted(ROW_DIGEST)}: "
                            "written by a newer auditkit; left as it is")
    if layout.rows < 0 or any(n < 0 for n in layout.shape) or layout.dtype.hasobject:
        raise ValueError(f"malformed header {meta!r}")
    if len(blob) < layout.digest_at + DIGEST_SIZE:
        return layout, None
    head = blob[:layout.digest_at]
    if checksum(head) != blob[layout.digest_at:layout.digest_at + DIGEST_SIZE]:
        raise ValueError("head checksum mismatch (partial write or corruption)")
    return layout, np.frombuffer(head[layout.header_len:], dtype=f"S{KEY_WIDTH}")


class ShardSet:
    """The shards of one fingerprint folder, with their in-memory key index.

    Parameters
    ----------
    location : Location
        The store's root.
    folder : str
        The fingerprint's folder (``fingerprint[:16]``).
    """

    def __init__(self, location: Location, folder: str) -> None:
        self.location = location
        self.dir = f"{folder}/shards"
        self.corrupt = 0  # rows found damaged (never served)
        self._told: set[str] = set()  # shards of a newer format already logged
        self._reset()

    def _reset(self) -> None:
        self._names: list[str] = []
        self._layouts: list[Layout] = []
        self._known: set[str] = set()
        self._ids = np.zeros(0, np.uint64)
        self._where = np.zeros((0, 2), np.int64)  # (shard, row), sorted by id
        self._recent: dict[bytes, tuple[int, int]] = {}  # exact keys, not yet merged
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._open: OrderedDict[int, _Open] = OrderedDict()
        self._scanned_at = -float("inf")

    def _rel(self, name: str) -> str:
        return f"{self.dir}/{name}"

    def names(self) -> list[str]:
        return [n for n in self.location.listdir(self.dir) if n.endswith(SUFFIX)]

    # -- index -------------------------------------------------------------------

    def _scan(self) -> None:
        """Index shards that appeared since the last scan."""
        self._scanned_at = time.monotonic()
        found: list[tuple[str, Layout, np.ndarray]] = []
        for name in self.names():
            if name in self._known:
                continue
            try:
                layout, keys = self.read_head(name)
            except FileNotFoundError:
                continue  # compacted away meanwhile
            except UnknownFormat as exc:
                self._known.add(name)  # not indexed, not rescanned, not deleted
                if name not in self._told:  # once a process, though _reset forgets _known
                    self._told.add(name)
                    log.warning("embedding store: %s: %s", self.location.full(self._rel(name)),
                                exc)
                continue
            except (OSError, ValueError) as exc:
                self._drop(name, f"is unreadable ({exc})")
                continue
            found.append((name, layout, keys))
        # Past the merge point (a fresh reader of a large store) the new keys go
        # straight into the sorted arrays: an exact dict of them would be built
        # only to be merged away.
        bulk = (len(self._recent) + sum(len(k) for _, _, k in found)
                >= _merge_threshold(len(self._ids)))
        for name, layout, keys in found:
            self._add(name, layout, keys, exact=not bulk)
        self._merge(force=bulk)

    def read_head(self, name: str) -> tuple[Layout, np.ndarray]:
        blob = self.location.read(self._rel(name), 0, HEAD_PROBE)
        layout, keys = decode_head(blob)
        if keys is None:
            layout, keys = decode_head(
                self.location.read(self._rel(name), 0, layout.digest_at + DIGEST_SIZE))
        if keys is None:
            raise ValueError("truncated before the end of its keys")
        return layout, keys

    def _add(self, name: str, layout: Layout, keys: np.ndarray, exact: bool = True) -> None:
        """Index a shard's keys; ``exact=False`` only where a forced merge follows at once."""
        shard = len(self._names)
        self._names.append(name)
        self._layouts.append(layout)
        self._known.add(name)
        if len(keys):
            where = np.stack([np.full(len(keys), shard), np.arange(len(keys))], axis=1)
            self._pending.append((key_ids(keys), where))
            if exact:
                self._recent.update((k, (shard, r)) for r, k in enumerate(keys.tolist()))

    def _merge(self, force: bool = False) -> None:
        # Amortised: the sorted arrays are rebuilt when the exact dict outgrows a
        # quarter of them, so an index of N entries costs O(N log N) to grow.
        if not self._pending:
            return
        if not force and len(self._recent) < _merge_threshold(len(self._ids)):
            return
        ids = np.concatenate([self._ids, *(i for i, _ in self._pending)])
        where = np.concatenate([self._where, *(w for _, w in self._pending)])
        order = np.argsort(ids, kind="stable")
        self._ids, self._where = ids[order], where[order]
        self._pending, self._recent = [], {}

    def _locate(self, keys: np.ndarray) -> np.ndarray:
        """Each key's (shard, row), in one row of an array; (-1, -1) where it is not stored.

        Where one stored key has the key's 64-bit id, that is its place unconfirmed:
        :meth:`get_many` compares the stored key when it reads the row, so that
        each shard is visited once a call.
        """
        where = np.full((len(keys), 2), -1, np.int64)
        if self._recent:
            hits = [(i, w) for i, k in enumerate(keys.tolist())
                    if (w := self._recent.get(k)) is not None]
            if hits:
                where[[i for i, _ in hits]] = [w for _, w in hits]
        if not len(self._ids):
            return where
        ids = key_ids(keys)
        lo = np.searchsorted(self._ids, ids, "left")
        hi = np.searchsorted(self._ids, ids, "right")
        todo = np.flatnonzero((hi > lo) & (where[:, 0] < 0))
        single = todo[hi[todo] - lo[todo] == 1]
        where[single] = self._where[lo[single]]
        for i in todo[hi[todo] - lo[todo] > 1]:
            for j in range(hi[i] - 1, lo[i] - 1, -1):  # equal ids: confirm by the key itself
                shard, row = (int(x) for x in self._where[j])
                try:
                    if self._view(shard).keys[row] == keys[i]:
                        where[i] = (shard, row)
                        break
                except (OSError, ValueError):
                    break  # gone or damaged: get_many finds out and recovers
        return where

    # -- reading -----------------------------------------------------------------

    def _view(self, shard: int) -> _Open:
        view = self._open.get(shard)
        if view is not None:
            self._open.move_to_end(shard)
            return view
        layout = self._layouts[shard]
        # A plain view of the map: numpy's memmap subclass costs microseconds per index.
        data = self.location.array(self._rel(self._names[shard])).view(np.ndarray)
        if data.size != layout.size:
            raise ValueError(f"{data.size} bytes where the header says {layout.size}")
        view = layout.blocks(data)
        self._open[shard] = view
        if len(self._open) > OPEN_SHARDS:
            self._open.popitem(last=False)
        return view

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored arrays of ``keys`` that are present and intact."""
        if not keys:
            return {}
        if not self._known and time.monotonic() - self._scanned_at > RESCAN_AFTER:
            self._scan()
        if len(keys) <= FEW_KEYS:
            few = self._get_few(keys)
            if few is not None:
                return few
        wanted = np.array(list(keys), dtype=f"S{KEY_WIDTH}")
        where = self._locate(wanted)
        if (where[:, 0] < 0).any() and time.monotonic() - self._scanned_at > RESCAN_AFTER:
            self._scan()  # another writer may have added them
            where = self._locate(wanted)
        found: dict[str, np.ndarray] = {}
        order = np.argsort(where[:, 0], kind="stable")
        order = order[where[order, 0] >= 0]
        shards, starts = np.unique(where[order, 0], return_index=True)
        groups = np.split(order, starts[1:]) if len(order) else []
        # Shards already open first: a read of random keys touches every shard,
        # and visited in one fixed order, more shards than OPEN_SHARDS would
        # each be mapped again on every call (an LRU's worst case).
        visits = sorted(zip(shards.tolist(), groups, strict=True),
                        key=lambda visit: visit[0] not in self._open)
        damaged: list[tuple[int, str | None]] = []
        for shard, members in visits:
            try:
                view = self._view(shard)
            except FileNotFoundError:
                damaged.append((shard, None))  # compacted or salvaged by another process
                continue
            except (OSError, ValueError) as exc:
                damaged.append((shard, f"is unreadable ({exc})"))
                continue
            rows = where[members, 1]
            same = view.keys[rows] == wanted[members]  # an id is not a key: confirm it
            members, rows = members[same], rows[same]
            block = view.rows[rows]
            intact = (row_digests(wanted[members].tolist(), block, view.format)
                      == view.digests[rows]).all(axis=1)
            found.update((keys[i], r) for i, r, ok in zip(
                members.tolist(), block, intact.tolist(), strict=True) if ok)
            bad = len(members) - int(intact.sum())
            if bad:
                self.corrupt += bad
                damaged.append((shard, f"has {bad} damaged row(s)"))
        if damaged:
            for shard, reason in damaged:
                if reason is not None:
                    self.salvage(self._names[shard], reason)
            self._reset()
            if any(reason is None for _, reason in damaged):
                rest = [k for k in keys if k not in found]
                found.update(self.get_many(rest))
        return found

    def _get_few(self, keys: Sequence[str]) -> dict[str, np.ndarray] | None:
        """:meth:`get_many` of a few keys, key by key; None where the array path must decide.

        That is: a key whose 64-bit id several stored keys share, a shard that
        cannot be opened, a damaged row, and a missing key when the folder is
        due for a rescan. The array path handles each (and finds the rest again).
        """
        found: dict[str, np.ndarray] = {}
        for key in keys:
            wanted = key.encode("ascii")
            place = self._recent.get(wanted)
            if place is None and len(self._ids):
                ident = key_id(wanted)
                at = int(self._ids.searchsorted(np.uint64(ident)))
                if at < len(self._ids) and int(self._ids[at]) == ident:
                    if at + 1 < len(self._ids) and int(self._ids[at + 1]) == ident:
                        return None
                    place = (int(self._where[at, 0]), int(self._where[at, 1]))
            if place is None:
                if time.monotonic() - self._scanned_at > RESCAN_AFTER:
                    return None  # another writer may have added it
                continue
            shard, row = place
            try:
                view = self._view(shard)
            except (OSError, ValueError):
                return None
            if view.keys[row] != wanted:  # an id is not a key
                continue
            stored = view.rows[row:row + 1]
            digest = row_digests([wanted], stored, view.format)[0]
            if digest.tobytes() != view.digests[row].tobytes():
                return None
            found[key] = stored[0].copy()
        return found

    def rows(self, name: str) -> Iterator[tuple[bytes, np.ndarray, bool]]:
        """Every (key, row, intact) of one shard; ``ValueError`` when its head is damaged."""
        layout, _ = self.read_head(name)
        data = self.location.array(self._rel(name))
        if data.size < layout.size:
            raise ValueError(f"{data.size} bytes where the header says {layout.size}")
        view = layout.blocks(data)
        names = view.keys.tolist()
        intact = (row_digests(names, view.rows, view.format) == view.digests).all(axis=1)
        yield from zip(names, view.rows, intact.tolist(), strict=True)

    # -- writing -----------------------------------------------------------------

    def put(self, entries: Mapping[str, np.ndarray]) -> list[str]:
        """Write ``entries`` as one shard per (dtype, shape); returns the shards' names.

        ``OSError`` propagates: the caller decides whether a failed write matters.
        """
        groups: dict[tuple[str, tuple[int, ...]], list[tuple[str, np.ndarray]]] = {}
        for key, array in entries.items():
            array = np.asarray(array)
            groups.setdefault((array.dtype.str, array.shape), []).append((key, array))
        written = []
        for members in groups.values():
            keys = [k for k, _ in members]
            array = np.stack([a for _, a in members])
            name, chunks = encode_shard(keys, array)
            self.location.write_atomic(self._rel(name), chunks)
            if name not in self._known:
                self._add(name, Layout(len(keys), array.dtype, array.shape[1:],
                                       len(chunks[0]) - len(keys) * KEY_WIDTH, FORMAT),
                          np.array(keys, dtype=f"S{KEY_WIDTH}"))
            written.append(name)
        self._merge()
        return written

    def salvage(self, name: str, reason: str) -> list[str]:
        """Rewrite a damaged shard's intact rows to a new shard and delete it.

        Returns the full path of the damaged shard, for reports.
        """
        path = self.location.full(self._rel(name))
        good: dict[str, np.ndarray] = {}
        try:
            for key, row, ok in self.rows(name):
                if ok:
                    good[key.decode()] = np.array(row)
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            pass  # the head itself is gone: nothing can be kept
        log.warning("embedding store: %s %s; kept %d intact row(s), the rest are recomputed",
                    path, reason, len(good))
        try:
            # Intact rows under the same keys would be the same name: keep that file.
            if name not in (self.put(good) if good else []):
                self.location.remove(self._rel(name))
        except OSError as exc:
            log.warning("embedding store: cannot rewrite %s (%s)", path, exc)
        return [path]

    def _drop(self, name: str, reason: str) -> None:
        log.warning("embedding store: %s %s; removed, its entries are recomputed",
                    self.location.full(self._rel(name)), reason)
        self.corrupt += 1
        self.location.remove(self._rel(name))

    # -- maintenance -------------------------------------------------------------

    def verify(self) -> list[str]:
        """Check every row of every shard; salvage damaged shards and return their paths."""
        bad: list[str] = []
        for name in self.names():
            try:
                damaged = sum(not ok for _, _, ok in self.rows(name))
            except (FileNotFoundError, UnknownFormat):
                continue
            except (OSError, ValueError) as exc:
                bad.extend(self.salvage(name, f"is unreadable ({exc})"))
                continue
            if damaged:
                bad.extend(self.salvage(name, f"has {damaged} damaged row(s)"))
        self._reset()
        return bad

    def summary(self) -> tuple[int, int, int, int]:
        """(shards, rows, bytes, shards of a newer format), from the headers alone.

        A newer auditkit's shard is counted among the shards and its bytes, not
        its rows (this version cannot read them); a damaged one only as a shard.
        """
        shards = rows = size = newer = 0
        for name in self.names():
            layout: Layout | None
            try:
                layout, _ = decode_head(self.location.read(self._rel(name), 0, HEAD_PROBE))
            except FileNotFoundError:
                continue
            except UnknownFormat:
                layout = None  # a newer auditkit's: its bytes count, its rows cannot be read
            except (OSError, ValueError):
                shards += 1  # damaged; counted, its rows are not
                continue
            try:
                size += self.location.size(self._rel(name))
            except FileNotFoundError:
                continue  # compacted away meanwhile
            shards += 1
            if layout is None:
                newer += 1
            else:
                rows += layout.rows
        return shards, rows, size, newer

    def keys(self) -> set[str]:
        """Every key stored (intact heads), each once."""
        out: set[str] = set()
        for name in self.names():
            try:
                _, keys = self.read_head(name)
            except (OSError, ValueError):
                continue
            out.update(k.decode() for k in keys.tolist())
        return out

    def compact(self, extra: Iterable[tuple[str, np.ndarray]] = (),
                max_rows: int = COMPACT_ROWS) -> tuple[int, int]:
        """Merge shards smaller than ``max_rows`` (and ``extra`` entries) into full ones.

        Keeps one copy of each key and only intact rows; shards written by
        others meanwhile are left alone. Returns (shards before, shards after).
        """
        names = self.names()
        small = []
        for name in names:
            try:
                layout, _ = decode_head(self.location.read(self._rel(name), 0, HEAD_PROBE))
            except UnknownFormat:
                continue  # another auditkit's: left as it is
            except (OSError, ValueError):
                small.append(name)  # damaged: its intact rows move, the rest go
                continue
            if layout.rows < max_rows:
                small.append(name)
        seen: set[str] = set()
        buffer: dict[str, np.ndarray] = {}
        written: set[str] = set()

        def flush() -> None:
            nonlocal buffer
            if buffer:
                written.update(self.put(buffer))
                buffer = {}

        def take(key: str, row: np.ndarray) -> None:
            if key not in seen:
                seen.add(key)
                buffer[key] = np.array(row)
                if len(buffer) >= max_rows:
                    flush()

        for key, row in extra:
            take(key, row)
        for name in small:
            try:
                for raw, row, ok in self.rows(name):
                    if ok:
                        take(raw.decode(), row)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("embedding store: %s is unreadable (%s); dropped",
                            self.location.full(self._rel(name)), exc)
        flush()
        for name in small:
            if name not in written:  # rewritten unchanged: the same name
                self.location.remove(self._rel(name))
        self._reset()
        return len(names), len(self.names())
