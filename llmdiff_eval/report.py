"""Render scorecards: terminal table, Markdown, JSON, CSV and a self-contained HTML report; and the compare report.

Input is the scorecard dict of :func:`llmdiff_eval.scorecard.build_scorecard` (numbers unrounded); numbers are
rounded here only, for display: shares and diffs to 2 decimals (percent / percentage points), changes to 1 decimal
(percent), Elo to integers unless fractional. The HTML report embeds its CSS, JavaScript and plots (base64 PNG);
every piece of text that comes from data (labels, descriptions, contexts, model names) goes through
:func:`html.escape` before any markup is added, and a Content-Security-Policy allows only the report's own script.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from llmdiff_eval.utils import pair_name

FORMATS = ("table", "md", "json", "csv", "html")
DASH = "—"


# --------------------------------------------------------------------------------------------------------------
# number formatting (display only)
# --------------------------------------------------------------------------------------------------------------


def fmt_share(value: float | None) -> str:
    """A share in percent, 2 decimals (``6.25``)."""
    return DASH if value is None else f"{value:.2f}"


def fmt_diff(value: float | None, decimals: int = 2) -> str:
    """A signed difference (``+2.74``, ``-1.93``)."""
    if value is None:
        return DASH
    text = f"{value:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text  # no sign on a zero


def fmt_change(row: Mapping[str, Any]) -> str:
    """``change_pct`` as ``+43.8%``; ``new`` when A has none and B has some, ``—`` when undefined."""
    if row.get("change_pct") is not None:
        return f"{row['change_pct']:+.1f}%"
    if row.get("share_a") == 0 and (row.get("share_b") or 0) > 0:
        return "new"
    return DASH


def fmt_elo(value: float | None, signed: bool = False) -> str:
    """Elo (or an Elo delta): integer when whole, else 1 decimal."""
    if value is None:
        return DASH
    decimals = 0 if float(value).is_integer() else 1
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def fmt_value(value: float | None) -> str:
    """A benchmark metric value, 4 significant decimals."""
    return DASH if value is None else f"{value:.4g}"


def fmt_pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}%"


# --------------------------------------------------------------------------------------------------------------
# sections: the tables every renderer shows
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Section:
    """One rendered table: title, column headers, rows of display strings, and notes printed under it."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def scorecard_sections(card: Mapping[str, Any], all_categories: bool = False) -> list[Section]:
    """The scorecard's tables as display strings (shared by the table, Markdown and HTML renderers).

    Categories with no latents in either model are left out unless ``all_categories``.
    """
    models, totals = card["models"], card["totals"]
    a, b = models["a"], models["b"]
    share_headers = [f"{a} n", f"{b} n", f"{a} %", f"{b} %", "diff (pp)", "change"]

    def share_cells(row: Mapping[str, Any]) -> list[str]:
        return [
            str(row["count_a"]),
            str(row["count_b"]),
            fmt_share(row["share_a"]),
            fmt_share(row["share_b"]),
            fmt_diff(row["diff"]),
            fmt_change(row),
        ]

    sections = [
        Section(
            "classes",
            f"Capability classes: share of model-specific latents, {b} vs {a} (each diffed against {models['base']})",
            ["class", *share_headers],
            [[row["name"], *share_cells(row)] for row in card["classes"]],
            [
                f"Totals: {a} {totals['a']} latents ({totals['uncategorized_a']} uncategorized), "
                f"{b} {totals['b']} ({totals['uncategorized_b']} uncategorized); shares are of these totals.",
                "diff = share_b − share_a (percentage points); change = diff / share_a.",
            ],
        )
    ]
    categories = [row for row in card["categories"] if all_categories or row["count_a"] or row["count_b"]]
    hidden = len(card["categories"]) - len(categories)
    sections.append(
        Section(
            "categories",
            "Capability categories",
            ["code", "category", "class", *share_headers],
            [[row["code"], row["name"], row["class_name"], *share_cells(row)] for row in categories],
            [f"{hidden} categories with no latents in either model not shown."] if hidden else [],
        )
    )
    arena_a, arena_b = models.get("arena_a"), models.get("arena_b")
    if card["arena"]:
        notes = [
            f"Arena columns are LMArena ratings of {arena_a} (A) and {arena_b} (B)."
            + (f" {card['provenance']['arena_note']}" if card["provenance"].get("arena_note") else "")
        ]
        arena_prov = card["provenance"].get("arena") or {}
        if arena_prov:
            notes.append(
                f"Source: {arena_prov.get('source', '?')}, snapshot {arena_prov.get('snapshot_date', '?')}."
                + (
                    " Fallback: the preferred sources failed (see provenance)."
                    if arena_prov.get("fallback")
                    else ""
                )
            )
        if card.get("style"):
            style = card["style"]
            notes.append(
                f"Style explains {fmt_pct(style['style_share_pct'])} of the overall Elo gain "
                f"(Δ {fmt_elo(style['delta'], True)} → Δ_style {fmt_elo(style['delta_style'], True)})."
            )
        sections.append(
            Section(
                "arena",
                f"LMArena Elo: {arena_b} (B) vs {arena_a} (A), without and with style control",
                [
                    "category",
                    f"Elo {arena_a}",
                    f"Elo {arena_b}",
                    "Δ",
                    f"Elo {arena_a} (style)",
                    f"Elo {arena_b} (style)",
                    "Δ style",
                    "style diff",
                    "style share",
                ],
                [
                    [
                        _arena_name(row["category"]),
                        fmt_elo(row["rating_a"]),
                        fmt_elo(row["rating_b"]),
                        fmt_elo(row["delta"], True),
                        fmt_elo(row["rating_a_style"]),
                        fmt_elo(row["rating_b_style"]),
                        fmt_elo(row["delta_style"], True),
                        fmt_elo(row["style_diff"], True),
                        fmt_pct(row["style_share_pct"]),
                    ]
                    for row in card["arena"]
                ],
                notes,
            )
        )
    join_notes = [
        "latent diff = Σ share_b − Σ share_a over the mapped taxonomy categories (percentage points); "
        "agree: signs of Arena Δ and latent diff (zero = one is 0, missing = one is unknown)."
    ]
    if card["arena"]:
        join_notes.append(f"Arena Δ is {arena_b} − {arena_a}; latent diff is {b} − {a}.")
    else:
        reason = card["provenance"].get("arena_note") or "pass --arena-models A,B to add them"
        join_notes.append(f"No Arena ratings in this scorecard ({reason}): latent side only.")
    sections.append(
        Section(
            "joined",
            "Arena categories beside the latent shift of their capabilities",
            [
                "Arena category",
                "Δ",
                "Δ style",
                "mapped categories",
                "latent diff (pp)",
                "agree",
                "agree (style)",
            ],
            [
                [
                    _arena_name(row["arena_category"]),
                    fmt_elo(row["delta"], True),
                    fmt_elo(row["delta_style"], True),
                    _mapped_text(row),
                    fmt_diff(row["latent_diff"]),
                    row["agree"],
                    row["agree_style"],
                ]
                for row in card["joined"]
            ],
            join_notes,
        )
    )
    if card["benchmarks"]:
        sections.append(benchmark_section(card["benchmarks"], a, b))
    return sections


