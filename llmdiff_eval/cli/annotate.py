"""``llmdiff-eval annotate RUN_DIR``: name and categorize the model-specific latents of a run directory."""

from __future__ import annotations

from pathlib import Path

import click


def _money(value: float) -> str:
    return f"${value:,.4f}"


@click.command(name="annotate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--pair", "pairs", multiple=True, help="Pair to annotate, e.g. base__it (repeatable; default: all)."
)
@click.option(
    "--annotator",
    type=click.Choice(["auto", "claude", "offline"]),
    default="auto",
    show_default=True,
    help="auto = Claude when ANTHROPIC_API_KEY is set, else the offline embedding annotator.",
)
@click.option("--model", default=None, help="Claude model id (default: the library default).")
@click.option(
    "--base-url", default=None, help="Messages API endpoint (default: ANTHROPIC_BASE_URL or Anthropic)."
)
@click.option(
    "--batch", is_flag=True, help="Use the Message Batches API: half price, results in minutes to hours."
)
@click.option(
    "--max-cost",
    type=float,
    default=None,
    help="Hard limit in US$ per pair (as annotate.max_cost in a run config).",
)
@click.option("--max-concurrency", type=int, default=None, help="Parallel requests (default 8).")
@click.option(
    "--taxonomy", default=None, help="Shipped taxonomy name or a taxonomy YAML path (default: paper)."
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds to wait for one API reply before retrying [default: 120].",
)
@click.option("--max-retries", type=int, default=None, help="Retries of a failed API request [default: 4].")
@click.option("--tag", "tags", multiple=True, help="Latent tags to annotate (repeatable; default: ft_only).")
@click.option("--no-score", is_flag=True, help="Skip detection scoring.")
def annotate(
    run_dir: Path,
    pairs: tuple[str, ...],
    annotator: str,
    model: str | None,
    base_url: str | None,
    batch: bool,
    max_cost: float | None,
    max_concurrency: int | None,
    taxonomy: str | None,
    timeout: float | None,
    max_retries: int | None,
    tags: tuple[str, ...],
    no_score: bool,
) -> None:
    """Name, describe, categorize and score the model-specific latents in RUN_DIR.

    Prints a cost estimate first and never spends beyond --max-cost. Results go to
    RUN_DIR/annotations/<pair>.parquet; everything is cached in RUN_DIR/annotations.sqlite, so a rerun only pays
    for latents whose examples, model, prompt or taxonomy changed.
    """
    from tabulate import tabulate

    from llmdiff_eval.annotate import AnnotateConfig, annotate_pair, make_annotator, plan_pair
    from llmdiff_eval.annotate.core import check_estimates, resolve_annotator_kind, run_pairs

    overrides = {
        "annotator": annotator,
        "model": model,
        "base_url": base_url,
        "batch": batch,
        "max_cost": max_cost,
        "max_concurrency": max_concurrency,
        "timeout": timeout,
        "max_retries": max_retries,
        "taxonomy": taxonomy,
        "tags": tuple(tags) or None,
        "score": not no_score,
    }
    cfg = AnnotateConfig(**{key: value for key, value in overrides.items() if value is not None})
    kind = resolve_annotator_kind(cfg.annotator)
    chosen = make_annotator(cfg)
    selected = run_pairs(run_dir, pairs)

    plans = {pair: plan_pair(cfg, run_dir, pair, chosen) for pair in selected}
    estimate = sum(plan.estimate.cost_usd for plan in plans.values())
    click.echo(
        f"annotator: {chosen.name} ({chosen.model_id}, {chosen.prompt_version})"
        + (", batch" if cfg.batch else "")
    )
    rows = [
        [pair, plan.n_latents, len(plan.cached), plan.n_to_annotate, plan.estimate.requests,
         plan.estimate.input_tokens, plan.estimate.output_tokens, _money(plan.estimate.cost_usd)]
        for pair, plan in plans.items()
    ]  # fmt: skip
    click.echo(
        tabulate(
            rows,
            headers=[
                "pair",
                "latents",
                "cached",
                "to annotate",
                "requests",
                "input tok",
                "output tok",
                "est. cost",
            ],
        )
    )
    if kind == "claude":
        click.echo(
            f"estimated cost {_money(estimate)} (tokens estimated from the prompt text at 3.5 characters per token, "
            "no prompt-cache discount assumed)"
        )
        check_estimates(plans, cfg.max_cost)

    summary = []
    spent_total = 0.0
    failures = 0
    for pair in selected:
        frame = annotate_pair(cfg, run_dir, pair, chosen, progress=True)
        usage = frame.attrs["usage"]
        spent_total += usage["this_run"]["cost_usd"]
        failures += usage["failed"]  # "no activating contexts" is not a failure
        run = usage["this_run"]
        summary.append(
            [pair, len(frame), usage["cache_hits"], usage["annotated_now"], usage["errors"],
             int(frame["category"].isna().sum()), run["requests"], run["input_tokens"], run["output_tokens"],
             run["cache_read_tokens"], run["cache_write_tokens"], _money(run["cost_usd"]),
             _money(usage["total"]["cost_usd"])]
        )  # fmt: skip
        for latent, error in frame["error"].dropna().items():
            click.echo(f"  {pair} latent {latent}: {error}", err=True)
    click.echo(
        tabulate(
            summary,
            headers=[
                "pair",
                "latents",
                "cache hits",
                "annotated",
                "errors",
                "uncategorized",
                "requests",
                "input tok",
                "output tok",
                "cache read",
                "cache write",
                "spent now",
                "recorded cost",
            ],
        )  # fmt: skip
    )
    click.echo(f"spent {_money(spent_total)}; annotations in {run_dir / 'annotations'}")
    if failures:
        raise click.ClickException(
            f"{failures} latent(s) failed (listed above), so the table of each pair with failures was not written "
            "(a previous one is kept); rerun to retry only them, finished ones come from the cache"
        )
