"""Semantic utility: a semantic encoder scores high, a random one at chance, intervals cover;
the stock audit reports it through the plugin with the cache on; the card and index show it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import timm

from auditkit.errors import ProbeSetError
from auditkit.measures import semantic_utility
from auditkit.registry import get_audit
from auditkit.report import render_card, render_index
from auditkit.report.views import UTILITY_KEY, worst_sentence
from auditkit.results import AuditResult, build_document
from auditkit.scaffold import config_block
from auditkit.verdicts import Threshold

# pytester's in-process runs drop modules first imported inside them; torch
# registers operator libraries once per process, so import them out here.
timm.is_model("resnet18")

STOCK = Path(__file__).resolve().parents[2] / "audits" / "test_semantic_utility.py"

CLASSES, PER_CLASS, DIM = 6, 40, 512
#: Images per class embedded at another class's centre: the true accuracy is 1 - this share.
DISPLACED = 12


def _labels_groups() -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat([f"class{c}" for c in range(CLASSES)], PER_CLASS).astype(object)
    # Two images per source group (a parent photo and its crop, say).
    groups = np.array([f"g{i // 2}" for i in range(len(labels))], dtype=object)
    return labels, groups


def _semantic_embeddings(rng: np.random.Generator) -> np.ndarray:
    """Each image at its class centre plus noise, but DISPLACED per class at another's centre."""
    centres = rng.normal(size=(CLASSES, DIM))
    shown = np.repeat(np.arange(CLASSES), PER_CLASS)
    for c in range(CLASSES):
        rows = c * PER_CLASS + rng.choice(PER_CLASS, DISPLACED, replace=False)
        shown[rows] = (c + rng.integers(1, CLASSES, len(rows))) % CLASSES
    return centres[shown] + rng.normal(size=(len(shown), DIM))


@pytest.fixture(scope="module")
def planted() -> dict[str, dict]:
    rng = np.random.default_rng(0)
    labels, groups = _labels_groups()
    return {
        "semantic": semantic_utility.measure_embeddings(_semantic_embeddings(rng), labels,
                                                        groups, seed=0),
        "random": semantic_utility.measure_embeddings(rng.normal(size=(len(labels), DIM)),
                                                      labels, groups, seed=0),
    }


@pytest.mark.parametrize("metric", ["accuracy", "probe_accuracy"])
def test_semantic_encoder_scores_its_true_accuracy_and_random_one_chance(planted, metric):
    truth = 1 - DISPLACED / PER_CLASS
    semantic, random = planted["semantic"][metric], planted["random"][metric]
    assert semantic.ci[0] <= truth <= semantic.ci[1]
    assert semantic.value == pytest.approx(truth, abs=0.05)
    # Near chance: one draw's 95 % interval may miss chance by a hair (the
    # probe's does here: its lower end is 0.169), so no coverage is asserted.
    assert abs(random.value - 1 / CLASSES) < 0.1 and random.ci[0] < 1 / CLASSES + 0.05
    assert random.value < semantic.ci[0] - 0.3
    for m in (semantic, random):
        assert m.chance == pytest.approx(1 / CLASSES) and m.n == CLASSES * PER_CLASS
        assert m.ci[0] <= m.value <= m.ci[1]


def test_both_figures_travel_together_with_pairable_replicates(planted):
    ms = planted["semantic"]
    details = ms["accuracy"].details
    assert ms["probe_accuracy"].details is details
    record = details[semantic_utility.DETAILS_KEY]
    assert record["knn"]["accuracy"] == ms["accuracy"].value
    assert record["probe"]["ci"] == list(ms["probe_accuracy"].ci)
    assert record["knn"]["k"] == 10 and record["variant"] == "original"
    assert record["n_groups"] == CLASSES * PER_CLASS // 2
    assert set(details["replicates"]) >= {"draw", "accuracy", "probe_accuracy"}
    # The card's overview and the run index read the record under this key.
    assert semantic_utility.DETAILS_KEY == UTILITY_KEY


def test_report_only_by_default_a_random_encoder_still_passes(planted):
    record = get_audit("semantic_utility")
    assert dict(record.thresholds) == {"min_accuracy": (0.0,)}
    (threshold,) = [Threshold(k, v[0]) for k, v in record.thresholds.items()]
    assert threshold.judge(planted["random"]["accuracy"])[0] == "pass"
    # A floor a team sets judges the k-NN accuracy like any min_accuracy.
    assert Threshold("min_accuracy", 0.9).judge(planted["semantic"]["accuracy"])[0] == "fail"