def benchmark_section(rows: Sequence[Mapping[str, Any]], a: str | None, b: str | None) -> Section:
    """Benchmark rows: one column per results-file label (A and B first), then Δ = B − A."""
    labels = list(dict.fromkeys(label for row in rows for label in row["values"]))
    ordered = [label for label in (a, b) if label in labels] + [name for name in labels if name not in (a, b)]
    has_delta = any(row["delta"] is not None for row in rows)
    headers = ["task", "metric", *ordered] + ([f"Δ ({b} − {a})"] if has_delta else [])
    table = []
    for row in rows:
        cells = [row["task"], row["metric"]]
        for label in ordered:
            value, stderr = row["values"].get(label), row["stderrs"].get(label)
            cells.append(fmt_value(value) + (f" ± {stderr:.2g}" if value is not None and stderr else ""))
        if has_delta:
            cells.append(DASH if row["delta"] is None else f"{row['delta']:+.4g}")
        table.append(cells)
    return Section("benchmarks", "Benchmarks (lm-eval)", headers, table)


def paper_check_section(checks: Sequence[Mapping[str, Any]]) -> Section:
    """Per paper table: printed cells, how many the rebuild reproduces at printed precision, explained errata."""
    tables = list(dict.fromkeys(check["table"] for check in checks))
    rows = []
    for table in tables:
        subset = [check for check in checks if check["table"] == table]
        rows.append(
            [
                table,
                str(len(subset)),
                str(sum(check["match"] for check in subset)),
                str(sum(1 for check in subset if not check["match"] and check["erratum"])),
                str(sum(1 for check in subset if not check["match"] and not check["erratum"])),
            ]
        )
    notes = [
        f"{check['table']}, {check['row']}, {check['column']}: printed {check['printed']}, computed "
        f"{check['computed']:.4f} — {check['erratum'] or 'NOT REPRODUCED'}"
        for check in checks
        if not check["match"]
    ]
    return Section(
        "paper_checks",
        "Reproduction of the paper's printed values",
        ["table", "printed cells", "reproduced", "paper errata", "not reproduced"],
        rows,
        notes,
    )


