"""The audit registry: one record per audit, the single home of what auditkit knows about it.

An audit module registers each of its audits with :func:`register_audit`,
in the shape of timm's model registry: a decorator on a small function that
measures the audit from one :class:`~auditkit.context.AuditContext`::

    @register_audit("jpeg_quality", thresholds={"max_leakage": [0.1, 0.5]})
    def measure_jpeg_quality(ctx: AuditContext) -> dict[str, Measurement]:
        return measure_variants(ctx.embedder, ctx.probe_set, jpeg_grid(), seed=ctx.seed)

Everything else is derived from the records: the stock thresholds of
``[tool.auditkit]``, the notes ``auditkit init`` writes, the card partial
written into each result, the config table and the inputs that enter the
measurement key, and the calibration study's null kinds. A user's own audit
registers the same way (in a ``conftest.py`` or next to its test), and its
test reads ``@pytest.mark.audit("NAME")`` + ``audit.check()`` like the stock ones.

The stock audits are the modules of :mod:`auditkit.measures`, imported on the
first look-up, so adding a family is a new module there and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from auditkit.errors import ConfigError
from auditkit.verdicts import THRESHOLD_KINDS, Measurement

if TYPE_CHECKING:
    from auditkit.context import AuditContext

Measure = Callable[["AuditContext"], dict[str, Measurement]]
Inputs = Callable[["AuditContext"], Mapping[str, Any]]

#: Card partials the stock templates have (``partials/cards/_NAME.html.j2``).
CARDS = ("probe", "style", "camera", "retrieval")

#: The package whose modules hold the stock audits.
STOCK_PACKAGE = "auditkit.measures"


@dataclass(frozen=True)
class Audit:
    """Everything auditkit knows about one audit.

    Parameters
    ----------
    name : str
        The audit's name: its ``@pytest.mark.audit`` argument, its
        ``[tool.auditkit.thresholds.NAME]`` table and its rows in ``results.json``.
    measure : callable
        ``measure(ctx) -> {metric: Measurement}``.
    thresholds : mapping
        Stock threshold kinds and values, e.g. ``{"max_leakage": (0.1, 0.5)}``.
    note : str
        What ``auditkit init`` writes above the thresholds table.
    card : str
        The card partial that shows the audit's details (one of :data:`CARDS`
        or a partial of the user's ``--audit-template-dir``).
    config_table : str or None
        The ``[tool.auditkit.TABLE]`` the audit reads its options from; it
        enters the measurement key.
    inputs : callable or None
        Further inputs the measurement consumed, for its key:
        ``inputs(ctx) -> mapping`` of JSON-able values.
    calibrate : bool
        Whether the calibration study runs it under a null encoder.
    """

    name: str
    measure: Measure
    thresholds: Mapping[str, tuple[float, ...]]
    note: str = ""
    card: str = "probe"
    config_table: str | None = None
    inputs: Inputs | None = None
    calibrate: bool = False
    module: str = field(default="", compare=False)

    @property
    def null_kind(self) -> str | None:
        """The calibration study's name for this audit under a null encoder."""
        return f"null_{self.name}" if self.calibrate else None


_REGISTRY: dict[str, Audit] = {}
_stock_loaded = False


def register_audit(
    name: str,
    *,
    thresholds: Mapping[str, float | list[float] | tuple[float, ...]],
    note: str = "",
    card: str = "probe",
    config_table: str | None = None,
    inputs: Inputs | None = None,
    calibrate: bool = False,
) -> Callable[[Measure], Measure]:
    """Decorator: register ``measure(ctx)`` as the audit ``name``.

    Registering a name again replaces the record (a re-imported module, or a
    project overriding a stock audit on purpose).

    Examples
    --------
    >>> @register_audit("toy_doc_audit", thresholds={"max_leakage": 0.2})
    ... def measure_toy(ctx):
    ...     return {}
    >>> get_audit("toy_doc_audit").thresholds
    mappingproxy({'max_leakage': (0.2,)})
    """
    stock = _checked_thresholds(name, thresholds)

    def add(measure: Measure) -> Measure:
        _REGISTRY[name] = Audit(
            name=name, measure=measure, thresholds=stock, note=note, card=card,
            config_table=config_table, inputs=inputs, calibrate=calibrate,
            module=getattr(measure, "__module__", ""),
        )
        return measure

    return add


def _checked_thresholds(name: str, table: Mapping[str, Any]) -> Mapping[str, tuple[float, ...]]:
    if not table:
        raise ConfigError(f"audit {name!r} registers no thresholds: give e.g. "
                          "thresholds={'max_leakage': [0.1]}")
    out = {}
    for kind, values in table.items():
        if kind not in THRESHOLD_KINDS:
            raise ConfigError(f"audit {name!r} registers threshold kind {kind!r}: expected one "
                              f"of {', '.join(THRESHOLD_KINDS)}")
        listed = values if isinstance(values, (list, tuple)) else [values]
        out[kind] = tuple(float(v) for v in listed)
    return MappingProxyType(out)


def load_stock() -> None:
    """Import every module of :data:`STOCK_PACKAGE`, so the stock audits are registered."""
    global _stock_loaded
    if _stock_loaded:
        return
    package = importlib.import_module(STOCK_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        importlib.import_module(f"{STOCK_PACKAGE}.{info.name}")
    _stock_loaded = True


def get_audit(name: str) -> Audit:
    """The record of ``name``; an unknown name lists the close matches.

    Raises
    ------
    ConfigError
        No audit of that name is registered.
    """
    load_stock()
    try:
        return _REGISTRY[name]
    except KeyError:
        from auditkit.encoders.spec import suggest

        raise ConfigError(
            f"no audit named {name!r} is registered{suggest(name, list(_REGISTRY))}: a stock "
            "audit name, or register your own with auditkit.register_audit"
        ) from None


def find_audit(name: str) -> Audit | None:
    """The record of ``name``, or None."""
    load_stock()
    return _REGISTRY.get(name)


def all_audits() -> list[Audit]:
    """Every registered audit: the stock ones in their modules' order, then the user's."""
    load_stock()
    return list(_REGISTRY.values())


def stock_thresholds() -> dict[str, dict[str, list[float]]]:
    """``{audit: {kind: [values]}}`` of every registered audit, as ``[tool.auditkit]`` spells it."""
    return {a.name: {k: list(v) for k, v in a.thresholds.items()} for a in all_audits()}
