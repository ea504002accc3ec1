"""The overview chart's view model: rows, points, intervals, thresholds, reference rows, axes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditkit.report.overview import (
    Cut,
    OverviewRow,
    axis_scale,
    by_audit,
    layout_chart,
    overview_chart,
    overview_rows,
    shared_scales,
)
from auditkit.report.render import render_card, render_index
from auditkit.results import AuditResult, build_document

ENCODER = "timm:resnet18"
CONTROL = "random:timm:resnet18"


def _cases(audit: str, metric: str, value: float | None, ci: tuple[float, float] | None,
           thresholds: list[tuple[float, str]], kind: str = "max_leakage") -> list[AuditResult]:
    return [AuditResult(audit, f"{kind}={t:g}", metric, value, ci, 0.25, t, "max", verdict, 100)
            for t, verdict in thresholds]


def make_doc() -> dict[str, Any]:
    """An encoder with a probe audit, a retrieval audit and an error, and two references."""
    own = [
        *_cases("jpeg_quality", "leakage", 0.3, (0.2, 0.4), [(0.1, "fail"), (0.5, "pass")]),
        *_cases("retrieval_shift", "delta", 0.04, (0.01, 0.07), [(0.05, "inconclusive")],
                kind="max_delta"),
        AuditResult("camera_model", "max_leakage=0.1", "", None, None, None, None, "max",
                    "error", 0, {"reason": "no EXIF"}),
    ]
    pixels = [
        *_cases("jpeg_quality", "leakage", 0.95, (0.9, 1.0), [(0.1, "fail"), (0.5, "fail")]),
        *_cases("retrieval_shift", "delta", 0.3, (0.2, 0.45), [(0.05, "fail")],
                kind="max_delta"),
    ]
    control = _cases("jpeg_quality", "leakage", -0.05, (-0.12, 0.02), [(0.1, "pass")])
    # The control comes first in the document: the chart still lists references first.
    return build_document({"spec": ENCODER, "fingerprint": "f"}, {}, own,
                          references={CONTROL: control, "pixels": pixels})


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return make_doc()


def test_rows_are_the_encoder_then_its_references_per_audit(doc: dict[str, Any]) -> None:
    rows = overview_rows(doc)
    assert [(r.audit, r.spec, r.role) for r in rows] == [
        ("jpeg_quality", ENCODER, "encoder"),
        ("jpeg_quality", "pixels", "reference"),
        ("jpeg_quality", CONTROL, "control"),
        ("retrieval_shift", ENCODER, "encoder"),
        ("retrieval_shift", "pixels", "reference"),
        ("camera_model", ENCODER, "encoder"),
    ]


def test_a_row_holds_its_point_interval_and_every_threshold(doc: dict[str, Any]) -> None:
    jpeg, pixels, control = overview_rows(doc)[:3]
    assert (jpeg.metric, jpeg.value, jpeg.ci) == ("leakage", 0.3, (0.2, 0.4))
    assert [(c.value, c.verdict) for c in jpeg.cuts] == [(0.1, "fail"), (0.5, "pass")]
    # References are drawn against the encoder's thresholds, with their own verdicts kept.
    assert pixels.cuts == jpeg.cuts and pixels.value == 0.95
    assert [v for _, v in pixels.verdicts] == ["fail", "fail"]
    assert control.value == -0.05 and control.ci == (-0.12, 0.02)


def test_points_intervals_and_thresholds_sit_where_their_values_are(doc: dict[str, Any]) -> None:
    chart = overview_chart(doc)
    leakage, delta = chart.panels
    assert leakage.metric == "leakage" and delta.metric == "delta"
    lo, hi = leakage.lo, leakage.hi
    assert (lo, hi) == (-0.2, 1.0)  # the control's interval goes below chance

    def x(v: float) -> float:
        return round(100 * (v - lo) / (hi - lo), 2)

    band, error = leakage.bands  # an audit that measured nothing keeps its line on the first
    assert error.audit == "camera_model" and error.cuts == []
    own, pixels, control = band.rows
    assert (own.value_x, own.ci_x0, own.ci_x1) == (x(0.3), x(0.2), x(0.4))
    assert own.ci_width == round(x(0.4) - x(0.2), 2)
    assert (pixels.value_x, control.value_x) == (x(0.95), x(-0.05))
    assert [c.x for c in band.cuts] == [x(0.1), x(0.5)]
    assert leakage.zero_x == x(0.0)
    assert own.y < pixels.y < control.y <= band.y1
    (rband,) = delta.bands
    assert [c.x for c in rband.cuts] == [round(100 * 0.05 / delta.hi, 2)]


def test_every_row_of_the_document_is_on_the_chart_once(doc: dict[str, Any]) -> None:
    chart = overview_chart(doc)
    rows = overview_rows(doc)
    assert len(chart.rows) == len(rows) and all(r in chart.rows for r in rows)
    assert chart.specs == [("encoder", ENCODER), ("reference", "pixels"), ("control", CONTROL)]
    # The error has no point but keeps its line, saying it was not measured.
    error = next(r for p in chart.panels for b in p.bands for r in b.rows
                 if r.row.audit == "camera_model")
    assert error.value_x is None and error.label == "not measured"
    assert "camera_model, this encoder: not measured" in chart.label


def test_panels_stack_without_overlap(doc: dict[str, Any]) -> None:
    chart = overview_chart(doc)
    tops = [top for top, _ in chart.stacked]
    assert tops[0] == 0 and tops[1] == chart.panels[0].height
    assert chart.height == sum(p.height for p in chart.panels)


def test_the_label_goes_to_the_side_with_room() -> None:
    rows = [OverviewRow("a", "e", "encoder", "leakage", 0.9, (0.85, 0.95)),
            OverviewRow("b", "e", "encoder", "leakage", 0.1, (0.05, 0.15))]
    placed = [b.rows[0] for b in layout_chart(rows).panels[0].bands]
    assert (placed[0].label_anchor, placed[0].label_x) == ("end", 84.0)
    assert (placed[1].label_anchor, placed[1].label_x) == ("start", 16.0)


@pytest.mark.parametrize(
    ("metric", "values", "expected"),
    [
        pytest.param("leakage", [0.02], (0.0, 1.0), id="leakage-spans-0-1"),
        pytest.param("leakage", [-0.07], (-0.1, 1.0), id="below-chance-widens-round"),
        pytest.param("delta", [0.04, 0.07], (0.0, 0.1), id="delta-to-a-round-maximum"),
        pytest.param("delta", [0.3], (0.0, 0.5), id="delta-larger"),
    ],
)
def test_axis_scale(metric: str, values: list[float], expected: tuple[float, float]) -> None:
    rows = [OverviewRow("a", "e", "encoder", metric, v, None, cuts=(Cut(0.05, "max", "c", "pass"),))
            for v in values]
    assert axis_scale(metric, rows) == pytest.approx(expected)


@given(st.lists(st.floats(-0.99, 0.99), min_size=1, max_size=6), st.floats(0.01, 0.99))
def test_every_point_and_threshold_lies_on_the_axis(values: list[float], t: float) -> None:
    rows = [OverviewRow(f"a{i}", "e", "encoder", "delta", v, (v - 0.01, v + 0.01),
                        cuts=(Cut(t, "max", "c", "pass"),)) for i, v in enumerate(values)]
    (panel,) = layout_chart(rows).panels
    eps = 1e-9  # the round ends are allowed that much float error
    assert panel.lo <= min(values) - 0.01 + eps and panel.hi >= max(values) + 0.01 - eps
    for band in panel.bands:
        assert len(band.cuts) == 1  # never dropped as off the axis
        for r in band.rows:
            assert r.value_x is not None and 0 <= r.value_x <= 100
            assert r.ci_x0 is not None and r.ci_x1 is not None and r.ci_x0 <= r.value_x <= r.ci_x1


def test_shared_scales_fit_every_document(doc: dict[str, Any]) -> None:
    other = overview_rows(build_document(
        {"spec": "big"}, {}, _cases("retrieval_shift", "delta", 0.6, (0.55, 0.7),
                                    [(0.05, "fail")], kind="max_delta")))
    scales = shared_scales([overview_rows(doc), other])
    assert scales["delta"] == (0.0, 1.0) and scales["leakage"] == (-0.2, 1.0)
    # The same axis on both charts: a value sits at the same x in each.
    a = layout_chart(overview_rows(doc), scales).panels[1]
    b = layout_chart(other, scales).panels[0]
    assert (a.lo, a.hi) == (b.lo, b.hi)


def test_by_audit_pairs_each_encoder_row_with_its_references(doc: dict[str, Any]) -> None:
    pairs = by_audit(overview_rows(doc))
    assert [(own.audit, [r.spec for r in refs]) for own, refs in pairs] == [
        ("jpeg_quality", ["pixels", CONTROL]), ("retrieval_shift", ["pixels"]),
        ("camera_model", []),
    ]


def test_the_card_opens_with_the_chart(doc: dict[str, Any]) -> None:
    html = render_card(doc)
    chart = html.index('<svg class="overview-chart"')
    assert chart < html.index('<ul class="counts">') < html.index('id="cases"')
    assert 'role="img"' in html[chart:chart + 200] and "aria-labelledby" in html[chart:chart + 200]
    svg = html[chart:html.index("</figure>", chart)]
    assert svg.count('class="dot dot-') == 5 and svg.count('<line class="cut ') == 3
    assert "pixels 0.950" in svg and "control -0.050" in svg


def test_the_index_draws_one_chart_per_encoder_on_one_axis(doc: dict[str, Any]) -> None:
    other = build_document({"spec": "timm:resnet18-ft"}, {}, _cases(
        "jpeg_quality", "leakage", 0.1, (0.05, 0.15), [(0.1, "inconclusive")]))
    html = render_index([(doc, "a/card.html"), (other, "b/card.html")])
    assert html.count('<svg class="overview-chart"') == 2
    assert 'id="chart-1"' in html and 'id="chart-2"' in html
    # Both leakage axes start below zero, as the first document's control needs.
    assert html.count("axis -0.20 to 1.00") == 2
    assert 'href="b/card.html#audit-1-jpeg_quality"' in html


def test_a_row_without_a_value_names_its_outcome() -> None:
    rows = [OverviewRow("a", "e", "encoder", "", None, None, verdicts=(("c", "error"),)),
            OverviewRow("b", "e", "encoder", "", None, None,
                        verdicts=(("c", "not_applicable"),))]
    labels = [b.rows[0].label for b in layout_chart(rows).panels[0].bands]
    assert labels == ["not measured", "not applicable"]
