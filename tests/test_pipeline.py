"""The stage runner and ``llmdiff-eval run``: every stage on tiny random models, skipping, staleness, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from tiny_models import tiny_run_config

from llmdiff_eval.cli import main
from llmdiff_eval.config import ConfigError, load_config
from llmdiff_eval.errors import CrosscoderError
from llmdiff_eval.pipeline import run_pipeline


@pytest.fixture
def config_path(tmp_path, tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        yaml.safe_dump(tiny_run_config(tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path))
    )
    return path


def _statuses(results) -> dict[tuple[str, str], str]:
    return {(result.stage, result.item): result.status for result in results}


def test_full_run_then_rerun_skips_then_changed_config_redoes_only_downstream(config_path, tmp_path):
    run_dir = tmp_path / "run"
    config = load_config(config_path)
    first = _statuses(run_pipeline(config, run_dir, log=lambda message: None))
    assert first[("harvest", "base")] == "ran"
    assert first[("train", "base__a")] == "ran" and first[("train", "base__b")] == "ran"
    assert first[("annotate", "base__b")] == "ran"

    # Every stage's output is where the run-directory layout says.
    for model in ("base", "a", "b"):
        assert json.loads((run_dir / "activations" / model / "index.json").read_text())["complete"] is True
    table = pd.read_parquet(run_dir / "latents" / "base__a.parquet")
    assert {"delta_norm", "cos_sim", "nu_eps", "nu_r", "freq", "tag"} <= set(table.columns)
    assert len(table) == 64
    assert (run_dir / "crosscoders" / "base__b" / "cfg.json").exists()
    card = json.loads((run_dir / "scorecard.json").read_text())
    assert {"models", "classes", "categories", "arena", "joined", "benchmarks", "provenance"} <= set(card)
    assert (run_dir / "report.html").exists() and (run_dir / "config.yaml").exists()

    latents_mtime = (run_dir / "latents" / "base__a.parquet").stat().st_mtime_ns
    second = _statuses(run_pipeline(config, run_dir, log=lambda message: None))
    assert {status for (stage, _), status in second.items() if stage != "scorecard"} == {"skipped"}
    assert (run_dir / "latents" / "base__a.parquet").stat().st_mtime_ns == latents_mtime

    # A new crosscoder seed makes training and everything after it stale; the harvest is reused.
    config.crosscoder.seed = 1
    third = _statuses(run_pipeline(config, run_dir, log=lambda message: None))
    assert third[("harvest", "a")] == "skipped"
    assert third[("train", "base__a")] == "redone"
    assert third[("analyze", "base__a")] == "redone"
    assert third[("annotate", "base__a")] == "redone"
    assert (run_dir / "latents" / "base__a.parquet").stat().st_mtime_ns != latents_mtime


def test_stopped_run_resumes_at_the_first_unfinished_stage(config_path, tmp_path):
    run_dir = tmp_path / "run"
    config = load_config(config_path)
    early = _statuses(run_pipeline(config, run_dir, stages=("harvest", "train"), log=lambda message: None))
    assert set(early.values()) == {"ran"} and not (run_dir / "latents").exists()
    resumed = _statuses(run_pipeline(config, run_dir, log=lambda message: None))
    assert resumed[("harvest", "base")] == "skipped" and resumed[("train", "base__a")] == "skipped"
    assert resumed[("analyze", "base__a")] == "ran" and (run_dir / "latents" / "base__a.parquet").exists()


def test_cli_run_with_overrides_and_clear_errors(config_path, tmp_path):
    runner = CliRunner()
    run_dir = tmp_path / "cli-run"
    result = runner.invoke(
        main,
        ["run", str(config_path), "--run-dir", str(run_dir), "--set", "crosscoder.seed=3"],
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["crosscoder"]["seed"] == 3
    assert "unit(s) ran" in result.output

    bad_layer = runner.invoke(
        main, ["harvest", str(config_path), "--run-dir", str(tmp_path / "x"), "--set", "harvest.layer=99"]
    )
    assert bad_layer.exit_code == 1
    assert "layer" in bad_layer.output and "Traceback" not in bad_layer.output

    unknown = runner.invoke(main, ["run", str(config_path), "--set", "crosscoder.n_latentz=5"])
    assert unknown.exit_code == 1 and "n_latentz" in unknown.output and "valid keys" in unknown.output


def test_config_errors_name_the_key(tmp_path, config_path):
    data = yaml.safe_load(config_path.read_text())
    data["finetunes"].append({"name": "a", "path": data["base"]["path"]})
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="unique"):
        load_config(duplicate)

    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump({"name": "x", "base": data["base"], "harvest": {}}))
    with pytest.raises(ConfigError, match="finetunes"):
        load_config(missing)


def test_a_new_explainer_or_annotator_makes_the_annotations_stale(config_path, monkeypatch):
    """The annotate key holds the explainer's and judge's versions, so upgrading the offline explainer (v2 → v3) or
    an API key appearing for ``annotator: auto`` re-annotates on a rerun instead of keeping the old labels."""
    from llmdiff_eval.annotate import EmbeddingAnnotator, annotator_identity
    from llmdiff_eval.stages import annotate as annotate_stage

    config = load_config(config_path)
    config.annotate.annotator = "offline"
    identity = annotator_identity(config.annotate)
    assert identity["version"] == EmbeddingAnnotator().prompt_version and identity["version"].startswith(
        "offline-v3"
    )
    offline = annotate_stage.unit_key(config, "base", "a")
    config.annotate.annotator = "claude"
    claude = annotate_stage.unit_key(config, "base", "a")  # no API key or client needed to know the version
    assert claude != offline
    config.annotate.annotator = "auto"
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert annotator_identity(config.annotate) == identity
    without_key = annotate_stage.unit_key(config, "base", "a")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert annotator_identity(config.annotate)["annotator"] == "claude"
    assert annotate_stage.unit_key(config, "base", "a") != without_key


def test_weights_replaced_in_place_make_the_harvest_stale(
    tmp_path, tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path
):
    from llmdiff_eval.config import RunConfig, from_dict

    ft_copy = tmp_path / "ft"
    shutil.copytree(tiny_ft_dir, ft_copy)
    config = from_dict(RunConfig, tiny_run_config(tiny_base_dir, ft_copy, tiny_ft2_dir, tiny_corpus_path))
    run_dir = tmp_path / "run"
    first = _statuses(run_pipeline(config, run_dir, stages=("harvest",), log=lambda message: None))
    assert set(first.values()) == {"ran"}

    shutil.rmtree(ft_copy)
    shutil.copytree(tiny_ft2_dir, ft_copy)  # same path, other weights
    second = _statuses(run_pipeline(config, run_dir, stages=("harvest",), log=lambda message: None))
    assert second == {("harvest", "base"): "skipped", ("harvest", "a"): "redone", ("harvest", "b"): "skipped"}


def test_seed_ensemble_trains_one_crosscoder_per_seed_and_pools_them(config_path, tmp_path):
    run_dir = tmp_path / "ensemble"
    config = load_config(config_path, overrides=["crosscoder.seeds=[3,4]"])
    assert (config.crosscoder.seed, config.crosscoder.extra_seeds) == (3, [4])
    first = _statuses(run_pipeline(config, run_dir, log=lambda message: None))
    for stage in ("train", "analyze", "annotate"):
        assert first[(stage, "base__a")] == "ran" and first[(stage, "base__a@seed4")] == "ran"
    primary = run_dir / "crosscoders" / "base__a" / "sae_weights.safetensors"
    extra = run_dir / "crosscoders" / "base__a@seed4" / "sae_weights.safetensors"
    assert primary.read_bytes() != extra.read_bytes()  # two seeds, two crosscoders, one harvest
    assert first[("harvest", "a")] == "ran" and len([k for k in first if k[0] == "harvest"]) == 3
    card = json.loads((run_dir / "scorecard.json").read_text())
    assert card["totals"]["n_seeds"] == 2 and card["ensemble"]["extra_seeds"] == [4]
    sizes = [
        len(pd.read_parquet(run_dir / "annotations" / f"base__a{suffix}.parquet"))
        for suffix in ("", "@seed4")
    ]
    assert card["totals"]["a"] == sum(sizes)  # counts summed over the seeds
    stability = card["ensemble"]["stability"]["a"]
    assert stability["selected"] == [
        int((pd.read_parquet(run_dir / "latents" / f"base__a{suffix}.parquet")["tag"] == "ft_only").sum())
        for suffix in ("", "@seed4")
    ]
    assert all("diff_seeds" in row and len(row["diff_seeds"]) == 2 for row in card["classes"])
    assert "Seed ensemble: 2 crosscoders per pair" in (run_dir / "scorecard.md").read_text()

    # A third seed trains only that seed; the primary keeps its key (and the single-seed run's key).
    more = load_config(config_path, overrides=["crosscoder.seeds=[3,4,5]"])
    second = _statuses(run_pipeline(more, run_dir, log=lambda message: None))
    assert second[("train", "base__a")] == "skipped" and second[("train", "base__a@seed4")] == "skipped"
    assert second[("train", "base__a@seed5")] == "ran"
    single = load_config(config_path, overrides=["crosscoder.seed=3"])
    third = _statuses(run_pipeline(single, run_dir, stages=("harvest", "train"), log=lambda message: None))
    assert third[("train", "base__a")] == "skipped" and ("train", "base__a@seed4") not in third


def test_seed_ensemble_settings_are_checked(config_path):
    with pytest.raises(CrosscoderError, match="distinct integers"):
        load_config(config_path, overrides=["crosscoder.seeds=[1,1]"])


def test_seeds_option_is_parsed_into_integers(config_path, tmp_path):
    from llmdiff_eval.cli.pipeline import parse_seeds

    assert parse_seeds(" 0, 1,2 ") == [0, 1, 2]
    result = CliRunner().invoke(main, ["run", str(config_path), "--seeds", "0,x"])
    assert result.exit_code == 2 and "comma-separated integers" in result.output