def _arena_name(category: str) -> str:
    from llmdiff_eval.arena import display_name

    return display_name(category)


def _mapped_text(row: Mapping[str, Any]) -> str:
    if not row["codes"]:
        return DASH
    text = ", ".join(row["codes"])
    if row["missing_codes"]:
        text += f" (no data: {', '.join(row['missing_codes'])})"
    return text


# --------------------------------------------------------------------------------------------------------------
# text renderers
# --------------------------------------------------------------------------------------------------------------


def render_sections(sections: Iterable[Section], fmt: str, title: str | None = None) -> str:
    """``table`` (terminal, tabulate ``simple``) or ``md`` (GitHub Markdown) rendering of sections."""
    markdown = fmt == "md"
    parts = [f"# {title}\n" if markdown else f"{title}\n{'=' * len(title)}\n"] if title else []
    for section in sections:
        heading = f"## {section.title}" if markdown else f"{section.title}\n{'-' * len(section.title)}"
        parts.append(heading + "\n")
        if section.rows:
            parts.append(
                tabulate(
                    section.rows,
                    headers=section.headers,
                    tablefmt="github" if markdown else "simple",
                    disable_numparse=True,
                )
            )
        else:
            parts.append("(none)")
        for note in section.notes:
            parts.append(("\n" if markdown else "") + note)
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def scorecard_title(card: Mapping[str, Any]) -> str:
    models = card["models"]
    return f"Scorecard: {models['b']} vs {models['a']} (each diffed against {models['base']})"


def render_json(card: Mapping[str, Any]) -> str:
    """JSON, numbers unrounded (``NaN`` is never produced: missing values are ``null``)."""
    return json.dumps(card, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_csv(card: Mapping[str, Any]) -> str:
    """One CSV holding every section in long form: a ``section`` column plus the union of the rows' fields.

    Numbers unrounded; lists are joined with ``;`` and mappings written as JSON.
    """
    records = []
    for section in ("classes", "categories", "arena", "joined", "benchmarks"):
        for row in card.get(section) or []:
            records.append({"section": section, **row})
    columns = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: _csv_cell(record.get(key)) for key in columns})
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


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
    """Diverging horizontal bar chart of class ``diff`` (percentage points), sorted, blue = more in B."""
    rows = sorted((r for r in card["classes"] if r["diff"] is not None), key=lambda r: r["diff"])
    a, b = card["models"]["a"], card["models"]["b"]

    def draw(axes: Any) -> None:
        values = [row["diff"] for row in rows]
        axes.barh(
            [row["name"] for row in rows], values, color=["#2b83ba" if v >= 0 else "#d7191c" for v in values]
        )
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlabel(f"share of model-specific latents (pp):\n{b} − {a}")
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
        axes.set_yticks(positions, [_arena_name(row["category"]) for row in rows])
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlabel(f"Elo {b} − {a}")
        axes.set_title("LMArena Elo delta with and without style control")
        axes.legend(loc="best", fontsize=8)

    return _png(draw, 0.4 * len(rows) + 1.6)


