"""The HTML audit card: content, escaping, self-containment, overrides, atomic writes."""

from __future__ import annotations

import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from auditkit import results
from auditkit.report import render
from auditkit.report.render import render_card, stock_templates, write_card
from auditkit.report.views import COUNT_ORDER
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
        return {i for _, a in self.tags if (i := a.get("id"))}


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
        pytest.param("(accuracy \N{MINUS SIGN} chance) / (1 \N{MINUS SIGN} chance)",
                     id="how-to-read"),
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
    assert all(f'count-{v}"><span class="n">0</span>' in html for v in COUNT_ORDER)
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

    monkeypatch.setattr(render.importlib.resources, "files", unresolvable)
    root = stock_templates()
    assert root == Path(render.__file__).resolve().parents[2] / "reports" / "templates"


def test_stock_templates_load_from_a_zipped_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An installed package need not be a directory on disk (zipapp, zip import).
    checkout = Path(render.__file__).resolve().parents[2] / "reports" / "templates"
    archive = tmp_path / "templates.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in checkout.rglob("*.j2"):
            zf.write(path, path.relative_to(checkout).as_posix())
    expected = render_card(make_doc())
    monkeypatch.setattr(render.importlib.resources, "files", lambda _: zipfile.Path(archive))
    assert isinstance(stock_templates(), zipfile.Path)
    assert render_card(make_doc()) == expected


def test_card_shows_reference_rows_baseline_and_valid_thumbnails_only() -> None:
    from PIL import Image

    from auditkit.thumbnails import png_data_uri

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


def test_card_names_a_same_run_base_and_warns_of_a_mismatched_baseline() -> None:
    compared = {"base_value": 0.1, "base_ci": [0.05, 0.15], "change": 0.3,
                "outcome": "regression", "reason": "leakage rose by +0.300"}
    cases = [AuditResult("jpeg_quality", f"max_leakage={t}", "leakage", 0.4, (0.35, 0.45), 0.5,
                         t, "max", "fail", 100, {"baseline": {**compared, **extra}})
             for t, extra in ((0.1, {"base_spec": "clip"}),
                              (0.2, {"mismatches": ["max_images: baseline 60, this run 36"]}))]
    html = render_card(build_document({"spec": "clip@ft.pt", "fingerprint": "f"}, {}, cases))
    assert "base clip (measured in this run) 0.100" in html
    assert ("baseline not made like this run, compared anyway: "
            "max_images: baseline 60, this run 36") in html


STYLE_DETAILS = {"per_family": {"blur": 0.8, "colour": 0.3}, "n_classes": 2}


def style_doc(audit: str, card: str | None) -> dict[str, Any]:
    """One style-shaped measurement under ``audit``; ``card=None`` writes no card key."""
    result = AuditResult(audit, "max_leakage=0.2", "leakage", 0.4, (0.3, 0.5), 0.5, 0.2, "max",
                         "fail", 120, dict(STYLE_DETAILS))
    doc = build_document({"spec": "timm:resnet18", "fingerprint": "f"}, {}, [result])
    for entry in doc["audits"]:
        if card is None:
            entry.pop("card", None)  # a document written before entries named their card
        else:
            entry["card"] = card
    return doc


def test_an_unknown_audit_renders_the_card_it_names() -> None:
    html = render_card(style_doc("my_toy_audit", "style"))
    assert "Accuracy per transformation family" in html
    assert "<dt>per_family</dt>" not in html  # the style partial draws it, not the generic list


def test_the_card_key_beats_the_audit_name() -> None:
    html = render_card(style_doc("style_texture", "probe"))
    assert "Accuracy per transformation family" not in html
    assert "<dt>per_family</dt>" in html


def test_a_legacy_document_renders_the_style_partial_for_a_style_audit() -> None:
    doc = style_doc("style_texture", None)
    assert all("card" not in entry for entry in doc["audits"])
    html = render_card(doc)
    assert "Accuracy per transformation family" in html
    assert "<dt>per_family</dt>" not in html


def test_a_card_without_a_partial_shows_the_probe_view() -> None:
    html = render_card(style_doc("my_toy_audit", "nothing_draws_this"))
    assert "Accuracy per transformation family" not in html
    assert "<dt>per_family</dt>" in html and "Verdict summary" in html


