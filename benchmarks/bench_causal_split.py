"""Where a demo fine-tune's divergence from the base lives at layer L: how much of ``KL(P_ft ‖ P_base)`` on the causal
probe goes away when the fine-tune's layer-L residual is replaced, in part, by the base's (issue 15, item 4's "why").

For each pair of a finished run directory (its causal probe, models and crosscoder, as the causal stage builds them),
the fine-tune runs from layer L with its residual ``h_ft`` edited, and ``kl_removed = 1 − KL(P_ft,edited ‖ P_base) /
KL(P_ft ‖ P_base)`` is printed for:

* ``h_ft → h_base`` at every position: the whole difference. 100 % exactly when the blocks above L are the same in
  both models (the demo's LoRA adapters change blocks 0–20 only);
* the same at the counted positions only (every position but 0, the ones the crosscoder sees and the causal stage
  edits), and at position 0 only;
* the crosscoder's account of the difference, ``δ = Σ_j f_j Δd_j`` over **all** latents, and over the pair's
  annotated model-specific latents (the causal stage's ``model-specific`` set) — at the counted positions;

and how well ``δ`` (all latents) matches ``h_ft − h_base`` there (share of the difference's squared norm it leaves).
Nothing is asserted.

    .venv/bin/python benchmarks/bench_causal_split.py RUN_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from llmdiff_eval.causal.forward import logits_from_layer
from llmdiff_eval.causal.intervention import Intervention
from llmdiff_eval.causal.measure import kl_divergence, log_probabilities, probe_batches
from llmdiff_eval.causal.run import pair_crosscoder, pair_specs, probe_sequences
from llmdiff_eval.causal.sets import pair_sets, read_model_specific
from llmdiff_eval.config import load_config
from llmdiff_eval.models import load_models, load_tokenizer
from llmdiff_eval.utils import pair_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    config = load_config(args.run_dir / "config.yaml")
    layer, base = config.harvest.layer, config.base.name
    tokenizer = load_tokenizer(config.base)
    sequences, _ = probe_sequences(config, args.run_dir, tokenizer)
    models = load_models(config.models, "cpu", config.harvest.dtype)
    print("| pair | edit of the fine-tune's layer-L residual | KL removed |\n|---|---|---|")
    for ft_spec in config.finetunes:
        ft = ft_spec.name
        pair_specs(config, ft)
        intervention = Intervention(pair_crosscoder(args.run_dir, base, ft, layer, "cpu"))
        specific = pair_sets(read_model_specific(args.run_dir, pair_name(base, ft)), 1)[0].latents
        batches = probe_batches(
            models[base],
            models[ft],
            layer,
            sequences,
            8,
            tokenizer.pad_token_id,
            config.harvest.drop_bos,
            "cpu",
        )
        before, after, residual = 0.0, {}, [0.0, 0.0]
        for batch in batches:
            log_base = log_probabilities(
                logits_from_layer(models[base], layer, batch.h_base, batch.input_ids, batch.attention_mask)
            )[batch.counted]
            log_ft = log_probabilities(
                logits_from_layer(models[ft], layer, batch.h_ft, batch.input_ids, batch.attention_mask)
            )[batch.counted]
            before += float(kl_divergence(log_ft, log_base).sum())
            counted, first = batch.counted, torch.zeros_like(batch.counted)
            first[:, 0] = batch.attention_mask[:, 0].bool()
            f = intervention.encode(batch.h_base[counted], batch.h_ft[counted])
            exact = (batch.h_ft - batch.h_base)[counted].float()
            delta_all = intervention.delta(f, range(intervention.n_latents))
            residual[0] += float((exact - delta_all).pow(2).sum())
            residual[1] += float(exact.pow(2).sum())
            edited_states = {
                "h_ft → h_base at every position": torch.where(
                    batch.attention_mask.bool()[..., None], batch.h_base, batch.h_ft
                ),
                "h_ft → h_base at the counted positions (all but 0)": torch.where(
                    counted[..., None], batch.h_base, batch.h_ft
                ),
                "h_ft → h_base at position 0 only": torch.where(first[..., None], batch.h_base, batch.h_ft),
                "− δ of all latents, counted positions": _minus(batch.h_ft, counted, delta_all),
                f"− δ of the {len(specific)} model-specific latents, counted positions": _minus(
                    batch.h_ft, counted, intervention.delta(f, specific)
                ),
            }
            for label, states in edited_states.items():
                edited = log_probabilities(
                    logits_from_layer(models[ft], layer, states, batch.input_ids, batch.attention_mask)
                )[counted]
                after[label] = after.get(label, 0.0) + float(kl_divergence(edited, log_base).sum())
        for label, value in after.items():
            print(f"| {ft} | {label} | {100 * (1 - value / before):.1f}% |")
        share = 100 * residual[0] / residual[1]
        print(
            f"| {ft} | (‖h_ft − h_base − δ_all‖² / ‖h_ft − h_base‖², counted positions) | {share:.1f}% left |"
        )
    return 0


def _minus(states: torch.Tensor, counted: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    edited = states.clone()
    edited[counted] -= delta.to(states.dtype)
    return edited


if __name__ == "__main__":
    sys.exit(main())
