"""Which transformations each source image gets, for the style audits.

Embedding every image under every transformation would cost K (~40) times
the probe set, so each source image gets ``per_image`` transformations,
assigned so that every transformation gets the same number of images (+-1).
The assignment depends only on the image ids, the transformation ids,
``per_image`` and the seed, so all three style audits request the same
pairs and the extractor embeds each pair once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditkit import seeds
from auditkit.data.base import ProbeSet, SourceImage
from auditkit.errors import ConfigError, ProbeSetError
from auditkit.extract import Embedder, EmbeddingTable
from auditkit.transforms.base import Variant

#: Transformations per source image.
DEFAULT_PER_IMAGE = 6


def assign(
    images: Sequence[SourceImage], variants: Sequence[Variant], per_image: int, seed: int = 0
) -> dict[str, list[SourceImage]]:
    """Give each image ``per_image`` distinct variants, every variant the same number of images.

    Images are visited in a seeded order; each takes the ``per_image``
    variants used least so far, ties broken at random, which keeps the
    counts of all variants within one of each other while pairing variants
    on an image at random.

    Returns
    -------
    dict
        Variant id -> the images it is applied to, in probe-set order.

    Raises
    ------
    ConfigError
        ``per_image`` is not a positive integer.
    ProbeSetError
        Too few images for two per variant (a grouped split needs two).

    Examples
    --------
    >>> pairs = assign(probe_set.images, catalogue(), per_image=6)  # doctest: +SKIP
    >>> {len(v) for v in pairs.values()}                            # doctest: +SKIP
    {36, 37}
    """
    if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
        raise ConfigError(f"per_image = {per_image!r}: expected a positive integer, e.g. 6")
    ids = [v.id for v in variants]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"transformation ids repeat in {ids!r}; each must be unique")
    per_image = min(per_image, len(variants))
    if len(images) * per_image < 2 * len(variants):
        raise ProbeSetError(
            f"{len(images)} images x {per_image} transformations each cannot give the "
            f"{len(variants)} transformations two images each: add images or raise per_image"
        )
    order = sorted(range(len(images)), key=lambda i: images[i].id)
    rng = seeds.rng(seed, seeds.STYLE_ASSIGNMENT)
    counts = np.zeros(len(variants))
    chosen: list[list[int]] = [[] for _ in images]
    for i in rng.permutation(order):
        picks = np.argsort(counts + rng.random(len(variants)) * 0.5, kind="stable")[:per_image]
        counts[picks] += 1
        chosen[int(i)] = sorted(int(p) for p in picks)
    out: dict[str, list[SourceImage]] = {v.id: [] for v in variants}
    for image, mine in zip(images, chosen, strict=True):
        for p in mine:
            out[variants[p].id].append(image)
    return out


def embed_assigned(
    extractor: Embedder,
    probe_set: ProbeSet,
    variants: Sequence[Variant],
    per_image: int = DEFAULT_PER_IMAGE,
    seed: int = 0,
) -> EmbeddingTable:
    """Embeddings of the assigned (image, variant) pairs, variant by variant."""
    assignment = assign(probe_set.images, variants, per_image, seed)
    tables = [extractor.embed(assignment[v.id], [v]) for v in variants if assignment[v.id]]
    tables = [t for t in tables if len(t)]
    if not tables:
        raise ProbeSetError("no (image, transformation) pair could be embedded; see the log")
    return EmbeddingTable(
        np.concatenate([t.X for t in tables]),
        *(np.concatenate([getattr(t, c) for t in tables])
          for c in ("image_ids", "labels", "groups", "variant_ids")),
    )
