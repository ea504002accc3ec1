"""The overview chart that opens the card and the index: every audit against its thresholds.

Two steps, so that a new kind of figure is one more row: :func:`overview_rows`
reads a ``results.json`` document into a flat list of :class:`OverviewRow`
(this encoder's measurement of each audit, then the same audit on each
reference encoder of the run), and :func:`layout_chart` places any list of
rows on one axis per metric, in SVG units the template draws as they are.
Another figure joins the chart as more rows with its own ``metric`` (a
panel of its own) before :func:`layout_chart`.
x positions are in % of the plot width, y positions in px, so the chart
keeps its text at the page's size at any width.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditkit.report.views import finite_number, fmt

#: Metrics bounded to [0, 1]: their axis always spans it, so cards compare.
BOUNDED_METRICS = frozenset({"leakage", "accuracy"})
#: What a panel's axis is called, by metric.
AXIS_TITLES = {
    "leakage": "leakage: 0 = chance, 1 = perfectly predicted",
    "accuracy": "accuracy",
    "delta": "retrieval shift (delta of k-NN accuracy)",
}
#: Row roles, in the order a band lists them.
ROLES = ("encoder", "reference", "control")
#: The prefix of a ``random:`` control's spec.
CONTROL_PREFIX = "random:"

#: Vertical layout in px.
AXIS_HEIGHT = 30
BAND_HEADER = 20
ROW_HEIGHT = 16
BAND_GAP = 10


@dataclass(frozen=True)
class Cut:
    """One threshold of an audit and the verdict of this encoder's case there."""

    value: float
    direction: str
    case: str
    verdict: str

    @property
    def text(self) -> str:
        """e.g. ``"fail ≤ 0.1"``."""
        return f"{self.verdict} {'≤' if self.direction == 'max' else '≥'} {self.value:g}"


@dataclass(frozen=True)
class OverviewRow:
    """One measurement to draw: an audit on one encoder.

    ``role`` is ``"encoder"`` for the card's own encoder, ``"reference"``
    for a reference such as ``pixels``, ``"control"`` for a ``random:``
    control. ``cuts`` are the audit's thresholds; reference rows share
    their encoder row's cuts.
    """

    audit: str
    spec: str
    role: str
    metric: str
    value: float | None
    ci: tuple[float, float] | None
    verdicts: tuple[tuple[str, str], ...] = ()
    cuts: tuple[Cut, ...] = ()
    link: str = ""

    @property
    def name(self) -> str:
        """What a row is called beside its point."""
        if self.role == "encoder":
            return ""
        return "control" if self.role == "control" else self.spec

    @property
    def text(self) -> str:
        """The row as one sentence: the chart's text alternative."""
        who = {"encoder": "this encoder", "control": f"random control {self.spec}"}.get(
            self.role, f"reference {self.spec}")
        if self.value is None:
            return f"{self.audit}, {who}: not measured"
        ci = f" (interval {fmt(self.ci[0])} to {fmt(self.ci[1])})" if self.ci else ""
        said = f"; {', '.join(c.text for c in self.cuts)}" if self.role == "encoder" else ""
        return f"{self.audit}, {who}: {self.metric} {fmt(self.value)}{ci}{said}"


def interval_of(x: Any) -> tuple[float, float] | None:
    if isinstance(x, (list, tuple)) and len(x) == 2:
        lo, hi = finite_number(x[0]), finite_number(x[1])
        if lo is not None and hi is not None:
            return (lo, hi)
    return None


def role_of(spec: str) -> str:
    """``"control"`` for a ``random:`` spec, else ``"reference"``.

    Examples
    --------
    >>> role_of("random:timm:resnet18"), role_of("pixels")
    ('control', 'reference')
    """
    return "control" if spec.startswith(CONTROL_PREFIX) else "reference"


