"""What an embedding or a measurement depends on beyond its inputs: libraries and numerics.

The same encoder on the same image gives embeddings that differ by about
1e-3 between a CPU and a GPU running TF32 matmuls or convolutions, and the
same variant can give other pixels under another Pillow, libjpeg or OpenCV.
A probe fit can move with numpy, scipy, scikit-learn or torch. Both stores
key on these facts: the embedding key (:func:`auditkit.cache.cache_key`) on
:func:`embedding_environment`, the measurement key
(:func:`auditkit.memo.measurement_key`) on :func:`measurement_environment`.
This module is the one place that reads them, so the two keys agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from auditkit.provenance import package_versions

#: Distributions whose versions change what a probe fit gives.
FIT_LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch")


@functools.cache
def pixel_libraries() -> dict[str, str | None]:
    """Versions of the libraries that make variant pixels: Pillow, its libjpeg, OpenCV.

    Examples
    --------
    >>> sorted(pixel_libraries())
    ['libjpeg', 'libjpeg_turbo', 'opencv', 'pillow']
    """
    import cv2
    import PIL
    from PIL import features

    return {
        "pillow": PIL.__version__,
        "libjpeg": features.version("jpg"),
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        # By the module, not a distribution: OpenCV ships under several names.
        "opencv": getattr(cv2, "__version__", None),
    }


@functools.cache
def fit_libraries() -> dict[str, str | None]:
    """Versions of :data:`FIT_LIBRARIES` (``None`` where one is missing)."""
    return package_versions(FIT_LIBRARIES)


@functools.cache
def _capability(device: str) -> str | None:
    import torch

    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    return f"{major}.{minor}"


def _settings() -> dict[str, Callable[[], Any]]:
    import torch

    backends = torch.backends
    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "cuda_matmul_allow_tf32": lambda: backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": lambda: backends.cudnn.allow_tf32,
        "cuda_matmul_fp16_reduction": (
            lambda: backends.cuda.matmul.allow_fp16_reduced_precision_reduction),
        "cuda_matmul_bf16_reduction": (
            lambda: backends.cuda.matmul.allow_bf16_reduced_precision_reduction),
        # torch >= 2.9 spells precision per backend; older releases lack these.
        "fp32_precision": lambda: backends.fp32_precision,  # type: ignore[attr-defined]
        "cuda_matmul_fp32": lambda: backends.cuda.matmul.fp32_precision,
        "cudnn_conv_fp32": lambda: backends.cudnn.conv.fp32_precision,  # type: ignore[attr-defined]
        "mkldnn_matmul_fp32": lambda: backends.mkldnn.matmul.fp32_precision,  # type: ignore[attr-defined]
        "mkldnn_conv_fp32": lambda: backends.mkldnn.conv.fp32_precision,  # type: ignore[attr-defined]
    }


def device_numerics(device: str) -> dict[str, Any]:
    """The device kind and the precision settings that change a forward pass.

    ``device`` is where the encoder runs (``cpu``, ``cuda:0``, ``mps``); a
    CUDA device adds its compute capability (TF32 exists from 8.0 on).
    A setting this torch does not have reads ``None``; one it refuses to
    read (torch raises when the legacy and the per-backend TF32 switches
    were both set) reads as the error's name, which still keys the state
    apart from the defaults.

    Examples
    --------
    >>> numerics = device_numerics("cpu")
    >>> numerics["device"], "float32_matmul_precision" in numerics
    ('cpu', True)
    """
    kind = str(device).split(":", 1)[0]
    out: dict[str, Any] = {"device": kind}
    if kind == "cuda":
        out["capability"] = _capability(str(device))
    for name, read in _settings().items():
        try:
            out[name] = read()
        except AttributeError:
            out[name] = None
        except RuntimeError as exc:
            out[name] = type(exc).__name__
    return out


def embedding_environment(device: str) -> dict[str, Any]:
    """Everything outside the encoder and the image that an embedding depends on.

    Examples
    --------
    >>> sorted(embedding_environment("cpu"))
    ['numerics', 'pixels']
    """
    return {"pixels": pixel_libraries(), "numerics": device_numerics(device)}


def measurement_environment(device: str) -> dict[str, Any]:
    """:func:`embedding_environment` plus the versions of the libraries that fit probes.

    Examples
    --------
    >>> sorted(measurement_environment("cpu"))
    ['fit', 'numerics', 'pixels']
    """
    return {**embedding_environment(device), "fit": fit_libraries()}
