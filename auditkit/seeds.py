"""Every random draw of a run, derived from the run's two seeds and names, in one place.

A run has two roots:

* the **run seed** (``--audit-seed``, ``[tool.auditkit] seed``, default 0)
  fixes *what is measured*: the images, their variants and the encoder;
* the **split seed** (``--audit-split-seed``, ``[tool.auditkit] split_seed``,
  default the run seed) fixes *how it is measured*: every split, fold,
  bootstrap and random control of the statistics.

With the data held fixed, another split seed re-draws the measurement alone:
it reuses every cached embedding (no embedding cache key holds it) and only
the stored measurements are computed again. Left at its default, a run draws
exactly what it drew when there was one seed.

Consumers of the run seed (the data root):

* the built-in probe set (``data/builtin.py`` through :func:`rng` and
  :data:`BUILTIN_ORDER`; ``data/synth.py`` draws from the generator it is given);
* which files a truncated folder or manifest set keeps (``data/collect.py``) and
  which contents a truncated style-folder set keeps (``data/styles.py``);
* the transformations' randomness: :func:`image_seed` per source image (the
  extractor's ``seed``, which enters the embedding cache key of a random
  variant), then :func:`variant_rng` or :func:`rng` inside a transform,
  the simulated cameras' read noise included (their PRNU is :func:`named`);
* which (image, variant) pairs the style audits embed
  (:data:`STYLE_ASSIGNMENT`, ``measures/style_sampling.py``), reached as
  ``AuditContext.data_seed``;
* the weights of ``random:`` encoders (``LoadOptions.seed``).

Consumers of the split seed (``AuditContext.seed``, the measurement root):

* probe folds, the probe's ``random_state``, the group bootstrap and the
  planted-leakage check (``probes.py``, ``stats.py``, ``power.py``);
* the camera audit's balanced subsamples per repeat (:func:`rng` with the
  repeat, :func:`repeat_seed`);
* the style generalisation audit's member and group halves
  (:data:`STYLE_PARTITION`, :func:`partition_state`);
* the retrieval audit's query split, its uniform-setting draws and its
  bootstrap (``measures/retrieval_shift.py``);
* ``auditkit mitigate``'s split of the groups into the eraser's fit and
  held-out halves (:func:`erasure_seed`, ``erasure.py``).

Each consumer of randomness asks this module for its own stream, named by what
it is for, so two consumers never share a stream by accident and a reader can
see every derivation at once. A child stream's entropy is the parent seed
followed by one 32-bit word per name: an ``int`` as it is, a ``str`` as its
CRC-32. (NumPy's ``SeedSequence`` hashes the whole list, so children differ
in every bit.)

The derivations below reproduce exactly the streams auditkit drew before they
were gathered here, so stored results stay comparable.
"""

from __future__ import annotations

import zlib

import numpy as np

#: Tags of named streams (any distinct 32-bit values would do; these are the historical ones).
STYLE_ASSIGNMENT = 0x57E1
STYLE_PARTITION = 0x6E0
BUILTIN_ORDER = 2**31


def split_seed(seed: int, split: int | None = None) -> int:
    """The split seed of a run: ``split`` when given, else the run seed ``seed``.

    Examples
    --------
    >>> split_seed(3), split_seed(3, 8)
    (3, 8)
    """
    return int(seed) if split is None else int(split)


def _word(name: str | int) -> int:
    return zlib.crc32(name.encode()) if isinstance(name, str) else int(name)


def entropy(seed: int, *names: str | int) -> list[int]:
    """The ``SeedSequence`` entropy of the stream ``names`` under ``seed``.

    Examples
    --------
    >>> entropy(0, "jpeg", 3)
    [0, 3933391666, 3]
    """
    return [int(seed), *(_word(n) for n in names)]


def rng(seed: int, *names: str | int) -> np.random.Generator:
    """The generator of the stream ``names`` under ``seed`` (``rng(seed)`` is the seed's own).

    Examples
    --------
    >>> int(rng(0).integers(100)) == int(np.random.default_rng(0).integers(100))
    True
    """
    return np.random.default_rng(entropy(seed, *names))


def named(name: str) -> np.random.Generator:
    """A generator fixed by a name alone, the same in every run (a simulated camera's sensor).

    Examples
    --------
    >>> int(named("prnu/A").integers(100)) == int(named("prnu/A").integers(100))
    True
    """
    return np.random.default_rng(_word(name))


def image_seed(seed: int, image_sha256: str) -> int:
    """The seed of one source image's random variants: they differ across images and
    repeat across runs.

    Examples
    --------
    >>> image_seed(0, "ff" * 32)
    2147483647
    """
    return (int(image_sha256[:8], 16) ^ seed) & 0x7FFFFFFF


def variant_rng(image_seed: int, variant: str) -> np.random.Generator:
    """The generator of one random transformation of one image; the variant's name
    keeps two random transformations of the same image from drawing the same numbers."""
    return rng(int(image_seed) & 0xFFFFFFFF, variant)


def repeat_seed(seed: int, repeat: int) -> int:
    """The integer seed (splits, probes, bootstraps) of repeat ``repeat`` of one measurement.

    Examples
    --------
    >>> repeat_seed(0, 2)
    2
    """
    return seed + repeat


def partition_state(seed: int, repeat: int) -> int:
    """scikit-learn's ``random_state`` for the group halves of partition ``repeat``."""
    return (seed * 7919 + repeat) % 2**31


def erasure_seed(seed: int) -> int:
    """The integer seed of the eraser's fit / held-out group split (``auditkit mitigate``).

    Drawn from its own stream, so the split is not the retrieval audit's query split.

    Examples
    --------
    >>> erasure_seed(0) == erasure_seed(0) != erasure_seed(1)
    True
    """
    return int(rng(seed, "erasure").integers(2**31))
