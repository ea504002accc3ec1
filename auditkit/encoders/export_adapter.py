"""``export:PATH.pt2``: a ``torch.export`` program, TorchScript's successor.

``torch.export.save`` writes a graph of ATen operations and its weights; no
Python from the file runs when it loads. The preprocessing comes from the
sidecar ``PATH.pt2.json`` (:mod:`auditkit.encoders.sidecar`), which is
required: a program says nothing about its input. The fingerprint covers the
file's bytes and the sidecar. Export with a dynamic batch dimension, e.g.
``torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sidecar import read_sidecar
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.encoders.weights import file_sha256
from auditkit.errors import ConfigError, WeightsUnavailableError

if TYPE_CHECKING:
    import torch

    from auditkit.encoders.torch_encoder import TorchEncoder


def model_file(spec: EncoderSpec, kind: str) -> Path:
    """The file of a self-contained model spec; ``random:`` and ``@PATH`` do not apply."""
    if spec.random or spec.weights_path:
        raise ConfigError(
            f"spec {spec.raw!r}: a {kind} file carries its own weights; "
            "'random:' and '@PATH' do not apply to it"
        )
    path = Path(spec.name)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"{kind} file {str(path)!r} (spec {spec.raw!r}) does not exist")
    return path


class FirstOutput:
    """``batch -> (B, D)``: the program's output, its first element where it returns several."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.module(batch)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.flatten(1) if out.ndim > 2 else out


@register_source("export", form="export:PATH.pt2", weights=False)
def build_export(spec: EncoderSpec, options: LoadOptions) -> TorchEncoder:
    import torch

    from auditkit.encoders.torch_encoder import TorchEncoder

    path = model_file(spec, "torch.export")
    config = read_sidecar(path, spec.raw, required=True)
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{str(path)!r} is not a loadable torch.export program: {type(exc).__name__}: {exc}"
        ) from exc
    module = program.module()
    return TorchEncoder.from_timm_config(
        module, config, spec=spec.canonical, weights_sha256=file_sha256(path),
        weights_source=str(path), forward=FirstOutput(module),
    )
