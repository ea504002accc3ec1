"""What the card shows, computed in Python so the templates only lay it out.

Pure functions from ``results.json`` values to what a template draws: number
formatting, interval-bar and score-bar geometry, confusion heat-map colours,
the worst finding, audit cases grouped by measurement, and the retrieval
table. Nothing here reads a file or renders a template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from markupsafe import Markup, escape

from auditkit.report.families import DEFAULT_CARD, card_of
from auditkit.thumbnails import is_png_data_uri

#: What the card shows for a missing or non-finite value (an en dash).
DASH = "\N{EN DASH}"
#: Verdicts from most to least severe: the order "worst finding" uses.
SEVERITY = ("error", "fail", "inconclusive", "not_applicable", "pass")
#: The order the summary shows the counts in.
COUNT_ORDER = ("pass", "fail", "inconclusive", "not_applicable", "error")


def fmt(x: Any, digits: int = 3) -> str:
    """Format a number for the card; ``None`` and non-finite values give :data:`DASH`.

    Examples
    --------
    >>> fmt(0.12345), fmt(None), fmt(7), fmt(0.5, 1)
    ('0.123', '\u2013', '7', '0.5')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        text = f"{x:.{digits}f}"
        # "-0.000" reads like a real negative value; it is rounding noise.
        return f"{0.0:.{digits}f}" if float(text) == 0 else text
    return str(x)


def breakable(text: Any) -> Markup:
    """``text`` escaped, with a line-break opportunity after each ``_`` (long audit names).

    Examples
    --------
    >>> str(breakable("max_leakage=<0.1>"))
    'max_<wbr>leakage=&lt;0.1&gt;'
    """
    return Markup("_<wbr>").join(escape(part) for part in str(text).split("_"))


def threshold_text(threshold: float | None, direction: str, digits: int = 3) -> str:
    """The threshold with its direction, e.g. ``threshold_text(0.1, "max") == "≤ 0.100"``."""
    if threshold is None:
        return DASH
    return f"{'≤' if direction == 'max' else '≥'} {fmt(threshold, digits)}"


def shorten(text: Any, keep: int = 12) -> str:
    """A long hash cut to ``keep`` characters plus "…" (the card keeps it whole in a title)."""
    text = DASH if text is None else str(text)
    return text if len(text) <= keep + 1 else text[:keep] + "…"


@dataclass(frozen=True)
class BarGeometry:
    """Where to draw an interval bar: x positions in % of the bar width."""

    lo: float
    hi: float
    value_x: float | None
    ci_x0: float | None
    ci_x1: float | None
    chance_x: float | None
    threshold_x: float | None
    label: str

    @property
    def ci_width(self) -> float:
        if self.ci_x0 is None or self.ci_x1 is None:
            return 0.0
        return round(self.ci_x1 - self.ci_x0, 2)


def finite_number(x: Any) -> float | None:
    """``x`` as a float when it is a finite number (not a bool), else None: what a card draws.

    >>> finite_number(0.5), finite_number(float("nan")), finite_number(True), finite_number("1")
    (0.5, None, None, None)
    """
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) \
        and math.isfinite(x) else None


def interval_bar(
    value: float | None,
    ci: Sequence[float] | None,
    chance: float | None,
    threshold: float | None,
    *,
    metric: str | None = None,
    scale: tuple[float, float] | None = None,
) -> BarGeometry:
    """Geometry of the inline-SVG bar: interval, value dot, chance and threshold ticks.

    ``scale`` defaults to [0, 1], widened to cover any value outside it (a
    leakage below chance is negative). For ``metric="leakage"`` the chance
    tick sits at 0, the leakage of a chance-level probe; otherwise at
    ``chance``. Positions outside the scale are clamped to the ends.

    Examples
    --------
    >>> g = interval_bar(0.5, (0.4, 0.6), 0.25, 0.1, metric="accuracy")
    >>> g.value_x, g.ci_x0, g.ci_x1, g.chance_x, g.threshold_x
    (50.0, 40.0, 60.0, 25.0, 10.0)
    """
    chance_at = 0.0 if metric == "leakage" and chance is not None else finite_number(chance)
    points = [finite_number(value), chance_at, finite_number(threshold),
              *(finite_number(v) for v in ci or ())]
    if scale is None:
        finite = [p for p in points if p is not None]
        scale = (min([0.0, *finite]), max([1.0, *finite]))
    lo, hi = float(scale[0]), float(scale[1])
    span = hi - lo if hi > lo else 1.0

    def x(v: Any) -> float | None:
        v = finite_number(v)
        return None if v is None else round(min(100.0, max(0.0, 100.0 * (v - lo) / span)), 2)

    ci_x = (x(ci[0]), x(ci[1])) if ci is not None and len(ci) == 2 else (None, None)
    label = (
        f"value {fmt(value)}; interval {fmt(ci[0]) if ci else DASH} to "
        f"{fmt(ci[1]) if ci else DASH}; chance {fmt(chance_at)}; threshold {fmt(threshold)}; "
        f"scale {fmt(lo, 2)} to {fmt(hi, 2)}"
    )
    return BarGeometry(lo, hi, x(value), ci_x[0], ci_x[1], x(chance_at), x(threshold), label)


