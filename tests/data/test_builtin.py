"""The built-in probe set: size, classes, colour, determinism, pickling."""

from __future__ import annotations

import pickle
from collections import Counter, defaultdict

import numpy as np
import pytest

from auditkit.data import builtin as builtin_module
from auditkit.data import builtin_probe_set, sha256_of_image
from auditkit.data.base import ProbeSet
from auditkit.errors import ConfigError, ProbeSetError


@pytest.fixture(scope="module")
def probe() -> ProbeSet:
    return builtin_probe_set(seed=0)


def _chroma_std(image) -> tuple[float, float]:
    ycbcr = np.asarray(image.convert("YCbCr"), dtype=np.float64)
    return float(ycbcr[..., 1].std()), float(ycbcr[..., 2].std())


def test_size_and_classes(probe: ProbeSet) -> None:
    assert len(probe) >= 200
    counts = probe.class_counts()
    assert len(counts) >= 5
    assert max(counts.values()) - min(counts.values()) <= 1
    assert probe.name == "builtin"
    assert "seed 0" in probe.description


def test_images_are_distinct_with_unique_ids(probe: ProbeSet) -> None:
    assert len({im.sha256 for im in probe.images}) == len(probe)
    assert len({im.id for im in probe.images}) == len(probe)
    assert all(im.id.startswith(f"builtin/{im.label}/") for im in probe.images)


def test_sha256_matches_loaded_pixels(probe: ProbeSet) -> None:
    for im in probe.images[::17]:
        assert sha256_of_image(im.load()) == im.sha256


def test_rgb_with_varied_sizes(probe: ProbeSet) -> None:
    sizes = []
    for im in probe.images:
        image = im.load()
        assert image.mode == "RGB"
        sizes.append(image.size)
    assert all(32 <= side <= 320 for size in sizes for side in size)
    assert len(set(sizes)) > len(sizes) // 2


def test_colour_has_real_chroma(probe: ProbeSet) -> None:
    stds = np.array([_chroma_std(im.load()) for im in probe.images])
    # Most images carry clear chroma structure; none is gray.
    assert (stds[:, 0] > 3.0).mean() >= 0.9
    assert (stds.max(axis=1) > 1.0).all()


def test_crops_share_the_group_of_their_parent_photo(probe: ProbeSet) -> None:
    photo_groups = Counter(im.group for im in probe.images if im.label == "photo")
    assert len(photo_groups) >= 8
    assert all(group.startswith("builtin/source/") for group in photo_groups)
    assert all(n >= 2 for n in photo_groups.values())
    # Generated and distinct-source images are their own group.
    for im in probe.images:
        if im.label in ("digit", "face", "nonface", "shape"):
            assert im.group == im.id
    # No group spans two classes, so class-stratified splits stay clean.
    labels_of_group: dict[str, set[str]] = defaultdict(set)
    for im in probe.images:
        labels_of_group[im.group].add(im.label)
    assert all(len(labels) == 1 for labels in labels_of_group.values())


def test_digits_and_faces_come_from_distinct_rows(probe: ProbeSet) -> None:
    for label in ("digit", "face", "nonface"):
        rows = [im.metadata["row"] for im in probe.images if im.label == label]
        assert len(set(rows)) == len(rows)
    assert all(im.metadata["row"] < 100 for im in probe.images if im.label == "face")
    assert all(im.metadata["row"] >= 100 for im in probe.images if im.label == "nonface")


def test_deterministic_for_a_seed(probe: ProbeSet) -> None:
    # Empty the memo so the second build really regenerates every pixel.
    builtin_module._MEMO.clear()
    again = builtin_probe_set(seed=0)
    assert again.digest == probe.digest


def test_another_seed_gives_another_set(probe: ProbeSet) -> None:
    other = builtin_probe_set(seed=1, max_images=60)
    assert not {im.sha256 for im in other.images} & {im.sha256 for im in probe.images}


def test_max_images_keeps_class_balance_and_is_a_prefix(probe: ProbeSet) -> None:
    small = builtin_probe_set(seed=0, max_images=50)
    assert len(small) == 50
    counts = small.class_counts()
    assert set(counts) == set(probe.classes)
    assert max(counts.values()) - min(counts.values()) <= 1
    full = {im.id: im.sha256 for im in probe.images}
    assert all(full[im.id] == im.sha256 for im in small.images)
    assert len(builtin_probe_set(seed=0, max_images=10_000)) == len(probe)


def test_loaders_pickle_and_regenerate_the_same_pixels(probe: ProbeSet) -> None:
    sample = [next(im for im in probe.images if im.label == c) for c in probe.classes]
    payloads = [pickle.dumps(im.loader) for im in sample]
    assert all(len(p) < 500 for p in payloads)
    builtin_module._MEMO.clear()  # as in a fresh DataLoader worker
    for im, payload in zip(sample, payloads, strict=True):
        loader = pickle.loads(payload)
        assert sha256_of_image(loader()) == im.sha256


def test_loaded_images_do_not_share_memory_with_the_memo(probe: ProbeSet) -> None:
    im = probe.images[0]
    image = im.load()
    image.putpixel((0, 0), (1, 2, 3))
    assert sha256_of_image(im.load()) == im.sha256


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        builtin_probe_set(seed=seed)  # type: ignore[arg-type]


def test_non_positive_max_images_is_refused() -> None:
    with pytest.raises(ProbeSetError, match="max_images=0"):
        builtin_probe_set(max_images=0)
