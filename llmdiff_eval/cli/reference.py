"""The CLI reference (``docs/cli.md``), generated from the commands' own ``--help``.

Regenerate it after changing a command: ``python -m llmdiff_eval.cli.reference > docs/cli.md``
(``tests/test_cli_reference.py`` fails while the file is out of date).
"""

from __future__ import annotations

import click

from llmdiff_eval.cli import main

WIDTH = 110  # fixed, so the text does not depend on the terminal


def _context(command: click.Command, path: list[str], parent: click.Context | None) -> click.Context:
    """The context a real invocation builds, so the command's ``context_settings`` (e.g. ``-h``) apply."""
    return command.make_context(
        path[-1], [], parent=parent, resilient_parsing=True, max_content_width=WIDTH, terminal_width=WIDTH
    )


def _sections(command: click.Command, path: list[str], parent: click.Context | None) -> list[str]:
    context = _context(command, path, parent)
    title = ("##" if len(path) <= 2 else "###") + " `" + " ".join(path) + "`"
    parts = [f"{title}\n\n```text\n{command.get_help(context)}\n```\n"]
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None:
                parts += _sections(sub, [*path, name], context)
    return parts


def cli_reference() -> str:
    """Markdown: the ``--help`` of ``llmdiff-eval`` and of every sub-command, in the order of ``COMMANDS``."""
    header = (
        "# CLI reference\n\n"
        "Generated from `--help` by `python -m llmdiff_eval.cli.reference > docs/cli.md`; do not edit by hand.\n"
        "Every command is a thin layer over a library function (docs/python-api.md). Stage commands take a run config "
        "(CONFIG, docs/config.md; examples in `configs/`) or a run directory (RUN_DIR, docs/run-directory.md).\n\n"
    )
    parts = _sections(main, ["llmdiff-eval"], None)
    return header + "\n".join(parts)


if __name__ == "__main__":
    print(cli_reference(), end="")