class HeatCell(NamedTuple):
    predicted: str
    # Shadows tuple.count on purpose: the templates read ``cell.count``.
    count: float  # type: ignore[assignment]
    share: float  # of the row: rows are true classes
    background: str
    foreground: str
    diagonal: bool


class HeatRow(NamedTuple):
    label: str
    total: float
    cells: list[HeatCell]


class ConfusionView(NamedTuple):
    classes: list[str]
    rows: list[HeatRow]


def _heat(share: float) -> tuple[str, str]:
    # White to dark blue; light text once the cell is dark enough to need it.
    lo, hi = (247, 251, 255), (8, 48, 107)
    rgb = [round(a + (b - a) * share) for a, b in zip(lo, hi, strict=True)]
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})", ("#fff" if share > 0.5 else "#111")


def confusion_cells(classes: Sequence[Any], matrix: Sequence[Sequence[float]]) -> ConfusionView:
    """Row-normalised heat-map colours for a KxK confusion matrix (rows = true class).

    Examples
    --------
    >>> view = confusion_cells(["a", "b"], [[3, 1], [0, 0]])
    >>> [c.share for c in view.rows[0].cells], view.rows[1].cells[0].share
    ([0.75, 0.25], 0.0)
    """
    names = [str(c) for c in classes]
    k = len(names)
    if len(matrix) != k or any(len(row) != k for row in matrix):
        shape = [len(row) for row in matrix]
        raise ValueError(f"confusion matrix row lengths {shape!r} do not match {k} classes")
    rows = []
    for i, (label, row) in enumerate(zip(names, matrix, strict=True)):
        counts = [float(c) if c is not None else 0.0 for c in row]
        total = sum(counts, 0.0)
        cells = []
        for j, count in enumerate(counts):
            share = count / total if total > 0 else 0.0
            background, foreground = _heat(share)
            value = int(count) if count.is_integer() else count
            cells.append(HeatCell(names[j], value, share, background, foreground, i == j))
        rows.append(HeatRow(label, int(total) if total.is_integer() else total, cells))
    return ConfusionView(names, rows)


def _worst_key(case: Mapping[str, Any]) -> tuple[int, bool, float]:
    value = finite_number(case.get("value"))
    # A large value is the worst only of a "max" case (a leakage); a "min"
    # case (a capability, such as semantic accuracy) comes after those.
    return (SEVERITY.index(case["verdict"]), case.get("direction") == "min",
            -value if value is not None else math.inf)


