"""The demo's config and its planted-answer check (the full demo is measured by hand: it takes minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdiff_eval.demo import demo_config, planted_check, planted_margins

CLASSES = [
    "Safety & Content Moderation",
    "Linguistic Capabilities",
    "Information Processing",
    "Specialized Capabilities",
]


def _card(diffs: list[float | None]) -> dict:
    return {"classes": [{"name": name, "diff": diff} for name, diff in zip(CLASSES, diffs, strict=True)]}


def test_planted_classes_on_top_pass_with_hand_computed_margins():
    # diff = share_b - share_a: a leads Safety by 6 pp, b leads Linguistic by 4 pp.
    margins = planted_margins(_card([-6.0, 4.0, -1.0, 1.5]))
    assert margins["a"] == pytest.approx(
        {"top": CLASSES[0], "gain": 6.0, "runner_up": CLASSES[2], "margin": 5.0, "ok": True}
    )
    assert margins["b"] == pytest.approx(
        {"top": CLASSES[1], "gain": 4.0, "runner_up": CLASSES[3], "margin": 2.5, "ok": True}
    )


@pytest.mark.parametrize(
    "diffs",
    [
        [0.0, 0.0, 0.0, 0.0],  # no model-specific latents at all: ties must not pass
        [None, None, None, None],
        [-3.0, 1.0, -3.0, 2.0],  # a's planted class only tied; b's planted class not on top
    ],
)
def test_ties_missing_shifts_and_wrong_classes_never_pass(diffs):
    margins = planted_margins(_card(diffs))
    assert not margins["a"]["ok"] and not margins["b"]["ok"]
    assert all("MISSED" in line for line in planted_check(_card(diffs)))


def test_demo_config_uses_packaged_weights_adapters_and_corpus():
    config = demo_config(quick=True, seed=3)
    assert config.base.path == "packaged:smollm2" and [ft.name for ft in config.finetunes] == ["a", "b"]
    for ft in config.finetunes:
        assert (Path(ft.adapter) / "adapter_model.safetensors").is_file()
    (source,) = config.harvest.corpus.sources
    assert sorted(path.name for path in Path(source.path).glob("*.jsonl")) == ["chat.jsonl", "web.jsonl"]
    assert config.crosscoder.seed == 3 and config.scorecard.arena_source == "bundled"
    assert "not ratings of the demo models" in config.scorecard.arena_note


def test_seed_changes_only_the_crosscoder():
    """Runs with another seed reuse the harvested caches: only the crosscoder config depends on the seed."""
    first, other = demo_config(seed=0), demo_config(seed=1)
    assert first.harvest == other.harvest and first.analyze == other.analyze
    assert first.crosscoder.seed == 0 and other.crosscoder.seed == 1


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_and_finds_the_planted_classes(tmp_path):
    """`llmdiff-eval demo --quick` (what CI runs): real SmolLM2 + both shipped adapters, every stage, every output;
    the planted class of each fine-tune is its top increased class. Then a rerun skips every stage."""
    import json

    from click.testing import CliRunner

    from llmdiff_eval.cli import main

    run_dir = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(run_dir), "--annotator", "offline"])
    assert result.exit_code == 0, result.output
    for name in ("scorecard.json", "scorecard.md", "scorecard.csv", "report.html", "model_card.md"):
        assert (run_dir / name).is_file()
    card = json.loads((run_dir / "scorecard.json").read_text())
    margins = planted_margins(card)
    assert margins["a"]["ok"] and margins["b"]["ok"], margins
    assert result.output.count("-> OK") == 2
    markers = {path.name: path.read_text() for path in (run_dir / ".stages").glob("*.json")}
    assert {name.split("__")[0] for name in markers} >= {"harvest", "train", "analyze", "annotate"}
    again = CliRunner().invoke(main, ["demo", "--quick", "--out", str(run_dir), "--annotator", "offline"])
    assert again.exit_code == 0, again.output
    assert {
        path.name: path.read_text() for path in (run_dir / ".stages").glob("*.json")
    } == markers  # all skipped
