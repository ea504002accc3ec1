"""A torch model plus its preprocessing, as an auditkit :class:`Encoder`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from auditkit.encoders.base import Encoder
from auditkit.encoders.geometry import InputGeometry
from auditkit.encoders.placement import batch_size_for, free_memory, pins, wants_channels_last

#: ``--audit-amp`` names of the autocast dtypes.
AMP_DTYPES: dict[str, torch.dtype | None] = {
    "none": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def set_amp(encoder: Encoder, amp: str) -> bool:
    """Autocast ``encoder``'s forward pass to ``amp`` (an :data:`AMP_DTYPES` name).

    Returns False, changing nothing, for an encoder that is not a torch model
    (``pixels``, user ``embed`` callables): it runs at its own precision.

    Examples
    --------
    >>> set_amp(build_encoder("pixels"), "bf16")  # doctest: +SKIP
    False
    """
    if amp == "none":
        return True
    if not isinstance(encoder, TorchEncoder):
        return False
    encoder.amp_dtype = AMP_DTYPES[amp]
    return True


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

    @property
    def default_batch_size(self) -> int:  # type: ignore[override]
        # Chosen for the device when the model was moved (placement.batch_size_for).
        return self._batch_size

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
        try:
            self.module = module.eval()
        except NotImplementedError:
            # A torch.export program keeps the mode it was exported in and refuses eval().
            self.module = module
        self._forward = forward
        self.transform = transform
        # Read from the transform, for the card: the mask itself acts on the tensor.
        self.input_geometry = InputGeometry.from_transform(transform)
        self.preprocessing = preprocessing
        self.weights_sha256 = weights_sha256
        self.weights_source = weights_source
        self._device = "cpu"
        self._channels_last = False
        self._batch_size = batch_size_for("cpu", None)
        #: Autocast dtype of the forward pass (None: full precision).
        self.amp_dtype: torch.dtype | None = None
        #: Run channels_last on the CPU too: set by a builder that measured it
        #: helping its architecture (placement.wants_channels_last decides the rest).
        self.cpu_channels_last = False

    @classmethod
    def from_timm_config(
        cls,
        model: torch.nn.Module,
        config: dict[str, Any],
        *,
        spec: str,
        weights_sha256: str | None,
        weights_source: str,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> TorchEncoder:
        """``model`` run on its whole input, preprocessed by timm's transform for ``config``.

        Parameters
        ----------
        model : torch.nn.Module
            Maps a ``(B, C, H, W)`` batch to ``(B, D)`` features.
        config : dict
            A timm data config (``input_size``, ``interpolation``, ``mean``,
            ``std``, ``crop_pct``, ...), as ``timm.data.resolve_data_config``
            returns; it and the transform's text enter the fingerprint.
        spec, weights_sha256, weights_source : str
            As for the constructor.
        forward : callable, optional
            What runs a batch, where it is not ``model`` itself.
        """
        from timm.data import create_transform

        transform = create_transform(**config)
        return cls(
            spec=spec,
            module=model,
            forward=forward or model,
            transform=transform,
            preprocessing={"config": config, "transform": describe_transform(transform)},
            weights_sha256=weights_sha256,
            weights_source=weights_source,
        )

    @property
    def precision(self) -> str | None:
        if self.amp_dtype is None:
            return None
        return f"autocast-{self.amp_dtype}".replace("torch.", "")

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)

    @property
    def preprocessor(self) -> Callable[[Image.Image], torch.Tensor]:
        # The transform alone: a worker never needs the module's weights.
        return self.transform

    def collate(self, items: Sequence[Any]) -> Any:
        """Stack the items, into pinned host memory when the model is on CUDA.

        Pinning the stacked batch (not each item before stacking, as a
        DataLoader's ``pin_memory`` does) is what lets :meth:`embed_batch`
        copy it to the device asynchronously.
        """
        if not (items and isinstance(items[0], torch.Tensor) and pins(self._device)):
            return super().collate(items)
        first = items[0]
        out = torch.empty((len(items), *first.shape), dtype=first.dtype, pin_memory=True)
        return torch.stack(list(items), out=out)

    def describe_preprocessing(self) -> Any:
        return self.preprocessing

    @property
    def device(self) -> str:
        return self._device

    def to(self, device: str) -> TorchEncoder:
        # A forward that is a module of its own (a folded copy) travels with the model.
        modules = [self.module]
        if isinstance(self._forward, torch.nn.Module) and self._forward is not self.module:
            modules.append(self._forward)
        self._device = str(device)
        self._channels_last = wants_channels_last(self.module, self._device) or (
            self.cpu_channels_last and self._device == "cpu")
        for module in modules:
            module.to(device)
            if self._channels_last:
                module.to(memory_format=torch.channels_last)
        self._batch_size = batch_size_for(self._device, free_memory(self._device))
        return self

    @torch.inference_mode()
    def embed_batch(self, batch: torch.Tensor) -> np.ndarray:
        batch = batch.to(self._device, non_blocking=True)
        if self._channels_last and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        if self.amp_dtype is not None:
            with torch.autocast(self._device.split(":")[0], dtype=self.amp_dtype):
                out = self._forward(batch)
        else:
            out = self._forward(batch)
        return out.float().cpu().numpy()


def describe_transform(transform: Any) -> str:
    """A stable text description of a torchvision transform pipeline."""
    return " ".join(repr(transform).split())
