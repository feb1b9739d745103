"""The report's latent browser: a sortable, filterable table of every model-specific latent of the run's primary
pairs, and one panel per latent — label, description and confidence, an activation histogram, the tokens its
fine-tune-minus-base decoder direction promotes and suppresses (the analyze stage's logit lens), and its top and
quantile example contexts rendered token by token, shaded by activation, the window's maximum marked.

Everything is built here as static, escaped HTML (every data string goes through :func:`~llmdiff_eval.render.markup.
esc`); the page's one inline script, ``latent_browser.js`` (shipped beside this module, allowed by its hash in the
report's Content-Security-Policy), only sorts, filters, shows and hides what is already there — it never writes
markup — and opens the panel named in the URL fragment (``#latent=base__a/17``). Reference: docs/scorecard.md.
"""

from __future__ import annotations

import importlib.resources
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pandas as pd

from llmdiff_eval.render.markup import esc, highlight
from llmdiff_eval.render.text import DASH
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.examples import ShadedContext, activation_histograms, display_contexts
from llmdiff_eval.rundir.latents import read_logit_lens

TOP_SHOWN = 10
"""Top examples shown per latent (rank order)."""
QUANTILE_SHOWN = 10
"""Quantile examples shown per latent, spread evenly over their ranks (highest activation first)."""

ANNOTATION_FIELDS = (
    "label",
    "description",
    "confidence",
    "category",
    "category_name",
    "class_name",
    "detection_score",
    "random_baseline_score",
)
STAT_FIELDS = ("delta_norm", "cos_sim", "nu_eps", "nu_r", "freq", "max_act")


def _package_text(name: str) -> str:
    return importlib.resources.files("llmdiff_eval.render").joinpath(name).read_text(encoding="utf-8")


BROWSER_SCRIPT = _package_text("latent_browser.js")
"""The browser's script (inlined into the report and allowed by its sha256 in the page's CSP)."""
BROWSER_STYLE = _package_text("latent_browser.css")


@dataclass
class BrowserLatent:
    """One model-specific latent of a primary pair, with what its row and panel show.

    ``annotation``: :data:`ANNOTATION_FIELDS` of ``annotations/<pair>.parquet`` (None where missing); ``stats``:
    :data:`STAT_FIELDS` of ``latents/<pair>.parquet`` plus ``weighted_share`` (the latent's ``diff_energy`` over the
    sum across the pair's model-specific latents, a fraction; None without ``diff_energy``); ``causal``: the
    scorecard's causal row of the latent's class (``kl_removed``, ``causal``, ``control_p95``, ...) when the causal
    stage measured it; ``histogram``: ``(max_act, counts per bin)``; ``logit_lens``: ``{"promoted": [(token,
    logit)], "suppressed": [...]}``.
    """

    pair: str
    model: str
    latent_id: int
    annotation: dict[str, Any]
    stats: dict[str, Any]
    causal: dict[str, Any] | None = None
    contexts: list[ShadedContext] = field(default_factory=list)
    histogram: tuple[float, list[int]] | None = None
    logit_lens: dict[str, list[tuple[str, float]]] | None = None

    @property
    def key(self) -> str:
        """The deep-link key, ``<pair>/<latent_id>`` (``#latent=<key>``)."""
        return f"{self.pair}/{self.latent_id}"


