"""Faults that used to lose finished data: a bad setting on a finished run, a run directory that belongs to another
run, an unreachable API against finished annotations."""

from __future__ import annotations

import socket

from conftest import assert_clean_failure, cli, snapshot

KEY = "sk-ant-test-0123456789"


def test_bad_setting_on_a_finished_run_touches_nothing(run):
    config, run_dir = run
    before = snapshot(run_dir)
    result = cli("run", config, "--run-dir", run_dir, "--set", "harvest.layer=99")
    assert_clean_failure(result, "layer 99", "valid layers are 0..3")
    assert snapshot(run_dir) == before  # config.yaml and every output and marker included
    again = cli("run", config, "--run-dir", run_dir)
    assert again.exit_code == 0, again.output
    # still finished: nothing was deleted behind a "done" marker (only the scorecard, which always runs, ran)
    assert "running" not in again.output and "9 already done" in again.output


def test_a_run_directory_of_another_run_is_refused(run, tmp_path):
    config, run_dir = run
    before = snapshot(run_dir)
    result = cli("demo", "--quick", "--out", run_dir, "--annotator", "offline")
    assert_clean_failure(result, str(run_dir), "'tiny'", "'demo-quick'", "--force")
    assert snapshot(run_dir) == before
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace("name: tiny", "name: other"))
    assert_clean_failure(cli("run", other, "--run-dir", run_dir), "'tiny'", "'other'")
    assert snapshot(run_dir) == before


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def test_an_unreachable_api_keeps_the_finished_annotations(run):
    _, run_dir = run
    before = snapshot(run_dir / "annotations")
    result = cli(
        "annotate", run_dir, "--annotator", "claude", "--model", "claude-haiku-4-5",
        "--base-url", f"http://127.0.0.1:{_closed_port()}", "--max-retries", "0", "--timeout", "2", "--no-score",
        env={"ANTHROPIC_API_KEY": KEY},
    )  # fmt: skip
    assert_clean_failure(result, "failed", "not written", "retry")
    assert snapshot(run_dir / "annotations") == before
    assert KEY not in result.output
