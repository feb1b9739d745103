"""Latent scaling speed: our one-pass sparse accumulation vs a per-latent loop reference (the anchor algorithm).

Setup: N tokens of random paired activations (N, 2, d), a crosscoder with F latents built from explicit weights
whose inference threshold is set so that about ``--l0`` latents fire per token (like a trained BatchTopK
crosscoder). Every latent is a latent-scaling candidate (``scaling_min_distance=0``), both probes.

Timed, all in this run:

* ``ours``: ``latent_table`` end to end (encode pass, firing stats, decode, ν^ε/ν^r for all F latents, both
  probes), and the same pass with no scaling candidate (no decode, no products), so the cost of latent scaling
  itself is the difference.
* ``dense GEMM``: the same identity with a dense ``Fᵀ [x − x̂, x̂]`` product (B×F by B×4d, float32 GEMM, float64
  accumulation) instead of our sampled sparse product, to show why the sparse one is used; same pass otherwise.
* ``loop reference``: the anchor algorithm — one pass per target (base/fine-tune error, base/fine-tune
  reconstruction), and inside each batch a Python loop over latents that builds the target (error with the
  latent's own contribution put back) and accumulates ``Σ f (p·y)`` and ``Σ f²``. The full loop over F latents is
  too slow: its fixed part (the four encode/decode passes) is timed alone, the loop runs for ``--loop-latents``
  latents, and the per-latent cost is extrapolated linearly to F (the script says so).

Prints seconds, tokens/s and the ratios, and the largest difference between our ν and the reference's on the
subset. Nothing is asserted.

    .venv/bin/python benchmarks/bench_latent_scaling.py [--tokens 20000] [--d 576] [--latents 4096] [--l0 32]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from llmdiff_eval.analyze import AnalyzeConfig, latent_table
from llmdiff_eval.crosscoder import BatchTopKCrosscoder


def build(
    n_tokens: int, d: int, n_latents: int, l0: float, seed: int
) -> tuple[BatchTopKCrosscoder, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    W_enc = torch.randn(2, d, n_latents, generator=gen) / math.sqrt(2 * d)
    W_dec = torch.randn(n_latents, 2, d, generator=gen) / math.sqrt(d)
    W_dec[: n_latents // 8, 0] *= 0.05  # a share of nearly fine-tune-only latents, as in real crosscoders
    acts = torch.randn(n_tokens, 2, d, generator=gen)
    cc = BatchTopKCrosscoder.from_weights(W_enc, torch.zeros(n_latents), W_dec, torch.zeros(2, d))
    with torch.no_grad():  # threshold so that about l0 latents fire per token: the (1 - l0/F) quantile of f·s
        sample = cc.pre_activations(acts[:2048]) * cc.decoder_norms()
        cc.threshold.fill_(float(torch.quantile(sample.flatten()[:1_000_000], 1 - l0 / n_latents)))
    return cc, acts


def timed(fn, repeats: int = 1):
    """Best wall time of ``repeats`` calls (the machine may be shared) and the last result."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


