"""``llmdiff-eval scorecard / card / compare / paper``: the scorecard, model card, due-diligence and paper reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

FORMAT = click.Choice(["table", "md", "json", "csv", "html"])

_lm_eval_option = click.option(
    "--lm-eval-results",
    "lm_eval_results",
    multiple=True,
    metavar="[NAME=]FILE",
    help="lm-eval results JSON to fold in as benchmark rows (repeatable). NAME=FILE says which run model the file "
    "belongs to; without NAME the label is the file's model (pretrained=...) or its file name.",
)
_offline_option = click.option(
    "--offline", is_flag=True, help="Arena: use only the run's cached records and the bundled paper snapshot."
)
_taxonomy_option = click.option(
    "--taxonomy", default="paper", show_default=True, help="Taxonomy name or YAML path."
)


def _emit(text: str, out: str | None) -> None:
    from llmdiff_eval.utils import atomic_write_text

    if out:
        atomic_write_text(out, text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


def _warn_arena(report: dict[str, Any]) -> None:
    error = report["provenance"].get("arena_error")
    if error:
        click.echo(f"warning: no Arena ratings ({error})", err=True)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--a", "model_a", help="Reference fine-tune (the paper's it). Default: scorecard.a or the first."
)
@click.option(
    "--b", "model_b", help="Challenger fine-tune (the paper's SimPO). Default: scorecard.b or the second."
)
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE instead of standard output.")
@click.option(
    "--arena-models",
    metavar="A,B",
    help="LMArena names whose ratings fill the Arena columns for A and B (default: scorecard.arena_models).",
)
@click.option(
    "--arena-source", help="fetch_arena source (e.g. bundled, auto). Default: scorecard.arena_source."
)
@click.option("--arena-note", help="Note printed beside the Arena columns (e.g. 'placeholder models').")
@_offline_option
@_lm_eval_option
@_taxonomy_option
@click.option(
    "--arena-map", default="arena_map", show_default=True, help="Arena→taxonomy map name or YAML path."
)
@click.option(
    "--explained-margin",
    type=float,
    default=None,
    help="Count a latent as unexplained (not in its category) unless its detection score beats its random-label "
    "baseline by more than this (balanced-accuracy points). Default: scorecard.explained_margin, else off.",
)
def scorecard(
    run_dir: Path,
    model_a: str | None,
    model_b: str | None,
    fmt: str,
    out: str | None,
    arena_models: str | None,
    arena_source: str | None,
    arena_note: str | None,
    offline: bool,
    lm_eval_results: tuple[str, ...],
    taxonomy: str,
    arena_map: str,
    explained_margin: float | None,
) -> None:
    """Combined scorecard of two fine-tunes of one base: latent class/category shares, Arena Elo, benchmarks.

    Shares are percent of each model's model-specific latents; diff = B − A (percentage points). Formats: a
    terminal table, Markdown, JSON (numbers unrounded), CSV, or a self-contained HTML report.
    """
    from llmdiff_eval.render import render
    from llmdiff_eval.reports import run_scorecard

    card = run_scorecard(
        run_dir,
        model_a,
        model_b,
        arena_names=_split(arena_models),
        arena_source=arena_source,
        arena_note=arena_note,
        offline=offline,
        lm_eval_results=lm_eval_results,
        taxonomy=taxonomy,
        arena_map=arena_map,
        explained_margin=explained_margin,
    )
    _warn_arena(card)
    _emit(render(card, fmt, run_dir=run_dir), out)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "model", required=True, help="Run name of the fine-tune the card describes.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (default RUN_DIR/model_card.md).")
@click.option("--arena-model", help="The model's LMArena name (default: scorecard.arena_models[MODEL]).")
@click.option("--arena-source", help="fetch_arena source (e.g. bundled, auto).")
@click.option("--arena-note", help="Note printed with the Arena ratings.")
@click.option(
    "--arena-own/--arena-stand-in",
    default=None,
    help="The Arena ratings are MODEL's own (they enter the model-index) / belong to a stand-in (prose only). "
    "Default: own only if scorecard.arena_own lists MODEL.",
)
@click.option(
    "--push-to-hub",
    "repo_id",
    metavar="REPO",
    help="Also upload the card as README.md of this Hugging Face model repository, with your token (HF_TOKEN or "
    "`hf auth login`; never printed).",
)
@_offline_option
@_lm_eval_option
@_taxonomy_option
def card(
    run_dir: Path,
    model: str,
    out: str | None,
    arena_model: str | None,
    arena_source: str | None,
    arena_note: str | None,
    arena_own: bool | None,
    repo_id: str | None,
    offline: bool,
    lm_eval_results: tuple[str, ...],
    taxonomy: str,
) -> None:
    """Write a Hugging Face model card (model-index with mechdiff class shares, and Arena Elo when it is the model's
    own) for one fine-tune."""
    from llmdiff_eval.reports import run_model_card

    path, error = run_model_card(
        run_dir,
        model,
        out=out,
        arena_name=arena_model,
        arena_source=arena_source,
        arena_note=arena_note,
        offline=offline,
        lm_eval_results=lm_eval_results,
        taxonomy=taxonomy,
        arena_own=arena_own,
    )
    if error:
        click.echo(f"warning: no Arena ratings ({error})", err=True)
    click.echo(f"wrote {path}", err=True)
    if repo_id:
        from llmdiff_eval.export import push_model_card

        click.echo(f"pushed to {push_model_card(path, repo_id)}", err=True)


@click.command()
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--models",
    "models",
    metavar="A,B,...",
    help="Fine-tunes to compare (default: all of every run). With several run directories a model is "
    "RUN/MODEL (RUN = the directory's name), or just MODEL when only one run has it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "csv", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE instead of standard output.")
@click.option(
    "--latents",
    is_flag=True,
    help="Also match the models' model-specific latents by decoder direction (cosine >= 0.7): only for "
    "fine-tunes of one base; refused across bases.",
)
@click.option("--arena-models", metavar="A,B,...", help="LMArena names, in the order of --models.")
@click.option("--arena-source", help="fetch_arena source (e.g. bundled, auto).")
@click.option("--arena-note", help="Note printed beside the Arena columns.")
@_offline_option
@_lm_eval_option
@_taxonomy_option
def compare(
    run_dirs: tuple[Path, ...],
    models: str | None,
    fmt: str,
    out: str | None,
    latents: bool,
    arena_models: str | None,
    arena_source: str | None,
    arena_note: str | None,
    offline: bool,
    lm_eval_results: tuple[str, ...],
    taxonomy: str,
) -> None:
    """Due-diligence report for N ≥ 2 fine-tunes, from one or several run directories (bases may differ): each
    model's capability-class shares with 95% intervals and ranks, whether the leader's lead is significant, causal
    effects where measured, Arena and benchmark columns, and a one-line summary per model.

    \b
    Examples:
      llmdiff-eval compare runs/demo                       # every fine-tune of one run
      llmdiff-eval compare runs/vendor-x runs/vendor-y     # fine-tunes of two bases, each vs its own
      llmdiff-eval compare runs/x runs/y --models x/ft,y/ft --format html --out dd.html
    """
    from llmdiff_eval.compare import run_compare
    from llmdiff_eval.render import render_compare

    report = run_compare(
        list(run_dirs),
        _split(models),
        arena_names=_split(arena_models),
        arena_source=arena_source,
        arena_note=arena_note,
        offline=offline,
        lm_eval_results=lm_eval_results,
        taxonomy=taxonomy,
        latents=latents,
    )
    _warn_arena(report)
    _emit(render_compare(report, fmt), out)


@click.command()
@click.option(
    "--compare", "comparison", type=click.Choice(["simpo", "dpo"]), default="simpo", show_default=True
)
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE instead of standard output.")
def paper(comparison: str, fmt: str, out: str | None) -> None:
    """Rebuild the paper's scorecard (gemma-2-9b-it vs SimPO or DPO) from its published tables.

    Counts are recovered from the printed percentages (it: 112 latents, SimPO: 89, DPO: 109), run through the same
    code as a real run, joined with the paper's Table 3 ratings, and every printed cell of Tables 1, 2, 4 and 5 is
    checked. Exit code 1 if a printed value is not reproduced (known errata in the paper are reported, not failed).
    """
    from llmdiff_eval.paper import check_summary, paper_scorecard, significance_verdict
    from llmdiff_eval.render import paper_check_section, render, render_sections

    card = paper_scorecard(comparison)
    text = render(card, fmt)
    matched, errata, failures = check_summary(card["paper_checks"])
    if fmt in ("table", "md"):
        text += "\n" + render_sections([paper_check_section(card["paper_checks"])], fmt)
    if fmt in ("table", "md"):
        text += "\n" + significance_verdict(card) + "\n"
    _emit(text, out)
    summary = f"paper check: {matched}/{len(card['paper_checks'])} printed values reproduced"
    if errata:
        summary += f", {errata} known erratum in the paper (see the check table)"
    click.echo(summary, err=True)
    if failures:
        for failure in failures:
            click.echo(
                f"  NOT reproduced: {failure['table']} {failure['row']} {failure['column']}: printed "
                f"{failure['printed']}, computed {failure['computed']}",
                err=True,
            )
        sys.exit(1)
