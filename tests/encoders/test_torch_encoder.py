"""Reduced precision: embeddings close to full precision, kept apart in the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auditkit.data import builtin_probe_set
from auditkit.encoders import LoadOptions, build_encoder
from auditkit.encoders.torch_encoder import AMP_DTYPES

#: Stated tolerance of autocast embeddings: cosine similarity to fp32 per row.
MIN_COSINE = 0.99


@pytest.fixture(scope="module")
def images():
    return [im.load() for im in builtin_probe_set(max_images=8).images]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_bf16_autocast_embeddings_stay_within_tolerance_of_fp32(images):
    full = build_encoder("random:timm:resnet18", LoadOptions(seed=0))
    half = build_encoder("random:timm:resnet18", LoadOptions(seed=0))
    half.amp_dtype = AMP_DTYPES["bf16"]
    a, b = full.embed(images), half.embed(images)
    assert not np.array_equal(a, b), "autocast did not change the arithmetic"
    assert _cosine(a, b).min() >= MIN_COSINE


def test_reduced_precision_has_its_own_fingerprint():
    full = build_encoder("random:timm:resnet18", LoadOptions(seed=0))
    half = build_encoder("random:timm:resnet18", LoadOptions(seed=0))
    before = full.fingerprint
    half.amp_dtype = torch.bfloat16
    assert half.precision == "autocast-bfloat16"
    assert half.fingerprint != full.fingerprint
    assert full.precision is None and full.fingerprint == before


def test_amp_is_refused_by_encoders_that_are_not_torch_models():
    from auditkit.encoders.torch_encoder import set_amp

    pixels = build_encoder("pixels", LoadOptions())
    before = pixels.fingerprint
    assert set_amp(pixels, "none") is True
    assert set_amp(pixels, "bf16") is False
    assert pixels.precision is None and pixels.fingerprint == before


def test_from_timm_config_preprocesses_as_timm_and_describes_it(images):
    from timm.data import create_transform

    from auditkit.encoders.torch_encoder import TorchEncoder, describe_transform

    config = {"input_size": (3, 64, 48), "interpolation": "bilinear", "crop_pct": 1.0,
              "crop_mode": "center", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    enc = TorchEncoder.from_timm_config(
        model, config, spec="torchscript:m.pt", weights_sha256="ab", weights_source="m.pt"
    )
    expected = create_transform(**config)
    assert enc.describe_preprocessing() == {"config": config,
                                            "transform": describe_transform(expected)}
    assert torch.equal(enc.preprocess(images[0]), expected(images[0]))
    assert enc.preprocess(images[0]).shape == (3, 64, 48)
    assert enc.embed(images[:2]).shape == (2, 12)
    assert (enc.spec, enc.weights_sha256, enc.weights_source) == ("torchscript:m.pt", "ab", "m.pt")