def test_an_override_can_add_a_card_partial(tmp_path: Path) -> None:
    (tmp_path / "partials" / "cards").mkdir(parents=True)
    (tmp_path / "partials" / "cards" / "_toy.html.j2").write_text(
        "<p>TOY CARD {{ group.audit }}</p>\n", encoding="utf-8")
    html = render_card(style_doc("my_toy_audit", "toy"), template_dir=tmp_path)
    assert "TOY CARD my_toy_audit" in html


def _section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start:html.index("</section>", start)]


def test_style_families_are_drawn_from_the_measured_entries() -> None:
    # As the style audit writes them: a mapping per family, not a number.
    families = {"colour": {"members": 6, "accuracy": 0.431, "in_family": 0.565,
                           "in_family_chance": 0.15},
                "filter": {"members": 5, "accuracy": 0.05, "in_family": 0.167,
                           "in_family_chance": 0.125}}
    doc = style_doc("style_fine_grained", "style")
    doc["audits"][0]["details"]["per_family"] = families
    figure = render_card(doc).split("Accuracy per transformation family", 1)[1]
    figure = figure[:figure.index("</figure>")]
    assert all(v in figure for v in ("0.431", "0.565", "0.050", "0.167"))
    cells = re.findall(r'<td class="num">([^<]*)</td>', figure)
    assert "\N{EN DASH}" not in cells and cells[:3] == ["6", "0.431", "0.565"]


def test_retrieval_per_family_figures_are_drawn() -> None:
    fam = {"accuracy": {"baseline": {"value": 0.47, "ci": [0.34, 0.58]}},
           "delta": {"value": 0.041, "ci": [0.012, 0.071]}, "n_pairs": 30,
           "delta_simultaneous_ci": [0.0005, 0.08], "detectable_delta": 0.0557,
           "mean_abs_delta": {"value": 0.047},
           "baseline_per_processing": {"sharpness 2": 0.4667, "sharpness 4": 0.4292},
           "uniform_per_processing": {"sharpness 2": 0.4579, "sharpness 4": 0.4738}}
    details = {"settings": {"baseline": "positives and negatives under p_test"},
               "families": {"sharpening": fam}, "judged_family": "sharpening", "chance": 1 / 6}
    case = AuditResult("retrieval_shift", "max_delta=0.05", "delta", 0.041, (0.0005, 0.08),
                       1 / 6, 0.05, "max", "inconclusive", 60, details, card="retrieval")
    html = render_card(build_document({"spec": "e", "fingerprint": "f"}, {}, [case]))
    for figure in ("0.056", ">30<", "sharpness 2", "0.467", "0.458", "0.429", "0.474"):
        assert figure in html, figure


def test_an_audits_measurement_appears_once_in_its_section(html: str) -> None:
    # Two threshold cases share the jpeg_quality measurement: its figures are shown once.
    # Text only: an interval bar's own label names the value for screen readers.
    section = re.sub(r"<svg.*?</svg>", "", _section(html, "audit-1-jpeg_quality"), flags=re.S)
    assert section.count("0.620") == 1 and section.count("[0.550, 0.700]") == 1
    assert section.count("0.715") == 1 and section.count("0.040") == 1
    assert 'class="verdict-fail"' in section and 'class="verdict-pass"' in section


def test_the_detectable_figure_is_the_one_the_verdict_cites() -> None:
    from auditkit.verdicts import Measurement, Threshold, to_result

    # An accuracy threshold is judged against chance + the detectable gain.
    m = Measurement("accuracy", 0.15, (0.1, 0.2), chance=0.25, n=100, detectable=0.05,
                    details={"n_classes": 4})
    case = to_result("camera_model", Threshold("min_accuracy", 0.28), m)
    cited = re.search(r"tell apart \((\d\.\d{3})\)", case.details["reason"])
    assert cited is not None and cited.group(1) == "0.300"
    html = render_card(build_document({"spec": "e", "fingerprint": "f"}, {}, [case]))
    shown = re.search(r"<dt>smallest accuracy this sample could tell apart</dt><dd>([^<]*)</dd>",
                      html)
    assert shown is not None and shown.group(1) == cited.group(1)
