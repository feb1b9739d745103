"""Peak memory of the harvest and of crosscoder training at two corpus sizes (issue 17 item 5): with streamed shards
and bounded shuffle buffers it should not grow with the number of tokens.

The demo's base and fine-tune ``a`` (SmolLM2-135M, layer 20, float32 CPU), ``cpu-small`` crosscoder, on the first
``N`` tokens of the demo's probe corpus, for two sizes. Shards are kept small (``harvest.shard_tokens``) and
training shuffles within buffers of ``crosscoder.buffer_tokens`` rows, so both sizes span several shards and
buffers. Each stage runs in its own process (``run_pipeline`` with that stage only), whose peak resident memory
(``ru_maxrss``) is reported; the larger size's peak is given as a ratio of the smaller's. Nothing is asserted.

    .venv/bin/python benchmarks/bench_memory.py [--sizes 8000,32000] [--shard-tokens 2048] [--buffer-tokens 4096]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(stage: str, run_dir: str, tokens: int, shard_tokens: int, buffer_tokens: int) -> dict:
    from llmdiff_eval.demo import demo_config
    from llmdiff_eval.pipeline import run_pipeline

    config = demo_config()
    config.finetunes = config.finetunes[:1]
    config.harvest = dataclasses.replace(config.harvest, max_tokens=tokens, shard_tokens=shard_tokens)
    config.crosscoder = dataclasses.replace(config.crosscoder, buffer_tokens=buffer_tokens)
    config.causal = dataclasses.replace(config.causal, enabled=False)
    started = time.perf_counter()
    run_pipeline(config, run_dir, stages=[stage], log=lambda message: None)
    shards = len(list((Path(run_dir) / "activations" / "base").glob("shard_*")))
    return {
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "seconds": time.perf_counter() - started,
        "shards": shards,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="8000,32000", help="two token counts per model (default 8000,32000)"
    )
    parser.add_argument("--shard-tokens", type=int, default=2048)
    parser.add_argument("--buffer-tokens", type=int, default=4096)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        stage, run_dir, tokens = args.worker
        print(json.dumps(worker(stage, run_dir, int(tokens), args.shard_tokens, args.buffer_tokens)))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tokens in sizes:
            run_dir = Path(tmp) / f"run-{tokens}"
            for stage in ("harvest", "train"):
                command = [sys.executable, __file__, "--shard-tokens", str(args.shard_tokens)]
                command += [
                    "--buffer-tokens",
                    str(args.buffer_tokens),
                    "--worker",
                    stage,
                    str(run_dir),
                    str(tokens),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                rows.append((tokens, stage, json.loads(done.stdout.strip().splitlines()[-1])))
    print(
        f"base + fine-tune a, layer 20, float32 CPU; shard_tokens {args.shard_tokens}, "
        f"buffer_tokens {args.buffer_tokens}\n"
    )
    print("| tokens per model | stage | shards per model | peak RSS (GB) | × smaller size | wall (s) |")
    print("|---|---|---|---|---|---|")
    smallest = {stage: row["peak_gb"] for tokens, stage, row in rows if tokens == sizes[0]}
    for tokens, stage, row in rows:
        print(
            f"| {tokens:,} | {stage} | {row['shards']} | {row['peak_gb']:.3f} | "
            f"{row['peak_gb'] / smallest[stage]:.3f} | {row['seconds']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
