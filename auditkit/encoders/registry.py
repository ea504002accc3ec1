"""The encoder registry: spec source name -> factory.

Built-in sources are registered by reference (``module:function``) so that
``pixels`` does not import open_clip; users register more with
:func:`register_source`.

Examples
--------
>>> from auditkit.encoders import build_encoder
>>> build_encoder("pixels").spec
'pixels'
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from auditkit.encoders.base import Encoder
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.spec import ALIASES, SOURCES, EncoderSpec, parse_spec
from auditkit.errors import AuditkitError, SpecError

Builder = Callable[[EncoderSpec, LoadOptions], Encoder]

log = logging.getLogger("auditkit")

_BUILTIN: dict[str, str] = {
    "pixels": "auditkit.encoders.pixels:build_pixels",
    "open_clip": "auditkit.encoders.openclip_adapter:build_open_clip",
    "timm": "auditkit.encoders.timm_adapter:build_timm",
    "torchscript": "auditkit.encoders.torchscript_adapter:build_torchscript",
    "python": "auditkit.encoders.python_adapter:build_python",
}
_REGISTERED: dict[str, Builder] = {}


def register_source(name: str) -> Callable[[Builder], Builder]:
    """Register a factory for specs ``NAME:...`` (decorator)."""

    def decorate(fn: Builder) -> Builder:
        _REGISTERED[name] = fn
        SOURCES.setdefault(name, f"{name}:NAME")
        return fn

    return decorate


def _builder(source: str) -> Builder:
    if source in _REGISTERED:
        return _REGISTERED[source]
    module, _, attr = _BUILTIN[source].partition(":")
    fn: Builder = getattr(importlib.import_module(module), attr)
    return fn


def build_encoder(spec: str | EncoderSpec, options: LoadOptions | None = None) -> Encoder:
    """Parse ``spec`` and build the encoder it names.

    Raises
    ------
    SpecError
        Unknown or malformed spec (close matches named).
    WeightsUnavailableError
        Weights not available offline (one message, no hub traceback).
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    options = options or LoadOptions()
    if parsed.source == "pixels" and (parsed.random or parsed.weights_path):
        raise SpecError(f"spec {parsed.raw!r}: the pixels baseline has no weights")
    try:
        encoder = _builder(parsed.source)(parsed, options)
    except AuditkitError:
        raise
    except Exception as exc:
        raise SpecError(
            f"building encoder {parsed.raw!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    log.info("encoder %s: fingerprint %s", parsed.raw, encoder.fingerprint[:12])
    return encoder


def list_aliases() -> list[tuple[str, str, str]]:
    """``(alias, target spec, description)`` for every alias, sorted."""
    return [(name, a.target, a.description) for name, a in sorted(ALIASES.items())]
