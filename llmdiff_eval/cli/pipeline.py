"""``llmdiff-eval run / harvest / train / analyze``: run pipeline stages from a run config YAML."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from llmdiff_eval.cli.common import fail_cleanly


def _apply_overrides(data: dict[str, Any], overrides: tuple[str, ...], device: str | None) -> dict[str, Any]:
    for override in overrides:
        if "=" not in override:
            raise click.BadParameter(
                f"expected KEY=VALUE (e.g. harvest.layer=12), got {override!r}", param_hint="--set"
            )
        dotted, raw_value = override.split("=", 1)
        target = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise click.BadParameter(f"{dotted}: {part} is not a section", param_hint="--set")
        target[leaf] = yaml.safe_load(raw_value)
    if device:
        for section in ("harvest", "crosscoder", "analyze"):
            data.setdefault(section, {})["device"] = device
    return data


def _load(config_path: str, overrides: tuple[str, ...], device: str | None):
    from llmdiff_eval.config import RunConfig, from_dict

    data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    data = _apply_overrides(data, overrides, device)
    return from_dict(RunConfig, data, where=Path(config_path).name)


def _torchrun_lines(argv: list[str]) -> str:
    """The torchrun commands that run ``llmdiff-eval <argv>`` as several processes (see llmdiff_eval/distributed.py)."""
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


def _stage_command(stages: tuple[str, ...], name: str, summary: str) -> click.Command:
    @click.command(name=name, help=summary)
    @click.argument("config", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--run-dir",
        type=click.Path(file_okay=False),
        help="Run directory (default: runs/<name from the config>). Finished stages in it are skipped.",
    )
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set harvest.layer=12 (repeatable).",
    )
    @click.option("--device", help="Device for every stage (cpu, cuda, cuda:1, mps); overrides the config.")
    @click.option("--force", is_flag=True, help="Redo the stages even if they finished with the same config.")
    @click.option(
        "--distributed",
        is_flag=True,
        help="Print the torchrun commands that run this on several GPUs or machines, and exit.",
    )
    @fail_cleanly
    def command(
        config: str,
        run_dir: str | None,
        overrides: tuple[str, ...],
        device: str | None,
        force: bool,
        distributed: bool,
    ) -> None:
        if distributed:
            argv = [name, config, *(["--run-dir", run_dir] if run_dir else [])]
            argv += [f"--set={override}" for override in overrides] + (["--device", device] if device else [])
            click.echo(_torchrun_lines(argv + (["--force"] if force else [])))
            return
        from llmdiff_eval.pipeline import run_pipeline

        run_config = _load(config, overrides, device)
        directory = Path(run_dir) if run_dir else Path("runs") / run_config.name
        log = lambda m: click.echo(m, err=True)  # noqa: E731
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one process of a torchrun job
            from llmdiff_eval.distributed import run_pipeline_distributed

            results = run_pipeline_distributed(run_config, directory, stages, force=force, log=log)
            if results is None:  # not rank 0: rank 0 reports
                return
        else:
            results = run_pipeline(run_config, directory, stages=stages, force=force, log=log)
        ran = sum(result.status != "skipped" for result in results)
        click.echo(f"{directory}: {ran} unit(s) ran, {len(results) - ran} already done.")

    return command


run = _stage_command(
    ("harvest", "train", "analyze", "annotate", "scorecard"),
    "run",
    """Run every stage of CONFIG (YAML) in one run directory.

    Stages: harvest → train → analyze → annotate → scorecard. A stage whose output exists and whose config (and
    inputs) did not change is skipped; an interrupted run resumes where it stopped. See llmdiff_eval/config.py for
    the YAML format.

    \b
    Examples:
      llmdiff-eval run configs/gemma.yaml --device cuda
      llmdiff-eval run configs/gemma.yaml --set crosscoder.preset=cpu-small --set harvest.max_tokens=200000
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
