import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.cache import EmbeddingCache, cache_key
from auditkit.entry_files import EntryFiles

COMPONENTS = st.tuples(
    st.text(min_size=1, max_size=20),  # fingerprint
    st.text(min_size=1, max_size=20),  # image sha256
    st.text(min_size=1, max_size=20),  # variant key
    st.sampled_from(["float32", "float16", "bfloat16"]),
    st.one_of(st.none(), st.integers(0, 2**31 - 1)),  # seed of a random variant
)


@given(COMPONENTS, st.integers(0, 4), st.text(min_size=1, max_size=20))
def test_changing_any_component_changes_the_key(parts, which, other):
    parts = list(parts)
    changed = list(parts)
    if which == 3:
        changed[3] = "float64"
    elif which == 4:
        changed[4] = (parts[4] or 0) + 1
    else:
        changed[which] = parts[which] + other
    assert cache_key(*parts) != cache_key(*changed)


@given(COMPONENTS)
def test_key_is_deterministic_and_path_safe(parts):
    key = cache_key(*parts)
    assert key == cache_key(*parts)
    assert len(key) == 64 and key.isalnum()


def test_round_trip_and_stats(tmp_path):
    cache = EmbeddingCache(tmp_path)
    vec = np.arange(5, dtype=np.float32)
    assert cache.get("fp", "a" * 64) is None
    cache.put("fp", "a" * 64, vec)
    np.testing.assert_array_equal(cache.get("fp", "a" * 64), vec)
    assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 1)
    assert not list(tmp_path.rglob("*.tmp"))
    assert [p.parent.name for p in tmp_path.rglob("*.aks")] == ["shards"]


def test_keys_cannot_escape_the_cache_dir(tmp_path):
    from auditkit.errors import CacheError

    with pytest.raises(CacheError):
        EmbeddingCache(tmp_path).put("fp", "../../etc/passwd", np.ones(1, np.float32))


@pytest.mark.parametrize("key", ["é" * 8, "a" * 63 + "٣"])
def test_a_key_a_shard_cannot_hold_is_a_cache_error(tmp_path, key):
    """Letters and digits beyond ASCII pass str.isalnum, but shards store keys as bytes."""
    from auditkit.errors import CacheError

    cache = EmbeddingCache(tmp_path)
    with pytest.raises(CacheError, match="not alphanumeric"):
        cache.put("fp", key, np.ones(1, np.float32))
    with pytest.raises(CacheError, match="not alphanumeric"):
        cache.get_many("fp", ["a" * 64, key])
    with pytest.raises(CacheError, match="not alphanumeric"):
        cache.get("fpé", "a" * 64)


def test_info_and_clear(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for i in range(3):
        cache.put("fpone", f"{i}" * 64, np.ones(4, np.float32))
    cache.put_many("fptwo", {f"{i}" * 64: np.ones(4, np.float32) for i in range(5)})
    EntryFiles(tmp_path).put("fptwo", "9" * 64, np.ones(4, np.float32))  # the old layout
    info = cache.info()
    assert info["fpone"]["entries"] == 3 and info["fpone"]["shards"] == 3
    assert info["fptwo"] == {"entries": 6, "shards": 1, "legacy": 1, "temporary": 0,
                             "newer_format": 0, "bytes": info["fptwo"]["bytes"]}
    assert info["fpone"]["bytes"] == sum(p.stat().st_size for p in tmp_path.glob("fpone/*/*"))
    assert cache.clear("fpone") == 3
    assert set(cache.info()) == {"fptwo"}
    assert cache.clear() == 6
    assert list(tmp_path.iterdir()) == []


def test_one_put_many_is_one_shard_and_get_many_reads_it_back(tmp_path):
    cache = EmbeddingCache(tmp_path)
    rng = np.random.default_rng(0)
    entries = {f"{i:064x}": rng.standard_normal(512).astype(np.float32) for i in range(300)}
    cache.put_many("fp", entries)
    assert len(list(tmp_path.rglob("*.aks"))) == 1 and cache.stats.writes == 300
    fresh = EmbeddingCache(tmp_path)
    got = fresh.get_many("fp", [*entries, "f" * 64])
    assert set(got) == set(entries)
    for key, value in entries.items():
        np.testing.assert_array_equal(got[key], value)
    assert (fresh.stats.hits, fresh.stats.misses) == (300, 1)
    assert fresh.keys("fp") == set(entries)


def test_another_writers_shards_are_seen(tmp_path, monkeypatch):
    import auditkit.shards as shards

    monkeypatch.setattr(shards, "RESCAN_AFTER", 0.0)
    reader, writer = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    assert reader.get("fp", "a" * 64) is None
    writer.put("fp", "a" * 64, np.ones(3, np.float32))
    np.testing.assert_array_equal(reader.get("fp", "a" * 64), np.ones(3, np.float32))


def test_compact_merges_shards_and_migrates_entry_files(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for i in range(4):
        cache.put("fp", f"{i}" * 64, np.full(8, i, np.float32))
    # "0" again, as two racing writers leave it
    cache.put_many("fp", {"0" * 64: np.full(8, 0, np.float32), "5" * 64: np.full(8, 5, np.float32)})
    EntryFiles(tmp_path).put("fp", "9" * 64, np.full(8, 9, np.float32))
    assert cache.info()["fp"]["entries"] == 7
    assert cache.compact() == {"fp": (5, 1)}
    info = EmbeddingCache(tmp_path).info()["fp"]
    assert (info["entries"], info["shards"], info["legacy"]) == (6, 1, 0)
    assert not list(tmp_path.rglob("*.emb"))
    fresh = EmbeddingCache(tmp_path)
    for i in (0, 1, 2, 3, 5, 9):
        np.testing.assert_array_equal(fresh.get("fp", f"{i}" * 64), np.full(8, i, np.float32))


def test_a_store_behind_an_fsspec_url(tmp_path):
    pytest.importorskip("fsspec")
    import uuid

    url = f"memory://auditkit-{uuid.uuid4().hex}/cache"
    cache = EmbeddingCache(url)
    cache.put_many("fp", {"a" * 64: np.ones(4, np.float32), "b" * 64: np.zeros(4, np.float32)})
    fresh = EmbeddingCache(url)
    np.testing.assert_array_equal(fresh.get("fp", "b" * 64), np.zeros(4, np.float32))
    assert fresh.info()["fp"]["entries"] == 2 and fresh.verify() == []
    assert fresh.compact() == {"fp": (1, 1)}
    assert fresh.clear() == 2 and EmbeddingCache(url).info() == {}
    assert fresh.root != tmp_path and "memory" not in str(fresh.root)  # measurements: local


def test_a_file_url_is_the_local_path(tmp_path):
    EmbeddingCache(f"file://{tmp_path}").put("fp", "a" * 64, np.ones(2, np.float32))
    assert EmbeddingCache(tmp_path).get("fp", "a" * 64) is not None
