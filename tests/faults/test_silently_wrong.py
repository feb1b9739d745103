"""Faults that used to give silently wrong results: damaged finished outputs used as they were, a corpus edited in
place, failed annotations published as "uncategorized"."""

from __future__ import annotations

import json

import pandas as pd
import yaml
from anthropic_server import FakeAnthropic, system_text
from conftest import assert_clean_failure, cli, flip_byte, pair_config, snapshot

from llmdiff_eval.crosscoder import load_crosscoder
from llmdiff_eval.errors import CrosscoderError

KEY = "sk-ant-test-0123456789"


def test_a_shard_with_flipped_bytes_is_found_and_recreated(run):
    config, run_dir = run
    before = snapshot(run_dir)
    shard = run_dir / "activations" / "base" / "shard_00000.safetensors"
    flip_byte(shard)
    result = cli("run", config, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert "[harvest] base: its finished output is damaged (shard shard_00000.safetensors" in result.output
    assert "sha256 mismatch" in result.output and "repairing it" in result.output
    after = snapshot(run_dir)
    changed = {path for path in before if before[path] != after.get(path)}
    # the shard is back byte for byte; only the derived reports (rewritten on every run) and markers differ
    assert all(
        path.startswith((".stages/harvest__", "scorecard", "report", "model_card")) for path in changed
    ), changed


def test_a_deleted_shard_is_recreated_by_run_and_by_harvest(run):
    config, run_dir = run
    shard = run_dir / "activations" / "a" / "shard_00000.safetensors"
    original = shard.read_bytes()
    shard.unlink()
    result = cli("harvest", config, "--run-dir", run_dir)  # "rerun harvest": the advice in the message works
    assert result.exit_code == 0, result.output
    assert "shard_00000.safetensors of activation cache" in result.output and "is missing" in result.output
    assert shard.read_bytes() == original


def test_altered_crosscoder_weights_are_not_used(run):
    config, run_dir = run
    weights = run_dir / "crosscoders" / "base__a" / "sae_weights.safetensors"
    trained = flip_byte(weights, offset=-4)
    result = cli("run", config, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert "[train] base__a: its finished output is damaged" in result.output
    assert "sae_weights.safetensors was changed after it was written" in result.output
    assert weights.read_bytes() == trained  # retrained: the same seed and data give the same weights


def test_a_truncated_crosscoder_is_a_clear_error(run):
    _, run_dir = run
    weights = run_dir / "crosscoders" / "base__a" / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    try:
        load_crosscoder(weights.parent)
    except CrosscoderError as error:
        assert "sae_weights.safetensors" in str(error) and "train" in str(error)
    else:
        raise AssertionError("a truncated weights file was loaded")


def test_a_corpus_edited_in_place_makes_the_harvest_stale(
    tmp_path, tiny_base_dir, tiny_ft_dir, tiny_corpus_path
):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(tiny_corpus_path.read_bytes())
    config = pair_config(
        tmp_path / "c.yaml", tiny_base_dir, {"name": "a", "path": str(tiny_ft_dir)}, corpus, context_length=32
    )
    assert cli("harvest", config, "--run-dir", tmp_path / "run").exit_code == 0
    cache = tmp_path / "run" / "activations" / "base" / "index.json"
    tokens_before = json.loads(cache.read_text())["n_tokens"]
    with corpus.open("a") as handle:  # same path, new contents
        handle.write(json.dumps({"text": "an extra document about a cat and a dog " * 3}) + "\n")
    result = cli("harvest", config, "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "[harvest] base: config changed since it ran; redoing it" in result.output
    assert json.loads(cache.read_text())["n_tokens"] > tokens_before


def test_failed_annotations_are_not_published(run):
    config, run_dir = run
    data = yaml.safe_load(config.read_text())
    data["annotate"] = {"annotator": "claude", "model": "claude-haiku-4-5", "max_retries": 0, "score": False}
    with FakeAnthropic(answer) as down:
        down.fail_next(500, times=10_000)
        data["annotate"]["base_url"] = down.base_url
        config.write_text(yaml.safe_dump(data))
        before = snapshot(run_dir / "annotations")
        marker_before = (run_dir / ".stages" / "annotate__base__a.json").read_text()
        result = cli("run", config, "--run-dir", run_dir, env={"ANTHROPIC_API_KEY": KEY})
    assert_clean_failure(result, "AnnotationIncompleteError", "latents of base__a failed", "rerun")
    assert snapshot(run_dir / "annotations") == before  # the offline tables of the earlier run are untouched
    # the offline run's marker is untouched (the failed unit left none); its key no longer matches, so not done
    assert (run_dir / ".stages" / "annotate__base__a.json").read_text() == marker_before
    assert "[scorecard]" not in result.output  # no scorecard was built on the failures

    with FakeAnthropic(answer) as up:  # the next run retries and finishes
        data["annotate"]["base_url"] = up.base_url
        config.write_text(yaml.safe_dump(data))
        result = cli("run", config, "--run-dir", run_dir, env={"ANTHROPIC_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(run_dir / "annotations" / "base__a.parquet")
    assert table["error"].isna().all() and table.attrs["annotator"] == "claude"


def answer(body: dict) -> str:
    """A well-formed answer to any explain or categorize request."""
    if system_text(body).startswith("You interpret"):
        return json.dumps(
            {
                "patterns": ["animal words"],
                "label": "animal words",
                "description": "Fires on animal names. It marks them wherever they appear.",
                "confidence": "medium",
                "confidence_reason": "most excerpts mark one",
            }
        )
    return json.dumps({"code": "B.7", "reason": "it fits"})


def test_deleted_tables_and_examples_are_rebuilt_not_skipped(run):
    config, run_dir = run
    table = run_dir / "annotations" / "base__a.parquet"
    annotated = pd.read_parquet(table)
    table.unlink()
    (run_dir / "examples.sqlite").unlink()
    (run_dir / "activations" / "b" / "stats.json").unlink()
    result = cli("run", config, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert (
        "[analyze] base__a: its finished output is damaged (examples.sqlite is missing); redoing it"
        in result.output
    )
    assert (
        "[harvest] b: its finished output is damaged (stats.json is missing); repairing it" in result.output
    )
    assert pd.read_parquet(table).drop(columns=["from_cache"]).equals(annotated.drop(columns=["from_cache"]))
    assert (run_dir / "activations" / "b" / "stats.json").is_file()


def test_outputs_set_aside_by_a_killed_redo_come_back_when_the_config_does(run):
    """A redo killed hard (no chance to restore) leaves the old outputs set aside; a run with the old config again
    puts them back instead of rebuilding or deleting them."""
    config, run_dir = run
    pair = run_dir / "crosscoders" / "base__a"
    weights = (pair / "sae_weights.safetensors").read_bytes()
    pair.rename(pair.with_name(".base__a.replaced"))  # what _replacing had done when the process was killed
    pair.mkdir()
    (pair / "training_log.jsonl").write_text('{"step": 1}\n')  # the killed redo's partial output
    result = cli("run", config, "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    assert "[train] base__a: done already, skipping" in result.output
    assert (pair / "sae_weights.safetensors").read_bytes() == weights and not pair.with_name(
        ".base__a.replaced"
    ).exists()
