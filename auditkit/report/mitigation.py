"""What the mitigation card draws: each figure before and after erasure, on one axis.

``auditkit mitigate`` writes a document (:func:`auditkit.erasure.mitigation_document`)
with one row per figure measured on the held-out groups: the base encoder's
value and the erased encoder's, each with its interval. Here each row
becomes two :class:`~auditkit.report.overview.OverviewRow` (the base as a
reference, the erased spec as the card's own encoder), so the card reuses the
overview chart: one panel per metric, one band per figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditkit.report.overview import (
    Chart,
    OverviewRow,
    interval_of,
    layout_chart,
)
from auditkit.report.views import finite_number


def _side(row: Mapping[str, Any], which: str, spec: str, role: str) -> OverviewRow:
    figure = row.get(which) or {}
    return OverviewRow(audit=str(row.get("name", "")), spec=spec, role=role,
                       metric=str(row.get("metric") or ""),
                       value=finite_number(figure.get("value")), ci=interval_of(figure.get("ci")))


def mitigation_rows(doc: Mapping[str, Any]) -> list[OverviewRow]:
    """Before (the base, as a reference row) and after (the erased spec) for every figure.

    Examples
    --------
    >>> doc = {"encoder": "pixels", "erased_spec": "pixels+erase:e.safetensors", "rows": [
    ...     {"name": "jpeg_quality leakage (linear probe)", "metric": "leakage",
    ...      "before": {"value": 0.9, "ci": [0.8, 1.0]}, "after": {"value": 0.1, "ci": [0, 0.2]}}]}
    >>> [(r.role, r.value) for r in mitigation_rows(doc)]
    [('reference', 0.9), ('encoder', 0.1)]
    """
    base, erased = str(doc.get("encoder", "")), str(doc.get("erased_spec", ""))
    out: list[OverviewRow] = []
    for row in doc.get("rows") or []:
        out += [_side(row, "before", base, "reference"), _side(row, "after", erased, "encoder")]
    return out


def mitigation_chart(doc: Mapping[str, Any]) -> Chart:
    return layout_chart(mitigation_rows(doc))


def still_found(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Figures of a leakage whose interval after erasure still lies above 0: erased, not gone.

    Examples
    --------
    >>> still_found([{"name": "x (MLP probe)", "metric": "leakage",
    ...               "after": {"value": 0.7, "ci": [0.6, 0.8]}}])
    ['x (MLP probe)']
    """
    found = []
    for row in rows:
        ci = interval_of((row.get("after") or {}).get("ci"))
        if row.get("metric") == "leakage" and ci is not None and ci[0] > 0:
            found.append(str(row.get("name", "")))
    return found
