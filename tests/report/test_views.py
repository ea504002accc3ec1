"""What the card draws: number formatting, bar geometry, heat-map cells, the worst finding."""

from __future__ import annotations

from typing import Any

import pytest

from auditkit.report.views import (
    breakable,
    confusion_cells,
    fmt,
    group_cases,
    interval_bar,
    retrieval_view,
    score_bars,
    threshold_text,
    worst_finding,
)


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [
        pytest.param(None, 3, "\N{EN DASH}", id="none-is-a-dash"),
        pytest.param(float("nan"), 3, "\N{EN DASH}", id="nan-is-a-dash"),
        pytest.param(0.12345, 3, "0.123", id="float-rounded"),
        pytest.param(0.5, 1, "0.5", id="digits"),
        pytest.param(-0.0001, 3, "0.000", id="no-negative-zero"),
        pytest.param(400, 3, "400", id="int-unchanged"),
        pytest.param(True, 3, "yes", id="bool-as-word"),
    ],
)
def test_fmt(x: Any, digits: int, expected: str) -> None:
    assert fmt(x, digits) == expected


@pytest.mark.parametrize(
    ("threshold", "direction", "expected"),
    [
        pytest.param(0.1, "max", "≤ 0.100", id="max-is-at-most"),
        pytest.param(0.8, "min", "≥ 0.800", id="min-is-at-least"),
        pytest.param(None, "max", "\N{EN DASH}", id="no-threshold"),
    ],
)
def test_threshold_text(threshold: float | None, direction: str, expected: str) -> None:
    assert threshold_text(threshold, direction) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        pytest.param((0.5, (0.4, 0.6), 0.25, 0.1), {"metric": "accuracy"},
                     (50.0, 40.0, 60.0, 25.0, 10.0), id="accuracy-chance-at-chance"),
        pytest.param((0.5, (0.4, 0.6), 0.25, 0.1), {"metric": "leakage"},
                     (50.0, 40.0, 60.0, 0.0, 10.0), id="leakage-chance-at-zero"),
        pytest.param((0.0, (-0.25, 0.25), 0.5, 0.5), {"metric": "leakage"},
                     (20.0, 0.0, 40.0, 20.0, 60.0), id="negative-leakage-widens-scale"),
        pytest.param((0.9, (0.8, 1.0), None, 0.1), {"scale": (0.0, 0.5)},
                     (100.0, 100.0, 100.0, None, 20.0), id="explicit-scale-clamps"),
        pytest.param((None, None, None, 0.1), {}, (None, None, None, None, 10.0),
                     id="error-case-only-threshold"),
    ],
)
def test_interval_bar(args: tuple, kwargs: dict[str, Any], expected: tuple) -> None:
    width = 0.0 if expected[1] is None else round(expected[2] - expected[1], 2)
    g = interval_bar(*args, **kwargs)
    assert (g.value_x, g.ci_x0, g.ci_x1, g.chance_x, g.threshold_x) == expected
    assert g.ci_width == width


@pytest.mark.parametrize(
    ("matrix", "shares"),
    [
        pytest.param([[3, 1], [1, 3]], [[0.75, 0.25], [0.25, 0.75]], id="row-normalised"),
        pytest.param([[2, 2], [0, 0]], [[0.5, 0.5], [0.0, 0.0]], id="empty-row-stays-blank"),
    ],
)
def test_confusion_cells(matrix: list[list[int]], shares: list[list[float]]) -> None:
    view = confusion_cells(["a", "b"], matrix)
    assert [[c.share for c in row.cells] for row in view.rows] == shares
    assert [c.diagonal for c in view.rows[0].cells] == [True, False]
    # Equal shares get equal colours, darker for larger shares.
    assert (view.rows[0].cells[0].background == view.rows[1].cells[1].background) == (
        shares[0][0] == shares[1][1]
    )


def test_confusion_cells_rejects_a_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="do not match 3 classes"):
        confusion_cells(["a", "b", "c"], [[1, 2], [3, 4]])


def case(verdict: str, value: float | None) -> dict[str, Any]:
    return {"verdict": verdict, "value": value}