# --------------------------------------------------------------------------------------------------------------
# latent list (from the run directory)
# --------------------------------------------------------------------------------------------------------------

MARK_PATTERN = re.compile(r"<<(.+?)>>", re.DOTALL)


def highlight(marked_text: str) -> str:
    """HTML for a context whose activating tokens are wrapped ``<<like this>>``: escaped text, ``<mark>`` tokens.

    The text is split on the markers first and every piece is escaped before ``<mark>`` is added.
    """
    pieces = MARK_PATTERN.split(marked_text)
    return "".join(
        f"<mark>{html.escape(piece)}</mark>" if index % 2 else html.escape(piece)
        for index, piece in enumerate(pieces)
    )


def latent_list(
    run_dir: str | Path, base: str, finetunes: Sequence[str], max_contexts: int = 3
) -> list[dict]:
    """Annotated latents of each fine-tune with their Δnorm/ν (``latents/``) and top contexts (``examples.sqlite``).

    Each item: ``model, latent_id, label, description, category, category_name, class_name, confidence,
    detection_score, delta_norm, nu_eps, nu_r, contexts`` (marked texts, ``<<tok>>`` = activating token).
    """
    run_dir = Path(run_dir)
    items = []
    for finetune in finetunes:
        pair = pair_name(base, finetune)
        path = run_dir / "annotations" / f"{pair}.parquet"
        if not path.is_file():
            continue
        annotations = pd.read_parquet(path)
        latents_path = run_dir / "latents" / f"{pair}.parquet"
        latents = pd.read_parquet(latents_path) if latents_path.is_file() else pd.DataFrame()
        contexts = _top_contexts(run_dir / "examples.sqlite", pair, max_contexts)
        for latent_id, row in annotations.iterrows():
            stats = latents.loc[latent_id] if latent_id in latents.index else {}
            items.append(
                {
                    "model": finetune,
                    "latent_id": int(latent_id),
                    **{
                        key: _scalar(row.get(key))
                        for key in (
                            "label",
                            "description",
                            "category",
                            "category_name",
                            "class_name",
                            "confidence",
                            "detection_score",
                        )
                    },
                    **{
                        key: _scalar(stats.get(key)) if len(stats) else None
                        for key in ("delta_norm", "nu_eps", "nu_r")
                    },
                    "contexts": contexts.get(int(latent_id), []),
                }
            )
    return items


def _top_contexts(db_path: Path, pair: str, limit: int) -> dict[int, list[str]]:
    if not db_path.is_file():
        return {}
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT latent_id, marked_text FROM examples WHERE pair = ? AND kind = 'top' ORDER BY latent_id, rank",
            (pair,),
        ).fetchall()
    except sqlite3.DatabaseError:
        return {}
    finally:
        connection.close()
    contexts: dict[int, list[str]] = {}
    for latent_id, text in rows:
        bucket = contexts.setdefault(int(latent_id), [])
        if len(bucket) < limit and text is not None:
            bucket.append(str(text))
    return contexts


