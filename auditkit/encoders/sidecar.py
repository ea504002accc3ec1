"""The preprocessing of a model file that carries none: a JSON file beside it.

A TorchScript, ``torch.export`` or ONNX file holds a graph and its weights,
never how images are to be prepared for it. ``PATH.json`` (``model.onnx.json``
beside ``model.onnx``) says it in timm's vocabulary, so the same torchvision
pipeline that timm models get is built from it::

    {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bicubic",
     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

The file's content enters the fingerprint through the encoder's
preprocessing description.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditkit.errors import ConfigError

#: The ImageNet default TorchScript files fall back to.
DEFAULT_CONFIG: dict[str, Any] = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "crop_pct": 1.0,
    "crop_mode": "center",
}

EXAMPLE = ('{"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bicubic", '
           '"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}')


def sidecar_path(path: Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path, spec: str, required: bool) -> dict[str, Any]:
    """The timm data config for the model file ``path``: the defaults updated by its sidecar.

    Raises
    ------
    ConfigError
        The sidecar is not valid JSON, or it is ``required`` and missing.
    """
    sidecar = sidecar_path(path)
    config = dict(DEFAULT_CONFIG)
    if sidecar.is_file():
        try:
            given = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"preprocessing file {str(sidecar)!r} is not valid JSON: {exc}"
            ) from exc
        if not isinstance(given, dict):
            raise ConfigError(f"preprocessing file {str(sidecar)!r} holds no JSON object")
        config.update(given)
    elif required:
        raise ConfigError(
            f"spec {spec!r}: the model file carries no preprocessing; write it to "
            f"{str(sidecar)!r}, for example {EXAMPLE}"
        )
    config["input_size"] = tuple(config["input_size"])
    return config