@pytest.mark.parametrize(
    ("audits", "expected"),
    [
        pytest.param([case("pass", 0.9), case("fail", 0.2)], case("fail", 0.2),
                     id="fail-beats-a-larger-pass"),
        pytest.param([case("fail", 0.9), case("error", None)], case("error", None),
                     id="error-beats-fail"),
        pytest.param([case("pass", 0.1), case("inconclusive", 0.0)], case("inconclusive", 0.0),
                     id="inconclusive-beats-pass"),
        pytest.param([case("fail", 0.3), case("fail", 0.7)], case("fail", 0.7),
                     id="same-verdict-larger-value"),
        pytest.param([case("fail", None), case("fail", 0.1)], case("fail", 0.1),
                     id="missing-value-ranks-last"),
        pytest.param([], None, id="no-audits"),
    ],
)
def test_worst_finding(audits: list[dict[str, Any]], expected: dict[str, Any] | None) -> None:
    assert worst_finding(audits) == expected


def test_group_cases_takes_the_card_of_the_audits_first_entry() -> None:
    audits = [
        {"audit": "my_toy_audit", "case": "a", "verdict": "pass", "card": "retrieval"},
        {"audit": "my_toy_audit", "case": "b", "verdict": "fail", "card": "retrieval"},
        {"audit": "style_texture", "case": "a", "verdict": "pass"},  # legacy: no card key
    ]
    groups = group_cases(audits)
    assert [(g.audit, g.card, len(g.cases)) for g in groups] == [
        ("my_toy_audit", "retrieval", 2),
        ("style_texture", "style", 1),
    ]
    assert [g.verdict for g in groups] == ["fail", "pass"]


def test_retrieval_view_has_a_column_per_family_and_marks_the_judged_one() -> None:
    fam = {"accuracy": {"baseline": {"value": 0.6, "ci": [0.5, 0.7]}},
           "delta": {"value": 0.02, "ci": [-0.01, 0.05]}, "delta_simultaneous_ci": [-0.02, 0.06],
           "mean_abs_delta": {"value": 0.05}, "pairs": [{"p_test": "a", "p_other": "b"}]}
    defined = "positives and negatives under p_test"
    details = {"settings": {"baseline": defined},
               "families": {"jpeg": fam, "resizing": dict(fam, at_ceiling=True)},
               "judged_family": "resizing"}
    v = retrieval_view(details)
    assert v["families"] == ["jpeg", "resizing"]
    assert v["rows"] == [{"setting": "baseline", "definition": defined,
                          "cells": [(0.6, [0.5, 0.7]), (0.6, [0.5, 0.7])]}]
    assert [(c["name"], c["judged"], c["at_ceiling"]) for c in v["columns"]] == [
        ("jpeg", False, False), ("resizing", True, True)]
    assert v["columns"][0]["simultaneous_ci"] == [-0.02, 0.06]
    assert v["columns"][0]["mean_abs_delta"] == 0.05
    assert [p["family"] for p in v["pairs"]] == ["jpeg", "resizing"]
    # A document from before the families were judged apart has numbers for settings.
    assert retrieval_view({"settings": {"baseline": 0.5}})["rows"][0]["definition"] == ""


def test_score_bars_read_a_score_from_a_mapping_with_its_own_chance() -> None:
    per_family = {"colour": {"accuracy": 0.4, "in_family": 0.6, "in_family_chance": 0.15},
                  "blur": 0.8}
    bars = score_bars(per_family, 0.25)
    assert [(n, v, g.value_x, g.chance_x) for n, v, g in bars] == [
        ("colour", 0.4, 40.0, 25.0), ("blur", 0.8, 80.0, 25.0)]
    within = score_bars(per_family, "in_family_chance", key="in_family")
    assert [(v, g.chance_x) for _, v, g in within] == [(0.6, 15.0), (None, None)]


def test_retrieval_view_carries_each_familys_detectable_pairs_and_processings() -> None:
    fam = {"detectable_delta": 0.056, "n_pairs": 6,
           "baseline_per_processing": {"x0.5": 0.45, "x2": 0.49},
           "uniform_per_processing": {"x0.5": 0.47, "x2": 0.48}}
    (col,) = retrieval_view({"families": {"resizing": fam}})["columns"]
    assert (col["detectable"], col["n_pairs"]) == (0.056, 6)
    assert col["per_processing"] == [("x0.5", 0.45, 0.47), ("x2", 0.49, 0.48)]


def test_breakable_escapes_and_breaks_after_underscores() -> None:
    assert str(breakable("<b>_x")) == "&lt;b&gt;_<wbr>x"