def worst_finding(audits: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The worst case: most severe verdict (error > fail > inconclusive > pass), then largest value.

    Examples
    --------
    >>> worst_finding([{"verdict": "pass", "value": 0.9}, {"verdict": "fail", "value": 0.2}])
    {'verdict': 'fail', 'value': 0.2}
    """
    return min(audits, key=_worst_key) if audits else None


#: The details key holding an audit's semantic-utility figures (k-NN and linear probe),
#: which the card's overview and the run index show beside the leakage figures.
UTILITY_KEY = "semantic_utility"


def semantic_utility(audits: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The semantic-utility figures of the first case that carries them, or None.

    Examples
    --------
    >>> semantic_utility([{"details": {"semantic_utility": {"chance": 0.5}}}])
    {'chance': 0.5}
    """
    for case in audits:
        record = (case.get("details") or {}).get(UTILITY_KEY)
        if isinstance(record, Mapping):
            return record
    return None


def worst_sentence(audits: Sequence[Mapping[str, Any]]) -> str:
    """One plain-text sentence on the worst finding (the template escapes it)."""
    worst = worst_finding(audits)
    if worst is None:
        return "No audits ran."
    name = f"{worst['audit']} / {worst['case']}"
    ci = worst.get("ci")
    measured = f"{worst['metric']} {fmt(worst.get('value'))}" + (
        f" (interval {fmt(ci[0])} to {fmt(ci[1])})" if ci else ""
    )
    limit = threshold_text(worst.get("threshold"), worst["direction"])
    reason = (worst.get("details") or {}).get("reason")
    why = f": {reason}" if reason else "."
    verdict = worst["verdict"]
    if verdict == "pass":
        return f"Every case passes ({len(audits)}); largest: {name}, {measured}, threshold {limit}."
    if verdict == "error":
        return f"Worst finding: {name} could not be measured{why}"
    if verdict == "not_applicable":
        return f"Worst finding: {name} is not applicable to this probe set{why}"
    side = "above the allowed maximum" if worst["direction"] == "max" else "below the minimum"
    if verdict == "fail":
        return f"Worst finding: {name} fails with {measured}, {side} {fmt(worst['threshold'])}{why}"
    return f"Worst finding: {name} is inconclusive with {measured} against {limit}{why}"


@dataclass
class AuditGroup:
    """The cases of one audit: they share one measurement, hence one confusion matrix."""

    audit: str
    anchor: str
    #: The card partial showing the shared details (that of the audit's first case).
    card: str = DEFAULT_CARD
    cases: list[Mapping[str, Any]] = field(default_factory=list)
    confusion: ConfusionView | None = None
    confusion_problem: str | None = None

    @property
    def details(self) -> Mapping[str, Any]:
        """The shared measurement's details (those of the first case that has any)."""
        return next((c.get("details") or {} for c in self.cases if c.get("details")), {})

    @property
    def measured(self) -> Mapping[str, Any]:
        """The case that carries the shared measurement: the first with a value."""
        return next((c for c in self.cases if finite_number(c.get("value")) is not None),
                    self.cases[0])

    @property
    def has_baseline(self) -> bool:
        return any((c.get("details") or {}).get("baseline") for c in self.cases)

    @property
    def verdict(self) -> str:
        return min((c["verdict"] for c in self.cases), key=SEVERITY.index)


def split_details(
    details: Mapping[str, Any], hidden: Sequence[str]
) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """Split a case's extra details into scalars (shown inline) and structures (folded).

    Lists and tables (per-class scores, variant parameters) would stretch a
    table cell to the height of a page, so the card folds them away.

    Examples
    --------
    >>> split_details({"a": 1, "b": [1, 2], "c": "x"}, hidden=["c"])
    ([('a', 1)], [('b', [1, 2])])
    """
    scalars, structured = [], []
    for key, value in details.items():
        if key in hidden:
            continue
        if value is None or isinstance(value, (int, float, str, bool)):
            scalars.append((key, value))
        else:
            structured.append((key, value))
    return scalars, structured


def group_cases(audits: Sequence[Mapping[str, Any]]) -> list[AuditGroup]:
    """Group audit cases by ``audit`` in first-seen order, with one confusion matrix each."""
    groups: dict[str, AuditGroup] = {}
    for case in audits:
        name = str(case["audit"])
        if name not in groups:
            slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or "audit"
            groups[name] = AuditGroup(name, f"audit-{len(groups) + 1}-{slug}", card_of(case))
        group = groups[name]
        group.cases.append(case)
        details = case.get("details") or {}
        if group.confusion is None and details.get("confusion") and details.get("classes"):
            try:
                group.confusion = confusion_cells(details["classes"], details["confusion"])
            except (ValueError, TypeError) as exc:
                # A bad matrix should not cost the reader the rest of the card.
                group.confusion_problem = f"confusion matrix not shown: {exc}"
    return list(groups.values())


def reference_rows(doc: Mapping[str, Any], audit: str) -> list[dict[str, Any]]:
    """The reference encoders' measurement of ``audit``, one row per reference.

    Examples
    --------
    >>> doc = {"references": {"pixels": [{"audit": "a", "case": "max_leakage=0.1",
    ...     "metric": "leakage", "value": 0.9, "ci": [0.8, 1.0], "chance": 0.5,
    ...     "verdict": "fail", "n": 10}]}}
    >>> [(r["spec"], r["value"], r["verdicts"]) for r in reference_rows(doc, "a")]
    [('pixels', 0.9, [('max_leakage=0.1', 'fail')])]
    """
    rows = []
    for spec, cases in (doc.get("references") or {}).items():
        mine = [c for c in cases if c.get("audit") == audit]
        if not mine:
            continue
        first = mine[0]
        rows.append({
            "spec": spec, "metric": first.get("metric"), "value": first.get("value"),
            "ci": first.get("ci"), "chance": first.get("chance"), "n": first.get("n"),
            "verdicts": [(c.get("case"), c.get("verdict")) for c in mine],
        })
    return rows


def thumbnail_items(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, data URI)`` of the variant thumbnails that are valid PNG data URIs."""
    thumbs = details.get("thumbnails") or {}
    if not isinstance(thumbs, Mapping):
        return []
    labels = {str(v.get("id")): str(v.get("label") or v.get("id"))
              for v in details.get("variants") or [] if isinstance(v, Mapping)}
    return [(labels.get(str(k), str(k)), uri) for k, uri in thumbs.items() if is_png_data_uri(uri)]


def _score(v: Any, key: str = "accuracy") -> float | None:
    # A score is a mapping that holds it under ``key`` (per family), or a bare
    # number, which is an accuracy.
    if isinstance(v, Mapping):
        return finite_number(v.get(key))
    return finite_number(v) if key == "accuracy" else None


def score_bars(
    scores: Any, chance: float | str | None = None, key: str = "accuracy",
) -> list[tuple[str, float | None, BarGeometry]]:
    """Bars for ``{name: accuracy}`` on [0, 1] with chance marked.

    A value may be a mapping that holds the score under ``key`` (the style
    audit's ``per_family`` entries), and ``chance`` the name of the key that
    holds each entry's own chance.

    Examples
    --------
    >>> [(n, v) for n, v, _ in score_bars({"a": 0.5, "b": {"accuracy": 0.25}})]
    [('a', 0.5), ('b', 0.25)]
    """
    if not isinstance(scores, Mapping):
        return []
    out = []
    for k, v in scores.items():
        value = _score(v, key)
        own_chance = _score(v, chance) if isinstance(chance, str) else chance
        out.append((str(k), value,
                    interval_bar(value, None, own_chance, None, scale=(0.0, 1.0))))
    return out


def detectable_figure(case: Mapping[str, Any]) -> tuple[str, float | None]:
    """The smallest effect a case's sample could tell apart, as its verdict compares it.

    A verdict compares an ``accuracy`` threshold with chance plus the
    detectable gain (:meth:`auditkit.verdicts.Threshold.judge`), so the card
    shows that sum, named as the verdict's reason names it.

    Examples
    --------
    >>> detectable_figure({"metric": "leakage", "details": {"detectable_leakage": 0.128}})
    ('smallest effect this sample could tell apart', 0.128)
    >>> detectable_figure({"metric": "accuracy", "chance": 0.25,
    ...                    "details": {"detectable_accuracy": 0.05}})
    ('smallest accuracy this sample could tell apart', 0.3)
    """
    metric = str(case.get("metric") or "")
    gain = finite_number((case.get("details") or {}).get(f"detectable_{metric}"))
    chance = finite_number(case.get("chance"))
    if metric == "accuracy" and gain is not None and chance is not None:
        return "smallest accuracy this sample could tell apart", round(chance + gain, 12)
    return "smallest effect this sample could tell apart", gain


def _per_processing(fam: Mapping[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """``(processing, baseline accuracy, uniform-database accuracy)`` of one family."""
    base = fam.get("baseline_per_processing")
    uniform = fam.get("uniform_per_processing")
    base = base if isinstance(base, Mapping) else {}
    uniform = uniform if isinstance(uniform, Mapping) else {}
    names = dict.fromkeys([*base, *uniform])
    return [(str(p), finite_number(base.get(p)), finite_number(uniform.get(p))) for p in names]


def retrieval_view(details: Mapping[str, Any]) -> dict[str, Any]:
    """The retrieval-shift table: one row per setting, one column per processing family.

    Each cell is ``(value, ci)`` of the balanced k-NN accuracy of that setting
    in that family; ``columns`` holds each family's delta, its simultaneous
    interval, mean ``|delta|``, whether it is the judged family, whether its
    baseline is at the ceiling, its smallest detectable delta, its number of
    ordered pairs and its accuracy per processing (baseline and uniform
    database); ``pairs`` lists every ordered pair.
    """
    families: Mapping[str, Any] = (
        details["families"] if isinstance(details.get("families"), Mapping) else {}
    )
    settings: Mapping[str, Any] = (
        details["settings"] if isinstance(details.get("settings"), Mapping) else {}
    )
    rows = []
    for setting, definition in settings.items():
        cells = []
        for fam in families.values():
            cell = ((fam or {}).get("accuracy") or {}).get(setting) or {}
            cells.append((finite_number(cell.get("value")), cell.get("ci")))
        rows.append({"setting": setting,
                     "definition": definition if isinstance(definition, str) else "",
                     "cells": cells})
    columns = [{
        "name": name,
        "delta": (fam or {}).get("delta") or {},
        "simultaneous_ci": (fam or {}).get("delta_simultaneous_ci"),
        "mean_abs_delta": finite_number(((fam or {}).get("mean_abs_delta") or {}).get("value")),
        "judged": name == details.get("judged_family"),
        "at_ceiling": bool((fam or {}).get("at_ceiling")),
        "detectable": finite_number((fam or {}).get("detectable_delta")),
        "n_pairs": (fam or {}).get("n_pairs"),
        "per_processing": _per_processing(fam or {}),
    } for name, fam in families.items()]
    pairs = [dict(p, family=name) for name, fam in families.items()
             for p in ((fam or {}).get("pairs") or []) if isinstance(p, Mapping)]
    return {"families": list(families), "rows": rows, "columns": columns, "pairs": pairs}


