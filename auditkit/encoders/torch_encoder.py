"""A torch model plus its preprocessing, as an auditkit :class:`Encoder`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from auditkit.encoders.base import Encoder


class TorchEncoder(Encoder):
    """Wraps ``forward(batch) -> (B, D)`` and a PIL-to-tensor ``transform``.

    Parameters
    ----------
    spec : str
        The spec the user gave (canonical form).
    module : torch.nn.Module
        Holds the parameters; moved by :meth:`to`.
    forward : callable
        Runs the module on a ``(B, C, H, W)`` float batch, returns ``(B, D)``.
    transform : callable
        The model's own preprocessing, PIL image to ``(C, H, W)`` tensor.
    preprocessing : object
        JSON-able description of ``transform`` (enters the fingerprint).
    weights_sha256, weights_source : str
        What was loaded, for the fingerprint and the card.
    """

    default_batch_size = 32

    def __init__(
        self,
        spec: str,
        module: torch.nn.Module,
        forward: Callable[[torch.Tensor], torch.Tensor],
        transform: Callable[[Image.Image], torch.Tensor],
        preprocessing: Any,
        weights_sha256: str | None,
        weights_source: str,
    ) -> None:
        self.spec = spec
        self.module = module.eval()
        self._forward = forward
        self.transform = transform
        self.preprocessing = preprocessing
        self.weights_sha256 = weights_sha256
        self.weights_source = weights_source
        self._device = "cpu"
        #: Autocast dtype on the accelerator (None: full precision).
        self.amp_dtype: torch.dtype | None = None

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)

    def describe_preprocessing(self) -> Any:
        return self.preprocessing

    @property
    def device(self) -> str:
        return self._device

    def to(self, device: str) -> TorchEncoder:
        self.module.to(device)
        self._device = str(device)
        return self

    @torch.inference_mode()
    def embed_batch(self, batch: torch.Tensor) -> np.ndarray:
        batch = batch.to(self._device, non_blocking=True)
        if self.amp_dtype is not None and self._device.startswith("cuda"):
            with torch.autocast("cuda", dtype=self.amp_dtype):
                out = self._forward(batch)
        else:
            out = self._forward(batch)
        return out.float().cpu().numpy()


def describe_transform(transform: Any) -> str:
    """A stable text description of a torchvision transform pipeline."""
    return " ".join(repr(transform).split())