def _scalar(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def run_plots(run_dir: str | Path, base: str, finetunes: Sequence[str]) -> list[tuple[str, bytes]]:
    """The analyze stage's PNGs (``plots/<pair>_delta_norm.png``, ``_nu_scatter.png``) that exist."""
    found = []
    for finetune in finetunes:
        pair = pair_name(base, finetune)
        for suffix, what in (("delta_norm", "Δnorm histogram"), ("nu_scatter", "ν scatter")):
            path = Path(run_dir) / "plots" / f"{pair}_{suffix}.png"
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
#latent-filter{padding:.35rem;width:24rem;font-size:.95rem}
"""

_JS = """
(function(){
  var input=document.getElementById('latent-filter');
  var rows=Array.prototype.slice.call(document.querySelectorAll('#latent-table tbody tr'));
  var count=document.getElementById('latent-count');
  function apply(){
    var q=(input?input.value:'').toLowerCase().trim();var shown=0;
    rows.forEach(function(r){var ok=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.style.display=ok?'':'none';
      if(ok){shown++;}});
    if(count){count.textContent=shown+' of '+rows.length+' latents shown';}
  }
  if(input){
    input.addEventListener('input',apply);
    var m=/^#filter=(.*)$/.exec(window.location.hash);
    if(m){input.value=decodeURIComponent(m[1]);}
  }
  apply();
})();
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1, table_id: str = ""
) -> str:
    """An HTML table of display strings (all escaped); columns from ``numeric_from`` on are right-aligned."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
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
            cells.append(f"<td{attr}>{_esc(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{_esc(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_esc(title)}" src="data:image/png;base64,{data}"><figcaption class="note">{_esc(title)}</figcaption></figure>'


def section_html(section: Section) -> str:
    numeric_from = {"classes": 1, "categories": 3, "arena": 1, "joined": 1, "benchmarks": 2}.get(
        section.key, 1
    )
    notes = "".join(f'<p class="note">{_esc(note)}</p>' for note in section.notes)
    table = html_table(section.headers, section.rows, numeric_from) if section.rows else "<p>(none)</p>"
    return f'<section id="{_esc(section.key)}"><h2>{_esc(section.title)}</h2>{table}{notes}</section>'


def latent_list_html(items: Sequence[Mapping[str, Any]]) -> str:
    """The searchable latent list: one row per latent, contexts highlighted; filter box driven by the inline JS."""
    rows = []
    for item in items:
        category = " ".join(str(part) for part in (item.get("category"), item.get("category_name")) if part)
        contexts = "".join(f'<div class="ctx">{highlight(text)}</div>' for text in item.get("contexts") or [])
        rows.append(
            "<tr>"
            f'<td>{_esc(item["model"])}</td><td class="num">{_esc(item["latent_id"])}</td>'
            f'<td><b>{_esc(item.get("label"))}</b><div class="note">{_esc(item.get("description"))}</div></td>'
            f'<td>{_esc(category or "uncategorized")}<div class="note">{_esc(item.get("class_name"))}</div></td>'
            f'<td class="num">{_esc(_num(item.get("detection_score"), 2))}</td>'
            f'<td class="num">{_esc(_num(item.get("delta_norm"), 3))}</td>'
            f"<td>{contexts}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("model", "latent", "label", "category", "detection score", "Δnorm", "top contexts")
    )
    return (
        '<section id="latents"><h2>Model-specific latents</h2>'
        '<p><input id="latent-filter" type="search" placeholder="Filter latents (label, category, context…)"> '
        '<span id="latent-count" class="note"></span></p>'
        f'<table id="latent-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _num(value: Any, decimals: int) -> str:
    return DASH if value is None else f"{float(value):.{decimals}f}"


def html_page(title: str, body: str, script: str = _JS) -> str:
    """A self-contained page: inline CSS, one inline script allowed by hash (CSP), images only as data: URIs."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>{body}<script>{script}</script></body></html>\n"
    )


