"""``torchscript:PATH``: a scripted or traced model file.

A TorchScript file carries no preprocessing, so auditkit uses the ImageNet
default (resize the short side to 224 bicubic, centre crop 224, ImageNet mean
and std) unless a JSON file next to it (``PATH.json``) gives ``input_size``,
``crop_pct``, ``interpolation``, ``mean`` and ``std`` in timm's vocabulary.

Loading a TorchScript archive runs the code stored in it, as a ``python:``
spec runs the user's module: the build logs a warning saying so, and such
files must come from a source the user trusts.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sidecar import read_sidecar
from auditkit.encoders.sources import register_source
from auditkit.encoders.spec import EncoderSpec
from auditkit.encoders.weights import file_sha256
from auditkit.errors import ConfigError, WeightsUnavailableError

if TYPE_CHECKING:
    from auditkit.encoders.torch_encoder import TorchEncoder

log = logging.getLogger("auditkit")

@register_source("torchscript", form="torchscript:PATH", weights=False)
def build_torchscript(spec: EncoderSpec, options: LoadOptions) -> TorchEncoder:
    import torch

    from auditkit.encoders.torch_encoder import TorchEncoder

    path = Path(spec.name)
    if spec.random or spec.weights_path:
        raise ConfigError(
            f"spec {spec.raw!r}: a TorchScript file carries its own weights; "
            "'random:' and '@PATH' do not apply to it"
        )
    if not path.is_file():
        raise WeightsUnavailableError(
            f"TorchScript file {str(path)!r} (spec {spec.raw!r}) does not exist"
        )
    log.warning("loading %s runs the code stored in the TorchScript file %r: "
                "use only files from a source you trust", spec.raw, str(path))
    try:
        with warnings.catch_warnings():
            # torch >= 2.14 deprecates TorchScript; the user chose this format on purpose.
            warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated")
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise WeightsUnavailableError(
            f"{str(path)!r} is not a loadable TorchScript file: {type(exc).__name__}: {exc}"
        ) from exc
    config = read_sidecar(path, spec.raw, required=False)
    return TorchEncoder.from_timm_config(
        module,
        config,
        spec=spec.canonical,
        weights_sha256=file_sha256(path),
        weights_source=str(path),
    )
