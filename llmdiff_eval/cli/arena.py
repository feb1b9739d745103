"""``llmdiff-eval arena fetch / compare / fit``: LMArena Elo per category, with and without style control —
published ratings, or ratings fitted from the public battle data.

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
    fetch / compare read the published ratings. Sources, in order: the datasets-server JSON API, the dataset's
    parquet files, the legacy leaderboard pickles, the arena-catalog JSON, then the paper's Table 3 (bundled).
    Base URLs: HF_ENDPOINT, LLMDIFF_DATASETS_SERVER_URL, LLMDIFF_GITHUB_RAW_URL, LLMDIFF_GITHUB_API_URL.
    fit recomputes the ratings from battles, for any slice, with bootstrap intervals.
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


def _anchor(value: str) -> tuple[str, float] | None:
    if value.strip().lower() == "none":
        return None
    model, _, rating = value.rpartition("=")
    try:
        return model.strip(), float(rating)
    except ValueError:
        raise click.BadParameter(
            f"expected MODEL=ELO or none, got {value!r}", param_hint="--anchor"
        ) from None


@arena.command("fit")
@click.argument("battles")
@click.option(
    "--models",
    help="Comma-separated models whose ratings and pairwise deltas to report (every model is fitted). "
    "Default: all, by rating.",
)
@click.option(
    "--category",
    "categories",
    metavar="NAMES",
    help="Comma-separated public categories (overall, coding, math, hard_prompts, instruction_following, "
    "creative_writing, multi_turn, longer_query, english, german, ...) or 'all' (those the data can compute). "
    "Default: overall, or only the --where category.",
)
@click.option(
    "--where",
    metavar="EXPR",
    help="One more category: a pandas expression over the battle columns, e.g. \"language == 'German' and "
    'is_code" (columns: model_a, model_b, winner, language, turn, date, is_code, is_refusal, hard_prompts, '
    "math, instruction_following, creative_writing, multi_turn, longer_query, hardness, user_tokens, "
    "length_a, length_b, ...).",
)
@click.option("--name", help="Name of the --where category in the output. Default: the expression.")
@click.option("--since", metavar="DATE", help="Only battles on or after this UTC date (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Only battles on or before this UTC date (YYYY-MM-DD).")
@click.option("--exclude-refusals", is_flag=True, help="Leave out battles flagged is_refusal.")
@click.option(
    "--all-votes", is_flag=True, help="Also count non-anonymous battles (the public board does not)."
)
@click.option(
    "--style-control",
    is_flag=True,
    help="Also fit the style-controlled model (rows with style_control=True) and report its style coefficients.",
)
@click.option(
    "--bootstrap",
    "rounds",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Bootstrap rounds over battles for the intervals (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Processes for the bootstrap. Default: every core."
)
@click.option(
    "--anchor",
    default="mixtral-8x7b-instruct-v0.1=1114",
    show_default=True,
    help="MODEL=ELO pins that model's rating when it has battles (the public board's anchor); 'none': the "
    "mean rating is 1000. Differences do not depend on it.",
)
@click.option(
    "--ridge",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="λ of the ridge penalty (FastChat's reg); keeps ratings finite for a model that never lost or won.",
)
@click.option("--split", default="train", show_default=True, help="Split of a Hugging Face dataset id.")
@click.option("--revision", help="Revision of a Hugging Face dataset id. Default: main.")
@click.option(
    "--strict", is_flag=True, help="Fail on malformed rows instead of leaving them out and reporting them."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the ratings CSV here, and <stem>.pairwise.csv and <stem>.provenance.json beside it.",
)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def fit(
    battles: str,
    models: str | None,
    categories: str | None,
    where: str | None,
    name: str | None,
    since: str | None,
    until: str | None,
    exclude_refusals: bool,
    all_votes: bool,
    style_control: bool,
    rounds: int,
    seed: int,
    workers: int | None,
    anchor: str,
    ridge: float,
    split: str,
    revision: str | None,
    strict: bool,
    out: Path | None,
    fmt: str,
) -> None:
    """Fit LMArena ratings from BATTLES: Bradley–Terry on the Elo scale, as the public board does.

    BATTLES is a battle file (.parquet, .jsonl, .json, .csv) in the schema of the LMArena releases
    lmarena-ai/arena-human-preference-100k and -140k (or the 55k CSV), a directory of them, or a Hugging Face
    dataset id (streamed). Malformed rows are left out and reported. Prints (and with --out writes) the columns
    of `arena fetch` (model, category, style_control, rating, ci_lower, ci_upper, votes, date, source) plus the
    style coefficients in Elo per standard deviation of each style feature, so the scorecard takes either table.
    Intervals are 95 % bootstrap percentile intervals; the pairwise deltas and their intervals go to
    <stem>.pairwise.csv. Method: docs/arena.md, "Ratings from battles".

    \b
    Example:
      llmdiff-eval arena fit data/arena-140k/ --category overall,coding \\
          --where "language == 'German' and is_code" --name german_coding \\
          --style-control --models gemma-2-9b-it,gemma-2-9b-it-simpo --out ratings.csv
    """
    from llmdiff_eval.arena import BattleFilter, fit_arena, style_coefficient_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = fit_arena(
            battles,
            models=_split(models),
            categories=categories,
            where=where,
            name=name,
            battle_filter=BattleFilter(since, until, exclude_refusals, anonymous_only=not all_votes),
            style_control=style_control,
            bootstrap_rounds=rounds,
            seed=seed,
            workers=workers,
            anchor=_anchor(anchor),
            ridge=ridge,
            split=split,
            revision=revision,
            strict=strict,
        )
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    provenance = df.attrs["provenance"]
    read = provenance["battles"]
    fitted = ", ".join(
        f"{label} ({info['battles']} battles, {info['models']} models)"
        for label, info in provenance["categories"].items()
    )
    click.echo(
        f"battles: {read['source']} ({read['rows_read']} rows, {read['battles']} usable, newest "
        f"{provenance['snapshot_date'] or 'unknown'}); left out by the filters: "
        f"{provenance['excluded_by_filter'] or 'none'}\nfitted: {fitted}; bootstrap {rounds} rounds, seed {seed}",
        err=True,
    )
    if out is not None:
        from llmdiff_eval.arena import save_ratings

        written = save_ratings(df, out)
        click.echo("wrote " + ", ".join(str(path) for path in written), err=True)
    shown = ["model", "category", "style_control", "rating", "ci_lower", "ci_upper", "votes"]
    columns = list(df.columns) if fmt in ("json", "csv") else shown
    rows = df[columns].astype(object).where(df[columns].notna(), None).to_dict(orient="records")
    click.echo(_render(rows, columns, fmt, provenance), nl=False)
    if style_control and fmt in ("table", "md"):
        coefficients = style_coefficient_table(df)
        records = coefficients.astype(object).where(coefficients.notna(), None).to_dict(orient="records")
        click.echo("\nstyle coefficients (Elo per standard deviation of the feature):")
        click.echo(_render(records, list(coefficients.columns), fmt, provenance), nl=False)
