"""Optional packages some spec sources need, and the one message when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
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
        raise WeightsUnavailableError(_missing(module, extra, spec, also)) from exc


def check_installed(module: str, extra: str, spec: str, also: str = "") -> None:
    """:func:`require` without the import: the start-up check, which must stay cheap.

    Examples
    --------
    >>> check_installed("json", "none", "x")
    """
    if importlib.util.find_spec(module) is None:
        raise WeightsUnavailableError(_missing(module, extra, spec, also))


def _missing(module: str, extra: str, spec: str, also: str) -> str:
    return f"encoder {spec!r} needs {module}: pip install 'pytest-auditkit[{extra}]'{also}"