def test_auditkit_init_writes_the_audit_and_its_table():
    # The stock files ship from audits/ (tests/test_packaging.py checks the wheel).
    assert '@pytest.mark.audit("semantic_utility")' in STOCK.read_text()
    assert "[tool.auditkit.thresholds.semantic_utility]\n# Report-only" in config_block()


def test_unusable_labels_are_probe_set_errors_that_say_what_to_do():
    labels, groups = _labels_groups()
    X = np.random.default_rng(0).normal(size=(len(labels), 8))
    with pytest.raises(ProbeSetError, match="two semantic classes"):
        semantic_utility.measure_embeddings(X, np.full(len(labels), "a", dtype=object), groups)
    with pytest.raises(ProbeSetError, match="add images to the smallest class"):
        semantic_utility.measure_embeddings(X, labels, np.full(len(labels), "g", dtype=object))


def _case(audit: str, value: float, **kw) -> AuditResult:
    base = dict(audit=audit, case="max_leakage=0.1", metric="leakage", value=value,
                ci=(value - 0.05, value + 0.05), chance=1 / 6, threshold=0.1, direction="max",
                verdict="pass", n=36)
    return AuditResult(**{**base, **kw})


def _utility_case(knn: float, probe: float) -> AuditResult:
    record = {"variant": "original", "chance": 1 / 6,
              "knn": {"accuracy": knn, "ci": [knn - 0.1, knn + 0.1], "k": 10},
              "probe": {"accuracy": probe, "ci": [probe - 0.1, probe + 0.1]}}
    return _case("semantic_utility", knn, case="min_accuracy=0", metric="accuracy",
                 threshold=0.0, direction="min", details={UTILITY_KEY: record})


def test_card_overview_and_index_show_the_figures_beside_the_leakage():
    leak = _case("jpeg_quality", 0.04)
    doc = build_document({"spec": "a", "fingerprint": "f"}, {}, [leak, _utility_case(0.812, 0.9)])
    html = render_card(doc)
    assert "Semantic utility" in html and "0.812" in html and "0.712" in html
    # The largest passing value is a leakage's, not the semantic accuracy's.
    assert "largest: jpeg_quality" in worst_sentence([c.to_json() for c in (leak,)] +
                                                     [_utility_case(0.812, 0.9).to_json()])
    other = build_document({"spec": "b", "fingerprint": "g"}, {}, [_utility_case(0.25, 0.3)])
    index = render_index([(doc, "a/card.html"), (other, "b/card.html")])
    assert "semantic utility" in index
    assert index.index("0.812") < index.index("0.250")
    bare = render_index([(build_document({"spec": "c", "fingerprint": "h"}, {}, [leak]), "c")])
    assert "semantic utility" not in bare


def test_stock_audit_reports_pixels_utility_in_results_json_and_rereads_it_warm(pytester):
    pytester.makepyfile(**{"audits/test_semantic_utility": STOCK.read_text()})
    pytester.makefile(".toml", pyproject=textwrap.dedent("""
        [tool.auditkit]
        encoders = ["pixels"]
    """))

    def run():
        result = pytester.runpytest_inprocess(
            "audits", "-p", "no:cacheprovider", "--encoder=pixels", "--audit-max-images=24",
            "--audit-cache-dir=cache", "--audit-report-dir=out",
        )
        result.assert_outcomes(passed=1)
        return json.loads((pytester.path / "out" / "pixels" / "results.json").read_text())

    doc = run()
    (case,) = doc["audits"]
    assert (case["audit"], case["case"], case["metric"]) == (
        "semantic_utility", "min_accuracy=0", "accuracy")
    assert case["verdict"] == "pass" and case["n"] == 24
    assert case["chance"] == pytest.approx(1 / 6)
    record = case["details"]["semantic_utility"]
    for name in ("knn", "probe"):
        lo, hi = record[name]["ci"]
        assert lo <= record[name]["accuracy"] <= hi
    assert record["knn"]["accuracy"] == case["value"]
    # Pixels tell the built-in classes apart well above chance.
    assert record["knn"]["ci"][0] > 1 / 6
    assert "Semantic utility" in (pytester.path / "out" / "pixels" / "card.html").read_text()
    assert "semantic utility" in (pytester.path / "out" / "index.html").read_text()
    warm = run()
    assert warm["provenance"]["measurements_reused"] == ["semantic_utility"]
    assert warm["audits"] == doc["audits"]
