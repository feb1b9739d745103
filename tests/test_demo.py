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
