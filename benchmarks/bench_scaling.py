"""Scale-out plan and data-parallel overhead.

``--plan`` (default): the arithmetic of docs/scaling.md ("The paper's configuration, worked through") for a model /
dictionary / token count — FLOPs per token of the harvest (2 × the parameters of blocks 0..L, per model, plus
attention scores) and of a training step (dense encoder 2·M·d·F; sparse decode, its backward and the encoder's sparse
backward 4 × 2·M·d·k), bytes per cached token, gradient bytes all-reduced per step, and GPU-hours at an assumed peak
and utilization.

``--measure``: data-parallel overhead measured in one run: the same training (synthetic planted pairs, same seed and
global batch) with ``torchrun --nproc_per_node 1`` and ``--nproc_per_node N``; prints tokens/s of each (median over the
logged windows) and the ratio. On a shared 2-core CPU box this measures the collectives' cost, not a speed-up; on a
GPU node (``--device cuda``) it measures scaling.

Usage: ``.venv/bin/python benchmarks/bench_scaling.py [--plan] [--tokens 2e8] [--gpus 8]``,
``.venv/bin/python benchmarks/bench_scaling.py --measure [--nproc 2] [--latents 4096] [--d-model 576]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

# google/gemma-2-9b (config.json): 42 blocks, hidden 3584, MLP 14336 (gated), 16 query / 8 key-value heads of 256.
GEMMA2_9B = {"d": 3584, "d_mlp": 14336, "q_heads": 16, "kv_heads": 8, "head_dim": 256, "blocks": 42}


def block_params(model: dict) -> int:
    """Weights of one decoder block (attention q, k, v, o + gated MLP; norms are negligible)."""
    d, heads = model["d"], model["head_dim"]
    attention = d * heads * (2 * model["q_heads"] + 2 * model["kv_heads"])
    return attention + 3 * d * model["d_mlp"]


def harvest_flops_per_token(model: dict, layer: int, context: int) -> float:
    """Forward FLOPs of one token through blocks 0..layer (early exit): 2 per weight, plus QKᵀ and AV over a causal
    context of ``context`` tokens (average attended length context/2)."""
    blocks = layer + 1
    attention_scores = 2 * 2 * (context / 2) * model["q_heads"] * model["head_dim"]
    return blocks * (2 * block_params(model) + attention_scores)


def train_flops_per_token(d: int, n_latents: int, k: int, n_models: int = 2) -> dict[str, float]:
    """Per token of a training step: ours (dense encoder forward + 4 sparse products over the k kept latents) and a
    dense implementation (forward + backward ≈ 3 × the dense encoder and decoder products)."""
    encoder = 2 * n_models * d * n_latents
    sparse = 2 * n_models * d * k
    return {"ours": encoder + 4 * sparse, "dense": 3 * (encoder + sparse)}


# A100 dense peaks, TFLOP/s: float32 on CUDA cores, TF32 and bf16 on tensor cores.
PEAKS = {"float32": 19.5, "tf32": 156.0, "bf16": 312.0}


def plan(args: argparse.Namespace) -> None:
    model, d = GEMMA2_9B, GEMMA2_9B["d"]
    effective = {name: peak * 1e12 * args.utilization for name, peak in PEAKS.items()}
    harvest = harvest_flops_per_token(model, args.layer, args.context)
    train = train_flops_per_token(d, args.latents, args.k)
    pair_bytes = 2 * d * 2  # two models, bf16
    grad_bytes = (2 * 2 * d * args.latents + args.latents + 2 * 2 * d) * 4  # float32 W_enc, W_dec, biases
    steps = args.tokens / args.batch
    n_params = 2 * 2 * d * args.latents
    # memory-bound work per step: Adam (read param, grad, 2 moments; write param, 2 moments) + grad-norm clipping
    # (read, scale) ≈ 40 B per parameter, replicated on every GPU; (B, F) elementwise passes (pre-activations,
    # scores, candidate scan, SAE-Lens's dense firing bookkeeping) ≈ 32 B per token and latent, split over GPUs.
    optimizer_s = 40 * n_params / (args.hbm_tbs * 1e12)
    elementwise_s = 32 * args.batch * args.latents / (args.hbm_tbs * 1e12)
    print(
        f"Gemma-2-9b, layer {args.layer}, context {args.context}; crosscoder d={d}, F={args.latents}, k={args.k}, "
        f"M=2, batch {args.batch}; {args.tokens:.3g} tokens; A100 peaks {PEAKS} TFLOP/s at "
        f"{args.utilization:.0%}; NCCL all-reduce {args.allreduce_gbs:.0f} GB/s"
    )
    rows = [
        ["decoder block weights", f"{block_params(model) / 1e6:.1f} M"],
        [f"harvest FLOPs / token / model (blocks 0..{args.layer})", f"{harvest / 1e9:.2f} G"],
        [
            "training FLOPs / token: ours / dense backward",
            f"{train['ours'] / 1e9:.2f} G / {train['dense'] / 1e9:.2f} G",
        ],
        ["cache bytes / token for a pair (2 × d × 2 B)", f"{pair_bytes / 1e3:.1f} kB"],
        [f"cache of a pair, {args.tokens:.3g} tokens", f"{pair_bytes * args.tokens / 1e12:.2f} TB"],
        [
            f"cache of the run's {args.models} models",
            f"{args.models * d * 2 * args.tokens / 1e12:.2f} TB",
        ],
        [
            f"harvest of {args.models} models, bf16",
            f"{args.models * harvest * args.tokens / effective['bf16'] / 3600:.1f} GPU-h",
        ],
        ["gradient all-reduced per step (float32)", f"{grad_bytes / 1e9:.2f} GB"],
        [
            f"memory-bound per step at {args.hbm_tbs} TB/s: optimizer + clipping / (B, F) passes",
            f"{optimizer_s * 1e3:.0f} ms / {elementwise_s * 1e3:.0f} ms",
        ],
    ]
    print(tabulate(rows, headers=["quantity", "value"]))
    table = []
    for precision in ("float32", "tf32"):
        matmul = args.batch * train["ours"] / effective[precision]
        one = matmul + elementwise_s + optimizer_s
        for gpus in (1, 2, 4, 8):
            compute = (matmul + elementwise_s) / gpus + optimizer_s
            ring = 2 * (gpus - 1) / gpus * grad_bytes / (args.allreduce_gbs * 1e9)
            step = compute + ring
            table.append(
                [
                    precision,
                    gpus,
                    f"{compute * 1e3:.0f}",
                    f"{ring * 1e3:.0f}",
                    f"{one / step:.1f}×",
                    f"{steps * step / 3600:.1f} h",
                ]
            )
    print()
    print(
        tabulate(
            table,
            headers=[
                "one crosscoder",
                "GPUs",
                "compute ms/step",
                "all-reduce ms/step",
                "speed-up",
                "wall time",
            ],
        )
    )


# ---------------------------------------------------------------------------------------------------------------
# Measured data-parallel overhead


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measure_once(nproc: int, args: argparse.Namespace, out: Path) -> float:
    script = out / "worker.py"
    script.write_text(
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from llmdiff_eval.crosscoder import CrosscoderConfig, train_crosscoder\n"
        "from llmdiff_eval.distributed import process_group\n"
        "from llmdiff_eval.synthetic import make_planted_pairs\n"
        "d, latents, k, batch, steps = (int(a) for a in sys.argv[1:6])\n"
        "data = make_planted_pairs(batch * steps, d, n_shared=32, n_ft_only=4, n_base_only=4, seed=0)\n"
        "cfg = CrosscoderConfig(n_latents=latents, k=k, batch_size=batch, epochs=1, log_every_steps=5,\n"
        "                       checkpoint_every_steps=0, device=sys.argv[6])\n"
        "with process_group() as world:\n"
        "    train_crosscoder(data.acts, cfg, out_dir=sys.argv[7], parallel=world)\n"
    )
    run_dir = out / f"run{nproc}"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script)]
    command += [str(v) for v in (args.d_model, args.latents, args.k, args.batch, args.steps)]
    command += [args.device, str(run_dir)]
    subprocess.run(command, check=True, env=env, capture_output=True)
    log = [json.loads(line) for line in (run_dir / "training_log.jsonl").read_text().splitlines()]
    # tokens/s between consecutive log lines (the first window includes start-up)
    rates = [
        (b["tokens"] - a["tokens"]) / max(b["elapsed_s"] - a["elapsed_s"], 1e-9)
        for a, b in zip(log, log[1:], strict=False)
    ]
    return statistics.median(rates)


def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        one = _measure_once(1, args, Path(tmp))
        many = _measure_once(args.nproc, args, Path(tmp))
    grad_mb = (4 * args.d_model * args.latents + args.latents + 4 * args.d_model) * 4 / 1e6
    print(
        f"d={args.d_model}, F={args.latents}, k={args.k}, global batch {args.batch}, {args.steps} steps, "
        f"device {args.device}, 1 thread per process; gradient all-reduced per step {grad_mb:.1f} MB"
    )
    print(
        tabulate(
            [["1", f"{one:,.0f}", "1.00"], [str(args.nproc), f"{many:,.0f}", f"{many / one:.2f}"]],
            headers=["processes", "tokens/s", "ratio to 1 process"],
        )
    )
    print(f"(measured in {time.perf_counter() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--measure", action="store_true", help="time 1 vs --nproc processes instead of planning"
    )
    parser.add_argument("--tokens", type=float, default=2e8, help="training tokens (paper: 200M)")
    parser.add_argument("--models", type=int, default=3, help="models harvested (paper: base, it, SimPO)")
    parser.add_argument("--layer", type=int, default=20)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--latents", type=int, default=None, help="F (plan: 114,688; measure: 4096)")
    parser.add_argument("--k", type=int, default=None, help="k (plan: 100; measure: 32)")
    parser.add_argument("--batch", type=int, default=None, help="global batch (plan: 2048; measure: 1024)")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--peak-tflops", type=float, default=312.0, help="bf16 dense peak (A100: 312)")
    parser.add_argument(
        "--fp32-tflops", type=float, default=19.5, help="float32 peak without TF32 (A100: 19.5)"
    )
    parser.add_argument("--utilization", type=float, default=0.4, help="fraction of peak reached")
    parser.add_argument(
        "--allreduce-gbs", type=float, default=200.0, help="NCCL all-reduce bus bandwidth, GB/s"
    )
    parser.add_argument("--hbm-tbs", type=float, default=1.5, help="GPU memory bandwidth reached, TB/s")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=576)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.measure:
        args.latents, args.k, args.batch = args.latents or 4096, args.k or 32, args.batch or 1024
        measure(args)
    else:
        args.latents, args.k, args.batch = args.latents or 114_688, args.k or 100, args.batch or 2048
        plan(args)


if __name__ == "__main__":
    main()
