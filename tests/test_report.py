"""The HTML audit card: content, escaping, self-containment, overrides, atomic writes."""

from __future__ import annotations

import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from auditkit import report, results
from auditkit.report import (
    confusion_cells,
    fmt,
    interval_bar,
    render_card,
    stock_templates,
    threshold_text,
    worst_finding,
    write_card,
)
from auditkit.results import AuditResult, build_document

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
FINGERPRINT = "9f2c4e1ab3d5" + "0" * 52
SHA = "ab" * 32
CLASSES = ["q10", "q30", "q50", "q90"]
CONFUSION = [[40, 8, 2, 0], [6, 30, 12, 2], [1, 9, 35, 5], [0, 0, 3, 47]]


class Tags(HTMLParser):
    """Every start tag with its attributes, and every id, of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def named(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]

    @property
    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}


def make_doc(
    spec: str = "timm:vit_small_patch16_224",
    classes: list[str] = CLASSES,
    audit: str = "jpeg_quality",
    case: str = "max_leakage=0.1",
    reason: str = "probe predicts a single class",
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A document with one case of each verdict and a confusion matrix."""
    shared = {
        "accuracy": 0.715,
        "accuracy_ci": [0.66, 0.775],
        "detectable_leakage": 0.04,
        "confusion": CONFUSION,
        "classes": classes,
        "n_classes": len(classes),
        "n_groups": 50,
    }
    results = [
        AuditResult(audit, case, "leakage", 0.62, (0.55, 0.70), 0.25, 0.1, "max", "fail", 400,
                    dict(shared)),
        AuditResult(audit, "max_leakage=0.9", "leakage", 0.62, (0.55, 0.70), 0.25, 0.9, "max",
                    "pass", 400, dict(shared)),
        AuditResult("style", "max_leakage=0.2", "leakage", 0.0, (0.0, 0.31), 0.5, 0.2, "max",
                    "inconclusive", 120, {"degenerate": True, "reason": reason, "n_classes": 2}),
        AuditResult("camera_model", "max_leakage=0.1", "leakage", None, None, None, 0.1, "max",
                    "error", 0, {"reason": "no image has an EXIF camera make"}),
    ]
    encoder = {"spec": spec, "fingerprint": FINGERPRINT, "weights_sha256": SHA,
               "weights_source": "local:/models/vit.safetensors"}
    if provenance is None:
        provenance = {
            "auditkit": "0.1.0", "versions": {"torch": "2.3.1", "timm": "1.0.7"},
            "git_commit": "deadbeef", "seed": 0,
            "data": {"name": "kodak24", "hash": "c0ffee", "n_images": 24,
                     "skipped": {"unreadable": 1}},
            "device": "cpu", "started": "2024-05-01T10:00:00Z",
            "finished": "2024-05-01T10:05:00Z",
        }
    return build_document(encoder, provenance, results)


@pytest.fixture(scope="module")
def html() -> str:
    return render_card(make_doc())


def test_card_shows_the_model(html: str) -> None:
    assert "timm:vit_small_patch16_224" in html
    assert f'title="{FINGERPRINT}"' in html and f"{FINGERPRINT[:12]}…" in html
    assert f'title="{SHA}"' in html
    assert "local:/models/vit.safetensors" in html


def test_case_rows_carry_each_verdict_in_document_order(html: str) -> None:
    rows = [a.get("class") for a in Tags(html).named("tr")]
    rows = [r for r in rows if r and r.startswith("verdict-")]
    assert rows == ["verdict-fail", "verdict-pass", "verdict-inconclusive", "verdict-error"]


@pytest.mark.parametrize("verdict", ["pass", "fail", "inconclusive", "error"])
def test_summary_counts_one_case_per_verdict(html: str, verdict: str) -> None:
    assert re.search(rf'count-{verdict}"><span class="n">1</span>', html)


