"""Scorecards and compare reports as tables: the sections, and their terminal / Markdown / JSON / CSV rendering.

Numbers are rounded here only, for display: shares and diffs to 2 decimals (percent / percentage points), changes
to 1 decimal (percent), Elo to integers unless fractional. Reference: docs/scorecard.md."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from llmdiff_eval.arena import display_name

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


def fmt_interval(interval: Sequence[float] | None, signed: bool = True, missing: str = DASH) -> str:
    """``[-60.1, -20.3]`` (1 decimal; signed, for differences in percentage points; unsigned, e.g. ``[5.1, 25.3]``,
    for shares), or ``missing``."""
    sign = "+" if signed else ""
    return missing if not interval else f"[{interval[0]:{sign}.1f}, {interval[1]:{sign}.1f}]"


def fmt_q(row: Mapping[str, Any], prefix: str = "") -> str:
    """The row's ``<prefix>q_value`` (3 significant digits), ``*`` when ``<prefix>significant``, or a dash."""
    q = row.get(f"{prefix}q_value")
    return DASH if q is None else f"{q:.3g}" + ("*" if row.get(f"{prefix}significant") else "")


def fmt_pair(a: float | None, b: float | None, decimals: int = 1) -> str:
    """Two values ``A/B`` (e.g. shares in percent), a dash for an unknown one, a single dash when neither is known."""
    if a is None and b is None:
        return DASH
    return f"{DASH if a is None else f'{a:.{decimals}f}'}/{DASH if b is None else f'{b:.{decimals}f}'}"


def fmt_detection(row: Mapping[str, Any]) -> str:
    """Mean detection scores of the row's latents, ``A/B`` (balanced accuracy; 0.5 = chance), or a dash."""
    return fmt_pair(row.get("mean_detection_a"), row.get("mean_detection_b"), decimals=2)


def fmt_range(interval: Sequence[float] | None) -> str:
    """A min–max range of percentage points (``-4.2…+9.1``), or a dash."""
    return DASH if not interval else f"{interval[0]:+.1f}…{interval[1]:+.1f}"


def ensemble_notes(card: Mapping[str, Any]) -> list[str]:
    """What the seed ensemble pooled and how stable its model-specific latents were (empty for one seed)."""
    ensemble = card.get("ensemble")
    if not ensemble:
        return []
    models = card["models"]
    lines = [
        f"Seed ensemble: {ensemble['n_seeds']} crosscoders per pair (seeds {ensemble.get('seeds') or '?'}); counts "
        "are summed over the seeds, the 95% CI and q use the mean counts per seed, seed range = min…max of the "
        "per-seed diff."
    ]
    for side in ("a", "b"):
        stability = (ensemble.get("stability") or {}).get(side)
        if stability and stability.get("reappear_any") is not None:
            lines.append(
                f"Stability, {models[side]}: {stability['reappear_selected'] * 100:.0f}% of its model-specific "
                f"latents reappear as model-specific in another seed ({stability['reappear_any'] * 100:.0f}% as "
                f"any latent), decoder cosine ≥ {stability['threshold']:g}."
            )
    return lines


def weighted_note(card: Mapping[str, Any]) -> list[str]:
    """What the weighted shares mean, and the fraction of each pair's difference the counted latents carry."""
    if all(row.get("weighted_share_a") is None for row in card["classes"]):
        return []
    provenance, models = card.get("provenance", {}), card["models"]
    covered = [
        f"{models[side]} {provenance[side]['diff_energy_covered'] * 100:.0f}%"
        for side in ("a", "b")
        if (provenance.get(side) or {}).get("diff_energy_covered") is not None
    ]
    return [
        "weighted % = share of the model-specific latents' difference energy Σ f²·‖d_ft − d_base‖², A/B"
        + (f"; these latents carry {', '.join(covered)} of their pair's total." if covered else ".")
    ]


def label_quality_note(card: Mapping[str, Any]) -> list[str]:
    """How many latents count as explained, when the scorecard gates counts on label quality."""
    margin = card.get("provenance", {}).get("explained_margin")
    totals, models = card["totals"], card["models"]
    if margin is None:
        known = totals.get("explained_a") is not None and totals.get("explained_b") is not None
        return [
            "detection = mean detection score of the row's latents, A/B (balanced accuracy; 0.5 = chance)."
            + (
                f" Explained (detection score > its random-label baseline): {models['a']} {totals['explained_a']} "
                f"of {totals['a']}, {models['b']} {totals['explained_b']} of {totals['b']} (counted either way; "
                "--explained-margin counts the others as unexplained)."
                if known
                else ""
            )
        ]
    return [
        f"Explained (detection score > random-label baseline + {margin:g}): {models['a']} "
        f"{totals['a'] - totals.get('unexplained_a', 0)} of {totals['a']}, {models['b']} "
        f"{totals['b'] - totals.get('unexplained_b', 0)} of {totals['b']}; the others count as unexplained."
    ]


def significance_notes(card: Mapping[str, Any]) -> list[str]:
    """The methods line and the count of significant rows (empty for a card made before they were computed)."""
    summary = card.get("significance")
    if not summary:
        return []
    return [
        f"95% CI of diff: Newcombe hybrid score interval; q: Fisher exact p-values (two-sided), Benjamini-Hochberg "
        f"adjusted over the rows of each table; * = q < {summary['alpha']:g}.",
        significance_line(card),
    ]


