"""Training throughput of the BatchTopK crosscoder vs a dense reference of the anchor algorithm, in one run.

The reference (written here) is the straightforward anchor implementation: dense pre-activations, flatten-top-k of
f·s over the whole B×F batch, a dense (B, F) mask, a dense decode ``f @ W_dec``, and autograd through all of it. Ours is
``BatchTopKCrosscoderTrainingSAE.training_forward_pass`` (exact batch top-k among the entries above a sampled
threshold, sparse decode, sparse backward), timed as a bare step and through SAE-Lens's ``SAETrainer.step``. All use
the same initial weights, the same optimizer — torch's fused Adam, as our trainer uses
(``llmdiff_eval.crosscoder.trainer.use_fused_adam``); ``--plain-adam`` gives all three SAE-Lens's plain Adam
instead — and grad-norm clipping 1.0, no dead latents (AuxK inactive). The three are timed in one
subprocess with their steps interleaved, so that a change of load on a shared machine hits all alike, and the median
step is reported. Memory is measured per variant in its own subprocess: growth of the peak RSS
(``resource.getrusage``) over its first three steps (the step's working memory plus Adam's state and the gradients).

FLOP/s: the reference does 5 dense products of 2·B·(M·d)·F FLOPs per step (encoder forward, decoder forward, and
three in the backward pass); ours does 1 dense product (the encoder forward) plus 4 sparse ones of 2·k·B·(M·d) FLOPs.
"achieved" counts the FLOPs each implementation actually performs; the peak is ``torch.mm`` at the encoder's shape
(B × M·d) @ (M·d × F), timed interleaved with the steps (median).

Usage: ``.venv/bin/python benchmarks/bench_train.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import torch
from tabulate import tabulate

D_MODEL = 576  # SmolLM2-135M, the embedded default model
N_MODELS = 2
BATCH = 1024
SHAPES = [(4096, 32), (16384, 32), (16384, 100)]  # (F, k)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _dense_reference_loss(params: dict[str, torch.Tensor], x: torch.Tensor, k: int) -> torch.Tensor:
    """The anchor algorithm, straightforwardly: dense everything, flatten-top-k over B×F."""
    pre = torch.relu(torch.einsum("bmd,mdf->bf", x, params["W_enc"]) + params["b_enc"])
    s = params["W_dec"].norm(dim=-1).sum(dim=-1)
    keep = torch.zeros_like(pre, dtype=torch.bool).flatten()
    keep[(pre * s).detach().flatten().topk(k * x.shape[0]).indices] = True
    f = pre * keep.view_as(pre)
    x_hat = torch.einsum("bf,fmd->bmd", f, params["W_dec"]) + params["b_dec"]
    return (x_hat - x).pow(2).sum(dim=(1, 2)).mean()


def _make(n_latents: int, k: int):
    from llmdiff_eval.crosscoder import BatchTopKCrosscoderTrainingConfig, BatchTopKCrosscoderTrainingSAE

    torch.manual_seed(0)
    cfg = BatchTopKCrosscoderTrainingConfig(d_in=D_MODEL, d_sae=n_latents, k=float(k), threshold_start_step=0)
    sae = BatchTopKCrosscoderTrainingSAE(cfg)
    batches = [torch.randn(BATCH, N_MODELS, D_MODEL) for _ in range(2)]
    return sae, batches


def _adam(params) -> torch.optim.Adam:
    from llmdiff_eval.crosscoder.trainer import use_fused_adam

    optimizer = torch.optim.Adam(params, lr=1e-4)
    if not PLAIN_ADAM:
        use_fused_adam(optimizer)
    return optimizer


PLAIN_ADAM = False


def _step_function(variant: str, n_latents: int, k: int, total_steps: int):
    """A one-step closure for ``variant`` (fresh copy of the same initial weights) and its batches."""
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.sae import TrainStepInput
    from sae_lens.training.sae_trainer import SAETrainer

    sae, batches = _make(n_latents, k)
    if variant == "reference":
        weights = {
            "W_enc": sae.W_enc,
            "b_enc": sae.b_enc,
            "W_dec": sae.W_dec,
            "b_dec": sae.b_dec,
        }  # (M, d, F) view
        params = {name: p.detach().clone().requires_grad_() for name, p in weights.items()}
        optimizer = _adam(params.values())

        def step(i: int) -> float:
            loss = _dense_reference_loss(params, batches[i % 2], k)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            return float(loss)

    elif variant == "ours":
        optimizer = _adam(sae.parameters())

        def step(i: int) -> float:
            out = sae.training_forward_pass(TrainStepInput(batches[i % 2], {"auxk": 1 / 32}, None, i, False))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            return float(out.loss.detach())

    else:  # ours through SAE-Lens's trainer (adds its bookkeeping: dead-latent counters, LR schedule)
        trainer_cfg = SAETrainerConfig(
            total_training_samples=BATCH * (total_steps + 2),
            train_batch_size_samples=BATCH,
            lr=1e-4,
            lr_end=1e-5,
            logger=LoggingConfig(log_to_wandb=False),
        )
        trainer = SAETrainer(trainer_cfg, sae, iter(()))
        if not PLAIN_ADAM:
            from llmdiff_eval.crosscoder.trainer import use_fused_adam

            use_fused_adam(trainer.optimizer)

        def step(i: int) -> float:
            out = trainer.step(batches[i % 2])
            trainer.n_training_steps += 1
            return float(out.loss.detach())

    return step


def time_worker(n_latents: int, k: int, steps: int) -> dict:
    """Median step time of every variant, steps interleaved so that a change of machine load hits all alike."""
    warnings.filterwarnings("ignore")
    functions = {variant: _step_function(variant, n_latents, k, steps) for variant in VARIANTS}
    a, b = torch.randn(BATCH, N_MODELS * D_MODEL), torch.randn(N_MODELS * D_MODEL, n_latents)
    functions["mm"] = lambda i: float(torch.mm(a, b)[0, 0])  # the peak: torch.mm at the encoder's shape
    first_loss = {variant: step(0) for variant, step in functions.items()}  # warm-up
    times: dict[str, list[float]] = {variant: [] for variant in functions}
    for i in range(1, steps + 1):
        for variant, step in functions.items():
            times[variant].append(_timed(lambda step=step, i=i: step(i)))
    return {
        variant: {"first_loss": first_loss[variant], "s_per_step": sorted(t)[len(t) // 2]}
        for variant, t in times.items()
    }


def memory_worker(variant: str, n_latents: int, k: int) -> dict:
    """Peak resident-memory growth over three steps (weights, data and optimizer set up before), this variant alone."""
    warnings.filterwarnings("ignore")
    step = _step_function(variant, n_latents, k, 3)
    baseline = _rss_mb()
    for i in range(3):
        step(i)
    return {"peak_extra_mb": _rss_mb() - baseline}


VARIANTS = ("reference", "ours", "ours_trainer")


def selection_times(n_latents: int, k: int, repeats: int = 5) -> tuple[float, float]:
    """Seconds to pick the k·B largest of a (B, F) matrix: flatten-top-k vs ours."""
    from llmdiff_eval.crosscoder import batch_topk_flat

    scores = torch.randn(BATCH, n_latents).relu_()
    flat = min(_timed(lambda: scores.flatten().topk(k * BATCH, sorted=False)) for _ in range(repeats))
    ours = min(_timed(lambda: batch_topk_flat(scores, k * BATCH)) for _ in range(repeats))
    return flat, ours


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _run_worker(*worker_args: str) -> dict:
    threads = ["--threads", str(torch.get_num_threads())] + (["--plain-adam"] if PLAIN_ADAM else [])
    cmd = [sys.executable, __file__, *threads, "--worker", *worker_args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first shape only, fewer steps")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--plain-adam", action="store_true", help="SAE-Lens's plain Adam for all variants")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global PLAIN_ADAM
    PLAIN_ADAM = args.plain_adam
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        kind, *rest = args.worker
        if kind == "time":
            print(json.dumps(time_worker(*map(int, rest))))
        else:
            print(json.dumps(memory_worker(rest[0], int(rest[1]), int(rest[2]))))
        return

    shapes = SHAPES[:1] if args.quick else SHAPES
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; d={D_MODEL}, M={N_MODELS}, batch={BATCH}; "
        + ("SAE-Lens's plain Adam" if PLAIN_ADAM else "fused Adam")
    )
    rows = []
    for n_latents, k in shapes:
        steps = 3 if args.quick else 7
        measured = _run_worker("time", str(n_latents), str(k), str(steps))
        for variant in VARIANTS:
            measured[variant].update(_run_worker("memory", variant, str(n_latents), str(k)))
        peak = 2 * BATCH * N_MODELS * D_MODEL * n_latents / measured["mm"]["s_per_step"]
        dense_flops = 2 * BATCH * N_MODELS * D_MODEL * n_latents
        sparse_flops = 2 * k * BATCH * N_MODELS * D_MODEL
        flat_s, ours_s = selection_times(n_latents, k)
        ref, ours, trainer = measured["reference"], measured["ours"], measured["ours_trainer"]
        rows.append(
            {
                "F": n_latents,
                "k": k,
                "ref tok/s": BATCH / ref["s_per_step"],
                "ours tok/s": BATCH / ours["s_per_step"],
                "ours+SAETrainer tok/s": BATCH / trainer["s_per_step"],
                "speed-up": ref["s_per_step"] / ours["s_per_step"],
                "speed-up (trainer)": ref["s_per_step"] / trainer["s_per_step"],
                "mm peak GFLOP/s": peak / 1e9,
                "ref achieved/peak": 5 * dense_flops / ref["s_per_step"] / peak,
                "ours achieved/peak": (dense_flops + 4 * sparse_flops) / ours["s_per_step"] / peak,
                "ref peak MB": ref["peak_extra_mb"],
                "ours peak MB": ours["peak_extra_mb"],
                "top-k select: flat/ours": flat_s / ours_s,
                "same first loss": abs(ref["first_loss"] - ours["first_loss"])
                <= 1e-3 * abs(ref["first_loss"]),
            }
        )
    print(tabulate(rows, headers="keys", floatfmt=".3g"))


if __name__ == "__main__":
    main()
