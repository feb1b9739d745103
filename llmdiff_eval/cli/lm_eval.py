"""``llmdiff-eval lm-eval ...``: lm-evaluation-harness's own command line with the ``mechdiff`` task added.

Every argument goes to lm-eval unchanged (``llmdiff-eval lm-eval --model hf --model_args pretrained=... --tasks
mechdiff,hellaswag --metadata '{"base_model": "..."}'`` is ``lm_eval`` with the same arguments); this command only adds
``--include_path <llmdiff_eval.TASKS_DIR>``. lm-eval accepts a single ``--include_path``: when you give your own,
``mechdiff`` in ``--tasks`` is replaced by the path of ``mechdiff.yaml`` instead, which lm-eval loads directly.
"""

from __future__ import annotations

import json
import sys

import click

TASK_NAME = "mechdiff"
_TASKS_FLAGS = ("--tasks", "-t")


def lm_eval_argv(args: list[str], tasks_dir: str, task_yaml: str) -> list[str]:
    """The lm-eval arguments for ``args``: ``args`` + ``--include_path tasks_dir``, or, if ``args`` already has an
    ``--include_path``, ``args`` with the task name ``mechdiff`` in ``--tasks`` replaced by ``task_yaml``.

    No arguments, or only ``-h`` / ``--help``, are passed on as they are (lm-eval prints its help).
    """
    args = list(args)
    if not args or args[0] in ("-h", "--help"):
        return args
    if not any(arg == "--include_path" or arg.startswith("--include_path=") for arg in args):
        return [*args, "--include_path", tasks_dir]

    def swap(value: str) -> str:
        return ",".join(task_yaml if name == TASK_NAME else name for name in value.split(","))

    out: list[str] = []
    in_tasks = False
    for arg in args:
        if arg.startswith("-"):
            in_tasks = arg in _TASKS_FLAGS
            flag, sep, value = arg.partition("=")
            out.append(f"{flag}={swap(value)}" if sep and flag in _TASKS_FLAGS else arg)
        else:
            out.append(swap(arg) if in_tasks else arg)
    return out


def check_metadata(args: tuple[str, ...]) -> None:
    """Refuse a ``--metadata`` JSON object that does not parse, before lm-eval starts (and loads the model).

    lm-eval also takes ``key=value`` pairs there (parsed by lm-eval itself); only values that start with ``{``
    are JSON."""
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith("--metadata=")]
    values += [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--metadata"]
    for value in values:
        if not value.lstrip().startswith("{"):
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as error:
            raise click.BadParameter(
                f"{value!r} is not valid JSON ({error.msg} at character {error.pos}); quote it for the shell, e.g. "
                """--metadata '{"base_model": "google/gemma-2-9b", "layer": 20}'""",
                param_hint="--metadata",
            ) from error


@click.command(
    "lm-eval",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lm_eval(args: tuple[str, ...]) -> None:
    """Run lm-evaluation-harness with the mechdiff task added (all ARGS go to lm_eval).

    \b
    Example (the evaluated model comes from --model_args, its base from --metadata):
      llmdiff-eval lm-eval --model hf --model_args pretrained=google/gemma-2-9b-it,dtype=bfloat16 \\
        --tasks mechdiff,hellaswag --metadata '{"base_model": "google/gemma-2-9b", "layer": 20}' \\
        --device cuda --batch_size 8
    `llmdiff-eval lm-eval --help` shows lm-eval's own options.
    """
    from lm_eval.__main__ import cli_evaluate

    from llmdiff_eval.integrations.lm_eval import TASK_YAML, TASKS_DIR, MechdiffConfigError

    check_metadata(args)
    sys.argv = ["lm_eval", *lm_eval_argv(list(args), TASKS_DIR, TASK_YAML)]
    try:
        cli_evaluate()
    except MechdiffConfigError as error:
        raise click.ClickException(f"mechdiff task: {error}") from error