@torch.inference_mode()
def dense_variant(cc: BatchTopKCrosscoder, acts: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The same identity with a dense Fᵀ [x − x̂, x̂] product (float32 GEMM, float64 accumulation)."""
    n_latents, _, d = cc.W_dec.shape
    G = torch.zeros(n_latents, 4 * d, dtype=torch.float64)
    for start in range(0, len(acts), batch_size):
        x = cc.normalize(acts[start : start + batch_size])
        f = cc.encode(x)
        x_hat = cc.decode(f)
        targets = torch.cat([x - x_hat, x_hat], dim=1).reshape(len(x), 4 * d)
        G += (f.t() @ targets).double()
    return G


@torch.inference_mode()
def loop_reference(
    cc: BatchTopKCrosscoder, acts: torch.Tensor, latents: list[int], batch_size: int, dtype=torch.float32
) -> np.ndarray:
    """Anchor-style ν^ε, ν^r along the fine-tune decoder: one pass per target, a Python loop over latents; the
    targets and dot products in ``dtype`` (float32 like the anchors' default, float64 for the accuracy check)."""
    W = cc.W_dec.detach().to(dtype)
    numerators = {}
    sum_f2 = torch.zeros(len(latents), dtype=torch.float64)
    for target in ("base_error", "ft_error", "base_recon", "ft_recon"):
        model = 0 if target.startswith("base") else 1
        numerator = torch.zeros(len(latents), dtype=torch.float64)
        for start in range(0, len(acts), batch_size):
            x = cc.normalize(acts[start : start + batch_size])
            f = cc.encode(x)
            x_hat = cc.decode(f).to(dtype)
            x, f = x.to(dtype), f.to(dtype)
            for i, j in enumerate(latents):
                fj, probe = f[:, j], W[j, 1]
                if target.endswith("error"):
                    y = x[:, model] - x_hat[:, model] + fj[:, None] * W[j, model]
                else:
                    y = x_hat[:, model]
                numerator[i] += float((fj * (y @ probe)).sum())
                if target == "base_error":
                    sum_f2[i] += float((fj * fj).sum())
        numerators[target] = numerator
    p_sq = (W[latents, 1].double() ** 2).sum(-1)
    beta = {name: value / (p_sq * sum_f2) for name, value in numerators.items()}
    nu_eps = beta["base_error"] / beta["ft_error"]
    nu_r = beta["base_recon"] / beta["ft_recon"]
    return torch.stack([nu_eps, nu_r], 1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=576)
    parser.add_argument("--latents", type=int, default=4096)
    parser.add_argument("--l0", type=float, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--loop-latents", type=int, default=256, help="latents the loop reference runs for")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (not for the loop)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cc, acts = build(args.tokens, args.d, args.latents, args.l0, args.seed)
    with torch.no_grad():
        l0 = float((cc.encode(cc.normalize(acts[:2048])) > 0).sum(1).float().mean())
    print(
        f"N={args.tokens} tokens, d={args.d}, F={args.latents} latents, L0≈{l0:.1f}, batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}"
    )
    cfg = AnalyzeConfig(batch_size=args.batch_size, scaling_min_distance=0.0, probe="both")
    latent_table(cc, acts[: args.batch_size], cfg)  # warm-up
    no_scaling = AnalyzeConfig(
        batch_size=args.batch_size, scaling_min_distance=0.5
    )  # no latent is that extreme
    t_ours, _ = timed(lambda: latent_table(cc, acts, cfg), args.repeats)
    t_pass, _ = timed(lambda: latent_table(cc, acts, no_scaling), args.repeats)
    t_dense, _ = timed(lambda: dense_variant(cc, acts, args.batch_size), args.repeats)

    rng = np.random.default_rng(args.seed)
    subset = sorted(
        rng.choice(args.latents, size=min(args.loop_latents, args.latents), replace=False).tolist()
    )
    # the loop's fixed part (four encode/decode passes, no latent) is timed alone, so the per-latent cost is
    # measured on its own and extrapolated linearly to all F latents
    t_fixed, _ = timed(lambda: loop_reference(cc, acts, [], args.batch_size), args.repeats)
    t_subset, _ = timed(lambda: loop_reference(cc, acts, subset, args.batch_size))
    per_latent = max(t_subset - t_fixed, 0.0) / len(subset)
    t_loop = t_fixed + per_latent * args.latents
    note = (
        "measured" if len(subset) == args.latents else f"extrapolated, {per_latent * 1e3:.0f} ms per latent"
    )

    # accuracy: ours (float32 crosscoder, float64 sums) vs the loop in float64, on one batch of tokens
    check, few = acts[: args.batch_size], subset[:64]
    ours_nu = latent_table(cc, check, cfg).loc[few, ["nu_eps", "nu_r"]].to_numpy()
    exact = loop_reference(cc, check, few, args.batch_size, torch.float64)
    finite = np.isfinite(exact) & np.isfinite(ours_nu)
    relative = np.abs(ours_nu - exact)[finite] / np.maximum(1.0, np.abs(exact[finite]))
    rows = [
        ("ours: latent_table, all F latents, both probes", t_ours),
        ("ours: same pass without latent scaling", t_pass),
        ("ours: latent scaling cost (difference)", t_ours - t_pass),
        ("dense-GEMM variant of the identity (whole pass)", t_dense),
        ("loop reference: 4 passes, no latent", t_fixed),
        (f"loop reference: {len(subset)} latents", t_subset),
        (f"loop reference: all {args.latents} latents ({note})", t_loop),
    ]
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:9.2f} s  {args.tokens / max(seconds, 1e-9):12,.0f} tok/s")
    print(f"speed-up, whole pass: loop reference / ours = {t_loop / t_ours:.0f}x")
    print(f"speed-up, dense GEMM / sparse (whole pass)  = {t_dense / t_ours:.2f}x")
    print(
        f"accuracy vs a float64 loop ({check.shape[0]} tokens, {len(few)} latents, {finite.sum()} finite ν): "
        f"max |ν_ours − ν_ref| / max(1, |ν_ref|) = {relative.max():.1e}"
    )


if __name__ == "__main__":
    main()