@pytest.mark.parametrize(
    "fragment",
    [
        pytest.param("[0.550, 0.700]", id="leakage-interval"),
        pytest.param("[0.660, 0.775]", id="accuracy-interval"),
        pytest.param("≤ 0.100", id="threshold-with-direction"),
        pytest.param("0.040", id="detectable-leakage"),
        pytest.param("degenerate probe", id="degenerate-flag"),
        pytest.param("probe predicts a single class", id="inconclusive-reason"),
        pytest.param("no image has an EXIF camera make", id="error-reason"),
        pytest.param("50 groups", id="n-groups"),
        pytest.param("4 classes", id="n-classes"),
        pytest.param("kodak24", id="provenance-data-name"),
        pytest.param("deadbeef", id="provenance-git-commit"),
        pytest.param("unreadable", id="provenance-skipped-counts"),
        pytest.param("2.3.1", id="provenance-versions"),
        pytest.param("(accuracy − chance) / (1 − chance)", id="how-to-read"),
    ],
)
def test_card_shows(html: str, fragment: str) -> None:
    assert fragment in html


def test_worst_finding_is_the_error_case(html: str) -> None:
    assert "Worst finding: camera_model / max_leakage=0.1 could not be measured" in html


def test_one_confusion_matrix_per_audit(html: str) -> None:
    # Two jpeg_quality cases share the measurement: one heat map, not two.
    assert html.count('<table class="heat">') == 1
    cells = [a for a in Tags(html).named("td") if a.get("class") in ("diag", "off")]
    assert len(cells) == len(CLASSES) ** 2
    assert 'title="true q90, predicted q90: 47 (94.0% of row)"' in html


