"""The ``llmdiff-eval`` command line: a thin ``click`` layer over the library.

Each sub-command lives in its own module under ``llmdiff_eval/cli/`` and is imported only when it is run, so
``llmdiff-eval arena fetch`` does not pay for importing torch. Add a command by adding a line to ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import os

import click

from llmdiff_eval.cli.errors import run_guarded

# command name -> "module:attribute" of its click command (imported lazily)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "llmdiff_eval.cli.demo:demo",
        "Run the offline demo: base vs two planted fine-tunes, end to end.",
    ),
    "run": ("llmdiff_eval.cli.pipeline:run", "Run every stage of a CONFIG.yaml in one run directory."),
    "harvest": (
        "llmdiff_eval.cli.pipeline:harvest",
        "Cache residual-stream activations of base and fine-tunes.",
    ),
    "train": ("llmdiff_eval.cli.pipeline:train", "Train a BatchTopK crosscoder per base–fine-tune pair."),
    "analyze": ("llmdiff_eval.cli.pipeline:analyze", "Δnorm, latent scaling, tags and examples per latent."),
    "annotate": ("llmdiff_eval.cli.annotate:annotate", "Name model-specific latents and categorize them."),
    "arena": (
        "llmdiff_eval.cli.arena:arena",
        "LMArena ratings with and without style control: fetched, or fitted from battles.",
    ),
    "causal": (
        "llmdiff_eval.cli.pipeline:causal",
        "Ablate and steer each class's latents against matched controls.",
    ),
    "steer": (
        "llmdiff_eval.cli.causal:steer",
        "Generate with a latent set ablated in a fine-tune or added to the base.",
    ),
    "scorecard": (
        "llmdiff_eval.cli.report:scorecard",
        "Combined scorecard: latent shares, Arena Elo, benchmarks.",
    ),
    "card": ("llmdiff_eval.cli.report:card", "Write a Hugging Face model card with a capability breakdown."),
    "compare": ("llmdiff_eval.cli.report:compare", "Due-diligence report ranking N fine-tunes of one base."),
    "paper": ("llmdiff_eval.cli.report:paper", "Rebuild the paper's scorecard from its published tables."),
    "export": (
        "llmdiff_eval.cli.export:export",
        "Export a pair's crosscoder (SAE-Lens layout, tables, model card); publish it on the Hub.",
    ),
    "lm-eval": (
        "llmdiff_eval.cli.lm_eval:lm_eval",
        "Run lm-evaluation-harness with the mechdiff task added.",
    ),
    "finetune": (
        "llmdiff_eval.cli.finetune:finetune",
        "Train a LoRA adapter on chat records (the demo's recipe).",
    ),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name][0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:  # command not built yet
                return None
            raise
        return getattr(module, attribute)

    def invoke(self, ctx: click.Context):
        return run_guarded(super().invoke, ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmdiff-eval")
@click.option("--debug", is_flag=True, help="Show Python tracebacks instead of one-paragraph error messages.")
def main(debug: bool) -> None:
    """Explain why one fine-tuned LLM beats another.

    Diff each fine-tune against its base with a crosscoder, name the model-specific latents, place them in a
    capability taxonomy, and join the category shifts with LMArena Elo (with and without style control) and
    lm-eval benchmark scores in one scorecard.

    \b
    Quick start (offline, CPU, no API key):
      llmdiff-eval demo --quick
    A full run from a config file (examples in configs/, reference in docs/config.md):
      llmdiff-eval run configs/small-local-pair.yaml
    Every command: llmdiff-eval COMMAND --help, or docs/cli.md. When something fails: docs/troubleshooting.md.
    """
    if debug:
        os.environ["LLMDIFF_DEBUG"] = "1"
