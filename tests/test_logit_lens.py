"""The analyze stage's logit lens: a planted unembedding whose known tokens a planted decoder difference must promote
and suppress, the per-model normalization undone before projecting, the final norm's gain (Llama ``w``, Gemma
``1 + w``), the partial checkpoint read equal to a full load, and the stage's declared output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from tiny_models import tiny_run_config

from llmdiff_eval import models
from llmdiff_eval.analyze import decoder_difference, logit_lens
from llmdiff_eval.config import ModelSpec, RunConfig, from_dict
from llmdiff_eval.crosscoder import BatchTopKCrosscoder
from llmdiff_eval.models import load_output_head, load_weights, output_head
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.latents import read_logit_lens
from llmdiff_eval.stages import analyze as analyze_stage

PROMOTED_TOKEN, SUPPRESSED_TOKEN = 300, 301
SCALE = (2.0, 0.5)  # x_norm = x_raw * scale: base, fine-tune


@pytest.fixture(scope="module")
def planted_model(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with a random final-norm gain and an unembedding whose rows 300 / 301 are +8 e / −8 e."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    d = model.config.hidden_size
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        model.model.norm.weight.copy_(0.5 + torch.rand(d, generator=generator))
        e = torch.zeros(d)
        e[3] = 1.0
        model.lm_head.weight[PROMOTED_TOKEN] = 8 * e
        model.lm_head.weight[SUPPRESSED_TOKEN] = -8 * e
    out = tmp_path_factory.mktemp("planted_head")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_base_dir).save_pretrained(out)
    return out


def _crosscoder(d: int, gain: torch.Tensor) -> BatchTopKCrosscoder:
    """Latent 0: raw difference e_3 / gain (promotes 300, suppresses 301); latent 1: the same normalized decoder in
    both models, so its raw difference u (1/scale_ft − 1/scale_base) exists only through the normalization."""
    n = 3
    W_dec = torch.zeros(n, 2, d)
    shared = torch.randn(d, generator=torch.Generator().manual_seed(1))
    direction = torch.zeros(d)
    direction[3] = 1.0
    direction = direction / gain
    W_dec[0, 0] = SCALE[0] * shared
    W_dec[0, 1] = SCALE[1] * (shared + direction)
    W_dec[1, 0] = W_dec[1, 1] = shared
    W_dec[2, 0] = W_dec[2, 1] = 0.0
    return BatchTopKCrosscoder.from_weights(
        torch.zeros(2, d, n), torch.zeros(n), W_dec, torch.zeros(2, d), norm_scale=list(SCALE)
    )


def test_planted_direction_promotes_and_suppresses_the_planted_tokens(planted_model: Path) -> None:
    from transformers import AutoTokenizer

    head = load_output_head(ModelSpec("ft", str(planted_model)))
    tokenizer = AutoTokenizer.from_pretrained(planted_model)
    d = head.unembedding.shape[1]
    cc = _crosscoder(d, head.gain)
    lens = logit_lens(cc, head, tokenizer, [0, 1], top_k=3)
    planted = lens[lens.latent_id == 0]
    promoted = planted[planted.direction == "promoted"].sort_values("rank")
    suppressed = planted[planted.direction == "suppressed"].sort_values("rank")
    assert promoted.token_id.iloc[0] == PROMOTED_TOKEN and suppressed.token_id.iloc[0] == SUPPRESSED_TOKEN
    assert promoted.logit.iloc[0] == pytest.approx(8.0, rel=1e-5)  # U[300] · (gain ⊙ e_3 / gain) = 8
    assert suppressed.logit.iloc[0] == pytest.approx(-8.0, rel=1e-5)
    assert promoted.logit.is_monotonic_decreasing and suppressed.logit.is_monotonic_increasing
    assert promoted.token.iloc[0] == tokenizer.decode([PROMOTED_TOKEN])
    # latent 1: identical normalized decoders, raw difference u (1/0.5 − 1/2.0) = 1.5 u
    shared = cc.W_dec[1, 0].detach()
    assert torch.allclose(decoder_difference(cc, [1])[0], 1.5 * shared, atol=1e-6)
    expected = head.unembedding @ (head.gain * 1.5 * shared)
    top = lens[(lens.latent_id == 1) & (lens.direction == "promoted")].sort_values("rank")
    assert top.token_id.tolist() == expected.topk(3).indices.tolist()
    assert top.logit.to_numpy() == pytest.approx(expected.topk(3).values.numpy(), rel=1e-5)
    assert lens.attrs["final_norm"] == "LlamaRMSNorm" and "1/RMS" in lens.attrs["definition"]


def test_final_norm_gain_is_what_the_model_multiplies_by(planted_model: Path, tiny_gemma3_dir: Path) -> None:
    llama = load_weights(ModelSpec("ft", str(planted_model)))
    assert torch.allclose(output_head(llama).gain, llama.model.norm.weight, atol=1e-5)
    gemma = load_weights(ModelSpec("g", str(tiny_gemma3_dir)))
    with torch.no_grad():
        gemma.model.norm.weight.normal_(0.0, 0.3)
    head = output_head(gemma)
    assert head.final_norm == "Gemma3RMSNorm"
    assert torch.allclose(head.gain, 1.0 + gemma.model.norm.weight, atol=1e-5)  # Gemma scales by (1 + w)


def test_checkpoint_read_equals_a_full_load(
    planted_model: Path, tiny_base_dir: Path, tiny_lora_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ModelSpec("ft", str(planted_model))
    full = output_head(load_weights(spec))
    with monkeypatch.context() as patched:  # the safetensors checkpoint is read without loading the model
        patched.setattr(models, "load_weights", lambda *args: pytest.fail("loaded the whole model"))
        partial = load_output_head(spec)
    assert torch.equal(partial.unembedding, full.unembedding) and torch.allclose(partial.gain, full.gain)
    adapter = ModelSpec("lora", str(tiny_base_dir), adapter=str(tiny_lora_dir))  # falls back to loading
    merged = output_head(load_weights(adapter))
    assert torch.equal(load_output_head(adapter).unembedding, merged.unembedding)


def test_analyze_stage_writes_and_declares_the_logit_lens(
    tiny_base_dir: Path, tiny_ft_dir: Path, tiny_ft2_dir: Path, tiny_corpus_path: Path, tmp_path: Path
) -> None:
    from llmdiff_eval.pipeline import run_pipeline

    data = tiny_run_config(tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path)
    data["finetunes"] = data["finetunes"][:1]
    data["analyze"] |= {"selection": "energy", "logit_lens_top_k": 4}
    config = from_dict(RunConfig, data)
    run = RunDir(tmp_path / "run")
    run_pipeline(config, run.root, stages=["harvest", "train", "analyze"], log=lambda *_: None)
    (unit,) = analyze_stage.units(config, run)
    assert run.logit_lens("base__a") in unit.outputs
    table = pd.read_parquet(run.latents("base__a"))
    tagged = set(table.index[table.tag.isin(config.analyze.example_tags)])
    lens = read_logit_lens(run.logit_lens("base__a"))
    assert tagged and set(lens) == tagged
    assert all(len(entry["promoted"]) == len(entry["suppressed"]) == 4 for entry in lens.values())
    assert pd.read_parquet(run.logit_lens("base__a")).attrs["model"] == "a"
    off = from_dict(RunConfig, data | {"analyze": data["analyze"] | {"logit_lens_top_k": 0}})
    assert run.logit_lens("base__a") not in analyze_stage.units(off, run)[0].outputs
    analyze_stage.analyze(off.analyze, run.root, "base", "a")  # switched off: the earlier lens is removed
    assert not run.logit_lens("base__a").exists() and read_logit_lens(run.logit_lens("base__a")) == {}
