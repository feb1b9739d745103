"""Annotate-stage benchmark: tokens and dollars per latent, request throughput, cache-hit rerun time.

1. Tokens and dollars per latent at the default settings (20 shown contexts, 10 + 10 detection contexts, 10 per judge
   prompt), counted from the real prompts by the library's estimator (characters / 3.5), for several models, standard
   and batch, without and with the categorizer's taxonomy prompt read from the prompt cache.
2. Requests per second through the real SDK against the local fake API (tests/anthropic_server.py) that adds a fixed
   latency per request, at the default concurrency limit vs one request at a time (the reference).
3. Rerun time when every latent is served from annotations.sqlite vs the first run (the reference).

    .venv/bin/python benchmarks/bench_annotate.py [--latency 0.2] [--latents 32]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from anthropic_server import FakeAnthropic, system_text  # noqa: E402

from llmdiff_eval.annotate import ClaudeAnnotator, annotate_latents  # noqa: E402
from llmdiff_eval.annotate.base import Usage  # noqa: E402
from llmdiff_eval.annotate.pricing import estimate_tokens, resolve_price  # noqa: E402
from llmdiff_eval.annotate.prompts import categorize_system  # noqa: E402
from llmdiff_eval.annotate.scoring import detection_set  # noqa: E402
from llmdiff_eval.taxonomy import load_taxonomy  # noqa: E402

WORDS = (
    "the model answered the question about the weather in Berlin and then explained why the sky looks blue "
    "during the day while sunsets are red because light scatters differently through the thicker atmosphere"
).split()


def window(i: int, n_words: int = 26) -> str:
    """A ~32-token context window with one marked token, as the analyze stage writes them."""
    words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(n_words)]
    words[n_words // 2] = f"<<{words[n_words // 2]}>>"
    return " ".join(words)


def latent_inputs(n_latents: int) -> tuple[dict, dict, dict]:
    top = {j: [window(j * 100 + i) for i in range(20)] for j in range(n_latents)}
    held = {j: [window(j * 100 + 50 + i) for i in range(10)] for j in range(n_latents)}
    negatives = {
        j: [window(j * 100 + 80 + i).replace("<<", "").replace(">>", "") for i in range(10)]
        for j in range(n_latents)
    }
    return top, held, negatives


def answer(body: dict) -> str:
    system = system_text(body)
    if system.startswith("You interpret"):
        result = {
            "patterns": ["weather explanations"],
            "label": "sky colour explanations",
            "description": "Fires on explanations of why the sky has its colour. It marks the key noun.",
            "confidence": "medium",
            "confidence_reason": "most excerpts fit",
        }
    elif system.startswith("You sort"):
        result = {"code": "G.26", "reason": "educational explanation"}
    else:
        n = body["messages"][0]["content"].count("\nExcerpt ")
        result = {"verdicts": [{"excerpt": i, "active": i % 2 == 0} for i in range(1, n + 1)]}
    return json.dumps(result)


def per_latent_costs() -> None:
    taxonomy = load_taxonomy("paper")
    top, held, negatives = latent_inputs(1)
    annotator = ClaudeAnnotator(api_key="sk-bench-not-used", base_url="http://127.0.0.1:9")  # nothing is sent
    judge = annotator.default_judge()
    dataset = detection_set(held[0], negatives[0], 10, seed=0)
    annotation = annotator.estimate(top[0], taxonomy)
    scoring = judge.estimate("x" * 400, dataset.contexts)
    total = annotation + scoring + scoring  # description + random baseline
    cached_prefix = estimate_tokens(categorize_system(taxonomy))
    print("1. per latent at default settings (estimated from the real prompts, 3.5 characters per token)")
    print(f"   requests: {total.requests} (explain 1, categorize 1, judge {2 * scoring.requests})")
    print(
        f"   input tokens: {total.input_tokens} (annotation {annotation.input_tokens}, scoring {2 * scoring.input_tokens})"
    )
    print(f"   output tokens (typical answers): {total.output_tokens}")
    print(
        f"   categorizer taxonomy prompt: {cached_prefix} tokens (cacheable where the model's minimum allows)"
    )
    header = (
        f"   {'model':<20}{'standard':>12}{'batch':>12}{'cached':>12}{'batch+cached':>14}   US$ per latent"
    )
    print(header)
    for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-8"):
        price = resolve_price(model)
        cached = Usage(
            input_tokens=total.input_tokens - cached_prefix,
            output_tokens=total.output_tokens,
            cache_read_tokens=cached_prefix,
        )
        print(
            f"   {model:<20}{price.cost(total):>12.5f}{price.cost(total, batch=True):>12.5f}"
            f"{price.cost(cached):>12.5f}{price.cost(cached, batch=True):>14.5f}"
        )


def throughput(latency: float, n_latents: int) -> None:
    top, _, _ = latent_inputs(n_latents)
    print(
        f"2. throughput against the local server ({latency * 1000:.0f} ms per request, {n_latents} latents, 2 requests each)"
    )
    rates = {}
    for concurrency in (1, 8):
        with FakeAnthropic(lambda body: answer(body), latency=latency) as server:
            annotator = ClaudeAnnotator(
                api_key="sk-bench", base_url=server.base_url, max_concurrency=concurrency
            )
            start = time.perf_counter()
            frame = annotate_latents(top, annotator, judge=False)
            elapsed = time.perf_counter() - start
            assert frame["error"].isna().all()
            rates[concurrency] = len(server.requests) / elapsed
        print(f"   max_concurrency={concurrency}: {rates[concurrency]:6.1f} requests/s ({elapsed:.2f} s)")
    print(f"   ratio vs concurrency 1: {rates[8] / rates[1]:.2f}x (ideal {min(8, n_latents)}x)")


def cache_rerun(n_latents: int) -> None:
    top, held, negatives = latent_inputs(n_latents)
    print(f"3. cache-hit rerun ({n_latents} latents, annotation + scoring, no server latency)")
    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic(lambda body: answer(body)) as server:
        cache = Path(tmp) / "annotations.sqlite"
        annotator = ClaudeAnnotator(api_key="sk-bench", base_url=server.base_url)
        start = time.perf_counter()
        annotate_latents(top, annotator, cache_path=cache, heldout=held, negatives=negatives)
        first = time.perf_counter() - start
        n_requests = len(server.requests)
        server.clear()
        start = time.perf_counter()
        again = annotate_latents(top, annotator, cache_path=cache, heldout=held, negatives=negatives)
        rerun = time.perf_counter() - start
        assert server.requests == [] and again["from_cache"].all()
    print(f"   first run: {first:.2f} s ({n_requests} requests); rerun: {rerun:.3f} s, 0 requests")
    print(f"   rerun / first run: {rerun / first:.3f} ({rerun / n_latents * 1000:.2f} ms per latent)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--latency", type=float, default=0.2, help="seconds the fake server waits per request"
    )
    parser.add_argument("--latents", type=int, default=32, help="latents in the throughput test")
    parser.add_argument("--cache-latents", type=int, default=200, help="latents in the cache-rerun test")
    args = parser.parse_args()
    per_latent_costs()
    throughput(args.latency, args.latents)
    cache_rerun(args.cache_latents)


if __name__ == "__main__":
    main()
