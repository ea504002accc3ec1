"""Render the HTML audit card and the run index from ``results.json`` documents.

This is the only module that renders templates. The card is one
self-contained HTML page (inline CSS and SVG, no scripts, no external
resources) built from ``reports/templates/card.html.j2`` and its partials;
:mod:`auditkit.report.views` computes what the templates lay out.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    FunctionLoader,
    StrictUndefined,
    select_autoescape,
)

from auditkit.layout import CARD_FILE, INDEX_FILE
from auditkit.report.families import card_keys
from auditkit.report.overview import (
    OverviewRow,
    by_audit,
    layout_chart,
    overview_rows,
    shared_scales,
)
from auditkit.report.views import (
    COUNT_ORDER,
    SEVERITY,
    breakable,
    detectable_figure,
    fmt,
    group_cases,
    interval_bar,
    reference_rows,
    retrieval_view,
    score_bars,
    semantic_utility,
    shorten,
    split_details,
    threshold_text,
    thumbnail_items,
    worst_sentence,
)
from auditkit.results import write_text_atomic

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

CARD_TEMPLATE = "card.html.j2"
INDEX_TEMPLATE = "index.html.j2"
STOCK_TEMPLATES_PACKAGE = "auditkit.templates"
MITIGATION_TEMPLATE = "mitigation.html.j2"


def stock_templates() -> Traversable:
    """Locate the stock card templates.

    An installed wheel ships them as package ``auditkit.templates``; a source
    checkout that was never installed has no such package, so fall back to
    ``reports/templates`` next to the ``auditkit`` directory.

    Examples
    --------
    >>> stock_templates().joinpath("card.html.j2").is_file()
    True
    """
    try:
        root = importlib.resources.files(STOCK_TEMPLATES_PACKAGE)
        if root.joinpath(CARD_TEMPLATE).is_file():
            return root
    except (ImportError, TypeError, OSError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "reports" / "templates"
    if not (checkout / CARD_TEMPLATE).is_file():
        raise FileNotFoundError(
            f"stock card templates not found: package {STOCK_TEMPLATES_PACKAGE!r} does not "
            f"resolve and {str(checkout)!r} has no {CARD_TEMPLATE}; reinstall auditkit"
        )
    return checkout


def _loader(root: Traversable) -> BaseLoader:
    if isinstance(root, Path):
        return FileSystemLoader(root)

    # A zipped or namespace package is a Traversable but not a directory on disk.
    def load(name: str) -> str | None:
        node = root
        for part in name.split("/"):
            node = node.joinpath(part)
        return node.read_text(encoding="utf-8") if node.is_file() else None

    return FunctionLoader(load)


def make_environment(template_dir: Path | None = None) -> Environment:
    """The Jinja environment: templates in ``template_dir`` (if any) first, then the stock ones."""
    loader = _loader(stock_templates())
    if template_dir is not None:
        template_dir = Path(template_dir)
        # A mistyped override directory would otherwise silently give the stock card.
        if not template_dir.is_dir():
            raise FileNotFoundError(f"template directory {str(template_dir)!r} does not exist")
        loader = ChoiceLoader([FileSystemLoader(template_dir), loader])
    # Escape everything, whatever the file name: every value on the card is data.
    autoescape = select_autoescape(("html", "htm", "xml", "j2"), default_for_string=True,
                                   default=True)
    env = Environment(
        loader=loader, autoescape=autoescape, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, short=shorten, threshold=threshold_text, breakable=breakable)
    env.globals.update(
        interval_bar=interval_bar, COUNT_ORDER=COUNT_ORDER, split_details=split_details,
        reference_rows=reference_rows, thumbnail_items=thumbnail_items, score_bars=score_bars,
        card_keys=functools.partial(card_keys, env), retrieval_view=retrieval_view,
        detectable_figure=detectable_figure,
        semantic_utility=semantic_utility,
    )
    return env


def render_card(doc: Mapping[str, Any], template_dir: Path | None = None) -> str:
    """Render the HTML card for one ``results.json`` document.

    Examples
    --------
    >>> from auditkit.results import build_document
    >>> html = render_card(build_document({"spec": "pixels", "fingerprint": "f"}, {}, []))
    >>> "No audits ran." in html
    True
    """
    audits = list(doc.get("audits") or [])
    counts = {v: sum(1 for a in audits if a["verdict"] == v) for v in COUNT_ORDER}
    groups = group_cases(audits)
    rows = overview_rows(doc, {g.audit: f"#{g.anchor}" for g in groups})
    context = {
        "doc": doc,
        "encoder": dict(doc.get("encoder") or {}),
        "provenance": dict(doc.get("provenance") or {}),
        "audits": audits,
        "groups": groups,
        "overview": layout_chart(rows),
        "overview_table": by_audit(rows),
        "counts": counts,
        "overall": min((a["verdict"] for a in audits), key=SEVERITY.index, default=None),
        "worst_sentence": worst_sentence(audits),
    }
    return make_environment(template_dir).get_template(CARD_TEMPLATE).render(context)


def render_mitigation(doc: Mapping[str, Any], template_dir: Path | None = None) -> str:
    """Render the mitigation card of an ``auditkit mitigate`` document.

    Examples
    --------
    >>> doc = {"encoder": "pixels", "erased_spec": "pixels+erase:e.safetensors",
    ...        "traces": ["jpeg_quality"], "rank": 5, "dim": 607, "fitted_groups": 12,
    ...        "held_out_groups": 12, "probe_set": "builtin", "eraser": "e.safetensors",
    ...        "eraser_digest": "0" * 64, "auditkit": "0", "rows": []}
    >>> "no leakage interval lies wholly above 0" in render_mitigation(doc)
    True
    >>> "within every semantic class" in render_mitigation({**doc, "per_class": True})
    True
    >>> "on the L2-normalised embeddings (rank 5," in render_mitigation(
    ...     {**doc, "stages": "normalised"})
    True
    """
    from auditkit.report.mitigation import mitigation_chart, still_found

    context = {"doc": doc, "chart": mitigation_chart(doc), "still": still_found(doc["rows"])}
    return make_environment(template_dir).get_template(MITIGATION_TEMPLATE).render(context)


def write_card(doc: Mapping[str, Any], out_dir: Path, template_dir: Path | None = None) -> Path:
    """Render the card and write ``out_dir/card.html`` atomically; return its path.

    Examples
    --------
    >>> import tempfile
    >>> from auditkit.results import build_document
    >>> doc = build_document({"spec": "pixels", "fingerprint": "f"}, {}, [])
    >>> write_card(doc, Path(tempfile.mkdtemp())).name
    'card.html'
    """
    html = render_card(doc, template_dir)  # render first: a template error leaves no file
    path = Path(out_dir) / CARD_FILE
    write_text_atomic(path, html)
    return path


def render_index(entries: Sequence[tuple[Mapping[str, Any], str]],
                 template_dir: Path | None = None) -> str:
    """The run index for ``(results document, link to its card)`` pairs.

    Examples
    --------
    >>> from auditkit.results import build_document
    >>> doc = build_document({"spec": "pixels", "fingerprint": "f"}, {}, [])
    >>> "pixels/card.html" in render_index([(doc, "pixels/card.html")])
    True
    """
    encoders: list[dict[str, Any]] = []
    docs_rows: list[list[OverviewRow]] = []
    cases: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for doc, href in entries:
        audits = list(doc.get("audits") or [])
        anchors = {g.audit: g.anchor for g in group_cases(audits)}
        encoder = dict(doc.get("encoder") or {})
        spec = encoder.get("spec") or "unknown encoder"
        for case in audits:
            key = (str(case["audit"]), str(case["case"]))
            link = f"{href}#{anchors.get(key[0], '')}"
            cases.setdefault(key, {})[len(encoders)] = {**case, "link": link}
        docs_rows.append(overview_rows(doc, {a: f"{href}#{k}" for a, k in anchors.items()}))
        encoders.append({
            "spec": spec,
            "reference": bool(encoder.get("reference")),
            "href": href,
            "counts": {v: sum(1 for a in audits if a["verdict"] == v) for v in COUNT_ORDER},
            "utility": semantic_utility(audits),
        })
    # One axis per metric across encoders: a base and a fine-tune compare at a glance.
    scales = shared_scales(docs_rows)
    for entry, rows in zip(encoders, docs_rows, strict=True):
        entry["chart"] = layout_chart(rows, scales)
    table = [{"audit": audit, "case": case, "cells": cells}
             for (audit, case), cells in cases.items()]
    context = {"rows": encoders, "cases": table}
    return make_environment(template_dir).get_template(INDEX_TEMPLATE).render(context)


def write_index(out_dir: Path, entries: Sequence[tuple[Mapping[str, Any], Path]],
                template_dir: Path | None = None) -> Path:
    """Write ``out_dir/index.html`` linking each card relative to ``out_dir``."""
    out_dir = Path(out_dir)
    links = [(doc, Path(os.path.relpath(card, out_dir)).as_posix()) for doc, card in entries]
    path = out_dir / INDEX_FILE
    write_text_atomic(path, render_index(links, template_dir))
    return path
