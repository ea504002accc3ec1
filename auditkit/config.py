"""``[tool.auditkit]`` settings, with the stock defaults underneath.

Each audit's thresholds are a table ``[tool.auditkit.thresholds.AUDIT]`` whose
keys are threshold kinds and whose values are a number or a list of numbers;
every value is one parametrised test case.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditkit.compare import DEFAULT_TOLERANCE
from auditkit.errors import ConfigError
from auditkit.registry import find_audit, stock_thresholds
from auditkit.verdicts import Threshold, thresholds_from_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: What a project without ``[tool.auditkit]`` runs; thresholds come from the audit registry.
RUN_DEFAULTS: dict[str, Any] = {
    "encoders": ["random:timm:resnet18"],
    "references": ["pixels"],
    "seed": 0,
}


def defaults() -> dict[str, Any]:
    """What a project without ``[tool.auditkit]`` gets: run defaults and every audit's thresholds.

    Examples
    --------
    >>> defaults()["thresholds"]["jpeg_quality"]
    {'max_leakage': [0.1, 0.5]}
    """
    return {**copy.deepcopy(RUN_DEFAULTS), "thresholds": stock_thresholds()}


def load_config(root: Path) -> dict[str, Any]:
    """Merge ``root/pyproject.toml``'s ``[tool.auditkit]`` over :func:`defaults`."""
    config = defaults()
    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        return config
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}") from exc
    user = data.get("tool", {}).get("auditkit", {})
    if not isinstance(user, Mapping):
        raise ConfigError(f"[tool.auditkit] in {str(path)!r} is not a table")
    for key, value in user.items():
        if key == "thresholds":
            if not isinstance(value, Mapping):
                raise ConfigError(f"[tool.auditkit.thresholds] in {str(path)!r} is not a table")
            # An audit's table replaces the stock one whole: a user who lists
            # thresholds means exactly those cases.
            config["thresholds"].update(value)
        else:
            config[key] = value
    if not isinstance(config["encoders"], list) or not config["encoders"]:
        raise ConfigError(
            f"[tool.auditkit] encoders = {config['encoders']!r} in {str(path)!r}: "
            "expected a non-empty list of encoder specs"
        )
    return config


def baseline_tolerance(config: Mapping[str, Any]) -> float:
    """How far a case may move the wrong way before a baseline comparison calls it a regression."""
    value = config.get("baseline_tolerance", DEFAULT_TOLERANCE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(
            f"[tool.auditkit] baseline_tolerance = {value!r}: expected a number >= 0"
        )
    return float(value)


def audit_thresholds(config: Mapping[str, Any], audit: str) -> list[Threshold]:
    """The thresholds of ``audit`` (each one test case).

    An audit registered after the config was read (a project's own, in its
    ``conftest.py``) falls back to the thresholds it registered.
    """
    table = config.get("thresholds", {}).get(audit)
    if not table:
        found = find_audit(audit)
        table = {k: list(v) for k, v in found.thresholds.items()} if found else None
    if not table:
        raise ConfigError(
            f"no thresholds for audit {audit!r}: add [tool.auditkit.thresholds.{audit}] "
            "to pyproject.toml, e.g. max_leakage = [0.1]"
        )
    return thresholds_from_config(audit, table)