def overview_rows(doc: Mapping[str, Any], links: Mapping[str, str] | None = None
                  ) -> list[OverviewRow]:
    """This encoder's row per audit, each followed by the run's reference rows for that audit.

    An audit's cases share one measurement, so its first measured case gives
    the point and every case gives a threshold. ``links`` maps an audit to
    its section on the card, a link such as ``"#audit-1-jpeg"``.

    Examples
    --------
    >>> doc = {"encoder": {"spec": "e"}, "audits": [
    ...     {"audit": "a", "case": "max_leakage=0.1", "metric": "leakage", "value": 0.3,
    ...      "ci": [0.2, 0.4], "threshold": 0.1, "direction": "max", "verdict": "fail"}],
    ...     "references": {"pixels": [{"audit": "a", "case": "max_leakage=0.1",
    ...      "metric": "leakage", "value": 0.9, "ci": [0.8, 1.0], "verdict": "fail"}]}}
    >>> [(r.spec, r.role, r.value, [c.value for c in r.cuts]) for r in overview_rows(doc)]
    [('e', 'encoder', 0.3, [0.1]), ('pixels', 'reference', 0.9, [0.1])]
    """
    links = links or {}
    spec = str((doc.get("encoder") or {}).get("spec") or "this encoder")
    by_audit: dict[str, list[Mapping[str, Any]]] = {}
    for case in doc.get("audits") or []:
        by_audit.setdefault(str(case["audit"]), []).append(case)
    references = {str(s): list(cases or []) for s, cases in (doc.get("references") or {}).items()}
    rows: list[OverviewRow] = []
    for audit, cases in by_audit.items():
        own = _row(audit, spec, "encoder", cases, links.get(audit, ""))
        rows.append(own)
        refs = [(s, [c for c in cs if c.get("audit") == audit]) for s, cs in references.items()]
        refs = sorted(((s, cs) for s, cs in refs if cs), key=lambda p: ROLES.index(role_of(p[0])))
        rows += [_row(audit, s, role_of(s), cs, own.link, own.cuts, own.metric)
                 for s, cs in refs]
    return rows


def by_audit(rows: Iterable[OverviewRow]) -> list[tuple[OverviewRow, list[OverviewRow]]]:
    """``(this encoder's row, its reference rows)`` per audit: the chart as a table.

    Examples
    --------
    >>> rows = [OverviewRow("a", "e", "encoder", "leakage", 0.1, None),
    ...         OverviewRow("a", "pixels", "reference", "leakage", 0.9, None)]
    >>> [(own.spec, [r.spec for r in refs]) for own, refs in by_audit(rows)]
    [('e', ['pixels'])]
    """
    out: list[tuple[OverviewRow, list[OverviewRow]]] = []
    for r in rows:
        if r.role == "encoder" or not out or out[-1][0].audit != r.audit:
            out.append((r, []))
        else:
            out[-1][1].append(r)
    return out


def _row(audit: str, spec: str, role: str, cases: Sequence[Mapping[str, Any]], link: str,
         cuts: tuple[Cut, ...] | None = None, metric: str | None = None) -> OverviewRow:
    measured = next((c for c in cases if finite_number(c.get("value")) is not None), cases[0])
    if cuts is None:
        cuts = tuple(Cut(t, str(c.get("direction") or "max"), str(c.get("case")),
                         str(c.get("verdict")))
                     for c in cases if (t := finite_number(c.get("threshold"))) is not None)
    return OverviewRow(
        audit=audit, spec=spec, role=role,
        metric=str(measured.get("metric") or metric or ""),
        value=finite_number(measured.get("value")), ci=interval_of(measured.get("ci")),
        verdicts=tuple((str(c.get("case")), str(c.get("verdict"))) for c in cases),
        cuts=cuts, link=link,
    )


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class PlacedRow:
    """A row with its geometry: x in % of the plot width, y (the row's centre) in px."""

    row: OverviewRow
    y: float
    value_x: float | None
    ci_x0: float | None
    ci_x1: float | None
    #: Where the row's name and value go, and which way the text runs from there.
    label_x: float
    label_anchor: str
    label: str

    @property
    def ci_width(self) -> float:
        if self.ci_x0 is None or self.ci_x1 is None:
            return 0.0
        return round(max(self.ci_x1 - self.ci_x0, 0.0), 2)


