"""``onnx:PATH.onnx``: an ONNX model run by onnxruntime, on the CPU or, where present, CUDA.

ONNX is the usual deployment format, so the file a team ships is the file
audited. The preprocessing comes from the required sidecar ``PATH.onnx.json``
(:mod:`auditkit.encoders.sidecar`); the fingerprint covers the file's bytes
and the sidecar. The graph's first input takes the ``(B, 3, H, W)`` float
batch and its first output is the embedding. A graph exported with a fixed
batch of 1 is run one image at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditkit.encoders.base import Encoder
from auditkit.encoders.export_adapter import model_file
from auditkit.encoders.extras import require
from auditkit.encoders.geometry import InputGeometry
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sidecar import read_sidecar
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.encoders.weights import file_sha256
from auditkit.errors import WeightsUnavailableError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


class OnnxEncoder(Encoder):
    """An onnxruntime session and a torchvision transform built from the sidecar."""

    def __init__(self, spec: str, path: str, config: dict[str, Any], sha256: str) -> None:
        from timm.data import create_transform

        from auditkit.encoders.torch_encoder import describe_transform

        self.spec = spec
        self.path = path
        self.transform = create_transform(**config)
        self.input_geometry = InputGeometry.from_transform(self.transform)
        self.preprocessing = {"config": config, "transform": describe_transform(self.transform)}
        self.weights_sha256 = sha256
        self.weights_source = path
        self._device = "cpu"
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # A session does not pickle; a DataLoader worker only preprocesses.
        return {**self.__dict__, "_session": None}

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = open_session(self.path, self._device)
        return self._session

    def preprocess(self, image: Any) -> Any:
        return self.transform(image)

    @property
    def preprocessor(self) -> Any:
        return self.transform  # workers need neither the session nor the file

    def describe_preprocessing(self) -> Any:
        return self.preprocessing

    @property
    def device(self) -> str:
        return self._device

    def to(self, device: str) -> OnnxEncoder:
        if str(device) != self._device:
            self._device, self._session = str(device), None
        return self

    def embed_batch(self, batch: Any) -> np.ndarray:
        array = np.ascontiguousarray(batch.numpy() if hasattr(batch, "numpy") else batch,
                                     dtype=np.float32)
        session = self.session
        feed = session.get_inputs()[0]
        if feed.shape and feed.shape[0] == 1 and len(array) > 1:
            return np.concatenate([self.embed_batch(array[i:i + 1]) for i in range(len(array))])
        out = np.asarray(session.run(None, {feed.name: array})[0], dtype=np.float32)
        return out.reshape(len(array), -1)


def open_session(path: str, device: str) -> Any:
    """An inference session on ``device``: CUDA where asked for and available, else the CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    providers = [CUDA, CPU] if device.startswith("cuda") and CUDA in available else [CPU]
    try:
        return onnxruntime.InferenceSession(path, providers=providers)
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{path!r} is not a loadable ONNX model: {type(exc).__name__}: {exc}"
        ) from exc


@register_source("onnx", form="onnx:PATH.onnx", weights=False)
def build_onnx(spec: EncoderSpec, options: LoadOptions) -> OnnxEncoder:
    require("onnxruntime", "onnx", spec.raw, " (or onnxruntime-gpu for CUDA)")
    path = model_file(spec, "ONNX")
    config = read_sidecar(path, spec.raw, required=True)
    encoder = OnnxEncoder(spec.canonical, str(path), config, file_sha256(path))
    encoder.session  # noqa: B018 - a broken file is an error at build time, not mid-run
    return encoder
