"""The Ray Data engine: same keys and embeddings as the local engine, on a two-node cluster."""

import functools
import sys

import numpy as np
import pytest
from PIL import Image

from auditkit.backends.ray_data import EncoderRecipe, RayDataBackend, require_ray
from auditkit.cache import EmbeddingCache
from auditkit.data import builtin_probe_set
from auditkit.data.base import SourceImage
from auditkit.encoders import LoadOptions, build_encoder
from auditkit.errors import ConfigError, EngineError
from auditkit.extract import Extractor
from auditkit.run_config import RunConfig
from auditkit.transforms.quality import jpeg_grid

SPEC = "random:timm:test_resnet"

# Ray Data's own settings object warns about its own deprecated fields.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="module")
def cluster():
    """Two CPU nodes of one CPU each, joined by this process, shut down afterwards."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        pytest.skip("another test left Ray initialised")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    try:
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(SPEC, LoadOptions(seed=0))


def _pairs():
    images = list(builtin_probe_set(seed=0, max_images=12).images)
    # A loader that pickles by reference: Ray's workers cannot import this test module.
    missing = functools.partial(Image.open, "/nonexistent/auditkit-test.jpg")
    images.insert(3, SourceImage("missing.jpg", "c0", "gx", "0" * 64, missing))
    return images, jpeg_grid()[:3]


def test_ray_engine_stores_what_the_local_engine_would_and_a_local_run_reads_it(
        cluster, encoder, tmp_path):
    images, variants = _pairs()
    on_ray = Extractor(encoder, cache=EmbeddingCache(tmp_path),
                       backend=RayDataBackend(batch_size=16, options=LoadOptions(seed=0)))
    table = on_ray.embed(images, variants)
    assert len(table) == 36
    # The broken image is reported by name for each of its variants, as locally.
    assert [image for image, _ in on_ray.stats.failed] == ["missing.jpg"] * 3
    assert on_ray.backend.started is False  # it joined the fixture's cluster

    local = Extractor(encoder, cache=None, num_workers=0)
    expected = local.embed(images, variants)
    assert set(on_ray.memory) == set(local.memory)
    for key, vector in local.memory.items():
        np.testing.assert_allclose(on_ray.memory[key], vector, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(table.variant_ids, expected.variant_ids)

    # A later local run embeds nothing: every pair is in the store, under the same key.
    later = Extractor(encoder, cache=EmbeddingCache(tmp_path), num_workers=0)
    later.embed(images, variants)
    assert later.stats.computed == 0
    assert later.stats.disk_hits == 36


def test_a_worker_refuses_an_encoder_whose_fingerprint_differs(encoder):
    recipe = EncoderRecipe.of(encoder, LoadOptions(seed=1), "none")  # other random weights
    with pytest.raises(EngineError, match="fingerprint"):
        recipe.build()
    assert EncoderRecipe.of(encoder, LoadOptions(seed=0), "none").build().fingerprint == \
        encoder.fingerprint


def test_a_python_object_travels_as_itself(encoder, monkeypatch):
    monkeypatch.setattr(encoder, "spec", "python:somewhere:thing")
    recipe = EncoderRecipe.of(build_encoder("pixels"), LoadOptions(), "none")
    assert recipe.module is None  # rebuilt from its spec
    assert EncoderRecipe.of(encoder, LoadOptions(), "none").module is encoder


def test_the_engine_option_and_setting_are_checked_at_start(tmp_path):
    assert RunConfig.resolve({"encoder": ["pixels"]}, tmp_path).engine == "local"
    (tmp_path / "pyproject.toml").write_text('[tool.auditkit]\nengine = "spark"\n')
    with pytest.raises(ConfigError, match=r"engine = 'spark': expected one of local, ray"):
        RunConfig.resolve({"encoder": ["pixels"]}, tmp_path)
    # The command line wins over the table.
    assert RunConfig.resolve({"encoder": ["pixels"], "audit_engine": "local"},
                             tmp_path).engine == "local"


def test_without_ray_the_engine_names_the_extra(monkeypatch, tmp_path):
    # None in sys.modules makes `import ray` raise ImportError, as when it is not installed.
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'pytest-auditkit\[ray\]'"):
        require_ray()
    with pytest.raises(ConfigError, match=r"--audit-engine ray needs"):
        RunConfig.resolve({"encoder": ["pixels"], "audit_engine": "ray"}, tmp_path)


def test_without_ray_the_option_is_a_usage_error(pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("--audit-engine=ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--audit-engine ray needs*pytest-auditkit[[]ray[]]*"])


@pytest.mark.parametrize("cache", [True, False], ids=["cache on", "cache off"])
def test_the_session_gives_its_extractors_the_ray_engine_and_closes_it(tmp_path, monkeypatch,
                                                                      cache):
    from auditkit.session import AuditSession

    run = RunConfig.resolve({"encoder": ["pixels"], "audit_engine": "ray", "audit_seed": 3,
                             "audit_batch_size": 8, "audit_no_cache": not cache,
                             "audit_cache_dir": str(tmp_path / "cache")}, tmp_path)
    session = AuditSession(run)
    backend = session.extractor("pixels").backend
    assert isinstance(backend, RayDataBackend)
    assert (backend.batch_size, backend.options.seed) == (8, 3)
    closed = []
    monkeypatch.setattr(backend, "close", lambda: closed.append(True))
    session.close()
    assert closed == [True]