def render_html(
    card: Mapping[str, Any],
    run_dir: str | Path | None = None,
    latents: Sequence[Mapping[str, Any]] | None = None,
    images: Sequence[tuple[str, bytes]] | None = None,
) -> str:
    """The self-contained HTML report of a scorecard.

    Plots: class shift (diverging bars), Elo with/without style control, plus ``images`` (default: the run's
    Δnorm histograms and ν scatters). ``latents`` defaults to :func:`latent_list` of the run's two fine-tunes.
    """
    models = card["models"]
    finetunes = [models["a"], models["b"]]
    if run_dir is not None:
        latents = latent_list(run_dir, models["base"], finetunes) if latents is None else latents
        images = run_plots(run_dir, models["base"], finetunes) if images is None else images
    title = scorecard_title(card)
    sections = scorecard_sections(card)
    parts = [f"<h1>{_esc(title)}</h1>"]
    arena_text = (
        f"Arena columns: A = {models['arena_a']}, B = {models['arena_b']}."
        if models.get("arena_a")
        else "No Arena ratings."
    )
    parts.append(
        f'<p class="note">A = {_esc(models["a"])}, B = {_esc(models["b"])}, base = {_esc(models["base"])}. '
        f"{_esc(arena_text)} {_esc(card['provenance'].get('arena_note') or '')}</p>"
    )
    figures = [_img("Capability class shift (percentage points, B − A)", class_shift_png(card))]
    if card["arena"]:
        figures.append(_img("LMArena Elo delta, without and with style control", elo_png(card)))
    figures += [_img(caption, png) for caption, png in images or []]
    by_key = {section.key: section for section in sections}
    parts.append(section_html(by_key.pop("classes")))
    parts.append('<section id="plots"><h2>Plots</h2>' + "".join(figures) + "</section>")
    parts += [section_html(section) for section in by_key.values()]
    if latents:
        parts.append(latent_list_html(latents))
    parts.append(
        '<section id="provenance"><h2>Provenance</h2><pre class="ctx">'
        + _esc(json.dumps(card.get("provenance", {}), indent=2, ensure_ascii=False))
        + "</pre></section>"
    )
    return html_page(title, "".join(parts))


# --------------------------------------------------------------------------------------------------------------
# compare report (N fine-tunes)
# --------------------------------------------------------------------------------------------------------------


def compare_sections(report: Mapping[str, Any]) -> list[Section]:
    """Tables of a :func:`llmdiff_eval.scorecard.compare_from_run` report (share and rank per class and model)."""
    models = report["models"]
    sections = [
        Section(
            "classes",
            f"Capability classes: share of model-specific latents (rank), fine-tunes of {report['base']}",
            ["class", *models, "leader"],
            [
                [row["name"]]
                + [f"{fmt_share(row['shares'][m])} ({row['ranks'][m]})" for m in models]
                + [", ".join(row["leaders"]) or DASH]
                for row in report["classes"]
            ],
            [
                "Totals: "
                + ", ".join(f"{m} {report['totals'][m]}" for m in models)
                + " model-specific latents; rank 1 = largest share of that class.",
            ],
        )
    ]
    if report["arena"]:
        arena_names = report["arena_models"]
        headers = ["category"] + [f"{m} ({arena_names[m]})" for m in models if m in arena_names]
        sections.append(
            Section(
                "arena",
                "LMArena Elo (style control in parentheses)",
                headers,
                [
                    [_arena_name(row["category"])]
                    + [
                        f"{fmt_elo(row['ratings'].get(m))} ({fmt_elo(row['ratings_style'].get(m))})"
                        for m in models
                        if m in arena_names
                    ]
                    for row in report["arena"]
                ],
                [report["provenance"]["arena_note"]] if report["provenance"].get("arena_note") else [],
            )
        )
    if report["benchmarks"]:
        sections.append(benchmark_section(report["benchmarks"], None, None))
    return sections


def render_compare(report: Mapping[str, Any], fmt: str) -> str:
    """Render the due-diligence report as ``table``, ``md``, ``json`` or ``html``."""
    title = f"Due diligence: {', '.join(report['models'])} (fine-tunes of {report['base']})"
    if fmt == "json":
        return render_json(report)
    if fmt in ("table", "md"):
        return render_sections(compare_sections(report), fmt, title)
    if fmt == "html":
        body = f"<h1>{_esc(title)}</h1>" + "".join(section_html(s) for s in compare_sections(report))
        return html_page(title, body, script="")
    raise ValueError(f"unknown format {fmt!r} for compare; choose from table, md, json, html")
