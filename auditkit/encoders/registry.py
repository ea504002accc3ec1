"""Building encoders from specs, and the listings ``auditkit encoders`` shows.

Each source's grammar and builder live in its adapter module, registered with
:func:`register_source` (see :mod:`auditkit.encoders.sources`); this module
parses a spec, dispatches to the source's builder and turns a builder's stray
exception into one :class:`SpecError`.

Examples
--------
>>> from auditkit.encoders import build_encoder
>>> build_encoder("pixels").spec
'pixels'
"""

from __future__ import annotations

import logging

from auditkit.encoders.base import Encoder
from auditkit.encoders.options import LoadOptions
from auditkit.encoders.sources import get_source, list_sources, register_source
from auditkit.encoders.spec import ALIASES, EncoderSpec, parse_spec
from auditkit.errors import AuditkitError, SpecError

__all__ = ["build_encoder", "list_aliases", "list_forms", "register_source"]

log = logging.getLogger("auditkit")


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
    if parsed.erase_path:
        return _erased(parsed, options)
    source = get_source(parsed.source)
    if source is None:
        # Only a hand-made EncoderSpec gets here: parse_spec knows every source.
        raise SpecError(f"encoder spec {parsed.raw!r} names no registered source {parsed.source!r}")
    try:
        encoder = source.build(parsed, options)
    except AuditkitError:
        raise
    except Exception as exc:
        raise SpecError(
            f"building encoder {parsed.raw!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    log.info("encoder %s: fingerprint %s", parsed.raw, encoder.fingerprint[:12])
    return encoder


def _erased(parsed: EncoderSpec, options: LoadOptions) -> Encoder:
    """The base encoder of ``SPEC+erase:PATH`` wrapped with the eraser at ``PATH``."""
    from auditkit.encoders.erased import ErasedEncoder
    from auditkit.erasure import Eraser

    assert parsed.erase_path is not None
    eraser = Eraser.load(parsed.erase_path)
    base = build_encoder(parsed.without_eraser(), options)
    encoder = ErasedEncoder(base, eraser, parsed.raw.strip(), parsed.erase_path)
    log.info("encoder %s: fingerprint %s", parsed.raw, encoder.fingerprint[:12])
    return encoder


def list_aliases() -> list[tuple[str, str, str]]:
    """``(alias, target spec, description and input)`` for every alias, sorted."""
    return [(name, a.target, f"{a.description}; {a.input}" if a.input else a.description)
            for name, a in sorted(ALIASES.items())]


def list_forms() -> list[str]:
    """The form of every registered source (``timm:NAME``), in registration order."""
    return [source.form for source in list_sources()]
