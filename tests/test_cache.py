import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.cache import MAGIC, EmbeddingCache, cache_key, checksum, encode_entry


def _with_digest(body: bytes) -> bytes:
    """An entry whose digest is right but whose content is not auditkit's."""
    return MAGIC + body + checksum(body)

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


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated-partial-write"),
        pytest.param(lambda b: b[:20] + bytes([b[20] ^ 0xFF]) + b[21:], id="flipped-byte"),
        pytest.param(lambda b: b"", id="empty-file"),
        pytest.param(lambda b: b"garbage" * 10, id="not-an-entry"),
        pytest.param(lambda b: b[:9] + bytes([b[9] ^ 0x01]) + b[10:], id="flipped-header-bit"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 0x01]), id="flipped-digest-bit"),
        pytest.param(lambda b: _with_digest(b'{"dtype": 5, "shape": [16]}\n' + b"\0" * 64),
                     id="bad-header-good-digest"),
        pytest.param(lambda b: _with_digest(b'[1, 2]\n' + b"\0" * 64), id="header-not-a-dict"),
        pytest.param(lambda b: _with_digest(b'{"dtype": "<f4", "shape": [17]}\n' + b"\0" * 64),
                     id="shape-does-not-fit"),
    ],
)
def test_damaged_entry_is_detected_and_dropped(tmp_path, damage, caplog):
    cache = EmbeddingCache(tmp_path)
    cache.put("fp", "b" * 64, np.ones(16, np.float32))
    (path,) = tmp_path.rglob("*.emb")
    path.write_bytes(damage(path.read_bytes()))
    assert cache.get("fp", "b" * 64) is None
    assert cache.stats.corrupt == 1
    assert not path.exists()
    assert "recomputing" in caplog.text


def test_keys_cannot_escape_the_cache_dir(tmp_path):
    from auditkit.errors import CacheError

    with pytest.raises(CacheError):
        EmbeddingCache(tmp_path).put("fp", "../../etc/passwd", np.ones(1, np.float32))


def test_info_and_clear(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for i in range(3):
        cache.put("fpone", f"{i}" * 64, np.ones(4, np.float32))
    cache.put("fptwo", "9" * 64, np.ones(4, np.float32))
    info = cache.info()
    assert info["fpone"]["entries"] == 3 and info["fptwo"]["entries"] == 1
    assert info["fpone"]["bytes"] == 3 * len(encode_entry(np.ones(4, np.float32)))
    assert cache.clear("fpone") == 3
    assert set(cache.info()) == {"fptwo"}
    assert cache.clear() == 1


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        pytest.param(OSError(28, "No space left on device"), None, id="disk-full"),
        pytest.param(KeyboardInterrupt(), KeyboardInterrupt, id="interrupted"),
    ],
)
def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch, caplog, failure, raised):
    import auditkit.cache as cache_module

    def fail(src, dst):
        raise failure

    cache = EmbeddingCache(tmp_path)
    monkeypatch.setattr(cache_module.os, "replace", fail)
    if raised is None:
        cache.put("fp", "c" * 64, np.ones(4, np.float32))  # a warning, not an error
        assert "cannot write" in caplog.text
    else:
        with pytest.raises(raised):
            cache.put("fp", "c" * 64, np.ones(4, np.float32))
    monkeypatch.undo()
    assert list(tmp_path.rglob("*.tmp")) == [] and list(tmp_path.rglob("*.emb")) == []
    assert cache.get("fp", "c" * 64) is None and cache.stats.writes == 0
