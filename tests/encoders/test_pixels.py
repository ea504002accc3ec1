"""Tests of the ``pixels`` baseline encoder."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image
from sklearn.datasets import load_sample_images
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from auditkit.encoders.base import Encoder
from auditkit.encoders.pixels import PixelsEncoder, build_pixels
from auditkit.transforms.quality import jpeg_grid, jpeg_variant

N_SOURCES = 60


def _noise_image(height: int, width: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _photo_crops(n: int, seed: int = 0) -> list[Image.Image]:
    """Distinct crops, 128-256 px a side at random offsets, of six colour photos."""
    photos = [
        skimage.data.astronaut(),
        skimage.data.chelsea(),
        skimage.data.coffee(),
        skimage.data.rocket(),
        *load_sample_images().images,
    ]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h = min(int(rng.integers(128, 257)), photo.shape[0])
        w = min(int(rng.integers(128, 257)), photo.shape[1])
        top = int(rng.integers(0, photo.shape[0] - h + 1))
        left = int(rng.integers(0, photo.shape[1] - w + 1))
        crop = photo[top : top + h, left : left + w, :3]
        crops.append(Image.fromarray(np.ascontiguousarray(crop)))
    return crops


@pytest.fixture(scope="module")
def encoder() -> PixelsEncoder:
    return PixelsEncoder()


@pytest.fixture(scope="module")
def jpeg_task(encoder: PixelsEncoder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, six-class JPEG labels and source-image groups."""
    feats, labels, groups = [], [], []
    for group, source in enumerate(_photo_crops(N_SOURCES)):
        for label, variant in enumerate(jpeg_grid()):
            feats.append(encoder.preprocess(variant.apply(source)))
            labels.append(label)
            groups.append(group)
    return np.stack(feats), np.array(labels), np.array(groups)


def _grouped_probe_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)
    )
    pred = cross_val_predict(probe, x, y, groups=groups, cv=StratifiedGroupKFold(n_splits=5))
    return float(balanced_accuracy_score(y, pred))


def test_interface(encoder: PixelsEncoder) -> None:
    assert isinstance(build_pixels("pixels"), PixelsEncoder)
    assert isinstance(encoder, Encoder)
    assert encoder.spec == "pixels"
    assert encoder.weights_sha256 is None
    assert encoder.weights_source == "parameter-free"
    assert encoder.default_batch_size == 64
    assert encoder.describe_preprocessing()["feature_version"] == PixelsEncoder.FEATURE_VERSION


def test_fingerprint_follows_feature_version(encoder: PixelsEncoder) -> None:
    class Bumped(PixelsEncoder):
        FEATURE_VERSION = PixelsEncoder.FEATURE_VERSION + 1

    # The subclass's qualname alone would move the fingerprint, so the
    # description is the check that matters.
    bumped = Bumped()
    assert bumped.describe_preprocessing() != encoder.describe_preprocessing()
    assert bumped.fingerprint != encoder.fingerprint


@pytest.mark.parametrize(
    "image",
    [
        _noise_image(1, 1),
        _noise_image(7, 13),
        _noise_image(15, 40),
        _noise_image(255, 301),
        _noise_image(64, 64).convert("L").convert("RGB"),
        _noise_image(32, 48).convert("L"),
        Image.new("RGB", (40, 24), (255, 255, 255)),
    ],
    ids=["1x1", "7x13", "15x40", "255x301", "grey-rgb", "mode-L", "flat"],
)
def test_fixed_length_finite_float32(encoder: PixelsEncoder, image: Image.Image) -> None:
    reference = encoder.preprocess(_noise_image(64, 64))
    feats = encoder.preprocess(image)
    assert feats.dtype == np.float32
    assert feats.shape == reference.shape
    assert feats.ndim == 1 and 200 <= feats.shape[0] <= 1000
    assert np.isfinite(feats).all()


def test_embed_batch_is_identity(encoder: PixelsEncoder) -> None:
    images = [_noise_image(32, 32, seed) for seed in range(3)]
    emb = encoder.embed(images)
    assert emb.dtype == np.float32
    np.testing.assert_array_equal(emb, np.stack([encoder.preprocess(im) for im in images]))


def test_deterministic(encoder: PixelsEncoder) -> None:
    image = _photo_crops(1, seed=3)[0]
    np.testing.assert_array_equal(encoder.preprocess(image), encoder.preprocess(image.copy()))


def test_reencoding_changes_features(encoder: PixelsEncoder) -> None:
    source = _photo_crops(1, seed=5)[0]
    compressed = jpeg_variant(75, "420").apply(source)
    assert not np.allclose(encoder.preprocess(source), encoder.preprocess(compressed))


def test_separates_the_six_jpeg_classes(
    jpeg_task: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    # Grouping by source image: the probe must recognise the compression of
    # photos it has never seen, not the photos.
    x, y, groups = jpeg_task
    assert _grouped_probe_accuracy(x, y, groups) >= 0.6
