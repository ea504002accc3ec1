import numpy as np
import pytest

from auditkit.cache import EmbeddingCache
from auditkit.data import builtin_probe_set
from auditkit.encoders import build_encoder
from auditkit.erasure import Eraser, Stage
from auditkit.errors import SpecError
from auditkit.extract import Extractor
from auditkit.transforms.base import ORIGINAL


def _eraser(dim, fingerprint, seed=0):
    rng = np.random.default_rng(seed)
    raw, normalised = (rng.normal(size=(dim, 2)) / np.sqrt(dim) for _ in range(2))
    return Eraser(Stage(raw, raw.T.copy(), np.zeros(dim)),
                  Stage(normalised, normalised.T.copy(), np.zeros(dim)),
                  {"source": "pixels", "source_fingerprint": fingerprint})


@pytest.fixture(scope="module")
def probe():
    return builtin_probe_set(seed=0, max_images=6)


def test_an_erased_spec_misses_the_cache_of_its_base_and_keys_its_own(tmp_path, probe):
    base = build_encoder("pixels")
    cache = EmbeddingCache(tmp_path / "cache")
    plain = Extractor(base, cache=cache).embed(probe.images, [ORIGINAL])
    eraser = _eraser(plain.X.shape[1], base.fingerprint)
    path = eraser.save(tmp_path / "e.safetensors")

    erased = build_encoder(f"pixels+erase:{path}")
    assert erased.spec == f"pixels+erase:{path}"
    assert erased.fingerprint != base.fingerprint
    first = Extractor(erased, cache=cache)
    table = first.embed(probe.images, [ORIGINAL])
    assert first.stats.disk_hits == 0 and first.stats.computed == len(probe)
    np.testing.assert_allclose(table.X, eraser.apply(plain.X), atol=1e-5)

    # Warm: the erased spec reads its own entries, the plain spec still its own.
    again = Extractor(build_encoder(f"pixels+erase:{path}"), cache=cache)
    np.testing.assert_array_equal(again.embed(probe.images, [ORIGINAL]).X, table.X)
    assert again.stats.disk_hits == len(probe) and again.stats.computed == 0
    plain_again = Extractor(build_encoder("pixels"), cache=cache)
    np.testing.assert_array_equal(plain_again.embed(probe.images, [ORIGINAL]).X, plain.X)
    assert plain_again.stats.disk_hits == len(probe)


def test_another_eraser_is_another_fingerprint_wherever_its_file_lies(tmp_path):
    base = build_encoder("pixels")
    one = _eraser(607, base.fingerprint).save(tmp_path / "one.safetensors")
    moved = _eraser(607, base.fingerprint).save(tmp_path / "sub" / "moved.safetensors")
    other = _eraser(607, base.fingerprint, seed=1).save(tmp_path / "other.safetensors")
    fp = {name: build_encoder(f"pixels+erase:{p}").fingerprint
          for name, p in (("one", one), ("moved", moved), ("other", other))}
    assert fp["one"] == fp["moved"] != fp["other"]


def test_an_eraser_fitted_on_another_encoder_is_refused(tmp_path):
    path = _eraser(607, "0" * 64).save(tmp_path / "e.safetensors")
    with pytest.raises(SpecError, match=r"fitted on 'pixels'.*auditkit mitigate"):
        build_encoder(f"pixels+erase:{path}")
    with pytest.raises(SpecError, match="does not exist"):
        build_encoder(f"pixels+erase:{tmp_path / 'missing.safetensors'}")
