"""The example run configs in configs/: each loads and validates, and configs/demo.yaml is the demo's own config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from llmdiff_eval.config import load_config
from llmdiff_eval.demo import demo_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_the_promised_examples_exist():
    assert {path.name for path in CONFIGS} >= {"paper-gemma2-9b.yaml", "small-local-pair.yaml", "demo.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_each_example_loads_and_validates(path):
    config = load_config(path)
    assert config.finetunes and config.harvest.corpus.sources
    for spec in config.models:  # local paths of the examples exist from the repository root
        for local in (spec.adapter,):
            if local is not None:
                assert (REPO / local).is_dir(), f"{path.name}: {local} does not exist"
    for source in config.harvest.corpus.sources:
        if source.path is not None:
            assert (REPO / source.path).exists(), f"{path.name}: {source.path} does not exist"


def test_paper_example_is_the_papers_setting():
    config = load_config(REPO / "configs" / "paper-gemma2-9b.yaml")
    assert config.harvest.layer == 20 and config.harvest.max_tokens == 200_000_000
    assert (config.crosscoder.n_latents, config.crosscoder.k, config.crosscoder.lr) == (114_688, 100, 1e-4)
    assert [spec.path for spec in config.models] == [
        "google/gemma-2-9b",
        "google/gemma-2-9b-it",
        "princeton-nlp/gemma-2-9b-it-SimPO",
    ]
    assert {source.hf_dataset for source in config.harvest.corpus.sources} == {
        "HuggingFaceFW/fineweb",
        "lmsys/lmsys-chat-1m",
    }
    assert config.analyze.selection == "absolute" and config.analyze.delta_norm_specific == 0.9


def _resolved(config):
    """The config with its local paths made absolute (the YAML's are relative to the repository root)."""

    def absolute(path):
        return None if path is None else str((REPO / path).resolve())

    finetunes = [dataclasses.replace(spec, adapter=absolute(spec.adapter)) for spec in config.finetunes]

    def resolved_corpus(corpus):
        sources = [dataclasses.replace(s, path=absolute(s.path)) for s in corpus.sources]
        return dataclasses.replace(corpus, sources=sources)

    causal = config.causal
    if causal.corpus is not None:
        causal = dataclasses.replace(causal, corpus=resolved_corpus(causal.corpus))
    return dataclasses.replace(
        config,
        finetunes=finetunes,
        harvest=dataclasses.replace(config.harvest, corpus=resolved_corpus(config.harvest.corpus)),
        causal=causal,
    )


def test_demo_example_equals_the_demo_config():
    assert _resolved(load_config(REPO / "configs" / "demo.yaml")) == _resolved(demo_config())


def test_arena_own_names_must_be_fine_tunes_of_the_run():
    from llmdiff_eval.config import ConfigError, RunConfig, from_dict

    data = {
        "name": "x",
        "base": {"name": "base", "path": "org/base"},
        "finetunes": [{"name": "a", "path": "org/a"}],
        "harvest": {"layer": 1, "corpus": {"sources": [{"path": "c.jsonl"}]}},
        "scorecard": {"arena_own": ["a"]},
    }
    assert from_dict(RunConfig, data).scorecard.arena_own == ["a"]
    with pytest.raises(ConfigError, match=r"arena_own names \['b'\]"):
        from_dict(RunConfig, data | {"scorecard": {"arena_own": ["b"]}})
