"""auditkit: audit image encoders for what their embeddings know beyond semantics.

The public names are listed in ``__all__`` and imported on first use
(PEP 562), so that ``import auditkit`` (which pytest does for the plugin in
every run of an environment where auditkit is installed) stays cheap and
imports no torch until something asks for it.

Examples
--------
>>> from auditkit import register_audit, AuditContext   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Audit": "auditkit.registry",
    "AuditContext": "auditkit.context",
    "AuditResult": "auditkit.results",
    "AuditkitError": "auditkit.errors",
    "Embedder": "auditkit.extract",
    "EmbeddingTable": "auditkit.extract",
    "EncoderSpec": "auditkit.encoders.spec",
    "Extractor": "auditkit.extract",
    "Measurement": "auditkit.verdicts",
    "ProbeSet": "auditkit.data.base",
    "RunConfig": "auditkit.run_config",
    "Threshold": "auditkit.verdicts",
    "Variant": "auditkit.transforms.base",
    "all_audits": "auditkit.registry",
    "build_encoder": "auditkit.encoders.registry",
    "get_audit": "auditkit.registry",
    "load_probe_set": "auditkit.data",
    "measure_probe": "auditkit.measures.classification",
    "measure_variants": "auditkit.measures.classification",
    "parse_spec": "auditkit.encoders.spec",
    "register_audit": "auditkit.registry",
}

__all__ = sorted([*_EXPORTS, "__version__"])

# For type checkers only. ``name as name`` marks each import a re-export
# (PEP 484), which linters cannot read off the computed ``__all__``.
if TYPE_CHECKING:
    from auditkit.context import AuditContext as AuditContext
    from auditkit.data import load_probe_set as load_probe_set
    from auditkit.data.base import ProbeSet as ProbeSet
    from auditkit.encoders.registry import build_encoder as build_encoder
    from auditkit.encoders.spec import EncoderSpec as EncoderSpec
    from auditkit.encoders.spec import parse_spec as parse_spec
    from auditkit.errors import AuditkitError as AuditkitError
    from auditkit.extract import Embedder as Embedder
    from auditkit.extract import EmbeddingTable as EmbeddingTable
    from auditkit.extract import Extractor as Extractor
    from auditkit.measures.classification import measure_probe as measure_probe
    from auditkit.measures.classification import measure_variants as measure_variants
    from auditkit.registry import Audit as Audit
    from auditkit.registry import all_audits as all_audits
    from auditkit.registry import get_audit as get_audit
    from auditkit.registry import register_audit as register_audit
    from auditkit.results import AuditResult as AuditResult
    from auditkit.run_config import RunConfig as RunConfig
    from auditkit.transforms.base import Variant as Variant
    from auditkit.verdicts import Measurement as Measurement
    from auditkit.verdicts import Threshold as Threshold


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'auditkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
