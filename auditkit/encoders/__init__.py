"""Encoders: the registry, spec parsing and the adapters."""

# The built-in adapters register their sources on import, as timm's model
# modules do; none imports torch before it builds an encoder. Import order is
# the order ``auditkit encoders`` and the errors list the forms in.
# isort: off
from auditkit.encoders import pixels  # noqa: F401
from auditkit.encoders import openclip_adapter  # noqa: F401
from auditkit.encoders import timm_adapter  # noqa: F401
from auditkit.encoders import packaged_weights  # noqa: F401
from auditkit.encoders import torchscript_adapter  # noqa: F401
from auditkit.encoders import python_adapter  # noqa: F401
from auditkit.encoders import hf_adapter  # noqa: F401
from auditkit.encoders import export_adapter  # noqa: F401
from auditkit.encoders import onnx_adapter  # noqa: F401

# isort: on
from auditkit.encoders.base import Encoder, stable_hash
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.registry import build_encoder, list_aliases, list_forms, register_source
from auditkit.encoders.sources import EncoderSource
from auditkit.encoders.spec import ALIASES, EncoderSpec, parse_spec

__all__ = [
    "ALIASES",
    "Encoder",
    "EncoderSource",
    "EncoderSpec",
    "LoadOptions",
    "build_encoder",
    "list_aliases",
    "list_forms",
    "parse_spec",
    "register_source",
    "stable_hash",
]
