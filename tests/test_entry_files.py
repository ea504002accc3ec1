"""The old file-per-entry layout: still read (and checked) through EmbeddingCache."""

import numpy as np
import pytest

from auditkit.cache import EmbeddingCache
from auditkit.entry_files import MAGIC, EntryFiles
from auditkit.shards import checksum


def _with_digest(body: bytes) -> bytes:
    """An entry whose digest is right but whose content is not auditkit's."""
    return MAGIC + body + checksum(body)


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
def test_damaged_entry_file_is_detected_and_dropped(tmp_path, damage, caplog):
    EntryFiles(tmp_path).put("fp", "b" * 64, np.ones(16, np.float32))
    (path,) = tmp_path.rglob("*.emb")
    path.write_bytes(damage(path.read_bytes()))
    cache = EmbeddingCache(tmp_path)
    assert cache.get("fp", "b" * 64) is None
    assert cache.stats.corrupt == 1
    assert not path.exists()
    assert "recomputing" in caplog.text


def test_an_old_cache_is_read_and_new_entries_go_to_shards(tmp_path):
    old = EntryFiles(tmp_path)
    old.put("fp", "a" * 64, np.arange(4, dtype=np.float32))
    cache = EmbeddingCache(tmp_path)
    np.testing.assert_array_equal(cache.get("fp", "a" * 64), np.arange(4, dtype=np.float32))
    cache.put("fp", "b" * 64, np.ones(4, np.float32))
    assert len(list(tmp_path.rglob("*.emb"))) == 1 and len(list(tmp_path.rglob("*.aks"))) == 1
    assert cache.keys("fp") == {"a" * 64, "b" * 64}


def test_a_failed_write_leaves_no_temporary_file(tmp_path, failing_write):
    import auditkit.entry_files as module

    store = EntryFiles(tmp_path)
    assert not failing_write(module.os, lambda: store.put("fp", "c" * 64, np.ones(4, np.float32)))
    assert list(tmp_path.rglob("*.tmp")) == [] and list(tmp_path.rglob("*.emb")) == []
    assert store.get("fp", "c" * 64) is None
