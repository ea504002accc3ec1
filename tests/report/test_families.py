"""Which card partial shows an audit entry: its own ``card`` key, else the legacy prefix rule."""

from __future__ import annotations

from typing import Any

import pytest

from auditkit.report import make_environment
from auditkit.report.families import DEFAULT_CARD, card_keys, card_of, legacy_card
from auditkit.report.render import stock_templates


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param({"audit": "my_toy_audit", "card": "camera"}, "camera",
                     id="unknown-audit-names-its-card"),
        pytest.param({"audit": "style_texture", "card": "probe"}, "probe",
                     id="card-key-beats-the-prefix"),
        pytest.param({"audit": "retrieval_shift", "card": "mine"}, "mine",
                     id="a-card-the-report-does-not-know-is-kept"),
        pytest.param({"audit": "style_texture"}, "style", id="legacy-style"),
        pytest.param({"audit": "camera_model_masked", "card": None}, "camera",
                     id="legacy-null-card"),
        pytest.param({"audit": "retrieval_shift", "card": ""}, "retrieval",
                     id="legacy-empty-card"),
        pytest.param({"audit": "jpeg_quality"}, "probe", id="legacy-probe"),
    ],
)
def test_card_of(entry: dict[str, Any], expected: str) -> None:
    assert card_of(entry) == expected


@pytest.mark.parametrize(
    ("audit", "expected"),
    [
        ("retrieval_shift", "retrieval"),
        ("style_texture", "style"),
        ("camera_model_masked", "camera"),
        ("processing_sharpening", "probe"),
        ("retrieval", "retrieval"),  # no underscore: the whole name is the prefix
        ("styles_x", "probe"),  # the prefix must match whole
    ],
)
def test_legacy_card_reads_the_prefix(audit: str, expected: str) -> None:
    assert legacy_card(audit) == expected


def test_every_card_has_a_stock_partial() -> None:
    from auditkit.registry import CARDS

    partials = stock_templates().joinpath("partials").joinpath("cards")
    assert DEFAULT_CARD in CARDS
    for card in CARDS:
        assert partials.joinpath(f"_{card}.html.j2").is_file(), card


@pytest.mark.parametrize(
    ("card", "keys"),
    [("probe", ["mask"]), ("style", ["per_family", "family_accuracy"]),
     ("camera", ["simulated", "note", "cameras", "class_counts", "dropped_classes", "mask",
                 "simulated_set", "simulated_jpeg", "single_file_groups", "caveats",
                 "retention"]),
     ("no_such_card", [])],
)
def test_each_partial_declares_the_details_it_draws(card: str, keys: list[str]) -> None:
    assert card_keys(make_environment(), card) == keys


def test_a_users_partial_declares_its_own_keys(tmp_path) -> None:
    cards = tmp_path / "partials" / "cards"
    cards.mkdir(parents=True)
    (cards / "_toy.html.j2").write_text("{#- Toy. -#}\n{#- draws: radius, kernel -#}\n<p>toy</p>\n")
    assert card_keys(make_environment(tmp_path), "toy") == ["radius", "kernel"]
