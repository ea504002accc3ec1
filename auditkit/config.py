"""``[tool.auditkit]`` settings, with the stock defaults underneath.

Each audit's thresholds are a table ``[tool.auditkit.thresholds.AUDIT]`` whose
keys are threshold kinds and whose values are a number or a list of numbers;
every value is one parametrised test case.
"""

from __future__ import annotations

import copy
import difflib
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
#: A real pretrained encoder whose weights ship in a package (``pytest-auditkit[demo]``),
#: its random-initialised control and the pixels baseline as reference rows: a
#: reference's failure is expected (xfail), so only the pretrained model's own
#: leakage can fail the run.
RUN_DEFAULTS: dict[str, Any] = {
    "encoders": ["efficientnet-lite0"],
    "references": ["random:efficientnet-lite0", "pixels"],
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
    return merge_defaults(read_table(root), root)


def read_table(root: Path) -> dict[str, Any]:
    """``root/pyproject.toml``'s ``[tool.auditkit]`` table as written (empty when none)."""
    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}") from exc
    user = data.get("tool", {}).get("auditkit", {})
    if not isinstance(user, Mapping):
        raise ConfigError(f"[tool.auditkit] in {str(path)!r} is not a table")
    return dict(user)


#: The run's own ``[tool.auditkit]`` keys; any other names an audit's table.
RUN_KEYS = frozenset({"encoders", "references", "seed", "split_seed", "baseline_tolerance",
                      "thresholds", "engine", "profile"})


def merge_defaults(user: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """``user`` (a ``[tool.auditkit]`` table read from ``root``) over :func:`defaults`.

    Raises
    ------
    ConfigError
        A value of the wrong type, or a key that is neither a setting nor a table.
    """
    config = defaults()
    path = Path(root) / "pyproject.toml"
    check_keys(user, str(path))
    for key, value in user.items():
        if key == "thresholds":
            if not isinstance(value, Mapping):
                raise ConfigError(f"[tool.auditkit.thresholds] in {str(path)!r} is not a table")
            # An audit's table replaces the stock one whole: a user who lists
            # thresholds means exactly those cases.
            config["thresholds"].update(value)
        else:
            config[key] = value
    for key in ("encoders", "references"):
        value = config[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or (
                key == "encoders" and not value):
            empty = "non-empty " if key == "encoders" else ""
            raise ConfigError(
                f"[tool.auditkit] {key} = {value!r} in {str(path)!r}: expected a {empty}list of "
                'encoder specs, e.g. ["clip", "random:clip"]'
            )
    return config


def check_keys(user: Mapping[str, Any], where: str) -> None:
    """A key of ``[tool.auditkit]`` that is no setting, or an audit's table that is not a table.

    Whether a table names an audit can only be told once every audit is
    imported (:func:`unknown_tables`); a plain value can be told now.
    """
    from auditkit.registry import all_audits

    tables = {a.config_table for a in all_audits() if a.config_table}
    for key, value in user.items():
        if key in tables and not isinstance(value, Mapping):
            raise ConfigError(f"[tool.auditkit] {key} = {value!r} in {where!r}: expected a "
                              f"table, [tool.auditkit.{key}]")
        if key in RUN_KEYS or key in RUN_DEFAULTS or isinstance(value, Mapping):
            continue
        known = sorted(RUN_KEYS | set(RUN_DEFAULTS))
        raise ConfigError(f"[tool.auditkit] {key} = {value!r} in {where!r} is not a setting."
                          f"{_close(key, known)} Known: {', '.join(known)}")


def _close(value: str, choices: list[str]) -> str:
    """A " Did you mean: ...?" hint naming the choices close to ``value`` (empty when none)."""
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def baseline_tolerance(config: Mapping[str, Any]) -> float:
    """How far a case may move the wrong way before a baseline comparison calls it a regression."""
    value = config.get("baseline_tolerance", DEFAULT_TOLERANCE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(
            f"[tool.auditkit] baseline_tolerance = {value!r}: expected a number >= 0"
        )
    return float(value)


#: The range of a threshold's value, by metric: leakage and accuracy in [0, 1],
#: a retrieval delta in [0, 1] (a threshold on its rise).
THRESHOLD_RANGE = (0.0, 1.0)


def check_thresholds(config: Mapping[str, Any]) -> None:
    """Every ``[tool.auditkit.thresholds.AUDIT]`` table well formed, at start-up.

    Each value is a number in [0, 1] (a list of them), a kind is known, and no
    value repeats within a kind: a repeat would run one case twice under one
    id. Whether a table names an audit can only be told once every audit
    module is imported (:func:`unknown_threshold_tables`).

    Raises
    ------
    ConfigError
        Naming the table, the key and the value.
    """
    tables = config.get("thresholds", {})
    for audit, table in tables.items():
        where = f"[tool.auditkit.thresholds.{audit}]"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} = {table!r}: expected a table of threshold kinds, "
                              "e.g. max_leakage = [0.1, 0.5]")
        lo, hi = THRESHOLD_RANGE
        for threshold in thresholds_from_config(audit, table):
            if not lo <= threshold.value <= hi:
                raise ConfigError(f"{where} {threshold.kind} = {threshold.value:g}: expected a "
                                  f"value in [{lo:g}, {hi:g}]")
        for kind, values in table.items():
            listed = values if isinstance(values, list) else [values]
            repeated = sorted({v for v in listed if listed.count(v) > 1})
            if repeated:
                raise ConfigError(f"{where} {kind} lists {repeated!r} more than once")


def unknown_threshold_tables(config: Mapping[str, Any]) -> list[str]:
    """Messages for threshold tables that name no registered audit, with close matches."""
    from auditkit.registry import all_audits

    known = sorted(a.name for a in all_audits())
    out = []
    for audit in config.get("thresholds", {}):
        if audit not in known:
            out.append(f"[tool.auditkit.thresholds.{audit}] names no audit.{_close(audit, known)} "
                       f"Known: {', '.join(known)}")
    return out


def unknown_tables(config: Mapping[str, Any]) -> list[str]:
    """Messages for ``[tool.auditkit.NAME]`` tables that no registered audit reads."""
    from auditkit.registry import all_audits

    known = sorted({a.config_table for a in all_audits() if a.config_table})
    return [f"[tool.auditkit.{key}] is read by no audit.{_close(key, known)} Audit tables: "
            f"{', '.join(known) or 'none'}; run settings: {', '.join(sorted(RUN_KEYS))}"
            for key, value in config.items()
            if isinstance(value, Mapping) and key not in RUN_KEYS and key not in known]


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
