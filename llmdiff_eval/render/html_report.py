"""The self-contained HTML report: embedded CSS, one inline script (the latent browser's) allowed by its hash in a
Content-Security-Policy, plots as base64 PNG, no network. Every piece of text that comes from data (labels,
descriptions, contexts, model names) goes through :func:`~llmdiff_eval.render.markup.esc` before any markup is added.
The latent browser lives in ``latent_browser.py``. Reference: docs/scorecard.md."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmdiff_eval.render.latent_browser import (
    BROWSER_SCRIPT,
    BROWSER_STYLE,
    BrowserLatent,
    browser_latents,
    latent_browser_html,
)
from llmdiff_eval.render.markup import esc
from llmdiff_eval.render.text import (
    Section,
    arena_display_name,
    scorecard_sections,
    scorecard_title,
)
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.utils import pair_name

# --------------------------------------------------------------------------------------------------------------
# plots (PNG bytes)
# --------------------------------------------------------------------------------------------------------------


def _png(draw: Callable[[Any], None], height: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, height), dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def class_shift_png(card: Mapping[str, Any]) -> bytes:
    """Diverging horizontal bar chart of class ``diff`` (percentage points), sorted, blue = more in B, with its 95 %
    CI; diamonds mark the activation-weighted diff and, for a seed ensemble, grey ticks each seed's diff."""
    rows = sorted((r for r in card["classes"] if r["diff"] is not None), key=lambda r: r["diff"])
    a, b = card["models"]["a"], card["models"]["b"]

    def draw(axes: Any) -> None:
        values = [row["diff"] for row in rows]
        intervals = [row.get("diff_ci") or [row["diff"], row["diff"]] for row in rows]
        errors = [[v - low for v, (low, _) in zip(values, intervals, strict=True)],
                  [high - v for v, (_, high) in zip(values, intervals, strict=True)]]  # fmt: skip
        axes.barh(
            [row["name"] + (" *" if row.get("significant") else "") for row in rows],
            values,
            color=["#2b83ba" if v >= 0 else "#d7191c" for v in values],
            xerr=errors,
            error_kw={"ecolor": "#444444", "capsize": 3, "linewidth": 1},
        )
        weighted = [
            (i, row["weighted_diff"]) for i, row in enumerate(rows) if row.get("weighted_diff") is not None
        ]
        if weighted:
            axes.scatter([w for _, w in weighted], [i for i, _ in weighted], marker="D", s=22, color="#1a1a1a",
                         zorder=3, label="activation-weighted diff")  # fmt: skip
            axes.legend(loc="lower right", fontsize=8)
        for i, row in enumerate(rows):
            seeds = [diff for diff in row.get("diff_seeds") or [] if diff is not None]
            axes.scatter(seeds, [i] * len(seeds), marker="|", s=60, color="#777777", zorder=3)
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlabel(f"share of model-specific latents (pp), 95% CI; * = significant:\n{b} − {a}")
        axes.set_title("Capability class shift")

    return _png(draw, 0.45 * len(rows) + 1.4)


def elo_png(card: Mapping[str, Any]) -> bytes:
    """Grouped horizontal bars: Elo delta per Arena category without and with style control."""
    rows = [row for row in card["arena"] if row["delta"] is not None or row["delta_style"] is not None]
    a, b = card["models"].get("arena_a"), card["models"].get("arena_b")

    def draw(axes: Any) -> None:
        positions = list(range(len(rows)))
        axes.barh(
            [p + 0.2 for p in positions],
            [row["delta"] or 0 for row in rows],
            0.4,
            label="Δ Elo",
            color="#fdae61",
        )
        axes.barh(
            [p - 0.2 for p in positions],
            [row["delta_style"] or 0 for row in rows],
            0.4,
            label="Δ Elo, style control",
            color="#2b83ba",
        )
        axes.set_yticks(positions, [arena_display_name(row["category"]) for row in rows])
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlabel(f"Elo {b} − {a}")
        axes.set_title("LMArena Elo delta with and without style control")
        axes.legend(loc="best", fontsize=8)

    return _png(draw, 0.4 * len(rows) + 1.6)


def causal_png(card: Mapping[str, Any]) -> bytes:
    """Per fine-tune and class: KL removed by ablating its latents (dot; filled = causal) against the range of its
    matched random controls (grey bar, minimum to 95th percentile), and KL closed by steering the base (diamond)."""
    rows = [
        (f"{card['models'][key]}: {row['class']}", row)
        for key in ("a", "b")
        for row in card["causal"].get(key, [])
        if row["kl_removed"] is not None
    ]

    def draw(axes: Any) -> None:
        for position, (_, row) in enumerate(rows):
            band = [value for value in row.get("control_kl_removed") or [] if value is not None]
            if band and row.get("control_p95") is not None:
                low = min(band)
                axes.barh(position, row["control_p95"] - low, left=low, height=0.5, color="#cccccc")
            axes.plot(
                row["kl_removed"],
                position,
                "o",
                color="#2b83ba",
                fillstyle="full" if row["causal"] else "none",
            )
            if row["kl_closed"] is not None:
                axes.plot(row["kl_closed"], position, "D", color="#fdae61", markersize=5)
        axes.set_yticks(range(len(rows)), [label for label, _ in rows])
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlabel(
            "share of KL(P_ft ‖ P_base): removed by ablation (●, filled = above the controls' 95th percentile),\n"
            "closed by steering the base (◆); grey: matched random latent sets, min to 95th percentile"
        )
        axes.set_title("Causal effect of each class's model-specific latents")

    return _png(draw, 0.4 * len(rows) + 1.8)