@dataclass(frozen=True)
class PlacedCut:
    cut: Cut
    x: float


@dataclass(frozen=True)
class Band:
    """One audit: its header line, its threshold lines and its rows."""

    audit: str
    link: str
    header: str
    y0: float
    y1: float
    cuts: list[PlacedCut]
    rows: list[PlacedRow]


@dataclass(frozen=True)
class Panel:
    """All rows of one metric on one axis."""

    metric: str
    title: str
    lo: float
    hi: float
    ticks: list[Tick]
    bands: list[Band]
    height: float
    zero_x: float | None

    @property
    def label(self) -> str:
        """The panel in words, for ``aria-label`` and ``<title>``."""
        return (f"{self.title}, axis {fmt(self.lo, 2)} to {fmt(self.hi, 2)}: "
                + "; ".join(r.row.text for b in self.bands for r in b.rows))


@dataclass(frozen=True)
class Chart:
    """Panels stacked top to bottom in one SVG."""

    panels: list[Panel] = field(default_factory=list)

    @property
    def stacked(self) -> list[tuple[float, Panel]]:
        """``(top in px, panel)`` of each panel."""
        tops = itertools.accumulate((p.height for p in self.panels), initial=0.0)
        return list(zip(tops, self.panels, strict=False))

    @property
    def height(self) -> float:
        return sum(p.height for p in self.panels)

    @property
    def label(self) -> str:
        return " ".join(f"{p.label}." for p in self.panels) or "No audits ran."

    @property
    def rows(self) -> list[OverviewRow]:
        return [r.row for p in self.panels for b in p.bands for r in b.rows]

    @property
    def has_cuts(self) -> bool:
        """Whether any threshold is drawn (the legend explains it only then)."""
        return any(b.cuts for p in self.panels for b in p.bands)

    @property
    def specs(self) -> list[tuple[str, str]]:
        """``(role, spec)`` of every encoder on the chart, for its legend."""
        seen = dict.fromkeys((r.role, r.spec) for r in self.rows)
        return sorted(seen, key=lambda p: ROLES.index(p[0]) if p[0] in ROLES else len(ROLES))


