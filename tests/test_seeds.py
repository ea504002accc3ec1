"""Seed derivations: each reproduces the stream auditkit drew before they were gathered."""

import zlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from auditkit import seeds

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