def browser_latents(
    run_dir: str | os.PathLike, causal: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
) -> list[BrowserLatent]:
    """Every annotated (model-specific) latent of the run's primary pairs (:meth:`RunDir.analyzed_pairs`; extra seeds
    of an ensemble are left out), pair by pair in latent-id order.

    ``causal`` maps a fine-tune's run name to the scorecard's causal rows of its classes (``card["causal"]["a"]``
    for model A, ...); latents of other models, or of classes without a row, get ``causal`` None.
    """
    run = RunDir(run_dir)
    latents: list[BrowserLatent] = []
    for pair in run.analyzed_pairs():
        if not run.annotations(pair).is_file():
            continue
        annotations = pd.read_parquet(run.annotations(pair))
        table = pd.read_parquet(run.latents(pair))
        model = str(table.attrs.get("ft") or pair.partition("__")[2])
        contexts = display_contexts(run.examples_db, pair)
        histograms = activation_histograms(run.examples_db, pair)
        lens = read_logit_lens(run.logit_lens(pair))
        class_rows = {row.get("class"): dict(row) for row in (causal or {}).get(model, [])}
        energy = table["diff_energy"].reindex(annotations.index) if "diff_energy" in table.columns else None
        energy_total = float(energy.sum()) if energy is not None else 0.0
        for latent_id, row in annotations.iterrows():
            latent_id = int(latent_id)
            stats: dict[str, Any] = dict.fromkeys(STAT_FIELDS)
            if latent_id in table.index:
                stats |= {
                    key: _scalar(table.at[latent_id, key]) for key in STAT_FIELDS if key in table.columns
                }
            share = _scalar(energy[latent_id]) if energy is not None and energy_total > 0 else None
            stats["weighted_share"] = None if share is None else share / energy_total
            annotation = {key: _scalar(row.get(key)) for key in ANNOTATION_FIELDS}
            latents.append(
                BrowserLatent(
                    pair,
                    model,
                    latent_id,
                    annotation,
                    stats,
                    class_rows.get(annotation["class_name"]),
                    contexts.get(latent_id, []),
                    histograms.get(latent_id),
                    lens.get(latent_id),
                )
            )
    return latents


def _scalar(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


# ---------------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------------

COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "text"),
    ("latent", "num"),
    ("label", "text"),
    ("class", "text"),
    ("category", "text"),
    ("Δnorm", "num"),
    ("ν^ε", "num"),
    ("ν^r", "num"),
    ("firing rate %", "num"),
    ("weighted share %", "num"),
    ("detection vs baseline", "num"),
    ("causal: class KL removed", "num"),
)
"""Table columns: header and sort type (``num`` sorts by each cell's ``data-sort-value``)."""


def _num(value: Any, decimals: int, scale: float = 1.0) -> str:
    return DASH if value is None else f"{float(value) * scale:.{decimals}f}"


def _cell(text: str, sort_value: Any = None, numeric: bool = False) -> str:
    value = "" if sort_value is None else f' data-sort-value="{esc(sort_value)}"'
    css = ' class="num"' if numeric else ""
    return f"<td{css}{value}>{esc(text)}</td>"


def _detection(annotation: Mapping[str, Any]) -> str:
    score, baseline = annotation.get("detection_score"), annotation.get("random_baseline_score")
    if score is None:
        return DASH
    return f"{score:.2f}" + (f" vs {baseline:.2f}" if baseline is not None else "")


def _causal_text(causal: Mapping[str, Any] | None) -> str:
    if not causal or causal.get("kl_removed") is None:
        return DASH
    verdict = "" if causal.get("causal") is None else (" ✓" if causal["causal"] else " ✗")
    return f"{causal['kl_removed']:.3f}{verdict}"


def _row(latent: BrowserLatent) -> str:
    a, s = latent.annotation, latent.stats
    category = " ".join(str(part) for part in (a.get("category"), a.get("category_name")) if part)
    causal = latent.causal or {}
    cells = [
        _cell(latent.model),
        _cell(str(latent.latent_id), latent.latent_id, True),
        _cell(a.get("label") or DASH),
        _cell(a.get("class_name") or "uncategorized"),
        _cell(category or "uncategorized"),
        _cell(_num(s["delta_norm"], 3), s["delta_norm"], True),
        _cell(_num(s["nu_eps"], 3), s["nu_eps"], True),
        _cell(_num(s["nu_r"], 3), s["nu_r"], True),
        _cell(_num(s["freq"], 3, 100.0), s["freq"], True),
        _cell(_num(s["weighted_share"], 2, 100.0), s["weighted_share"], True),
        _cell(_detection(a), a.get("detection_score"), True),
        _cell(_causal_text(latent.causal), causal.get("kl_removed"), True),
    ]
    return (
        f'<tr tabindex="0" data-key="{esc(latent.key)}" data-model="{esc(latent.model)}" '
        f'data-class="{esc(a.get("class_name") or "uncategorized")}">{"".join(cells)}</tr>'
    )


