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

if TYPE_CHECKING:
    from auditkit.context import AuditContext
    from auditkit.data import load_probe_set
    from auditkit.data.base import ProbeSet
    from auditkit.encoders.registry import build_encoder
    from auditkit.encoders.spec import EncoderSpec, parse_spec
    from auditkit.errors import AuditkitError
    from auditkit.extract import Embedder, EmbeddingTable, Extractor
    from auditkit.measures.classification import measure_probe, measure_variants
    from auditkit.registry import Audit, all_audits, get_audit, register_audit
    from auditkit.results import AuditResult
    from auditkit.run_config import RunConfig
    from auditkit.transforms.base import Variant
    from auditkit.verdicts import Measurement, Threshold


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'auditkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
