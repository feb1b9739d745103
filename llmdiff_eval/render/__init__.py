"""Rendering of scorecards and reports: ``text.py`` (terminal table, Markdown, JSON, CSV), ``html_report.py`` (the
self-contained HTML report) with ``latent_browser.py`` (its latent table and panels; script and style in
``latent_browser.js`` / ``.css``) and ``markup.py`` (escaping), ``modelcard.py`` (Hugging Face model cards). Pure: dicts in, text out; the one exception
is the HTML report, which embeds a run directory's plots and latent list when given one. Reference:
docs/scorecard.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmdiff_eval.render.compare import compare_sections, compare_title, render_compare_csv
from llmdiff_eval.render.html_report import html_page, render_html, section_html
from llmdiff_eval.render.latent_browser import BrowserLatent, browser_latents, latent_browser_html
from llmdiff_eval.render.markup import esc, highlight
from llmdiff_eval.render.text import (
    FORMATS,
    Section,
    benchmark_section,
    paper_check_section,
    render_csv,
    render_json,
    render_sections,
    scorecard_sections,
    scorecard_title,
)

__all__ = [
    "FORMATS",
    "BrowserLatent",
    "Section",
    "benchmark_section",
    "compare_sections",
    "compare_title",
    "browser_latents",
    "esc",
    "highlight",
    "latent_browser_html",
    "paper_check_section",
    "render",
    "render_compare",
    "render_compare_csv",
    "render_csv",
    "render_html",
    "render_json",
    "render_sections",
    "scorecard_sections",
    "scorecard_title",
]


def render(card: Mapping[str, Any], fmt: str, run_dir: str | Path | None = None) -> str:
    """Render a scorecard in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return render_json(card)
    if fmt == "csv":
        return render_csv(card)
    if fmt == "html":
        return render_html(card, run_dir=run_dir)
    if fmt in ("table", "md"):
        return render_sections(scorecard_sections(card), fmt, scorecard_title(card))
    raise ValueError(f"unknown format {fmt!r}; choose from {FORMATS}")


def render_compare(report: Mapping[str, Any], fmt: str) -> str:
    """Render the due-diligence report as ``table``, ``md``, ``csv``, ``json`` or ``html``."""
    title = compare_title(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_compare_csv(report)
    if fmt in ("table", "md"):
        return render_sections(compare_sections(report), fmt, title)
    if fmt == "html":
        body = f"<h1>{esc(title)}</h1>" + "".join(section_html(s) for s in compare_sections(report))
        return html_page(title, body, script="")
    raise ValueError(f"unknown format {fmt!r} for compare; choose from table, md, csv, json, html")