def _options(element_id: str, label: str, values: Sequence[str]) -> str:
    options = "".join(f'<option value="{esc(value)}">{esc(value)}</option>' for value in values)
    return f'<label>{esc(label)} <select id="{element_id}"><option value="">all</option>{options}</select></label>'


def shaded_context(context: ShadedContext, max_act: float | None) -> str:
    """One example window as escaped tokens: each firing token shaded by ``f / max_act`` (its ``title`` gives f), the
    window's largest activation outlined (class ``max``). Without per-token data (an older database), the marked
    text with ``<mark>`` on the firing tokens."""
    kind = "top" if context.kind == "top" else "quantile"
    head = f'<span class="ctx-act">{esc(kind)} #{context.rank + 1} · f = {context.activation:.3f}</span> '
    if context.tokens is None or context.token_acts is None:
        return f'<div class="ctx">{head}{highlight(context.marked_text)}</div>'
    scale = max_act if max_act and max_act > 0 else max(context.token_acts, default=0.0) or 1.0
    peak = max(range(len(context.token_acts)), key=lambda i: (context.token_acts[i], i == context.focus))
    pieces = []
    for index, (token, value) in enumerate(zip(context.tokens, context.token_acts, strict=True)):
        if value <= 0 and index != peak:
            pieces.append(esc(token))
            continue
        alpha = min(1.0, max(0.12, value / scale))
        css = "tok max" if index == peak else "tok"
        if "\n" in token and not token.strip():
            css += " nl"  # a shaded line break, made visible by the style sheet
        pieces.append(
            f'<span class="{css}" style="background:rgba(255,140,0,{alpha:.2f})" title="f = {value:.4g}">'
            f"{esc(token)}</span>"
        )
    return f'<div class="ctx">{head}{"".join(pieces)}</div>'


def histogram_svg(max_act: float, counts: Sequence[int]) -> str:
    """Inline SVG bars of tokens per activation bin (log scale: bar height ∝ log(1 + count))."""
    width, height, n = 320, 90, max(len(counts), 1)
    top = math.log1p(max(counts, default=0)) or 1.0
    bar = width / n
    rects = []
    for index, count in enumerate(counts):
        h = (height - 12) * math.log1p(count) / top
        low, high = index / n * max_act, (index + 1) / n * max_act
        rects.append(
            f'<rect x="{index * bar:.1f}" y="{height - 12 - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}">'
            f"<title>f in ({low:.3g}, {high:.3g}]: {count} tokens</title></rect>"
        )
    return (
        f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="activation histogram">{"".join(rects)}'
        f'<text x="0" y="{height - 1}">0</text><text x="{width}" y="{height - 1}" text-anchor="end">'
        f"{max_act:.3g}</text></svg>"
    )


def _token_list(title: str, entries: Sequence[tuple[str, float]]) -> str:
    items = "".join(f"<li><code>{esc(token)}</code> <span class=\"note\">{logit:+.3g}</span></li>"
                    for token, logit in entries)  # fmt: skip
    return f'<div class="lens"><h4>{esc(title)}</h4><ol>{items or "<li>" + DASH + "</li>"}</ol></div>'


def _spread(contexts: Sequence[ShadedContext], limit: int) -> list[ShadedContext]:
    if len(contexts) <= limit:
        return list(contexts)
    step = (len(contexts) - 1) / (limit - 1) if limit > 1 else 0
    return [contexts[round(i * step)] for i in range(limit)]


