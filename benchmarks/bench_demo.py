"""Wall time, peak memory and planted-answer margins of ``llmdiff-eval demo`` (issue 3's acceptance).

Runs the demo as the newcomer does (``llmdiff-eval demo --out DIR [--quick] --seed S``, a subprocess) in a fresh
directory for the first seed and in sibling directories for the others, which reuse the first seed's harvested
activations (the harvest does not depend on the crosscoder seed; the runs copy them in). Per seed it prints the wall
time of the whole command (its terminal summary goes to ``<run>/demo_output.txt``), its peak resident memory (``ru_maxrss`` of the child), the seconds of each stage (from the
run's stage markers), and the planted-class check: for each fine-tune its top increased class in the a-vs-b
scorecard, its gain and its margin over the runner-up (percentage points of share).

As a reference measured in the same run, it times one plain full forward pass of the base model over the demo's
harvested token count (``--reference``, default on): the harvest of three models cannot beat three such passes by
more than the early exit (layer 20 of 30) saves, so ``harvest / (3 × reference)`` shows how much of the harvest is
overhead. Nothing is asserted; targets are ≤ 15 min for the full demo and ≤ 5 min for ``--quick`` on 2 CPU cores.

    .venv/bin/python benchmarks/bench_demo.py [--quick] [--seeds 0,1,2] [--out runs/bench-demo] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

from llmdiff_eval.demo import FULL, QUICK, planted_margins


def run_demo(out: Path, quick: bool, seed: int) -> tuple[float, float]:
    """Run the demo CLI; (wall seconds, peak resident memory of the process in MB)."""
    command = [sys.executable, "-m", "llmdiff_eval", "demo", "--out", str(out), "--seed", str(seed)]
    command += ["--quick"] if quick else []
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with open(
        out / "demo_output.txt", "w", encoding="utf-8"
    ) as summary:  # what the user sees, for the README
        child = subprocess.Popen(command, stdout=summary)
        _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return seconds, usage.ru_maxrss / 1024  # KB on Linux


def stage_seconds(run_dir: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for marker in (run_dir / ".stages").glob("*.json"):
        record = json.loads(marker.read_text())
        totals[record["stage"]] = totals.get(record["stage"], 0.0) + record["seconds"]
    return totals


def reference_forward_seconds(n_tokens: int, context: int = 256) -> float:
    """Seconds of plain full forward passes of the base model over ``n_tokens`` tokens (batches of 8 × context)."""
    import torch

    from llmdiff_eval.models import ModelSpec, load_model

    model, _tokenizer = load_model(ModelSpec(name="base", path="packaged:smollm2"), dtype="float32")
    batch = torch.randint(100, 40_000, (8, context), generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    with torch.no_grad():
        for _ in range(max(1, round(n_tokens / batch.numel()))):
            model(batch)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="time `demo --quick` (CI size)")
    parser.add_argument("--seeds", default="0,1,2", help="crosscoder seeds, comma-separated")
    parser.add_argument("--out", default="runs/bench-demo", help="parent directory of the runs (replaced)")
    parser.add_argument("--no-reference", dest="reference", action="store_false")
    parser.add_argument(
        "--harvest-from",
        help="a finished demo run whose harvested activations every seed reuses (no harvest timed)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    parent = Path(args.out) / ("quick" if args.quick else "full")
    shutil.rmtree(parent, ignore_errors=True)
    rows, first = [], Path(args.harvest_from) if args.harvest_from else None
    for seed in seeds:
        run_dir = parent / f"seed{seed}"
        if first is not None:  # reuse the harvested activations: only the crosscoder depends on the seed
            shutil.copytree(first / "activations", run_dir / "activations")
            (run_dir / ".stages").mkdir(parents=True)
            for marker in (first / ".stages").glob("harvest__*.json"):
                shutil.copy(marker, run_dir / ".stages")
        reused = first is not None
        seconds, peak_mb = run_demo(run_dir, args.quick, seed)
        first = first or run_dir
        stages = stage_seconds(run_dir)
        card = json.loads((run_dir / "scorecard.json").read_text())
        margins = planted_margins(card)
        rows.append(
            [seed, f"{seconds:.0f}", f"{peak_mb:.0f}"]
            + ["reused" if reused else f"{stages.get('harvest', 0):.0f}"]
            + [f"{stages.get(s, 0):.0f}" for s in ("train", "analyze", "annotate", "scorecard")]
            + [
                f"{m['top']} +{m['gain']:.2f} (margin {m['margin']:.2f}) {'OK' if m['ok'] else 'MISSED'}"
                for m in margins.values()
            ]
        )
        print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    headers = ["seed", "wall s", "peak MB", "harvest s", "train s", "analyze s", "annotate s", "scorecard s"]
    print(tabulate(rows, headers=headers + ["a: top class (pp)", "b: top class (pp)"], tablefmt="github"))
    if args.reference:
        tokens = (QUICK if args.quick else FULL)["max_tokens"]
        reference = reference_forward_seconds(tokens)
        harvest = stage_seconds(first).get("harvest", 0.0)
        print(
            f"\nreference: one full forward of the base over {tokens} tokens = {reference:.0f} s; harvest of 3 models "
            f"(seed {seeds[0]}) = {harvest:.0f} s = {harvest / (3 * reference):.2f} x (3 x reference)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
