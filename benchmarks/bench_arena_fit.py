"""Speed of ratings fitted from battles (``llmdiff_eval.arena.fit_arena``): a style-controlled fit and its bootstrap.

Setup: ``--battles`` synthetic battles among ``--models`` models in the 100k/140k schema (``model_a, model_b, winner,
conv_metadata`` with the four style counts), votes drawn from a Bradley–Terry model with a length preference and
20 % ties. Timed, all in this run, each the best of ``--repeats``:

* ``normalize``: ``battles_from_frame`` — winner spellings, nested metadata, style counts (done once per input);
* ``plain fit``: ``fit_arena(table, bootstrap_rounds=0)`` — the reference the ratios are against;
* ``style fit``: ``fit_arena(table, style_control=True, bootstrap_rounds=0)`` — the plain and the style-controlled
  fit of the whole table (the issue's target: ≤ 15 s for 140k battles × 100 models on 2 cores);
* ``bootstrap``: ``fit_arena(table, style_control=True, bootstrap_rounds=R, workers=W)`` minus ``style fit`` —
  R resamples, each refitting both models (target: ≤ 3 min for 100 rounds on 2 cores).

Prints seconds, battles/s and the ratios to the plain fit. Nothing is asserted.

    .venv/bin/python benchmarks/bench_arena_fit.py [--battles 140000] [--models 100] [--rounds 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from llmdiff_eval.arena import battles_from_frame, fit_arena


def synthetic_battles(n: int, models: int, seed: int) -> pd.DataFrame:
    """Battles from a Bradley–Terry model (strengths N(0, 0.8)) with a length preference of 0.3 log-odds."""
    rng = np.random.default_rng(seed)
    strengths = rng.normal(0, 0.8, models)
    verbosity = rng.normal(0, 0.4, models)
    a = rng.integers(0, models, n)
    b = (a + rng.integers(1, models, n)) % models
    tokens = np.round(rng.lognormal(np.log(400) + verbosity[np.stack([a, b])], 0.5)) + 1
    markdown = rng.poisson(3, size=(6, n))
    length = (tokens[0] - tokens[1]) / (tokens[0] + tokens[1])
    p = 1 / (1 + np.exp(-(strengths[a] - strengths[b] + 0.3 * length / length.std())))
    draw = rng.random(n)
    winner = np.where(draw < 0.2, "tie", np.where(rng.random(n) < p, "model_a", "model_b"))
    names = np.array([f"model-{i:03d}" for i in range(models)])
    metadata = [
        {
            "sum_assistant_a_tokens": int(tokens[0, i]),
            "sum_assistant_b_tokens": int(tokens[1, i]),
            "header_count_a": {"h1": int(markdown[0, i]), "h2": 0},
            "header_count_b": {"h1": int(markdown[1, i]), "h2": 0},
            "list_count_a": {"ordered": int(markdown[2, i]), "unordered": 0},
            "list_count_b": {"ordered": int(markdown[3, i]), "unordered": 0},
            "bold_count_a": {"**": int(markdown[4, i]), "__": 0},
            "bold_count_b": {"**": int(markdown[5, i]), "__": 0},
        }
        for i in range(n)
    ]
    return pd.DataFrame(
        {"model_a": names[a], "model_b": names[b], "winner": winner, "conv_metadata": metadata}
    )


def timed(fn, repeats: int):
    """Best wall time of ``repeats`` calls (the machine may be shared) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=140_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None, help="bootstrap processes (default: every core)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    workers = args.workers or len(os.sched_getaffinity(0))
    raw = synthetic_battles(args.battles, args.models, args.seed)
    print(
        f"{args.battles} battles x {args.models} models, {args.rounds} bootstrap rounds, {workers} workers, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    normalize, table = timed(lambda: battles_from_frame(raw), args.repeats)
    plain, _ = timed(lambda: fit_arena(table, anchor=None, bootstrap_rounds=0), args.repeats)
    style, _ = timed(
        lambda: fit_arena(table, style_control=True, anchor=None, bootstrap_rounds=0), args.repeats
    )
    total, result = timed(
        lambda: fit_arena(
            table,
            style_control=True,
            anchor=None,
            bootstrap_rounds=args.rounds,
            seed=args.seed,
            workers=workers,
        ),
        args.repeats,
    )
    boot = total - style
    rows = [
        ("normalize", normalize),
        ("plain fit", plain),
        ("style fit (plain + style-controlled)", style),
        (f"bootstrap, {args.rounds} rounds (both fits each)", boot),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'step':<{width}}  {'seconds':>9}  {'battles/s':>11}  {'x plain fit':>11}")
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds:9.2f}  {args.battles / seconds:11.0f}  {seconds / plain:11.1f}")
    if args.rounds:
        print(f"per round: {boot / args.rounds:.3f} s wall with {workers} workers")
    coefficient = result.attrs["provenance"]["style_coefficients"][0]
    print(
        f"length coefficient {coefficient['elo_per_sd']:.1f} Elo/SD "
        f"[{coefficient['ci_lower']:.1f}, {coefficient['ci_upper']:.1f}] (planted: 0.3 log-odds per SD of the raw "
        f"length ratio = {0.3 * 400 / np.log(10):.1f} Elo/SD before the 20 % random ties, each half a win, flatten it)"
    )


if __name__ == "__main__":
    main()
