"""Seed derivations: each reproduces the stream auditkit drew before they were gathered;
the split seed re-draws the measurement on the same data and embeddings."""

import json
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import timm
from hypothesis import given
from hypothesis import strategies as st

from auditkit import seeds
from auditkit.context import AuditContext
from auditkit.data.builtin import builtin_probe_set
from auditkit.extract import EmbeddingTable
from auditkit.layout import encoder_slug
from auditkit.measures import style
from auditkit.memo import measurement_key

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.list_models("resnet*")
timm.is_model("resnet18")

SLUG = encoder_slug("python:small:detail")
STOCK = Path(__file__).resolve().parents[1] / "audits" / "test_jpeg_quality.py"

#: A deterministic 32-dimensional encoder of fine detail (mean |gradient| in a 4 x 4 grid,
#: which JPEG quality moves): its probes fit in a blink, unlike raw pixels'.
DETAIL = """
import numpy as np

class Detail:
    fingerprint = "detail-4x4-v1"
    def embed(self, images):
        return np.stack([_detail(np.asarray(im.convert("L"), dtype=np.float32)) for im in images])

def _detail(g):
    dx, dy = np.abs(np.diff(g, axis=1))[:-1], np.abs(np.diff(g, axis=0))[:, :-1]
    cells = [c.mean() for d in (dx, dy) for row in np.array_split(d, 4)
             for c in np.array_split(row, 4, axis=1)]
    return np.array(cells, dtype=np.float32)

def detail():
    return Detail()
"""

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


def _same(a: np.random.Generator, b: np.random.Generator) -> bool:
    return bool(np.array_equal(a.integers(2**31, size=8), b.integers(2**31, size=8)))


@given(SEEDS, st.integers(0, 50), st.text(max_size=20))
def test_every_stream_is_the_historical_one(seed, r, name):
    crc = zlib.crc32(name.encode())
    assert _same(seeds.rng(seed), np.random.default_rng(seed))
    assert _same(seeds.rng(seed, seeds.STYLE_ASSIGNMENT), np.random.default_rng([seed, 0x57E1]))
    assert _same(seeds.rng(seed, r, seeds.STYLE_PARTITION),
                 np.random.default_rng([seed, r, 0x6E0]))
    assert _same(seeds.rng(seed, r), np.random.default_rng([seed, r]))
    assert _same(seeds.rng(seed, name), np.random.default_rng([seed, crc]))
    assert _same(seeds.rng(seed, name, r), np.random.default_rng([seed, crc, r]))
    assert _same(seeds.rng(seed, name, seeds.BUILTIN_ORDER),
                 np.random.default_rng([seed, crc, 2**31]))
    assert _same(seeds.variant_rng(seed, name),
                 np.random.default_rng([int(seed) & 0xFFFFFFFF, crc]))
    assert _same(seeds.named(name), np.random.default_rng(crc))
    assert seeds.partition_state(seed, r) == (seed * 7919 + r) % 2**31
    assert seeds.repeat_seed(seed, r) == seed + r