def panel(latent: BrowserLatent) -> str:
    """The hidden panel of one latent (``id="panel-<key>"``), shown by the script when its row is chosen."""
    a, s = latent.annotation, latent.stats
    max_act = s.get("max_act") or (latent.histogram[0] if latent.histogram else None)
    facts = [
        ("model", latent.model),
        ("latent", latent.latent_id),
        ("class", a.get("class_name") or "uncategorized"),
        ("category", " ".join(str(p) for p in (a.get("category"), a.get("category_name")) if p) or DASH),
        ("confidence", a.get("confidence") or DASH),
        ("detection score vs random-label baseline", _detection(a)),
        ("Δnorm", _num(s["delta_norm"], 3)),
        ("decoder cosine", _num(s["cos_sim"], 3)),
        ("ν^ε / ν^r", f"{_num(s['nu_eps'], 3)} / {_num(s['nu_r'], 3)}"),
        ("firing rate", f"{_num(s['freq'], 3, 100.0)} %"),
        ("max activation", _num(max_act, 3)),
        ("weighted share", f"{_num(s['weighted_share'], 2, 100.0)} %"),
        ("causal: KL removed by ablating its class (✓ beats random controls)", _causal_text(latent.causal)),
    ]
    fact_rows = "".join(f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>" for name, value in facts)
    histogram = histogram_svg(*latent.histogram) if latent.histogram else f'<p class="note">{DASH}</p>'
    lens = latent.logit_lens or {}
    top = [c for c in latent.contexts if c.kind == "top"][:TOP_SHOWN]
    quantile = _spread([c for c in latent.contexts if c.kind == "quantile"], QUANTILE_SHOWN)

    def contexts_html(title: str, shown: Sequence[ShadedContext]) -> str:
        body = "".join(shaded_context(c, max_act) for c in shown) or f'<p class="note">{DASH}</p>'
        return f"<h4>{esc(title)}</h4>{body}"

    link = "#latent=" + quote(latent.key, safe="/@")
    return (
        f'<article class="panel" id="panel-{esc(latent.key)}" hidden>'
        f'<p class="panel-bar"><a href="{esc(link)}">link to this latent</a> '
        '<button type="button" class="panel-close">close</button></p>'
        f"<h3>{esc(a.get('label') or DASH)}</h3><p>{esc(a.get('description') or '')}</p>"
        f'<table class="facts">{fact_rows}</table>'
        '<div class="panel-grid">'
        f"<div><h4>Activation histogram (tokens where it fires; log scale)</h4>{histogram}</div>"
        f"{_token_list('Promoted tokens (logit lens)', lens.get('promoted', []))}"
        f"{_token_list('Suppressed tokens (logit lens)', lens.get('suppressed', []))}"
        "</div>"
        f"{contexts_html('Top-activating contexts', top)}"
        f"{contexts_html('Contexts sampled across activation quantiles', quantile)}"
        "</article>"
    )


def latent_browser_html(latents: Sequence[BrowserLatent]) -> str:
    """The ``#latents`` section: filter controls, the sortable table and one hidden panel per latent."""
    head = "".join(
        f'<th data-type="{kind}" aria-sort="none"><button type="button">{esc(name)}</button></th>'
        for name, kind in COLUMNS
    )
    models = list(dict.fromkeys(latent.model for latent in latents))
    classes = sorted({latent.annotation.get("class_name") or "uncategorized" for latent in latents})
    return (
        '<section id="latents"><h2>Model-specific latents</h2>'
        '<p class="note">Click a row (or press Enter on it) to open the latent; sort by any column header. Shading: '
        "the latent's activation on each token (darker = closer to its maximum); the outlined token is the window's "
        "largest activation. Logit lens: the tokens its fine-tune-minus-base decoder direction raises and lowers "
        "through the fine-tune's unembedding (docs/analyze.md).</p>"
        '<p class="controls"><input id="latent-filter" type="search" '
        'placeholder="Filter latents (label, category, context…)"> '
        f"{_options('latent-model', 'model', models)} {_options('latent-class', 'class', classes)} "
        '<span id="latent-count" class="note"></span></p>'
        f'<table id="latent-table"><thead><tr>{head}</tr></thead><tbody>'
        f"{''.join(_row(latent) for latent in latents)}</tbody></table>"
        f'<div id="latent-panels">{"".join(panel(latent) for latent in latents)}</div></section>'
    )
