"""The card and the index in a real browser (headless Chromium through selenium).

CI installs the Debian packages ``chromium`` and ``chromium-driver`` and sets
``AUDITKIT_REQUIRE_BROWSER=1``, so a missing browser fails there instead of
skipping; elsewhere the test skips with the reason.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.report import write_card, write_index
from auditkit.results import AuditResult, build_document
from auditkit.thumbnails import png_data_uri

HOSTILE_MAKE = '<script>window.__pwned = "make"</script>Canon'
HOSTILE_CLASS = '<img src=x onerror="window.__pwned = \'class\'">cat'
HOSTILE_FILE = 'photos/<svg onload="window.__pwned=\'file\'">.jpg'


def _browser_paths() -> tuple[str, str] | None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture(scope="module")
def driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    paths = _browser_paths()
    if paths is None:
        if os.environ.get("AUDITKIT_REQUIRE_BROWSER"):
            pytest.fail("AUDITKIT_REQUIRE_BROWSER is set but chromium/chromedriver are missing")
        pytest.skip("chromium and chromedriver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1000,1400", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=paths[1])
    browser = webdriver.Chrome(options=options, service=service)
    yield browser
    browser.quit()


def _hostile_doc() -> dict:
    classes = [HOSTILE_MAKE, "NIKON D70", HOSTILE_CLASS]
    details = {
        "classes": classes,
        "class_ids": classes,
        "confusion": [[8, 1, 1], [2, 7, 1], [0, 1, 9]],
        "per_class": {c: 0.8 for c in classes},
        "accuracy": 0.8,
        "n_classes": 3,
        "variants": [{"id": "camera/a", "label": HOSTILE_CLASS}, {"id": "camera/b", "label": "b"}],
        "thumbnails": {"camera/a": png_data_uri(Image.new("RGB", (8, 8), "red")),
                       "camera/b": 'x" onerror="window.__pwned=\'thumb\''},
    }
    results = [
        AuditResult("camera_model", "max_leakage=0.1", "leakage", 0.7, (0.6, 0.8), 1 / 3, 0.1,
                    "max", "fail", 90, details),
        AuditResult("jpeg_quality", "max_leakage=0.1", "leakage", 0.02, (-0.01, 0.05), 1 / 6,
                    0.1, "max", "pass", 600, {"detectable_leakage": 0.03}),
        # The longest stock audit name, the widest overview row.
        AuditResult("processing_interpolation", "max_leakage=0.1", "leakage", 0.05, (0.03, 0.07),
                    1 / 3, 0.1, "max", "pass", 720, {"detectable_leakage": 0.04}),
    ]
    provenance = {
        "seed": 0, "device": "cpu", "git_commit": None,
        "data": {"name": "user", "hash": "abc", "n_images": 30,
                 "skipped": {"unreadable": 1},
                 "skipped_files": [{"path": HOSTILE_FILE, "reason": "truncated JPEG"}]},
    }
    # A reference row with two verdicts: the widest row a card has.
    reference = [AuditResult("camera_model", case, "leakage", 0.995, (0.987, 1.0), 1 / 3, t,
                             "max", "fail", 90) for case, t in (("max_leakage=0.1", 0.1),
                                                                ("max_leakage=0.5", 0.5))]
    return build_document({"spec": f"python:{HOSTILE_CLASS}", "fingerprint": "f" * 64},
                          provenance, results, references={"pixels": reference})


def _network_urls(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_card_and_index_load_cleanly_and_render_markup_as_text(driver, tmp_path: Path):
    doc = _hostile_doc()
    card = write_card(doc, tmp_path / "enc")
    index = write_index(tmp_path, [(doc, card)])
    driver.get_log("performance")  # drop what the browser did before our pages

    for page in (card, index):
        driver.get(page.as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == [], f"console messages on {page.name}: {errors}"
        # Nothing leaves the file: the only request is the page itself.
        urls = {u for u in _network_urls(driver) if not u.startswith("data:image/png;base64,")}
        assert urls <= {page.as_uri()}
        assert driver.execute_script("return window.__pwned === undefined")
        counts = driver.execute_script(
            "return ['script', 'svg[onload]', '[onerror]', 'iframe', 'link'].map("
            "s => document.querySelectorAll(s).length)")
        assert counts == [0, 0, 0, 0, 0]
        # The only pictures are the thumbnails, inline PNGs that passed validation.
        sources = driver.execute_script(
            "return Array.from(document.images).map(i => i.getAttribute('src'))")
        assert all(src.startswith("data:image/png;base64,") for src in sources)

        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L")
        pixels = np.asarray(shot, dtype=np.float32)
        assert pixels.std() > 10, f"{page.name} screenshot is blank"

    driver.get(card.as_uri())
    assert len(driver.find_elements("css selector", "ul.thumbs img")) == 1
    text = driver.find_element("tag name", "body").text
    assert HOSTILE_MAKE in text and HOSTILE_CLASS in text and HOSTILE_FILE in text
    driver.get(index.as_uri())
    link = driver.find_element("css selector", "a[href$='card.html']")
    link.click()
    assert driver.current_url == card.as_uri()


def test_card_reads_on_a_phone_and_prints(driver, tmp_path: Path):
    card = write_card(_hostile_doc(), tmp_path / "enc")
    driver.set_window_size(390, 844)  # a phone held upright, in CSS pixels
    try:
        driver.get(card.as_uri())
        # The page itself never scrolls sideways: wide tables scroll in their own box.
        page_width, view_width = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert page_width <= view_width, f"card is {page_width}px wide in a {view_width}px view"
        font_px = driver.execute_script(
            "return parseFloat(getComputedStyle(document.body).fontSize)")
        assert font_px >= 12
    finally:
        driver.set_window_size(1000, 1400)
    # A PDF through Chromium's print path, where the print CSS applies.
    data = base64.b64decode(driver.print_page())
    assert data.startswith(b"%PDF") and len(data) > 5_000


def test_every_verdict_in_the_overview_shows_on_a_phone_without_scrolling(driver, tmp_path: Path):
    card = write_card(_hostile_doc(), tmp_path / "enc")
    driver.set_window_size(390, 844)
    try:
        driver.get(card.as_uri())
        hidden = driver.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return Array.from(document.querySelectorAll('table.overview .badge'))"
            ".filter(b => b.getBoundingClientRect().right > w).length")
        shown = driver.execute_script(
            "return document.querySelectorAll('table.overview .badge').length")
        assert shown == 3 and hidden == 0
    finally:
        driver.set_window_size(1000, 1400)


WIDTHS = (1280, 390)  # a laptop, and a phone held upright, in CSS pixels
#: Tables that must show every column without a sideways scroll: the chart's
#: text, the cases of each audit and the index of cases.
FITTING = "table.overview, table.cases"


def _run_docs() -> list[dict]:
    """A run as the default job writes it: an encoder, its random control and pixels.

    Ten audits, nineteen threshold cases, long verdict notes: the sizes that
    once cut off the notes column at 1280 px and hid 15 of 19 index columns.
    """
    audits = ["camera_model", "camera_model_masked", "jpeg_quality", "processing_sharpening",
              "processing_resizing", "processing_interpolation", "processing_masked_jpeg",
              "style_fine_grained", "style_generalisation", "retrieval_shift"]
    note = ("; the masked control keeps 48% of the unmasked leakage (0.108 of 0.225); "
            "found nothing, but the smallest effect this sample could tell apart (0.148) is "
            "above 0.1: add images")

    def results(shift: float) -> list[AuditResult]:
        out = []
        for i, audit in enumerate(audits):
            metric, kind = ("delta", "max_delta") if audit == "retrieval_shift" else (
                "leakage", "max_leakage")
            value = min(0.95, 0.03 * (i + 1) + shift)
            ci = (value - 0.03, value + 0.03)
            for t in ((0.1,) if audit == "style_generalisation" else (0.1, 0.5)):
                verdict = "fail" if ci[0] > t else "pass" if ci[1] <= t else "inconclusive"
                details = {"detectable_" + metric: 0.1, "accuracy": 0.4, "accuracy_ci": [0.3, 0.5],
                           "n_groups": 206, "n_classes": 6,
                           "reason": f"interval [{ci[0]:.3f}, {ci[1]:.3f}] straddles {t}{note}"}
                out.append(AuditResult(audit, f"{kind}={t:g}", metric, value, ci, 1 / 6, t,
                                       "max", verdict, 1440, details))
        return out

    specs = {"timm:tf_efficientnet_lite0": 0.2, "random:timm:tf_efficientnet_lite0": 0.0,
             "pixels": 0.6}
    runs = {spec: results(shift) for spec, shift in specs.items()}
    return [build_document({"spec": spec, "fingerprint": "f" * 64, "reference": spec == "pixels"},
                           {"seed": 0}, cases,
                           references={s: c for s, c in runs.items() if s != spec})
            for spec, cases in runs.items()]


_OVERFLOW = """
const w = window.innerWidth;
const out = {page: document.documentElement.scrollWidth, view: w, boxes: [], clipped: []};
for (const t of document.querySelectorAll('table')) {
  const box = t.parentElement;
  const r = box.getBoundingClientRect();
  if (r.left < -0.5 || r.right > w + 0.5) out.boxes.push([t.className, r.left, r.right]);
  if (t.matches(arguments[0]) && t.scrollWidth > box.clientWidth + 1)
    out.clipped.push([t.className, t.scrollWidth, box.clientWidth]);
}
return out;"""


@pytest.mark.parametrize("width", WIDTHS)
def test_the_card_opens_with_a_visible_chart_and_nothing_overflows(driver, tmp_path: Path,
                                                                  width: int):
    docs = _run_docs()
    card = write_card(docs[0], tmp_path / "enc")
    driver.set_window_size(width, 900)
    try:
        driver.get(card.as_uri())
        chart = driver.find_element("css selector", "#summary svg.overview-chart")
        assert chart.is_displayed()
        box = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.left, r.right, r.top, r.height, window.innerWidth];", chart)
        left, right, top, height, view = box
        assert 0 <= left and right <= view and right - left >= 0.75 * min(view, 1100)
        # It opens the card: it starts in the first screen, before the first case table.
        assert top < 900 and height > 200
        assert driver.execute_script(
            "return arguments[0].compareDocumentPosition(document.querySelector('table.cases'))"
            " & Node.DOCUMENT_POSITION_FOLLOWING", chart)
        # One dot per audit per encoder: ten audits on this encoder and on each reference.
        assert len(chart.find_elements("css selector", "circle.dot")) == 30
        assert chart.get_attribute("role") == "img" and chart.get_attribute("aria-labelledby")
        found = driver.execute_script(_OVERFLOW, FITTING)
        assert found["page"] <= found["view"], f"card is {found['page']}px wide at {width}px"
        assert found["boxes"] == [], f"table containers outside the view at {width}px"
        assert found["clipped"] == [], f"tables cut off inside their box at {width}px"
    finally:
        driver.set_window_size(1000, 1400)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_index_sets_each_encoders_chart_side_by_side(driver, tmp_path: Path, width: int):
    docs = _run_docs()
    entries = [(doc, write_card(doc, tmp_path / str(i))) for i, doc in enumerate(docs)]
    index = write_index(tmp_path, entries)
    driver.set_window_size(width, 900)
    try:
        driver.get(index.as_uri())
        charts = driver.find_elements("css selector", "svg.overview-chart")
        assert len(charts) == 3 and all(c.is_displayed() for c in charts)
        tops = [c.rect["y"] for c in charts]
        if width >= 1280:  # side by side: a base and a fine-tune compare at a glance
            assert tops[0] == tops[1]
        # On a phone three encoders side by side need a sideways scroll, inside its box.
        fitting = "table.index" if width >= 1280 else ":not(*)"
        found = driver.execute_script(_OVERFLOW, fitting)
        assert found["page"] <= found["view"], f"index is {found['page']}px wide at {width}px"
        assert found["boxes"] == [] and found["clipped"] == []
    finally:
        driver.set_window_size(1000, 1400)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_mitigation_card_draws_both_sides_and_fits(driver, tmp_path: Path, width: int):
    from auditkit.report.render import render_mitigation

    figure = {"value": 0.5, "ci": [0.4, 0.6]}
    rows = [{"name": f"figure {i} with a long name that must wrap", "metric": metric,
             "before": figure, "after": {"value": 0.1, "ci": [-0.02, 0.2]},
             "note": "what LEACE removes: expect an interval covering 0 after " * 2}
            for i, metric in enumerate(("leakage", "leakage", "delta", "accuracy"))]
    doc = {"encoder": "hf:./a-long/checkpoint-folder-name", "traces": ["jpeg_quality"],
           "erased_spec": "hf:./a-long/checkpoint-folder-name+erase:erasers/x.safetensors",
           "rank": 5, "dim": 768, "fitted_groups": 60, "held_out_groups": 60, "probe_set": "b",
           "eraser": "erasers/x.safetensors", "eraser_digest": "f" * 64, "auditkit": "0",
           "rows": rows}
    page = tmp_path / "m.html"
    page.write_text(render_mitigation(doc))
    driver.set_window_size(width, 900)
    try:
        driver.get(page.as_uri())
        chart = driver.find_element("css selector", "svg.overview-chart")
        assert chart.is_displayed()
        assert len(chart.find_elements("css selector", "circle.dot-reference")) == 4
        assert len(chart.find_elements("css selector", "circle.dot-encoder")) == 4
        found = driver.execute_script(_OVERFLOW, FITTING)
        assert found["page"] <= found["view"], f"card is {found['page']}px wide at {width}px"
        assert found["boxes"] == [] and found["clipped"] == [], found
    finally:
        driver.set_window_size(1000, 1400)