def test_card_is_self_contained(html: str) -> None:
    page = Tags(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & {t for t, _ in page.tags}
    for _, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action"):
            target = attrs.get(name)
            if target is not None:
                assert target.startswith(("#", "data:")), f"{name}={target!r} leaves the page"
                if target.startswith("#"):
                    assert target[1:] in page.ids, f"dangling link {target!r}"
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html


@pytest.mark.parametrize(
    ("hostile", "kwargs"),
    [
        pytest.param(IMG, {"spec": IMG}, id="encoder-spec"),
        pytest.param(SCRIPT, {"classes": ["q10", SCRIPT, "q50", "q90"]}, id="class-name"),
        pytest.param(SCRIPT, {"audit": SCRIPT}, id="audit-name"),
        pytest.param(IMG, {"case": IMG}, id="case-name"),
        pytest.param(SCRIPT, {"reason": SCRIPT}, id="inconclusive-reason"),
        pytest.param(IMG, {"provenance": {"camera_make": IMG}}, id="provenance-value"),
        pytest.param(SCRIPT, {"provenance": {SCRIPT: "x"}}, id="provenance-key"),
    ],
)
def test_user_strings_are_escaped(hostile: str, kwargs: dict[str, Any]) -> None:
    html = render_card(make_doc(**kwargs))
    assert hostile not in html
    escaped = hostile.replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in html
    assert not {"script", "img"} & {tag for tag, _ in Tags(html).tags}


def test_card_with_no_audits_says_so() -> None:
    html = render_card(build_document({"spec": "pixels", "fingerprint": "f"}, {}, []))
    assert "No audits ran." in html
    assert '<table class="cases">' not in html
    assert all(f'count-{v}"><span class="n">0</span>' in html for v in report.COUNT_ORDER)
    assert "No provenance was recorded." in html


def test_bad_confusion_matrix_is_reported_not_fatal() -> None:
    doc = make_doc()
    for entry in doc["audits"][:2]:  # both jpeg_quality cases carry the matrix
        entry["details"]["confusion"] = [[1, 2], [3]]
    html = render_card(doc)
    assert "confusion matrix not shown" in html and "Verdict summary" in html


def test_write_card_writes_atomically(tmp_path: Path) -> None:
    doc = make_doc()
    path = write_card(doc, tmp_path / "out")
    assert path == tmp_path / "out" / "card.html"
    assert path.read_text(encoding="utf-8") == render_card(doc)
    assert [p.name for p in path.parent.iterdir()] == ["card.html"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_write_keeps_the_old_card_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "card.html").write_text("old card", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_card(make_doc(), tmp_path)
    assert (tmp_path / "card.html").read_text(encoding="utf-8") == "old card"
    assert [p.name for p in tmp_path.iterdir()] == ["card.html"]


def test_override_replaces_one_partial_and_falls_back_for_the_rest(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "_provenance.html.j2").write_text(
        '<section id="provenance">CUSTOM PROVENANCE {{ provenance.seed }}</section>\n',
        encoding="utf-8",
    )
    html = render_card(make_doc(), template_dir=tmp_path)
    assert "CUSTOM PROVENANCE 0" in html
    assert "kodak24" not in html  # the stock provenance partial did not render
    assert "Verdict summary" in html and '<table class="heat">' in html


def test_missing_override_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render_card(make_doc(), template_dir=tmp_path / "nope")


def test_stock_templates_fall_back_to_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    def unresolvable(package: str) -> Any:
        raise ModuleNotFoundError(f"No module named {package!r}")

    monkeypatch.setattr(report.importlib.resources, "files", unresolvable)
    root = stock_templates()
    assert root == Path(report.__file__).resolve().parent.parent / "reports" / "templates"


def test_stock_templates_load_from_a_zipped_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An installed package need not be a directory on disk (zipapp, zip import).
    checkout = Path(report.__file__).resolve().parent.parent / "reports" / "templates"
    archive = tmp_path / "templates.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in checkout.rglob("*.j2"):
            zf.write(path, path.relative_to(checkout).as_posix())
    expected = render_card(make_doc())
    monkeypatch.setattr(report.importlib.resources, "files", lambda _: zipfile.Path(archive))
    assert isinstance(stock_templates(), zipfile.Path)
    assert render_card(make_doc()) == expected


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [
        pytest.param(None, 3, "–", id="none-is-a-dash"),
        pytest.param(float("nan"), 3, "–", id="nan-is-a-dash"),
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
        pytest.param(None, "max", "–", id="no-threshold"),
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
    g = interval_bar(*args, **kwargs)
    assert (g.value_x, g.ci_x0, g.ci_x1, g.chance_x, g.threshold_x) == expected
    assert g.ci_width == (0.0 if expected[1] is None else round(expected[2] - expected[1], 2))


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



def test_card_shows_reference_rows_baseline_and_valid_thumbnails_only() -> None:
    from auditkit.thumbnails import png_data_uri
    from PIL import Image

    good = png_data_uri(Image.new("RGB", (4, 4), "blue"))
    details = {
        "per_class": {"JPEG 75 4:2:0": 0.9, "JPEG 95 4:4:4": 0.4},
        "variants": [{"id": "jpeg/q75-420", "label": "JPEG 75 4:2:0"},
                     {"id": "jpeg/q95-444", "label": "JPEG 95 4:4:4"}],
        "thumbnails": {"jpeg/q75-420": good, "jpeg/q95-444": 'javascript:alert(1)'},
        "baseline": {"base_value": 0.1, "base_ci": [0.05, 0.15], "change": 0.3,
                     "outcome": "regression", "reason": "leakage rose by +0.300"},
    }
    case = AuditResult("jpeg_quality", "max_leakage=0.1", "leakage", 0.4, (0.35, 0.45), 0.5, 0.1,
                       "max", "fail", 100, details)
    ref = AuditResult("jpeg_quality", "max_leakage=0.1", "leakage", 0.97, (0.95, 0.99), 0.5, 0.1,
                      "max", "fail", 100, {})
    doc = build_document({"spec": "timm:resnet18", "fingerprint": "f"}, {}, [case],
                         references={"pixels": [ref]})
    html = render_card(doc)
    assert "Reference rows for jpeg_quality" in html and "0.970" in html
    assert html.count("<img ") == 1 and good in html and "javascript:" not in html
    assert "regression" in html and "change +0.300" in html
    assert "Balanced accuracy per class" in html and "JPEG 95 4:4:4" in html