def significance_line(card: Mapping[str, Any]) -> str:
    """One line: how many class and category rows differ significantly."""
    summary = card["significance"]
    classes, categories = summary["classes"], summary["categories"]
    return (
        f"Significant differences (q < {summary['alpha']:g}): {classes['significant']} of {classes['rows']} classes, "
        f"{categories['significant']} of {categories['rows']} categories."
    )


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


def fmt_fraction(value: float | None) -> str:
    """A fraction (0..1) as a percentage, 1 decimal, or a dash."""
    return DASH if value is None else fmt_pct(100 * value)


def fmt_causal_cell(effect: Mapping[str, Any] | None) -> str:
    """``kl_removed`` of a compare row's causal entry as a percentage, ``*`` when beyond the controls, or a dash."""
    if not effect or effect.get("kl_removed") is None:
        return DASH
    return fmt_fraction(effect["kl_removed"]) + ("*" if effect.get("causal") else "")


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
    share_headers = [
        f"{a} n",
        f"{b} n",
        f"{a} %",
        f"{b} %",
        "diff (pp)",
        "95% CI (pp)",
        "q",
        "change",
        "weighted %",
        "detection",
    ]
    ensemble = bool(card.get("ensemble"))
    if ensemble:
        share_headers.insert(6, "seed range (pp)")

    def share_cells(row: Mapping[str, Any]) -> list[str]:
        cells = [
            str(row["count_a"]),
            str(row["count_b"]),
            fmt_share(row["share_a"]),
            fmt_share(row["share_b"]),
            fmt_diff(row["diff"]),
            fmt_interval(row.get("diff_ci")),
            fmt_q(row),
            fmt_change(row),
            fmt_pair(row.get("weighted_share_a"), row.get("weighted_share_b")),
            fmt_detection(row),
        ]
        if ensemble:
            cells.insert(6, fmt_range(row.get("diff_seed_range")))
        return cells

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
                *weighted_note(card),
                *ensemble_notes(card),
                *label_quality_note(card),
                *significance_notes(card),
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
    if card.get("causal"):
        sections.append(causal_section(card))
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
            interval = style.get("style_share_ci")
            notes.append(
                f"Style explains {fmt_pct(style['style_share_pct'])} of the overall Elo gain "
                + (f"(interval {fmt_pct(interval[0])} to {fmt_pct(interval[1])}) " if interval else "")
                + f"(Δ {fmt_elo(style['delta'], True)} → Δ_style {fmt_elo(style['delta_style'], True)})."
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
                        arena_display_name(row["category"]),
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
        "agree / disagree: the intervals of Arena Δ and of the latent diff both exclude 0 and point the same / "
        "opposite way; inconclusive: either interval contains 0, or the Arena source published no intervals; "
        "missing: a value is unknown."
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
                    arena_display_name(row["arena_category"]),
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


def causal_rows(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The causal block's rows (all model-specific latents, then each class, then categories) with their
    fine-tune's name under ``model``."""
    causal, models = card.get("causal") or {}, card["models"]
    rows = []
    for key in ("a", "b"):
        together = (causal.get("model_specific") or {}).get(key)
        for row in [
            *([together] if together else []),
            *causal.get(key, []),
            *(causal.get("categories") or {}).get(key, []),
        ]:
            rows.append({"model": models[key], **row})
    return rows


def causal_section(card: Mapping[str, Any]) -> Section:
    """Causal effects of each fine-tune's model-specific latents per class (and large category)."""

    def flag(value: bool | None) -> str:
        return DASH if value is None else ("yes" if value else "no")

    table = [
        [
            row["model"],
            row.get("category") and f"{row['category']} {row['name']}" or row["class"],
            str(row["n_latents"]),
            fmt_fraction(row["kl_removed"]),
            fmt_fraction(row["control_p95"]),
            flag(row["causal"]),
            fmt_fraction(row["kl_closed"]),
            fmt_fraction(row.get("control_p95_closed")),
            flag(row.get("causal_closed")),
            fmt_fraction(row.get("kl_removed_firing")),
        ]
        for row in causal_rows(card)
    ]
    probes = [probe for probe in (card["causal"].get("probe") or {}).values() if probe]
    notes = [
        "KL removed = 1 − KL(P_ft,ablated ‖ P_base) / KL(P_ft ‖ P_base): the share of the fine-tune's divergence from "
        "the base that ablating the latents at layer L takes away (100% = all of it); KL closed: the same gap closed "
        "by adding them to the base. Firing: on the tokens where the set fires.",
        "causal = above the 95th percentile of matched random latent sets (controls p95; sets of the same size and "
        "firing mass from outside the model-specific latents).",
    ]
    if probes:
        notes.append(
            f"Probe: {probes[0]['n_tokens']} held-out tokens ({probes[0]['source']}), layer {probes[0]['layer']}; "
            + ", ".join(
                f"KL {card['models'][key]} {probe['kl']:.4f} nats/token"
                for key, probe in (card["causal"].get("probe") or {}).items()
                if probe
            )
            + "."
        )
    return Section(
        "causal",
        "Causal effect of the model-specific latents (ablate in the fine-tune / add to the base)",
        [
            "fine-tune",
            "latents",
            "n",
            "KL removed",
            "controls p95",
            "causal",
            "KL closed",
            "controls p95",
            "causal",
            "KL removed (firing)",
        ],
        table,
        notes,
    )


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


def arena_display_name(category: str) -> str:

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
    records += [{"section": "causal", **row} for row in causal_rows(card)]
    columns = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: csv_cell(record.get(key)) for key in columns})
    return buffer.getvalue()


def csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value
