"""``llmdiff-eval arena fetch / compare``: output layouts, errors, saving, and import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from arena_server import ArenaServer  # noqa: E402

from llmdiff_eval.cli import main  # noqa: E402

# Paper Table 1 (copied by hand): Category, Δ, Δ_style, Diff in the paper's row order.
PAPER_TABLE1 = [
    ("Math", 10, -12, -22),
    ("Chinese", 40, 27, -13),
    ("Coding", 19, 6, -13),
    ("Russian", 25, 15, -10),
    ("Hard Prompts", 25, 17, -8),
    ("Multi-Turn", 27, 20, -7),
    ("German", 34, 27, -7),
    ("Creative Writing", 33, 26, -7),
    ("Overall", 20, 15, -5),
    ("Instruction Following", 12, 8, -4),
    ("English", 23, 20, -3),
]


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["arena", *args], env=env, catch_exceptions=False)


def test_compare_prints_paper_table1(tmp_path):
    result = run("compare", "google/gemma-2-9b-it", "princeton-nlp/gemma-2-9b-it-SimPO", "--source", "bundled",
                 "--cache-dir", str(tmp_path), "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "Category,Δ,Δ_style,Diff"
    got = [
        (c, int(float(d)), int(float(s)), int(float(x)))
        for c, d, s, x in (line.split(",") for line in lines[1:])
    ]
    assert got == PAPER_TABLE1
    assert "source: bundled" in result.stderr and "snapshot: 2025-09-18" in result.stderr


def test_compare_table_and_markdown_layouts(tmp_path):
    table = run(
        "compare", "gemma-2-9b-it", "gemma-2-9b-it-simpo", "--source", "bundled", "--cache-dir", str(tmp_path)
    )
    assert table.stdout.splitlines()[2].split() == ["Math", "10", "-12", "-22"]
    md = run("compare", "gemma-2-9b-it", "gemma-2-9b-it-simpo", "--source", "bundled", "--ratings", "--format", "md",
             "--cache-dir", str(tmp_path))  # fmt: skip
    header, _rule, first = md.stdout.splitlines()[:3]
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Category", "A", "B", "Δ", "A (style)", "B (style)", "Δ_style", "Diff"
    ]  # fmt: skip
    assert [cell.strip() for cell in first.strip("|").split("|")] == [
        "Math", "1177", "1187", "10", "1216", "1204", "-12", "-22"
    ]  # fmt: skip


def test_fetch_json_from_the_local_server_via_environment(tmp_path):
    with ArenaServer() as server:
        env = {"LLMDIFF_DATASETS_SERVER_URL": server.url, "HF_ENDPOINT": server.url}
        result = run("fetch", "--models", "gemma-2-9b-it,gemma-2-9b-it-simpo", "--date", "2025-09-17",
                     "--categories", "overall,if", "--source", "datasets-server", "--format", "json",
                     "--cache-dir", str(tmp_path), "--out", str(tmp_path / "arena"), env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["provenance"]["source"] == "datasets-server"
    assert payload["provenance"]["snapshot_date"] == "2025-09-17"
    first = payload["rows"][0]
    assert (first["model"], first["category"], first["style_control"], first["rating"], first["votes"]) == (
        "gemma-2-9b-it", "overall", False, 1194.01, 1200
    )  # fmt: skip
    assert {row["category"] for row in payload["rows"]} == {"overall", "instruction_following"}

    from llmdiff_eval.arena.store import load_arena

    saved = load_arena(tmp_path / "arena")
    assert len(saved) == 8 and saved.attrs["provenance"]["source"] == "datasets-server"
    assert saved.loc[0, "rating"] == 1194.01 and saved["style_control"].tolist() == [False, True] * 4


def test_unknown_model_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(
        main,
        ["arena", "fetch", "--models", "gemma-2-9b", "--source", "bundled", "--cache-dir", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert "ArenaModelNotFound" in result.output and "'gemma-2-9b-it'" in result.output
    assert "Traceback" not in result.output


def test_offline_fallback_warning_on_stderr(tmp_path):
    result = run(
        "fetch", "--models", "gemma-2-9b-it", "--offline", "--cache-dir", str(tmp_path), "--format", "csv"
    )
    assert result.exit_code == 0
    assert "warning: LMArena ratings came from the 'bundled' source" in result.stderr
    assert (
        result.stdout.splitlines()[0]
        == "model,category,style_control,rating,ci_lower,ci_upper,votes,date,source"
    )


@pytest.mark.parametrize("command", ["fetch", "compare"])
def test_cli_does_not_import_torch(tmp_path, command):
    args = (
        ["fetch", "--models", "gemma-2-9b-it"]
        if command == "fetch"
        else ["compare", "gemma-2-9b-it", "gemma-2-9b-it-simpo"]
    )
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from llmdiff_eval.cli import main\n"
        f"result = CliRunner().invoke(main, ['arena', *{args!r}, '--source', 'bundled', '--cache-dir', {str(tmp_path)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False False"