def _nice(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``x`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= x)


def axis_scale(metric: str, rows: Iterable[OverviewRow]) -> tuple[float, float]:
    """The axis of one metric: [0, 1] widened for a bounded metric, else [0, a round maximum].

    Every value, interval end and threshold lies on it.

    Examples
    --------
    >>> cut = Cut(0.05, "max", "max_delta=0.05", "pass")
    >>> r = OverviewRow("a", "e", "encoder", "delta", 0.04, (0.0, 0.08), cuts=(cut,))
    >>> axis_scale("delta", [r]), axis_scale("leakage", [])
    ((0.0, 0.1), (0.0, 1.0))
    """
    points = [0.0]
    for r in rows:
        points += [p for p in (r.value, *(r.ci or ())) if p is not None]
        points += [c.value for c in r.cuts]
    lo, hi = min(points), max(points)
    if metric in BOUNDED_METRICS:
        hi = max(hi, 1.0)
        lo = min(lo, 0.0)
    else:
        hi = _nice(hi) if hi > 0 else 1.0
    if lo < 0:
        lo = -_nice(-lo)
    return lo, hi


def _ticks(lo: float, hi: float) -> list[Tick]:
    step = _nice((hi - lo) / 5)
    first = math.ceil(lo / step - 1e-9)
    values = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    return [Tick(_x(v, lo, hi), f"{round(v, 6):g}") for v in values]


def _x(v: float, lo: float, hi: float) -> float:
    return round(min(100.0, max(0.0, 100.0 * (v - lo) / (hi - lo))), 2)


def _place(row: OverviewRow, y: float, lo: float, hi: float) -> PlacedRow:
    x = None if row.value is None else _x(row.value, lo, hi)
    x0, x1 = (_x(row.ci[0], lo, hi), _x(row.ci[1], lo, hi)) if row.ci else (x, x)
    words = " ".join(w for w in (row.name, fmt(row.value) if row.value is not None else
                                 _unmeasured(row)) if w)
    if x is None:
        return PlacedRow(row, y, None, None, None, 0.0, "start", words)
    left, right = min(x0 or x, x), max(x1 or x, x)
    # The label goes on the side with more room, clear of the interval.
    if 100.0 - right >= left:
        return PlacedRow(row, y, x, x0, x1, round(right + 1.0, 2), "start", words)
    return PlacedRow(row, y, x, x0, x1, round(left - 1.0, 2), "end", words)


def _unmeasured(row: OverviewRow) -> str:
    # An outcome other than an error (e.g. "not applicable") names itself.
    verdicts = {v for _, v in row.verdicts}
    if len(verdicts) == 1 and verdicts != {"error"}:
        return verdicts.pop().replace("_", " ")
    return "not measured"


def layout_chart(rows: Sequence[OverviewRow],
                 scales: Mapping[str, tuple[float, float]] | None = None) -> Chart:
    """Place rows on one panel per metric, in the order the metrics first appear.

    ``scales`` fixes a metric's axis (the index gives every encoder the same
    one); otherwise :func:`axis_scale` fits it to the rows. Rows of one
    audit form a band under one header, crossed by the audit's threshold lines.
    """
    by_metric: dict[str, list[OverviewRow]] = {}
    for r in rows:
        if r.metric or r.value is not None:
            by_metric.setdefault(r.metric, []).append(r)
        else:  # an audit that measured nothing still gets its line, on the first panel
            by_metric.setdefault(next(iter(by_metric), ""), []).append(r)
    panels = []
    for metric, mine in by_metric.items():
        lo, hi = (scales or {}).get(metric) or axis_scale(metric, mine)
        bands: list[Band] = []
        y = float(AXIS_HEIGHT)
        audits: dict[str, list[OverviewRow]] = {}
        for r in mine:
            audits.setdefault(r.audit, []).append(r)
        for audit, members in audits.items():
            own = members[0]
            verdicts = ", ".join(c.text for c in own.cuts) or ", ".join(v for _, v in own.verdicts)
            y0 = y
            y += BAND_HEADER
            placed = []
            for r in members:
                placed.append(_place(r, y + ROW_HEIGHT / 2, lo, hi))
                y += ROW_HEIGHT
            cuts = [PlacedCut(c, _x(c.value, lo, hi)) for c in own.cuts
                    if lo - 1e-9 <= c.value <= hi + 1e-9]
            bands.append(Band(audit, own.link, f"{audit}: {verdicts}" if verdicts else audit,
                              y0, y, cuts, placed))
            y += BAND_GAP
        zero = _x(0.0, lo, hi) if lo < 0 < hi else None
        panels.append(Panel(metric, AXIS_TITLES.get(metric, metric or "not measured"), lo, hi,
                            _ticks(lo, hi), bands, y, zero))
    return Chart(panels)


def shared_scales(rows_per_doc: Iterable[Sequence[OverviewRow]]) -> dict[str, tuple[float, float]]:
    """One axis per metric that fits every document's rows: the index's charts compare."""
    by_metric: dict[str, list[OverviewRow]] = {}
    for rows in rows_per_doc:
        for r in rows:
            by_metric.setdefault(r.metric, []).append(r)
    return {m: axis_scale(m, rs) for m, rs in by_metric.items()}


def overview_chart(doc: Mapping[str, Any], links: Mapping[str, str] | None = None,
                   scales: Mapping[str, tuple[float, float]] | None = None) -> Chart:
    """The chart of one document: :func:`overview_rows` laid out by :func:`layout_chart`."""
    return layout_chart(overview_rows(doc, links), scales)

