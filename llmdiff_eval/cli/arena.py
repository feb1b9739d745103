"""``llmdiff-eval arena fetch / compare``: LMArena Elo per category, with and without style control.

Imports only click at module level; pandas / requests come with the arena package when a command runs (never
torch).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import click

FORMATS = click.Choice(["table", "json", "csv", "md"])


def _source_options(command: Any) -> Any:
    options = [
        click.option(
            "--date", help="Snapshot date YYYY-MM-DD: the newest snapshot on or before it. Default: newest."
        ),
        click.option(
            "--source",
            default="auto",
            show_default=True,
            help="auto (datasets-server, parquet, pickle, catalog, bundled in turn) or one or more of those names, "
            "comma-separated.",
        ),
        click.option(
            "--offline", is_flag=True, help="Use only the on-disk cache and the bundled paper snapshot."
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Cache directory (default: $LLMDIFF_CACHE_DIR/arena or ~/.cache/llmdiff-eval/arena).",
        ),
        click.option(
            "--timeout", type=float, default=30.0, show_default=True, help="Seconds per HTTP request."
        ),
        click.option("--format", "fmt", type=FORMATS, default="table", show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _fetch(models: list[str], categories: list[str] | None, options: dict[str, Any]):
    """Run fetch_arena, echoing fallback warnings and the provenance summary to stderr."""
    from llmdiff_eval.arena import fetch_arena

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = fetch_arena(
            models,
            date=options["date"],
            categories=categories,
            source=options["source"],
            offline=options["offline"],
            cache_dir=options["cache_dir"],
            timeout=options["timeout"],
        )
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    provenance = df.attrs.get("provenance", {})
    cached = " (from cache)" if any(a.get("cache") for a in provenance.get("attempts", [])) else ""
    click.echo(
        f"source: {provenance.get('source')}{cached}  snapshot: {provenance.get('snapshot_date')}  "
        f"revision: {provenance.get('revision') or '-'}\nurl: {provenance.get('url')}",
        err=True,
    )
    if provenance.get("note"):
        click.echo(f"note: {provenance['note']}", err=True)
    return df


def _split(value: str | None) -> list[str] | None:
    names = [part.strip() for part in (value or "").split(",") if part.strip()]
    return names or None


def _float_format(values: list[Any]) -> str:
    numbers = [v for v in values if isinstance(v, float) and v == v]
    return ".0f" if numbers and all(v.is_integer() for v in numbers) else ".1f"


def _render(rows: list[dict[str, Any]], headers: list[str], fmt: str, provenance: dict[str, Any]) -> str:
    from tabulate import tabulate

    if fmt == "json":
        return json.dumps({"provenance": provenance, "rows": rows}, indent=2, default=str) + "\n"
    if fmt == "csv":
        import pandas as pd

        return pd.DataFrame(rows, columns=headers).to_csv(index=False)
    table = [[row[h] for h in headers] for row in rows]
    floatfmt = _float_format([v for row in table for v in row])
    return (
        tabulate(table, headers=headers, tablefmt="github" if fmt == "md" else "simple", floatfmt=floatfmt)
        + "\n"
    )


@click.group(name="arena")
def arena() -> None:
    """LMArena ratings per category, with and without style control.

    \b
    Sources, in order: the datasets-server JSON API, the dataset's parquet files, the legacy leaderboard pickles,
    the arena-catalog JSON, then the paper's Table 3 (bundled). Base URLs: HF_ENDPOINT,
    LLMDIFF_DATASETS_SERVER_URL, LLMDIFF_GITHUB_RAW_URL, LLMDIFF_GITHUB_API_URL.
    """


@arena.command("fetch")
@click.option(
    "--models", required=True, help="Comma-separated model names or hub ids, e.g. google/gemma-2-9b-it."
)
@click.option("--categories", help="Comma-separated categories (overall, math, coding, ...). Default: all.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also save ratings.csv + provenance.json here.",
)
@_source_options
def fetch(models: str, categories: str | None, out: Path | None, fmt: str, **options: Any) -> None:
    """Ratings of MODELS per category, with (style_control=True) and without style control."""
    df = _fetch(_split(models) or [], _split(categories), options)
    if out is not None:
        from llmdiff_eval.arena.store import save_arena

        save_arena(df, out)
        click.echo(f"wrote {out}/ratings.csv and provenance.json", err=True)
    rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    click.echo(_render(rows, list(df.columns), fmt, df.attrs.get("provenance", {})), nl=False)


@arena.command("compare")
@click.argument("model_a")
@click.argument("model_b")
@click.option("--ratings", is_flag=True, help="Also show both models' ratings (the paper's Table 3 layout).")
@_source_options
def compare(model_a: str, model_b: str, ratings: bool, fmt: str, **options: Any) -> None:
    """Elo of MODEL_B minus MODEL_A per category: Δ, Δ with style control, Diff = Δ_style − Δ (paper Table 1)."""
    from llmdiff_eval.arena import compare_arena, display_name

    df = _fetch([model_a, model_b], None, options)
    table = compare_arena(df, model_a, model_b)
    rows = []
    for record in table.to_dict(orient="records"):
        row = {"Category": display_name(record["category"])}
        if ratings:
            row.update({"A": record["rating_a"], "B": record["rating_b"]})
        row["Δ"] = record["delta"]
        if ratings:
            row.update({"A (style)": record["rating_a_style"], "B (style)": record["rating_b_style"]})
        row.update({"Δ_style": record["delta_style"], "Diff": record["style_diff"]})
        rows.append(row)
    click.echo(f"A = {table.attrs['model_a']}, B = {table.attrs['model_b']}; Δ = B − A (Elo)", err=True)
    headers = list(rows[0]) if rows else ["Category", "Δ", "Δ_style", "Diff"]
    click.echo(_render(rows, headers, fmt, table.attrs.get("provenance", {})), nl=False)