# --------------------------------------------------------------------------------------------------------------
# from the run directory
# --------------------------------------------------------------------------------------------------------------


def run_plots(run_dir: str | Path, base: str, finetunes: Sequence[str]) -> list[tuple[str, bytes]]:
    """The analyze stage's PNGs (``plots/<pair>_delta_norm.png``, ``_nu_scatter.png``) that exist."""
    found = []
    for finetune in finetunes:
        pair = pair_name(base, finetune)
        for suffix, what in (("delta_norm", "Δnorm histogram"), ("nu_scatter", "ν scatter")):
            path = RunDir(run_dir).plot(pair, suffix)
            if path.is_file():
                found.append((f"{what}: {base} vs {finetune}", path.read_bytes()))
    return found


# --------------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:.85rem;margin:.2rem 0}.pos{color:#1a6a9a}.neg{color:#b2182b}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
mark{background:#ffe08a;padding:0 1px}.ctx{font-family:ui-monospace,monospace;font-size:.8rem;white-space:pre-wrap;
margin:.15rem 0;background:#fafafa;padding:.15rem .3rem}
"""


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1, table_id: str = ""
) -> str:
    """An HTML table of display strings (all escaped); columns from ``numeric_from`` on are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            classes = []
            if index >= numeric_from:
                classes.append("num")
            if isinstance(cell, str) and cell[:1] in "+-" and cell[1:2].isdigit():
                classes.append("pos" if cell[0] == "+" else "neg")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{data}"><figcaption class="note">{esc(title)}</figcaption></figure>'


def section_html(section: Section) -> str:
    numeric_from = {"classes": 1, "categories": 3, "arena": 1, "joined": 1, "benchmarks": 2}.get(
        section.key, 1
    )
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in section.notes)
    table = html_table(section.headers, section.rows, numeric_from) if section.rows else "<p>(none)</p>"
    return f'<section id="{esc(section.key)}"><h2>{esc(section.title)}</h2>{table}{notes}</section>'


def html_page(title: str, body: str, script: str = BROWSER_SCRIPT) -> str:
    """A self-contained page: inline CSS, one inline script allowed by hash (CSP), images only as data: URIs."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}{BROWSER_STYLE}</style></head><body>{body}<script>{script}</script></body></html>\n"
    )


def render_html(
    card: Mapping[str, Any],
    run_dir: str | Path | None = None,
    latents: Sequence[BrowserLatent] | None = None,
    images: Sequence[tuple[str, bytes]] | None = None,
) -> str:
    """The self-contained HTML report of a scorecard.

    Plots: class shift (diverging bars), Elo with/without style control, plus ``images`` (default: the run's
    Δnorm histograms and ν scatters). ``latents`` (the latent browser's) defaults to :func:`browser_latents` of the
    run's primary pairs, with the causal rows of ``card["causal"]`` when the scorecard has them.
    """
    models = card["models"]
    finetunes = [models["a"], models["b"]]
    if run_dir is not None:
        if latents is None:
            causal = card.get("causal") or {}
            by_model = {models[side]: causal.get(side) or [] for side in ("a", "b")}
            latents = browser_latents(run_dir, by_model)
        images = run_plots(run_dir, models["base"], finetunes) if images is None else images
    title = scorecard_title(card)
    sections = scorecard_sections(card)
    parts = [f"<h1>{esc(title)}</h1>"]
    arena_text = (
        f"Arena columns: A = {models['arena_a']}, B = {models['arena_b']}."
        if models.get("arena_a")
        else "No Arena ratings."
    )
    parts.append(
        f'<p class="note">A = {esc(models["a"])}, B = {esc(models["b"])}, base = {esc(models["base"])}. '
        f"{esc(arena_text)} {esc(card['provenance'].get('arena_note') or '')}</p>"
    )
    figures = [_img("Capability class shift (percentage points, B − A)", class_shift_png(card))]
    if card["arena"]:
        figures.append(_img("LMArena Elo delta, without and with style control", elo_png(card)))
    if card.get("causal") and (card["causal"].get("a") or card["causal"].get("b")):
        figures.append(_img("Causal effect per class against matched random controls", causal_png(card)))
    figures += [_img(caption, png) for caption, png in images or []]
    by_key = {section.key: section for section in sections}
    parts.append(section_html(by_key.pop("classes")))
    parts.append('<section id="plots"><h2>Plots</h2>' + "".join(figures) + "</section>")
    parts += [section_html(section) for section in by_key.values()]
    if latents:
        parts.append(latent_browser_html(latents))
    parts.append(
        '<section id="provenance"><h2>Provenance</h2><pre class="ctx">'
        + esc(json.dumps(card.get("provenance", {}), indent=2, ensure_ascii=False))
        + "</pre></section>"
    )
    return html_page(title, "".join(parts))
