"""docs/cli.md is the commands' current ``--help`` (regenerate: python -m llmdiff_eval.cli.reference > docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

from llmdiff_eval.cli import COMMANDS
from llmdiff_eval.cli.reference import cli_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_cli_reference_is_current():
    generated = cli_reference()
    assert DOC.read_text(encoding="utf-8") == generated, (
        "docs/cli.md is out of date: run `python -m llmdiff_eval.cli.reference > docs/cli.md`"
    )


def test_every_command_is_documented_with_its_options():
    text = cli_reference()
    for name in COMMANDS:
        assert f"## `llmdiff-eval {name}`" in text
    assert "--max-cost" in text and "arena fetch" in text and "CONFIG|RUN_DIR" in text
