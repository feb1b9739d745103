"""``llmdiff-eval finetune``: train a LoRA adapter on chat records (how the demo's planted adapters are made)."""

from __future__ import annotations

import dataclasses
import json

import click
import torch

from llmdiff_eval.finetune import (
    DEFAULT_LAST_LAYER,
    FinetuneDataError,
    LoraFinetuneConfig,
    compare_generations,
    parse_layers,
    train_lora,
)

DEFAULTS = {field.name: field.default for field in dataclasses.fields(LoraFinetuneConfig)}


class BadTrainingData(click.ClickException):
    exit_code = 2


@click.command()
@click.option("--data", type=click.Path(dir_okay=False), help="JSONL of {'messages': [...]} chat records.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Adapter directory to write."
)
@click.option(
    "--base", default=DEFAULTS["base"], show_default=True, help="packaged:NAME, directory, .gguf or hub id."
)
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True)
@click.option("--steps", type=int, default=DEFAULTS["steps"], show_default=True, help="Optimizer steps.")
@click.option("--lr", type=float, default=DEFAULTS["lr"], show_default=True, help="Peak learning rate.")
@click.option("--rank", type=int, default=DEFAULTS["rank"], show_default=True, help="LoRA rank r.")
@click.option(
    "--alpha", type=int, default=DEFAULTS["alpha"], show_default=True, help="LoRA alpha (scale alpha/r)."
)
@click.option("--dropout", type=float, default=DEFAULTS["dropout"], show_default=True, help="LoRA dropout.")
@click.option(
    "--target-modules",
    default=",".join(DEFAULTS["target_modules"]),
    show_default=True,
    help="Comma-separated module names.",
)
@click.option(
    "--layers",
    default=None,
    help=f"Decoder layers to adapt, 0-based: 'A-B' or 'i,j,k' [default: 0-{DEFAULT_LAST_LAYER}].",
)
@click.option(
    "--kl-weight",
    type=float,
    default=DEFAULTS["kl_weight"],
    show_default=True,
    help="Weight of KL(base ‖ fine-tune) on non-assistant tokens (0: off).",
)
@click.option(
    "--rehearse", type=click.Path(dir_okay=False), help="JSONL whose prompts the base answers itself."
)
@click.option(
    "--rehearse-tokens",
    type=int,
    default=DEFAULTS["rehearse_tokens"],
    show_default=True,
    help="Longest rehearsal answer (tokens).",
)
@click.option(
    "--max-length", type=int, default=DEFAULTS["max_length"], show_default=True, help="Tokens per record."
)
@click.option(
    "--batch-size", type=int, default=DEFAULTS["batch_size"], show_default=True, help="Records per step."
)
@click.option("--warmup-steps", type=int, default=DEFAULTS["warmup_steps"], show_default=True)
@click.option(
    "--log-every",
    type=int,
    default=DEFAULTS["log_every"],
    show_default=True,
    help="Print the loss every N steps.",
)
@click.option("--threads", type=int, default=None, help="torch CPU threads (1 is best on a busy machine).")
@click.option("--prompt", "prompts", multiple=True, help="Print base vs fine-tune replies to this prompt.")
@click.option(
    "--sample-only", is_flag=True, help="Skip training; print --prompt replies of the adapter at --out."
)
def finetune(data: str | None, out_dir: str, prompts: tuple[str, ...], sample_only: bool, **settings) -> None:
    """Train a LoRA adapter on chat records (loss on assistant tokens only) and save it with peft.

    The recipe of the demo's adapters (narrow fine-tunes: the prompt tokens held to the base by a KL term, the
    base's own answers rehearsed) is in llmdiff_eval/data/finetunes/README.md; `make adapters` runs it.

    \b
    Example:
      llmdiff-eval finetune --data llmdiff_eval/data/finetunes/safety.jsonl --out adapters/safety \\
          --steps 120 --lr 1e-3 --layers 0-20 --kl-weight 1 --rehearse llmdiff_eval/data/finetunes/preserve.jsonl
    """
    if settings["threads"] is not None:
        torch.set_num_threads(settings["threads"])
    base = settings.pop("base")
    if not sample_only:
        if not data:
            raise click.UsageError("--data is required unless --sample-only is given")
        layers = settings.pop("layers")
        modules = settings.pop("target_modules")
        try:
            cfg = LoraFinetuneConfig(
                data=data,
                out_dir=out_dir,
                base=base,
                layers_to_transform=parse_layers(layers) if layers else None,
                target_modules=tuple(m.strip() for m in modules.split(",") if m.strip()),
                **settings,
            )
            result = train_lora(cfg)
        except (FinetuneDataError, ValueError) as error:
            raise BadTrainingData(str(error)) from error
        tail = result.losses[-cfg.log_every or -1 :]
        click.echo(
            f"saved {result.out_dir} ({result.n_records} records, {result.wall_time_s:.0f} s, "
            f"final loss {sum(tail) / len(tail):.4f})"
        )
    for row in compare_generations(base, out_dir, list(prompts)) if prompts else []:
        click.echo(json.dumps(row, ensure_ascii=False))
