"""Encoders: the registry, spec parsing and the adapters."""

from auditkit.encoders.base import Encoder, stable_hash
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.registry import build_encoder, list_aliases, register_source
from auditkit.encoders.spec import ALIASES, EncoderSpec, parse_spec

__all__ = [
    "ALIASES",
    "Encoder",
    "EncoderSpec",
    "LoadOptions",
    "build_encoder",
    "list_aliases",
    "parse_spec",
    "register_source",
    "stable_hash",
]
