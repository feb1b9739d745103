"""``llmdiff-eval steer``: generate with a latent set ablated in a fine-tune or added to the base."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--ft", "ft", required=True, help="The fine-tune of the run whose pair (base, FT) to intervene on."
)
@click.option(
    "--ablate", "ablate", metavar="SELECTOR", help="Remove these latents' contribution from the fine-tune."
)
@click.option("--add", "add", metavar="SELECTOR", help="Add these latents' contribution to the base.")
@click.option(
    "--prompts",
    "prompts_file",
    required=True,
    type=click.Path(dir_okay=False),
    help='JSONL file, one {"prompt": "..."} per line (rendered with the chat template as one user turn).',
)
@click.option(
    "--control",
    type=click.Choice(["random"]),
    help="Also generate with a random latent set matched in size and firing mass (output_control).",
)
@click.option("--max-new-tokens", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--device", help="Device (cpu, cuda, mps); default: the run config's causal.device.")
@click.option("--seed", default=0, show_default=True, help="Seed of the --control draw.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output JSONL file.")
def steer(
    run_dir: str,
    ft: str,
    ablate: str | None,
    add: str | None,
    prompts_file: str,
    control: str | None,
    max_new_tokens: int,
    device: str | None,
    seed: int,
    out: str,
) -> None:
    """Generate greedily with an intervention at layer L of the pair (base, FT) of RUN_DIR.

    --ablate SELECTOR runs the fine-tune with h_ft − Σ_{j∈S} f_j (d_j^ft − d_j^base) after block L; --add SELECTOR
    runs the base with h_base + the same sum. f comes from the crosscoder on the paired states: the other model runs
    in lockstep up to layer L. The intervention acts at every position of the prompt and of each generated token.

    \b
    SELECTOR: a class name ("Safety & Content Moderation"), a category code (A.1), model-specific (all the
    fine-tune's model-specific latents), or latent ids (12,407).
    Each output line: prompt, output (with the intervention), output_reference (the same model without it) and,
    with --control random, output_control. Reference: docs/causal.md.

    \b
    Example:
      llmdiff-eval steer runs/demo --ft a --ablate "Safety & Content Moderation" --prompts harmful.jsonl \\
        --control random --max-new-tokens 16 --out ablated.jsonl
    """
    if (ablate is None) == (add is None):
        raise click.UsageError("give exactly one of --ablate SELECTOR or --add SELECTOR")
    from llmdiff_eval.causal.steer import steer_run

    records = steer_run(
        run_dir,
        ft,
        ablate if ablate is not None else add,
        prompts_file,
        out,
        mode="ablate" if ablate is not None else "add",
        control=control,
        max_new_tokens=max_new_tokens,
        device=device,
        seed=seed,
    )
    click.echo(f"{out}: {len(records)} prompt(s)")
