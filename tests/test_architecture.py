"""The layout rules of docs/architecture.md that no linter checks: module size, no private names across modules,
a light config layer, and one stage module per registry entry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llmdiff_eval"
MAX_LINES = 700
GENERATORS = {"data/probe_corpus/make_corpus.py", "data/finetunes/make_data.py"}  # data written as code


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_the_size_limit():
    too_long = {
        str(path.relative_to(PACKAGE)): n
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and str(path.relative_to(PACKAGE)) not in GENERATORS
    }
    assert not too_long, f"split these modules (limit {MAX_LINES} lines): {too_long}"


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llmdiff_eval"):
                offenders += [
                    f"{path.relative_to(PACKAGE)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert not offenders, f"extension points must be public names: {offenders}"


def test_importing_the_config_layer_loads_no_heavy_dependency():
    code = (
        "import sys, llmdiff_eval.config, llmdiff_eval.rundir; "
        "print(sorted(m for m in ('torch', 'transformers', 'sae_lens', 'anthropic', 'lm_eval') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_stage_module_is_registered_once():
    from llmdiff_eval.stages import STAGE_NAMES, STAGES

    files = {path.stem for path in (PACKAGE / "stages").glob("*.py")} - {"__init__", "base"}
    assert set(STAGE_NAMES) == files and len(STAGE_NAMES) == len(STAGES) == len(set(STAGE_NAMES))


@pytest.mark.parametrize("name", ["harvest", "train", "analyze", "annotate", "causal"])
def test_tracked_stages_declare_keys_that_ignore_result_neutral_settings(name, tmp_path):
    """Changing a RESULT_NEUTRAL setting (device, batch size, ...) keeps a finished unit done; a result-changing
    setting makes it stale."""
    import dataclasses

    from llmdiff_eval.config import RunConfig
    from llmdiff_eval.demo import demo_config
    from llmdiff_eval.rundir import RunDir
    from llmdiff_eval.stages import get_stage

    config: RunConfig = demo_config(quick=True)
    section = {
        "harvest": "harvest",
        "train": "crosscoder",
        "analyze": "analyze",
        "annotate": "annotate",
        "causal": "causal",
    }[name]
    neutral = type(getattr(config, section)).RESULT_NEUTRAL[0]
    changing = {
        "harvest": "layer",
        "crosscoder": "lr",
        "analyze": "delta_norm_z",
        "annotate": "n_examples",
        "causal": "n_controls",
    }[section]

    def keys(cfg: RunConfig) -> list[str | None]:
        return [unit.key for unit in get_stage(name).units(cfg, RunDir(tmp_path))]

    current = getattr(config, section)
    neutral_value = "cuda" if neutral == "device" else (getattr(current, neutral) or 0) + 1
    same = dataclasses.replace(config, **{section: dataclasses.replace(current, **{neutral: neutral_value})})
    other = dataclasses.replace(
        config, **{section: dataclasses.replace(current, **{changing: getattr(current, changing) + 1})}
    )
    assert keys(same) == keys(config)
    assert all(a != b for a, b in zip(keys(other), keys(config), strict=True))
