"""Shared pytest fixtures: tiny offline models and a small corpus (see ``tests/tiny_models.py``).

All model fixtures are session-scoped and return a ``Path`` to a ``save_pretrained`` directory; treat them as
read-only (copy with ``shutil.copytree`` before modifying). Built once per test session in about a second.

* ``tiny_base_dir``            — random 4-layer LlamaForCausalLM (d_model 48) + byte-level BPE tokenizer (vocab 512).
* ``tiny_ft_dir``              — "fine-tune" of it: same tokenizer, decoder-layer weights perturbed by ~10% (relative noise).
* ``tiny_ft2_dir``             — a second, differently perturbed fine-tune (layers 1–3 only, seed 7).
* ``tiny_other_tokenizer_dir`` — a tiny Llama with a *different* tokenizer (vocab 384).
* ``tiny_lora_dir``            — peft LoRA adapter (rank 4, q/v/o) on ``tiny_base_dir``; load with
  ``PeftModel.from_pretrained`` or ``llmdiff_eval.models.ModelSpec(path=tiny_base_dir, adapter=tiny_lora_dir)``.
* ``tiny_gemma3_dir``          — random 4-layer Gemma3ForCausalLM with the base tokenizer.
* ``tiny_tokenizer``           — the base tokenizer object (``PreTrainedTokenizerFast``).
* ``tiny_corpus_path``         — JSONL: 24 ``{"text": ...}`` documents then 8 ``{"messages": [...]}`` chats.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tiny_models  # tests/ is on sys.path under pytest (rootdir conftest); `from tests import tiny_models` also works from the repo root


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_tiny_base(tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="session")
def tiny_ft_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_finetune(tiny_base_dir, tmp_path_factory.mktemp("tiny_ft"), seed=1, scale=0.1)


@pytest.fixture(scope="session")
def tiny_ft2_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_finetune(
        tiny_base_dir, tmp_path_factory.mktemp("tiny_ft2"), seed=7, scale=0.1, layers=(1, 2, 3)
    )


@pytest.fixture(scope="session")
def tiny_other_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_other_tokenizer_model(tmp_path_factory.mktemp("tiny_other_tok"))


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_lora_adapter(tiny_base_dir, tmp_path_factory.mktemp("tiny_lora"))


@pytest.fixture(scope="session")
def tiny_gemma3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.save_tiny_gemma3(tmp_path_factory.mktemp("tiny_gemma3"))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return tiny_models.build_tokenizer("base")


@pytest.fixture(scope="session")
def tiny_corpus_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.write_corpus_jsonl(tmp_path_factory.mktemp("tiny_corpus") / "corpus.jsonl")
