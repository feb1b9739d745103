"""``llmdiff-eval run / harvest / train / analyze``: run pipeline stages from a run config YAML or a run directory."""

from __future__ import annotations

import os
import shlex

import click


def _torchrun_lines(argv: list[str]) -> str:
    """The torchrun commands that run ``llmdiff-eval <argv>`` as several processes (docs/scaling.md)."""
    args = shlex.join(argv)
    return "\n".join(
        [
            "# one machine, one process per GPU (harvest and train use all of them; other stages run on rank 0):",
            f"torchrun --nproc_per_node gpu -m llmdiff_eval {args}",
            "# several machines: run this on each, HOST:PORT being an address of one of them that all can reach",
            "# (the output directory must be on a file system that every machine sees):",
            f"torchrun --nnodes N --nproc_per_node gpu --rdzv_backend c10d --rdzv_endpoint HOST:29500 "
            f"--rdzv_id RUN_NAME -m llmdiff_eval {args}",
            "# add --max_restarts 3 to restart all processes after a failure: harvest and training resume.",
        ]
    )


def parse_seeds(text: str) -> list[int]:
    """``"0, 1,2"`` -> ``[0, 1, 2]``; a ``click.BadParameter`` naming the problem otherwise."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.lstrip("-").isdigit() for part in parts):
        raise click.BadParameter(
            f"expected comma-separated integers such as 0,1,2; got {text!r}", param_hint="--seeds"
        )
    return [int(part) for part in parts]


def _stage_command(
    stages: tuple[str, ...], name: str, summary: str, implied: tuple[str, ...] = ()
) -> click.Command:
    """A command running ``stages``; ``implied`` are ``--set`` overrides it always applies first."""

    @click.command(name=name, help=summary)
    @click.argument("target", metavar="CONFIG|RUN_DIR", type=click.Path(exists=True))
    @click.option(
        "--run-dir",
        type=click.Path(file_okay=False),
        help="Run directory (default: RUN_DIR, or runs/<name from the config>). Finished stages in it are skipped.",
    )
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set harvest.layer=12 (repeatable).",
    )
    @click.option("--device", help="Device for every stage (cpu, cuda, cuda:1, mps); overrides the config.")
    @click.option(
        "--seeds",
        metavar="S1,S2,...",
        help="A crosscoder seed ensemble, e.g. --seeds 0,1,2: one crosscoder per seed per pair on the same harvest, "
        "pooled by the scorecard (same as --set crosscoder.seeds=[0,1,2]).",
    )
    @click.option("--force", is_flag=True, help="Redo the stages even if they finished with the same config.")
    @click.option(
        "--distributed",
        is_flag=True,
        help="Print the torchrun commands that run this on several GPUs or machines, and exit.",
    )
    def command(
        target: str,
        run_dir: str | None,
        overrides: tuple[str, ...],
        device: str | None,
        seeds: str | None,
        force: bool,
        distributed: bool,
    ) -> None:
        if seeds:
            overrides = (*overrides, f"crosscoder.seeds={parse_seeds(seeds)}")
        if distributed:
            argv = [name, target, *(["--run-dir", run_dir] if run_dir else [])]
            argv += [f"--set={override}" for override in overrides] + (["--device", device] if device else [])
            click.echo(_torchrun_lines(argv + (["--force"] if force else [])))
            return
        from llmdiff_eval.pipeline import load_run, run_pipeline

        run_config, directory = load_run(target, (*implied, *overrides), device, run_dir)
        log = lambda m: click.echo(m, err=True)  # noqa: E731
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one process of a torchrun job
            from llmdiff_eval.pipeline import run_pipeline_distributed

            results = run_pipeline_distributed(run_config, directory, stages, force=force, log=log)
            if results is None:  # not rank 0: rank 0 reports
                return
        else:
            results = run_pipeline(run_config, directory, stages=stages, force=force, log=log)
        ran = sum(result.status != "skipped" for result in results)
        click.echo(f"{directory}: {ran} unit(s) ran, {len(results) - ran} already done.")

    return command


run = _stage_command(
    ("harvest", "train", "analyze", "annotate", "causal", "scorecard"),
    "run",
    """Run every stage of CONFIG (YAML) in one run directory.

    Stages: harvest → train → analyze → annotate → causal (only with causal.enabled: true) → scorecard. A stage whose
    output exists and whose config (and inputs) did not change is skipped; an interrupted run resumes where it
    stopped. CONFIG is a run config YAML
    (reference: docs/config.md; examples in configs/); RUN_DIR reruns a run directory from its config.yaml.

    \b
    Examples:
      llmdiff-eval run configs/paper-gemma2-9b.yaml --device cuda
      llmdiff-eval run configs/small-local-pair.yaml --set harvest.max_tokens=20000
      llmdiff-eval run runs/demo --set analyze.delta_norm_z=4
    """,
)
harvest = _stage_command(
    ("harvest",),
    "harvest",
    """Cache residual-stream activations after layer L for the base and every fine-tune in CONFIG.

    The forward pass stops at layer L (no later layers, no LM head). All models must share one tokenizer.
    Output: <run-dir>/activations/<model>/ (bf16 shards, token ids, document ids, mean/std).
    """,
)
train = _stage_command(
    ("train",),
    "train",
    """Train one BatchTopK crosscoder (an SAE-Lens architecture) per base–fine-tune pair in CONFIG.

    Needs the harvest stage. Output: <run-dir>/crosscoders/<base>__<ft>/ (SAE-Lens format + training log).
    """,
)
analyze = _stage_command(
    ("analyze",),
    "analyze",
    """Per latent: Δnorm (1 = only in the fine-tune), decoder cosine, latent scaling ν^ε / ν^r, frequency, tag.

    Needs the train stage. Output: <run-dir>/latents/<pair>.parquet, examples.sqlite, plots/.
    """,
)
causal = _stage_command(
    ("causal", "scorecard"),
    "causal",
    """Ablate and steer each class's model-specific latents of every pair, against matched random latent sets.

    Per pair, class (and category with causal.min_category_latents latents): kl_removed = 1 − KL(P_ft,ablated ‖
    P_base) / KL(P_ft ‖ P_base) over held-out probe tokens (1 = the ablation removes the fine-tune's whole divergence
    from the base), kl_closed for the base steered with the same latents, the 95th percentile of causal.n_controls
    matched controls and a causal flag. Needs the annotate stage; runs whatever causal.enabled says. Output:
    <run-dir>/causal/<pair>.json; the scorecard is then rewritten with its causal block. Reference: docs/causal.md.
    """,
    implied=("causal.enabled=true",),
)
