"""Style sampling: the balanced (image, transformation) assignment and its embeddings."""

from collections import Counter

import pytest

from auditkit.data import builtin_probe_set
from auditkit.encoders.planted import NoiseEncoder
from auditkit.errors import ConfigError, ProbeSetError
from auditkit.extract import Extractor
from auditkit.measures.style_sampling import assign, embed_assigned
from auditkit.transforms.catalogue import catalogue


@pytest.fixture(scope="module")
def probe_set():
    return builtin_probe_set(seed=0, max_images=24)



def test_assignment_is_balanced_distinct_and_seeded(probe_set):
    variants = catalogue()
    pairs = assign(probe_set.images, variants, per_image=6, seed=3)
    sizes = [len(images) for images in pairs.values()]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 6 * len(probe_set)
    per_image = Counter(im.id for images in pairs.values() for im in images)
    assert set(per_image.values()) == {6}
    assert all(len({im.id for im in images}) == len(images) for images in pairs.values())
    again = assign(list(reversed(probe_set.images)), variants, per_image=6, seed=3)
    assert {k: sorted(im.id for im in v) for k, v in again.items()} == {
        k: sorted(im.id for im in v) for k, v in pairs.items()
    }
    other = assign(probe_set.images, variants, per_image=6, seed=4)
    assert other != pairs


def test_assignment_refuses_too_few_images(probe_set):
    with pytest.raises(ProbeSetError, match="two images each"):
        assign(probe_set.images[:5], catalogue(), per_image=6)
    with pytest.raises(ConfigError, match="per_image"):
        assign(probe_set.images, catalogue(), per_image=0)
    few = catalogue(["geometric"])
    full = assign(probe_set.images[:4], few, per_image=99)  # capped at every variant
    assert all(len(images) == 4 for images in full.values())


def test_assignment_refuses_repeated_variant_ids(probe_set):
    variants = catalogue(["geometric"])
    with pytest.raises(ConfigError, match="repeat"):
        assign(probe_set.images, [*variants, variants[0]], per_image=2)


def test_embed_assigned_embeds_exactly_the_assigned_pairs(probe_set):
    variants = catalogue(["noise", "style"])
    extractor = Extractor(NoiseEncoder())
    table = embed_assigned(extractor, probe_set, variants, per_image=3, seed=1)
    pairs = assign(probe_set.images, variants, per_image=3, seed=1)
    expected = sorted((v, im.id) for v, images in pairs.items() for im in images)
    got = zip(table.variant_ids.tolist(), table.image_ids.tolist(), strict=True)
    assert sorted(got) == expected
    assert len(table) == 3 * len(probe_set) == len(table.X) == len(table.groups)
    assert extractor.stats.computed == len(table)
    # Again: every pair is a memory hit, nothing is computed twice.
    embed_assigned(extractor, probe_set, variants, per_image=3, seed=1)
    assert extractor.stats.computed == len(table)
