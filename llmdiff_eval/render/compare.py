"""The due-diligence comparison (:func:`llmdiff_eval.compare.compare_from_runs`) as sections and long-form CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from llmdiff_eval.render.text import (
    DASH,
    Section,
    arena_display_name,
    benchmark_section,
    csv_cell,
    fmt_causal_cell,
    fmt_elo,
    fmt_fraction,
    fmt_interval,
    fmt_q,
    fmt_share,
)


def compare_title(report: Mapping[str, Any]) -> str:
    """``Due diligence: a, b (fine-tunes of base)``, or ``... (fine-tunes of N bases)`` across bases."""
    sources = {run["base_source"] for run in report["runs"].values()}
    bases = report["base"] if report["same_base"] else f"{len(sources)} bases"
    return f"Due diligence: {', '.join(report['models'])} (fine-tunes of {bases})"


def compare_sections(report: Mapping[str, Any]) -> list[Section]:
    """Tables of a :func:`llmdiff_eval.reports.compare_from_runs` report: a summary per model, then share and rank
    per class and model, causal effects, latent matching, Arena and benchmarks."""
    models = report["models"]

    def share_cell(row: Mapping[str, Any], model: str) -> str:
        interval = fmt_interval((row.get("share_ci") or {}).get(model), signed=False, missing="")
        return f"{fmt_share(row['shares'][model])} {interval} ({row['ranks'][model]})"

    summary = Section(
        "summary",
        "Summary",
        ["model", "base", "distinctive shifts"],
        [
            [m, f"{report['bases'][m]} ({report['runs'][m]['base_source']})", report["summary"][m]]
            for m in models
        ],
        [report["comparability"]],
    )
    sections = [
        summary,
        Section(
            "classes",
            "Capability classes: share of each model's own model-specific latents (rank)",
            ["class", *models, "leader", "lead q"],
            [
                [row["name"]]
                + [share_cell(row, m) for m in models]
                + [", ".join(row["leaders"]) or DASH, fmt_q(row, "lead_")]
                for row in report["classes"]
            ],
            [
                "Totals: "
                + ", ".join(f"{m} {report['totals'][m]}" for m in models)
                + " model-specific latents; rank 1 = largest share of that class.",
                "Share [95% Wilson interval] (rank); lead q: Fisher exact test of the top share against the second, "
                "Benjamini-Hochberg adjusted over the classes; * = q < 0.05.",
            ],
        ),
    ]
    measured = [m for m in models if any(m in row["causal"] for row in report["classes"])]
    if measured:
        sections.append(
            Section(
                "causal",
                "Causal effect: share of each model's divergence from its own base removed by ablating the class",
                ["class", *measured],
                [
                    [row["name"]] + [fmt_causal_cell(row["causal"].get(m)) for m in measured]
                    for row in report["classes"]
                    if row["causal"]
                ],
                [
                    "kl_removed as a percentage; * = beyond the 95th percentile of matched random latent sets "
                    "(docs/causal.md). A dash: not measured for that model."
                ],
            )
        )
    if report.get("shared_directions"):
        shared = report["shared_directions"]
        fractions = {(pair["from"], pair["to"]): pair["fraction"] for pair in shared["pairs"]}
        sections.append(
            Section(
                "shared",
                "Shared directions: fraction of the row model's model-specific latents with a counterpart in the "
                "column model's",
                ["model", *models],
                [[x] + [DASH if x == y else fmt_fraction(fractions[x, y]) for y in models] for x in models],
                [
                    f"Counterpart: decoder directions (base and fine-tune decoders, concatenated) with cosine >= "
                    f"{shared['threshold']}. Same base only."
                ],
            )
        )
    if report["arena"]:
        arena_names = report["arena_models"]
        headers = ["category"] + [f"{m} ({arena_names[m]})" for m in models if m in arena_names]
        sections.append(
            Section(
                "arena",
                "LMArena Elo (style control in parentheses)",
                headers,
                [
                    [arena_display_name(row["category"])]
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


def render_compare_csv(report: Mapping[str, Any]) -> str:
    """The compare report in long form, one row per (class or category, model): ``section, name, code, model, base,
    count, total, share, share_low, share_high, rank, leader, lead_q_value, lead_significant, kl_removed, causal``
    (shares in percent, unrounded; ``leader`` true when the model is ranked first with a non-zero share)."""
    buffer = io.StringIO()
    columns = [
        "section", "name", "code", "model", "base", "count", "total", "share", "share_low", "share_high", "rank",
        "leader", "lead_q_value", "lead_significant", "kl_removed", "causal",
    ]  # fmt: skip
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for section in ("classes", "categories"):
        for row in report[section]:
            for model in report["models"]:
                interval = (row.get("share_ci") or {}).get(model) or [None, None]
                effect = (row.get("causal") or {}).get(model) or {}
                record = {
                    "section": section,
                    "name": row["name"],
                    "code": row.get("code"),
                    "model": model,
                    "base": report["bases"][model],
                    "count": row["counts"][model],
                    "total": report["totals"][model],
                    "share": row["shares"][model],
                    "share_low": interval[0],
                    "share_high": interval[1],
                    "rank": row["ranks"][model],
                    "leader": model in row["leaders"],
                    "lead_q_value": row.get("lead_q_value"),
                    "lead_significant": row.get("lead_significant"),
                    "kl_removed": effect.get("kl_removed"),
                    "causal": effect.get("causal"),
                }
                writer.writerow({key: csv_cell(value) for key, value in record.items()})
    return buffer.getvalue()
