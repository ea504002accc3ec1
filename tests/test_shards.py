"""Shards: damage of every block is detected, never served, and costs only what it hit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auditkit.shards as shards
from auditkit.cache import EmbeddingCache
from auditkit.location import open_location
from auditkit.shards import DIGEST_SIZE, MAGIC, ShardSet, decode_head, encode_shard

D = 16
KEYS = [f"{i:02d}" * 32 for i in range(6)]


@pytest.fixture(params=[2, 1], ids=["format-2", "format-1"])
def shard_format(request, monkeypatch):
    """Shards written in each row-checksum format: stores written before 2026-12-02 are format 1."""
    monkeypatch.setattr(shards, "FORMAT", request.param)
    return request.param


@pytest.fixture(params=["few", "array"])
def read_path(request, monkeypatch):
    """Reads of a few keys go key by key; FEW_KEYS = 0 sends them down the array path."""
    if request.param == "array":
        monkeypatch.setattr(shards, "FEW_KEYS", 0)
    return request.param


def _ids_by(monkeypatch, ident):
    """Key ids made by ``ident`` (bytes -> int), in both the array and the per-key reader."""
    monkeypatch.setattr(shards, "key_ids", lambda keys: np.array(
        [ident(k) for k in np.asarray(keys).tolist()], np.uint64))
    monkeypatch.setattr(shards, "key_id", ident)


def _fill(tmp_path) -> tuple[EmbeddingCache, dict[str, np.ndarray]]:
    cache = EmbeddingCache(tmp_path)
    entries = {k: np.full(D, i, np.float32) for i, k in enumerate(KEYS)}
    cache.put_many("fp", entries)
    return cache, entries


def _shard(tmp_path):
    (path,) = tmp_path.rglob("*.aks")
    layout, _ = decode_head(path.read_bytes())
    return path, layout


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1:]


def test_layout_of_a_shard(tmp_path):
    _fill(tmp_path)
    path, layout = _shard(tmp_path)
    assert path.read_bytes().startswith(MAGIC) and path.stat().st_size == layout.size
    assert (layout.rows, layout.shape, layout.dtype) == (6, (D,), np.dtype(np.float32))
    assert layout.rows_at % 64 == 0 and layout.header_len % 64 == 0


@pytest.mark.parametrize("row", [0, 3, 5])
@pytest.mark.parametrize("where", ["row", "row-digest"])
def test_a_flipped_bit_in_a_row_costs_that_row_only(tmp_path, row, where, caplog, shard_format,
                                                    read_path):
    _, entries = _fill(tmp_path)
    path, layout = _shard(tmp_path)
    assert layout.format == shard_format
    at = (layout.rows_at + row * layout.row_nbytes + 5 if where == "row"
          else layout.row_digests_at + row * layout.row_digest_size + 3)
    path.write_bytes(_flip(path.read_bytes(), at))
    cache = EmbeddingCache(tmp_path)
    got = cache.get_many("fp", KEYS)
    assert set(got) == set(KEYS) - {KEYS[row]}  # never served
    for key in got:
        np.testing.assert_array_equal(got[key], entries[key])
    assert cache.stats.corrupt == 1 and "damaged row" in caplog.text
    assert not path.exists()  # replaced by a shard of the intact rows
    assert EmbeddingCache(tmp_path).keys("fp") == set(KEYS) - {KEYS[row]}
    assert EmbeddingCache(tmp_path).verify() == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b, lay: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b, lay: b[: lay.rows_at - 3], id="truncated-in-head"),
        pytest.param(lambda b, lay: b"", id="empty-file"),
        pytest.param(lambda b, lay: b"garbage" * 10, id="not-a-shard"),
        pytest.param(lambda b, lay: _flip(b, 12), id="flipped-header-bit"),
        pytest.param(lambda b, lay: _flip(b, lay.header_len + 70), id="flipped-key-bit"),
        pytest.param(lambda b, lay: _flip(b, lay.digest_at + 1), id="flipped-head-digest"),
        pytest.param(lambda b, lay: b + b"extra", id="trailing-bytes"),
        pytest.param(lambda b, lay: b.replace(b'"shape": [16]', b'"shape": [17]'),
                     id="shape-does-not-fit"),
        pytest.param(lambda b, lay: b.replace(b'"dtype": "<f4"', b'"dtype": "|O8"'),
                     id="object-dtype"),
    ],
)
def test_a_damaged_shard_is_never_served(tmp_path, damage, caplog, shard_format, read_path):
    _fill(tmp_path)
    path, layout = _shard(tmp_path)
    path.write_bytes(damage(path.read_bytes(), layout))
    cache = EmbeddingCache(tmp_path)
    got = cache.get_many("fp", KEYS)
    for i, key in enumerate(KEYS):
        if key in got:  # only a row whose own digest holds, under its own key
            np.testing.assert_array_equal(got[key], np.full(D, i, np.float32))
    assert "embedding store" in caplog.text
    # Gone, or rewritten whole from intact rows (the same keys: the same name).
    assert not path.exists() or path.stat().st_size == layout.size
    assert EmbeddingCache(tmp_path).verify() == []


def test_a_row_moved_under_another_key_is_not_served(tmp_path, shard_format, read_path):
    """Rows 1 and 2 swapped with their digests: each digest is right for its row, not its key."""
    _, entries = _fill(tmp_path)
    path, layout = _shard(tmp_path)
    blob = bytearray(path.read_bytes())

    def swap(at: int, width: int) -> None:
        a, b = slice(at + width, at + 2 * width), slice(at + 2 * width, at + 3 * width)
        blob[a], blob[b] = blob[b], blob[a]

    swap(layout.rows_at, layout.row_nbytes)
    swap(layout.row_digests_at, layout.row_digest_size)
    path.write_bytes(bytes(blob))
    got = EmbeddingCache(tmp_path).get_many("fp", KEYS)
    assert set(got) == set(KEYS) - {KEYS[1], KEYS[2]}
    for key in got:
        np.testing.assert_array_equal(got[key], entries[key])


def test_a_format_1_store_is_read_and_extended_in_format_2(tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "FORMAT", 1)
    _, entries = _fill(tmp_path)
    monkeypatch.setattr(shards, "FORMAT", 2)
    cache = EmbeddingCache(tmp_path)
    more = {"f" * 64: np.full(D, 9, np.float32)}
    cache.put_many("fp", more)
    formats = sorted(decode_head(p.read_bytes())[0].format for p in tmp_path.rglob("*.aks"))
    assert formats == [1, 2]
    got = EmbeddingCache(tmp_path).get_many("fp", [*KEYS, *more])
    for key, value in {**entries, **more}.items():
        np.testing.assert_array_equal(got[key], value)
    assert EmbeddingCache(tmp_path).verify() == []


def test_a_shard_of_a_newer_format_is_left_alone(tmp_path, caplog, capsys):
    _fill(tmp_path)
    path, _ = _shard(tmp_path)
    blob = path.read_bytes().replace(b'"format": 2', b'"format": 9')
    path.write_bytes(blob)
    cache = EmbeddingCache(tmp_path)
    assert cache.get_many("fp", KEYS) == {}
    assert "newer auditkit" in caplog.text
    assert cache.verify() == []
    cache.get_many("fp", KEYS)  # after verify's reset: read again, not logged again
    assert caplog.text.count("newer auditkit") == 1
    EmbeddingCache(tmp_path).compact()
    assert path.read_bytes() == blob  # another version's shard: never deleted or rewritten
    # 'auditkit cache info' names it apart from damage: its bytes count, its rows cannot.
    assert EmbeddingCache(tmp_path).info()["fp"] == {
        "entries": 0, "bytes": len(blob), "shards": 1, "legacy": 0, "temporary": 0,
        "newer_format": 1}
    from auditkit.cli import main

    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert "1 in a newer auditkit's format (left alone" in capsys.readouterr().out


def test_colliding_key_ids_are_told_apart_by_the_key(tmp_path, monkeypatch, read_path):
    _ids_by(monkeypatch, lambda key: 0)
    monkeypatch.setattr(shards, "_merge_threshold", lambda n: 0)
    _, entries = _fill(tmp_path)
    fresh = EmbeddingCache(tmp_path)
    got = fresh.get_many("fp", [*KEYS, "9" * 64])
    assert set(got) == set(KEYS)
    for key in KEYS:
        np.testing.assert_array_equal(got[key], entries[key])


def test_a_key_whose_id_matches_one_stored_key_is_not_served_its_row(tmp_path, monkeypatch,
                                                                      read_path):
    """One candidate per id is the common case; the stored key must still be compared."""
    _ids_by(monkeypatch, lambda key: int(key[:2], 16))
    monkeypatch.setattr(shards, "_merge_threshold", lambda n: 0)
    _, entries = _fill(tmp_path)
    impostor = "05" + "f" * 62  # the id of KEYS[5], another key
    shard, _ = _shard(tmp_path)
    cache = EmbeddingCache(tmp_path)
    got = cache.get_many("fp", [impostor, KEYS[5]])
    assert set(got) == {KEYS[5]}
    np.testing.assert_array_equal(got[KEYS[5]], entries[KEYS[5]])
    # A miss, not damage: the shard is neither reported nor rewritten.
    assert cache.stats.corrupt == 0 and cache.stats.misses == 1 and shard.exists()


def test_a_failed_write_leaves_no_temporary_file(tmp_path, failing_write):
    import auditkit.location as location

    cache = EmbeddingCache(tmp_path)
    failing_write(location.os, lambda: cache.put("fp", "c" * 64, np.ones(4, np.float32)))
    assert list(tmp_path.rglob("*.tmp")) == [] and list(tmp_path.rglob("*.aks")) == []
    assert cache.get("fp", "c" * 64) is None and cache.stats.writes == 0


def test_mixed_shapes_and_dtypes_go_to_one_shard_each(tmp_path):
    cache = EmbeddingCache(tmp_path)
    entries = {"a" * 64: np.ones(3, np.float32), "b" * 64: np.ones((2, 2), np.float16),
               "c" * 64: np.zeros(3, np.float32)}
    cache.put_many("fp", entries)
    assert len(list(tmp_path.rglob("*.aks"))) == 2
    got = EmbeddingCache(tmp_path).get_many("fp", list(entries))
    for key, value in entries.items():
        assert got[key].dtype == value.dtype
        np.testing.assert_array_equal(got[key], value)


def test_the_index_grows_past_its_merge_point(tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "_merge_threshold", lambda n: 7)
    store = ShardSet(open_location(tmp_path), "fp")
    rng = np.random.default_rng(1)
    written = {}
    for batch in range(10):
        entries = {f"{batch:02d}{i:062d}": rng.standard_normal(4).astype(np.float32)
                   for i in range(5)}
        store.put(entries)
        written.update(entries)
    for reader in (store, ShardSet(open_location(tmp_path), "fp")):
        got = reader.get_many(list(written))
        assert set(got) == set(written)
        assert all(np.array_equal(got[k], v) for k, v in written.items())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text("0123456789abcdef", min_size=1, max_size=64), min_size=1,
                max_size=20, unique=True), st.integers(1, 9))
def test_encode_then_read_round_trips(tmp_path_factory, keys, dim):
    array = np.arange(len(keys) * dim, dtype=np.float32).reshape(len(keys), dim)
    name, chunks = encode_shard(keys, array)
    blob = b"".join(chunks)
    layout, stored = decode_head(blob)
    assert stored is not None and [k.decode() for k in stored.tolist()] == keys
    assert len(blob) == layout.size and blob[layout.digest_at:][:DIGEST_SIZE] == bytes.fromhex(
        name[:32]) + blob[layout.digest_at + 16:layout.digest_at + DIGEST_SIZE]
    root = tmp_path_factory.mktemp("s")
    store = ShardSet(open_location(root), "fp")
    store.put(dict(zip(keys, array, strict=True)))
    got = ShardSet(open_location(root), "fp").get_many(keys)
    assert all(np.array_equal(got[k], array[i]) for i, k in enumerate(keys))


def test_a_read_of_one_key_goes_key_by_key(tmp_path, monkeypatch, shard_format):
    """The array path's fixed cost made one-key reads 3-7x slower than the old file store."""
    _, entries = _fill(tmp_path)
    cache = EmbeddingCache(tmp_path)
    cache.get("fp", KEYS[0])  # scans the folder
    monkeypatch.setattr(ShardSet, "_locate", lambda self, keys: pytest.fail("array path"))
    np.testing.assert_array_equal(cache.get("fp", KEYS[3]), entries[KEYS[3]])
    assert cache.get("fp", "7" * 64) is None  # a miss, before the folder is due a rescan
    got = cache.get_many("fp", KEYS[:2])
    got[KEYS[0]][:] = -1  # a copy, not the shard's map
    np.testing.assert_array_equal(cache.get("fp", KEYS[0]), entries[KEYS[0]])


@given(st.binary(min_size=1, max_size=64).filter(lambda b: not b.endswith(b"\0")))
def test_the_per_key_id_is_the_array_id(key):
    assert shards.key_id(key) == int(shards.key_ids(np.array([key], dtype="S64"))[0])
