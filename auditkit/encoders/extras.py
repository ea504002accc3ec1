"""Optional packages some spec sources need, and the one message when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from auditkit.errors import WeightsUnavailableError


def require(module: str, extra: str, spec: str, also: str = "") -> ModuleType:
    """Import ``module`` for ``spec``, or say which auditkit extra installs it.

    Examples
    --------
    >>> require("json", "none", "x").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise WeightsUnavailableError(
            f"encoder {spec!r} needs {module}: pip install 'pytest-auditkit[{extra}]'{also}"
        ) from exc
