"""Harvest with tiny random transformers built in the tests (llmdiff_eval/harvest.py)."""

from __future__ import annotations

import json
import shutil

import pytest
import tiny_models
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llmdiff_eval.corpus import CorpusConfig, CorpusError, CorpusSource, iter_documents
from llmdiff_eval.harvest import (
    ActivationCache,
    CacheError,
    HarvestConfig,
    HarvestError,
    TokenizerMismatchError,
    harvest,
    harvest_model,
    load_paired,
    merge_ranks,
    residual_at_layer,
    stream_activations,
)
from llmdiff_eval.models import ModelSpec, decoder_layers

LAYER = 2


def _cfg(corpus_path, **overrides) -> HarvestConfig:
    settings = dict(layer=LAYER, batch_size=4, shard_tokens=150, context_length=48, progress=False)
    settings.update(overrides)
    return HarvestConfig(corpus=CorpusConfig(sources=[CorpusSource(path=str(corpus_path))]), **settings)


def _reference(model_dir, corpus_path, layer=LAYER, context_length=48):
    """Per-document, unpadded forward with output_hidden_states=True: the expected cache rows (float32), BOS
    position dropped, plus the token ids — computed independently of the harvester's batching and hook."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    acts, token_ids, doc_ids, positions = [], [], [], []
    for doc in iter_documents(CorpusConfig(sources=[CorpusSource(path=str(corpus_path))])):
        text = (
            doc.text if doc.messages is None else tokenizer.apply_chat_template(doc.messages, tokenize=False)
        )
        ids = tokenizer(text)["input_ids"][:context_length]
        assert ids[0] == tokenizer.bos_token_id
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[layer + 1][0]
        acts.append(hidden[1:])
        token_ids += ids[1:]
        doc_ids += [doc.doc_id] * (len(ids) - 1)
        positions += list(range(1, len(ids)))
    return torch.cat(acts), torch.tensor(token_ids), torch.tensor(doc_ids), torch.tensor(positions)


@pytest.fixture(scope="module")
def base_reference(tiny_base_dir, tiny_corpus_path):
    return _reference(tiny_base_dir, tiny_corpus_path)


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory, tiny_base_dir, tiny_ft_dir, tiny_corpus_path):
    """A finished harvest of base + fine-tune (read-only for the tests that use it)."""
    run_dir = tmp_path_factory.mktemp("pair_run")
    out = harvest(
        _cfg(tiny_corpus_path),
        run_dir,
        [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))],
    )
    return run_dir, out


# ---------------------------------------------------------------------------------------------------------------
# Early exit


@pytest.mark.parametrize("fixture", ["tiny_base_dir", "tiny_gemma3_dir"])
def test_early_exit_equals_output_hidden_states_and_skips_later_layers(request, fixture):
    model = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(fixture)).eval()
    blocks = decoder_layers(model)
    input_ids = torch.tensor([[1, 40, 41, 42, 43, 44, 45], [1, 50, 51, 52, 0, 0, 0]])
    mask = (input_ids != 0).long()
    mask[:, 0] = 1
    with torch.no_grad():
        full = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
    calls = []
    handles = [blocks[i].register_forward_hook(lambda *_, i=i: calls.append(i)) for i in range(len(blocks))]
    handles.append(model.lm_head.register_forward_hook(lambda *_: calls.append("lm_head")))
    try:
        for layer in range(len(blocks) - 1):
            calls.clear()
            got = residual_at_layer(model, layer, input_ids, mask)
            assert calls == list(range(layer + 1)), "blocks after the requested layer (or the LM head) ran"
            torch.testing.assert_close(got, full[layer + 1], rtol=1e-5, atol=1e-6)
        # The last block: transformers' hidden_states[-1] is after the final norm; the cache is not.
        last = residual_at_layer(model, len(blocks) - 1, input_ids, mask)
        assert "lm_head" not in calls
        assert not torch.allclose(last, full[-1], atol=1e-3)
        torch.testing.assert_close(model.model.norm(last), full[-1], rtol=1e-5, atol=1e-5)
    finally:
        for handle in handles:
            handle.remove()


def test_cache_rows_equal_per_document_hidden_states(pair_run, base_reference):
    _, out = pair_run
    cache = ActivationCache(out["base"])
    ref_acts, ref_tokens, ref_docs, ref_positions = base_reference
    assert cache.n_tokens == len(ref_tokens) and cache.d_model == 48 and cache.layer == LAYER
    assert torch.equal(cache.token_ids, ref_tokens.to(torch.int32))
    assert torch.equal(cache.doc_ids, ref_docs.to(torch.int32))
    assert torch.equal(cache.positions, ref_positions.to(torch.int32))
    acts = cache.load()
    # stored as bfloat16 (8 mantissa bits): relative error <= 2^-8, plus float noise of batched vs single forward
    torch.testing.assert_close(acts, ref_acts, rtol=2**-7, atol=1e-4)
    assert len(cache.index["shards"]) > 3 and cache.index["complete"] is True
    assert cache.index["bos"] == {"token": "<s>", "id": 1, "in_input": True, "dropped": True}


def test_bf16_autocast_harvest_matches_the_float32_rows_and_is_recorded(
    tmp_path, tiny_base_dir, tiny_corpus_path, base_reference, pair_run
):
    """``autocast: true`` (the GPU default) on the CPU, the same code: the same rows to bf16 precision as the
    per-document float32 reference, the compute precision in the index, and no resume across the two."""
    spec = ModelSpec("base", str(tiny_base_dir))
    out = harvest_model(spec, _cfg(tiny_corpus_path, autocast=True), tmp_path / "cache")
    cache = ActivationCache(out)
    assert cache.index["compute_dtype"] == "float32+bf16-autocast"
    ref_acts, ref_tokens, _, _ = base_reference
    assert torch.equal(cache.token_ids, ref_tokens.to(torch.int32))
    acts = cache.load()
    relative = (acts.double() - ref_acts.double()).norm(dim=1) / ref_acts.double().norm(dim=1)
    # measured 0.3 % / 0.5 %; and bf16 products really ran: the rows are not those of the float32 harvest
    assert float(relative.mean()) < 2**-6 and float(relative.max()) < 2**-4, relative
    assert not torch.equal(acts, ActivationCache(pair_run[1]["base"]).load())
    with pytest.raises(CacheError, match="compute_dtype differ"):
        harvest_model(spec, _cfg(tiny_corpus_path, autocast=False), out)
    with pytest.raises(HarvestError, match="autocast must be"):
        _cfg(tiny_corpus_path, autocast="on")


def test_length_sorted_batches_pad_little_and_keep_corpus_order(tmp_path, tiny_base_dir, tiny_corpus_path):
    """Each shard's documents are forwarded longest first, ``batch_size`` at a time: the shard records the real
    tokens and batch slots of its forward passes, equal to the hand count over the sorted lengths, and the rows are
    those of unbatched forwards (batch size 1), in corpus order."""
    from llmdiff_eval.corpus import encode, resolve_chat_template

    spec = ModelSpec("base", str(tiny_base_dir))
    cfg = _cfg(tiny_corpus_path, shard_tokens=10_000)  # one shard: one window of all documents
    batched = ActivationCache(harvest_model(spec, cfg, tmp_path / "batched"))
    single = ActivationCache(harvest_model(spec, _cfg(tiny_corpus_path, batch_size=1), tmp_path / "single"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_dir)
    template = resolve_chat_template(cfg.corpus.chat_template, tokenizer)
    lengths = [len(encode(doc, tokenizer, 48, template)) for doc in iter_documents(cfg.corpus)]
    ordered = sorted(lengths, reverse=True)
    slots = sum(4 * ordered[i] for i in range(0, len(ordered) - 3, 4))
    slots += len(ordered) % 4 * ordered[-(len(ordered) % 4)] if len(ordered) % 4 else 0
    corpus_order = sum(len(lengths[i : i + 4]) * max(lengths[i : i + 4]) for i in range(0, len(lengths), 4))
    (shard,) = batched.index["shards"]
    assert (shard["forward_tokens"], shard["forward_slots"]) == (sum(lengths), slots)
    assert slots < corpus_order  # the tiny corpus's documents differ in length
    for name in ("token_ids", "doc_ids", "positions"):
        assert torch.equal(getattr(batched, name), getattr(single, name))
    assert torch.equal(batched.doc_ids, torch.sort(batched.doc_ids, stable=True).values)  # corpus order
    torch.testing.assert_close(batched.load(), single.load(), rtol=2**-7, atol=1e-4)


def test_stats_match_direct_computation(pair_run, base_reference):
    _, out = pair_run
    stats = ActivationCache(out["base"]).stats
    ref = base_reference[0].double()
    assert stats["count"] == len(ref)
    torch.testing.assert_close(stats["mean"].double(), ref.mean(0), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stats["std"].double(), ref.std(0, unbiased=False), rtol=1e-4, atol=1e-6)
    assert stats["mean_norm"] == pytest.approx(float(ref.norm(dim=1).mean()), rel=1e-5)


def test_base_and_finetune_caches_align_token_by_token(pair_run):
    _, out = pair_run
    base, ft = ActivationCache(out["base"]), ActivationCache(out["ft"])
    assert torch.equal(base.token_ids, ft.token_ids)
    assert torch.equal(base.doc_ids, ft.doc_ids)
    assert torch.equal(base.positions, ft.positions)
    paired = load_paired(out["base"], out["ft"])
    assert paired.shape == (base.n_tokens, 2, 48) and paired.dtype == torch.float32
    assert torch.equal(paired[:, 0], base.load()) and torch.equal(paired[:, 1], ft.load())
    relative = (paired[:, 1] - paired[:, 0]).norm(dim=1) / paired[:, 0].norm(dim=1)
    assert (
        0.01 < float(relative.median()) < 1.0
    )  # a perturbed fine-tune: close to, but not equal to, the base


def test_chat_records_are_rendered_through_the_template(pair_run, tiny_corpus_path):
    _, out = pair_run
    cache = ActivationCache(out["base"])
    tokenizer = cache.tokenizer()
    records = tiny_models.corpus_records()
    chat_doc = 24  # the first chat record of the fixture corpus
    expected = "".join(f"<|{m['role']}|>{m['content']}<|end|>\n" for m in records[chat_doc]["messages"])
    ids = cache.token_ids[cache.doc_ids == chat_doc].tolist()
    text = tokenizer.decode(ids)
    assert len(text) > 40 and expected.startswith(
        text
    )  # the rendered chat (maybe truncated), BOS row dropped
    assert tokenizer.convert_tokens_to_ids("<|user|>") in ids


def test_harvest_rerun_is_a_no_op(pair_run, tiny_base_dir, tiny_ft_dir, tiny_corpus_path):
    run_dir, out = pair_run
    before = {p.name: p.stat().st_mtime_ns for p in out["base"].iterdir()}
    harvest(
        _cfg(tiny_corpus_path),
        run_dir,
        [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))],
    )
    assert {p.name: p.stat().st_mtime_ns for p in out["base"].iterdir()} == before


# ---------------------------------------------------------------------------------------------------------------
# Resume, corruption


class _Crash(RuntimeError):
    pass


def _crash_after(model, n_batches: int):
    """A forward pre-hook on block 0 that raises on batch ``n_batches`` + 1 (a simulated kill / OOM)."""
    seen = []

    def hook(*_):
        seen.append(1)
        if len(seen) > n_batches:
            raise _Crash("simulated crash")

    return decoder_layers(model)[0].register_forward_pre_hook(hook)


def test_resume_after_interruption_gives_identical_cache(tmp_path, tiny_base_dir, tiny_corpus_path):
    spec = ModelSpec("base", str(tiny_base_dir))
    cfg = _cfg(tiny_corpus_path)
    reference = harvest_model(spec, cfg, tmp_path / "reference")

    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    handle = _crash_after(model, 4)
    with pytest.raises(_Crash):
        harvest_model(spec, cfg, tmp_path / "resumed", model=model)
    handle.remove()
    partial = json.loads((tmp_path / "resumed" / "index.json").read_text())
    assert partial["complete"] is False and 1 <= len(partial["shards"]) < 4
    with pytest.raises(CacheError, match="incomplete.*rerun harvest"):
        ActivationCache(tmp_path / "resumed")
    first_shard = tmp_path / "resumed" / partial["shards"][0]["file"]
    written_at = first_shard.stat().st_mtime_ns

    harvest_model(spec, cfg, tmp_path / "resumed")
    assert first_shard.stat().st_mtime_ns == written_at  # finished shards are kept, not recomputed
    done = json.loads((tmp_path / "resumed" / "index.json").read_text())
    expected = json.loads((reference / "index.json").read_text())
    assert done["complete"] is True
    assert done["shards"] == expected["shards"]  # same files, sizes, document ranges and sha256
    assert (tmp_path / "resumed" / "stats.json").read_text() == (reference / "stats.json").read_text()


def test_corrupt_and_missing_shards_are_detected_and_repaired(tmp_path, tiny_base_dir, tiny_corpus_path):
    spec, cfg = ModelSpec("base", str(tiny_base_dir)), _cfg(tiny_corpus_path)
    out = harvest_model(spec, cfg, tmp_path / "cache")
    cache = ActivationCache(out)
    original = cache.load()
    shard = out / cache.index["shards"][1]["file"]

    written = shard.read_bytes()
    data = bytearray(written)
    data[-10] ^= 0xFF  # flip bits inside the activations
    shard.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="shard_00001.safetensors .*corrupt.*sha256.*rerun harvest"):
        ActivationCache(out).verify()
    harvest_model(spec, cfg, out)  # re-creates the corrupt shard, byte for byte
    assert shard.read_bytes() == written

    shard.unlink()
    with pytest.raises(CacheError, match="shard_00001.safetensors .*missing.*rerun harvest"):
        ActivationCache(out).load()
    harvest_model(spec, cfg, out)  # re-creates exactly that shard
    repaired = ActivationCache(out)
    repaired.verify()
    assert torch.equal(repaired.token_ids, cache.token_ids)
    torch.testing.assert_close(repaired.load(), original, rtol=2**-7, atol=1e-4)


def test_changed_settings_refuse_to_resume(tmp_path, tiny_base_dir, tiny_corpus_path):
    spec = ModelSpec("base", str(tiny_base_dir))
    out = harvest_model(spec, _cfg(tiny_corpus_path), tmp_path / "cache")
    with pytest.raises(CacheError, match="different settings \\(layer differ.*delete that directory"):
        harvest_model(spec, _cfg(tiny_corpus_path, layer=1), out)
    with pytest.raises(CacheError, match="complete for limits.*delete it"):
        harvest_model(spec, _cfg(tiny_corpus_path, max_tokens=100), out)


# ---------------------------------------------------------------------------------------------------------------
# Bad input


def test_mismatched_tokenizers_stop_before_anything_is_computed(
    tmp_path, pair_run, tiny_base_dir, tiny_other_tokenizer_dir, tiny_corpus_path
):
    _, out = pair_run
    index_before = (out["base"] / "index.json").read_text()
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("other", str(tiny_other_tokenizer_dir))]
    with pytest.raises(
        TokenizerMismatchError,
        match="'base' and 'other' do not tokenize identically.*vocabulary sizes differ \\(512 vs 384\\)",
    ):
        harvest(_cfg(tiny_corpus_path), tmp_path, models)
    assert not (tmp_path / "activations").exists()
    with pytest.raises(TokenizerMismatchError):
        harvest(_cfg(tiny_corpus_path), pair_run[0], models)  # a run with finished caches
    assert (out["base"] / "index.json").read_text() == index_before


def test_layer_out_of_range_is_a_clear_error(tmp_path, tiny_base_dir, tiny_corpus_path):
    with pytest.raises(
        HarvestError, match="layer 4 is out of range.*4 decoder layers.*valid layers are 0..3"
    ):
        harvest(_cfg(tiny_corpus_path, layer=4), tmp_path, [ModelSpec("base", str(tiny_base_dir))])
    assert not (tmp_path / "activations" / "base").exists()
    with pytest.raises(HarvestError, match="0-based"):
        _cfg(tiny_corpus_path, layer=-1)


def test_empty_corpus_is_a_clear_error(tmp_path, tiny_base_dir):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": "   "}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="corpus is empty"):
        harvest(_cfg(empty), tmp_path / "run", [ModelSpec("base", str(tiny_base_dir))])
    assert not (tmp_path / "run" / "activations" / "base").exists()


def test_reader_errors(tmp_path):
    with pytest.raises(CacheError, match="no activation cache.*run harvest first"):
        ActivationCache(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# Options


def test_max_tokens_keep_bos_and_lora_model(tmp_path, tiny_base_dir, tiny_lora_dir, tiny_corpus_path):
    cfg = _cfg(tiny_corpus_path, max_tokens=333, drop_bos=False)
    runs = harvest(
        cfg,
        tmp_path,
        [
            ModelSpec("base", str(tiny_base_dir)),
            ModelSpec("lora", str(tiny_base_dir), adapter=str(tiny_lora_dir)),
        ],
    )
    base, lora = ActivationCache(runs["base"]), ActivationCache(runs["lora"])
    assert base.n_tokens == lora.n_tokens == 333
    assert base.index["bos"]["dropped"] is False
    assert int((base.positions == 0).sum()) == int(
        base.doc_ids.unique().numel()
    )  # every document keeps its BOS row
    assert set(base.token_ids[base.positions == 0].tolist()) == {1}
    assert not torch.allclose(base.load(), lora.load(), atol=1e-3)


def test_without_bos_position_zero_is_still_dropped(tmp_path, tiny_base_dir):
    model_dir = tmp_path / "no_bos"
    shutil.copytree(tiny_base_dir, model_dir)
    tiny_models.build_tokenizer("base", add_bos=False).save_pretrained(model_dir)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "x"}\n{"text": "red cat sat"}\n{"text": "y"}\n', encoding="utf-8")
    cfg = _cfg(corpus, batch_size=1, shard_tokens=1)  # the last batch yields no rows at all
    cache = ActivationCache(harvest(cfg, tmp_path / "run", [ModelSpec("m", str(model_dir))])["m"])
    assert cache.index["bos"]["in_input"] is False and cache.index["bos"]["dropped"] is True
    tokenizer = cache.tokenizer()
    first, *rest = tokenizer("red cat sat")["input_ids"]
    assert first != tokenizer.bos_token_id
    assert cache.token_ids.tolist() == rest
    assert set(cache.doc_ids.tolist()) == {1}  # the one-token documents leave no rows
    assert cache.positions.tolist() == list(range(1, len(rest) + 1))


def test_rank_sharded_harvest_merges_to_the_same_rows(tmp_path, pair_run, tiny_base_dir, tiny_corpus_path):
    _, out = pair_run
    single = ActivationCache(out["base"])
    spec, cfg = ModelSpec("base", str(tiny_base_dir)), _cfg(tiny_corpus_path)
    for rank in range(2):
        harvest_model(spec, cfg, tmp_path, rank=rank, world_size=2)
    merged = ActivationCache(merge_ranks(tmp_path, world_size=2))
    assert merged.n_tokens == single.n_tokens
    assert set(merged.doc_ids[: merged.index["shards"][0]["n_tokens"]].tolist()) <= set(range(0, 32, 2))
    order = torch.argsort(merged.doc_ids.long() * 1000 + merged.positions.long(), stable=True)
    assert torch.equal(merged.token_ids[order], single.token_ids)
    torch.testing.assert_close(merged.load()[order], single.load(), rtol=2**-7, atol=1e-4)
    torch.testing.assert_close(merged.stats["mean"], single.stats["mean"], rtol=1e-5, atol=1e-7)


def test_streaming_mode_yields_the_cached_rows(pair_run, tiny_base_dir, tiny_ft_dir, tiny_corpus_path):
    _, out = pair_run
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))]
    parts = list(stream_activations(_cfg(tiny_corpus_path, max_tokens=500), models))
    acts = torch.cat([a for a, _, _ in parts])
    assert acts.shape == (500, 2, 48)
    cached = load_paired(out["base"], out["ft"])[:500]
    torch.testing.assert_close(acts.to(torch.bfloat16).float(), cached, rtol=2**-7, atol=1e-4)
    assert torch.equal(torch.cat([t for _, t, _ in parts]), ActivationCache(out["base"]).token_ids[:500])


def test_config_round_trip(tiny_corpus_path):
    cfg = _cfg(tiny_corpus_path, max_tokens=10)
    assert HarvestConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(HarvestError, match="unknown harvest key.*'layers'"):
        HarvestConfig.from_dict({"layers": 3})
