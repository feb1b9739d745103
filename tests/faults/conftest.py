"""Fixtures of the fault-injection suite: a finished tiny run to break, snapshots to prove nothing finished changed,
and the CLI invoked the way a user invokes it.

Every test breaks one thing (a setting, a file, a server) and asserts both halves of the guarantee in
docs/troubleshooting.md: a message that names the culprit and the remedy (no traceback), and every finished output
byte-identical afterwards (or repaired to its original bytes).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from tiny_models import tiny_run_config

from llmdiff_eval.cli import main
from llmdiff_eval.config import load_config
from llmdiff_eval.pipeline import run_pipeline


@pytest.fixture(scope="session")
def finished(tmp_path_factory, tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path) -> Path:
    """A directory with ``tiny.yaml`` and ``run/``, where every stage of that config has finished. Read-only: use
    :func:`copy_run`."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "tiny.yaml"
    data = tiny_run_config(tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path)
    data["analyze"].update(
        selection="relative", delta_norm_z=1.5
    )  # tag some latents, so there is work to annotate
    config.write_text(yaml.safe_dump(data))
    run_pipeline(load_config(config), root / "run", log=lambda message: None)
    return root


@pytest.fixture
def run(finished, tmp_path) -> tuple[Path, Path]:
    """``(config path, run dir)`` of a private copy of the finished run (the config still names the same models and
    corpus, so every unit of the copy is done)."""
    shutil.copytree(finished, tmp_path / "copy")
    return tmp_path / "copy" / "tiny.yaml", tmp_path / "copy" / "run"


def pair_config(path: Path, base: Path, finetune: dict, corpus: Path, **harvest) -> Path:
    """Write a one-pair harvest config (layer 1, no progress bars) to ``path``; ``finetune`` is its model spec."""
    settings = {"layer": 1, "progress": False, "corpus": {"sources": [{"path": str(corpus)}]}, **harvest}
    config = {
        "name": "c",
        "base": {"name": "base", "path": str(base)},
        "finetunes": [finetune],
        "harvest": settings,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative paths)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def cli(*args: str, env: dict | None = None) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], env=env)


def assert_clean_failure(result: Result, *culprits: str) -> None:
    """The command failed with a handled message (exit code, no traceback) that names every culprit."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), f"unhandled {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output, result.output
    for culprit in culprits:
        assert culprit in result.output, f"{culprit!r} not in:\n{result.output}"


def flip_byte(path: Path, offset: int = -10) -> bytes:
    """Flip the bits of one byte of ``path`` in place; returns the original bytes."""
    original = path.read_bytes()
    data = bytearray(original)
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return original


def mount_tmpfs(target: Path, size: str) -> Path:
    """A tmpfs of ``size`` at ``target`` (for full-disk and read-only faults); the test is skipped where mounting
    is not allowed (it needs root). Unmounted at the end of the session's tmp cleanup by :func:`unmount`."""
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True
    )
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    return target


def remount_read_only(target: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True, capture_output=True)


def unmount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)
