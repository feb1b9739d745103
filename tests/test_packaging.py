"""The data the code needs at run time ships inside the wheel (found after a non-editable ``pip install .``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    source = tmp_path_factory.mktemp("src")
    for item in ("pyproject.toml", "README.md", "llmdiff_eval", "taxonomies", "tasks"):
        copy = shutil.copytree if (REPO / item).is_dir() else shutil.copy2
        copy(
            REPO / item,
            source / item,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if (REPO / item).is_dir() else {}),
        )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("llmdiff_eval-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def _repo_files(folder: str, pattern: str) -> list[str]:
    return sorted(
        str(path.relative_to(REPO))
        for path in (REPO / folder).rglob(pattern)
        if "__pycache__" not in str(path)
    )


@pytest.mark.parametrize(
    ("repo_folder", "pattern", "installed_prefix"),
    [
        ("taxonomies", "*.yaml", "llmdiff_eval/taxonomies/"),
        ("tasks", "*.yaml", "llmdiff_eval/tasks/"),
        ("llmdiff_eval/data", "*.jsonl", "llmdiff_eval/data/"),
        ("llmdiff_eval/data", "*.safetensors", "llmdiff_eval/data/"),
        ("llmdiff_eval/data", "*.json", "llmdiff_eval/data/"),
        ("llmdiff_eval/data", "*.yaml", "llmdiff_eval/data/"),
        ("llmdiff_eval/arena", "*.csv", "llmdiff_eval/arena/"),
        ("llmdiff_eval/arena", "*.yaml", "llmdiff_eval/arena/"),
        ("llmdiff_eval/render", "*.js", "llmdiff_eval/render/"),
        ("llmdiff_eval/render", "*.css", "llmdiff_eval/render/"),
    ],
)
def test_runtime_data_is_in_the_wheel(wheel_names, repo_folder, pattern, installed_prefix):
    files = _repo_files(repo_folder, pattern)
    if not files:
        pytest.skip(f"no {pattern} files under {repo_folder} yet")
    for file in files:
        relative = Path(file).relative_to(repo_folder)
        assert f"{installed_prefix}{relative.as_posix()}" in wheel_names, f"{file} is missing from the wheel"


def test_every_subpackage_is_declared(wheel_names):
    """A sub-package with an __init__.py that pyproject does not list would be silently left out of installs."""
    for init in (REPO / "llmdiff_eval").rglob("__init__.py"):
        relative = init.relative_to(REPO).as_posix()
        if "/data/" in relative and relative != "llmdiff_eval/data/__init__.py":
            continue
        assert relative in wheel_names, (
            f"{relative}: add its package to [tool.setuptools] packages in pyproject.toml"
        )