@given(SEEDS, st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_streams_of_different_names_differ(seed, a, b):
    if zlib.crc32(a.encode()) != zlib.crc32(b.encode()):
        assert not _same(seeds.rng(seed, a), seeds.rng(seed, b))
    assert not _same(seeds.rng(seed, a), seeds.rng(seed + 1, a))


def test_image_seed_is_the_historical_formula_and_differs_across_images():
    sha_a, sha_b = "0badc0de" + "0" * 56, "deadbeef" + "0" * 56
    assert seeds.image_seed(5, sha_a) == (0x0BADC0DE ^ 5) & 0x7FFFFFFF
    assert seeds.image_seed(5, sha_a) != seeds.image_seed(5, sha_b)
    assert 0 <= seeds.image_seed(2**40, sha_b) < 2**31


@given(SEEDS, st.none() | SEEDS)
def test_the_split_seed_is_the_run_seed_unless_given(seed, split):
    assert seeds.split_seed(seed, split) == (seed if split is None else split)


def test_a_context_without_a_data_seed_draws_data_and_splits_from_one_seed():
    ctx = AuditContext("jpeg_quality", 3, embedder_of=list, probe_set_of=list)
    assert (ctx.seed, ctx.data_seed) == (3, 3)
    ctx = AuditContext("jpeg_quality", 3, embedder_of=list, probe_set_of=list, data_seed=5)
    assert (ctx.seed, ctx.data_seed) == (3, 5)


class _Recording:
    """An embedder that records the (image, variant) pairs it is asked for."""

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self.rng = np.random.default_rng(0)

    def embed(self, images, variants):
        rows = [(im, v) for im in images for v in variants]
        self.pairs.update((im.id, v.id) for im, v in rows)
        return EmbeddingTable(
            self.rng.normal(size=(len(rows), 16)),
            *(np.array(c, dtype=object) for c in zip(
                *[(im.id, im.label, im.group, v.id) for im, v in rows], strict=True)),
        )


class _Embedded(Exception):
    """Raised where the style audit has embedded its pairs and would start probing."""


def _style_pairs(monkeypatch, probe_set, seed: int, data_seed: int) -> set[tuple[str, str]]:
    def stop(*args, **kwargs):
        raise _Embedded

    monkeypatch.setattr(style, "measure_probe", stop)
    embedder = _Recording()
    ctx = AuditContext.of("style_fine_grained", embedder, probe_set, seed=seed,
                          data_seed=data_seed,
                          options={"families": ["noise", "filter"], "per_image": 2})
    with pytest.raises(_Embedded):
        style._measure_style("style_fine_grained", ctx)
    return embedder.pairs


def test_style_pairs_follow_the_data_seed_not_the_split_seed(monkeypatch):
    probe_set = builtin_probe_set(seed=0, max_images=24)
    pairs = _style_pairs(monkeypatch, probe_set, seed=0, data_seed=0)
    assert len(pairs) == 24 * 2
    assert _style_pairs(monkeypatch, probe_set, seed=1, data_seed=0) == pairs
    assert _style_pairs(monkeypatch, probe_set, seed=0, data_seed=1) != pairs


@pytest.fixture
def audit_run(pytester, tmp_path):
    pytester.makepyfile(**{"audits/test_jpeg_quality": STOCK.read_text()})
    pytester.makepyfile(small=DETAIL)
    pytester.syspathinsert()
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["python:small:detail"]
        references = []
        [tool.auditkit.thresholds.jpeg_quality]
        max_leakage = [0.1]
    """))
    cache = tmp_path / "cache"

    def run(*args: str) -> dict:
        result = pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "--audit-max-images=24",
            f"--audit-cache-dir={cache}", "--audit-report-dir=out", *args,
        )
        assert result.ret in (0, 1), result.stdout.str()  # a verdict, not a usage error
        return json.loads((pytester.path / "out" / SLUG / "results.json").read_text())

    return run


def _card(pytester) -> str:
    return (pytester.path / "out" / SLUG / "card.html").read_text()


def _measured(doc: dict) -> tuple:
    case = doc["audits"][0]
    return case["value"], tuple(case["ci"])


def test_another_split_seed_re_draws_the_measurement_on_the_same_data_and_embeddings(
        audit_run, pytester, tmp_path):
    first = audit_run()
    assert first["provenance"]["split_seed"] == first["provenance"]["seed"] == 0
    other = audit_run("--audit-split-seed=1")
    prov = other["provenance"]
    assert (prov["seed"], prov["split_seed"]) == (0, 1)
    assert "<dt>split_seed</dt>" in _card(pytester)
    assert prov["data"]["hash"] == first["provenance"]["data"]["hash"]
    # Measured again, on embeddings read back: no embedding key holds the split seed.
    assert prov["measurements_reused"] == []
    assert prov["extraction"]["computed"] == 0 and prov["extraction"]["disk_hits"] > 0
    assert _measured(other) != _measured(first)
    # The same split seed draws the same measurement again (not read back: measured anew).
    for stored in (tmp_path / "cache").rglob("measurements/*.json"):
        stored.unlink()
    again = audit_run("--audit-split-seed=1")
    assert again["provenance"]["measurements_reused"] == []
    assert _measured(again) == _measured(other)


def test_the_measurement_key_holds_the_split_seed():
    key = measurement_key("f", "jpeg_quality", "d", 2, {})
    assert measurement_key("f", "jpeg_quality", "d", 2, {}, split_seed=2) == key
    assert measurement_key("f", "jpeg_quality", "d", 2, {}, split_seed=3) != key
