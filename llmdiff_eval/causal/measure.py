"""The causal effect of latent sets on next-token distributions: KL removed by ablation, KL closed by steering,
against matched random controls.

Over the probe tokens, with ``P_m`` the next-token distribution of model m at a token (natural log, nats)::

    KL        = KL(P_ft ‖ P_base)                       # the fine-tune's divergence from the base
    kl_removed = 1 − KL(P_ft,ablated ‖ P_base) / KL      # 1: ablating S removes all of it; 0: nothing; < 0: more
    kl_closed  = 1 − KL(P_ft ‖ P_base,steered) / KL      # 1: steering the base with S closes the whole gap

Each ratio is of sums over tokens (equivalently of means, nats per token), on all probe tokens and on the tokens
where S fires (some j ∈ S with f_j > 0, in the un-intervened pair). Interventions act at every counted position of
a probe document (all but position 0 when the harvest drops it: the crosscoder never saw that position) and
change what follows, as intended in a causal LM.

Cost: each model runs once to layer L on the probe documents (:func:`~llmdiff_eval.harvest.residual_at_layer`);
those states are kept, and every intervention — S and its controls, ablation and steering — runs only the blocks
above L (:func:`~llmdiff_eval.causal.forward.logits_from_layer`), several stacked in one batch. A document where an
intervention is exactly zero (none of its latents fires there) is not run again: its distributions are the clean
ones, exactly. Reference: docs/causal.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from llmdiff_eval.causal.forward import logits_from_layer
from llmdiff_eval.causal.intervention import Intervention, LatentSet
from llmdiff_eval.causal.sets import matched_controls
from llmdiff_eval.config.causal import CausalConfig
from llmdiff_eval.errors import CausalError
from llmdiff_eval.harvest import residual_at_layer


@dataclass
class ProbeBatch:
    """Right-padded probe documents and their layer-L states.

    ``counted`` (B, T) marks the positions whose next-token distribution is compared and where interventions act;
    ``starts`` (B + 1) are the offsets of each row's counted tokens in the batch's row-major order, ``offset`` the
    batch's first token in the whole probe."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    counted: torch.Tensor
    h_base: torch.Tensor
    h_ft: torch.Tensor
    starts: list[int]
    offset: int

    @property
    def n_tokens(self) -> int:
        return self.starts[-1]


def probe_batches(
    base_model,
    ft_model,
    layer: int,
    sequences: Sequence[Sequence[int]],
    batch_size: int,
    pad_id: int,
    drop_first: bool,
    device: torch.device,
) -> list[ProbeBatch]:
    """Group ``sequences`` (token ids) by length into batches and compute both models' layer-L states."""
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    batches, offset = [], 0
    for start in range(0, len(order), batch_size):
        rows = [list(sequences[i]) for i in order[start : start + batch_size]]
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        for number, row in enumerate(rows):
            input_ids[number, : len(row)] = torch.tensor(row)
        positions = torch.arange(width).expand(len(rows), width)
        attention_mask = (positions < torch.tensor([len(row) for row in rows])[:, None]).long()
        counted = attention_mask.bool() & (positions > 0 if drop_first else True)
        input_ids, attention_mask, counted = (
            input_ids.to(device),
            attention_mask.to(device),
            counted.to(device),
        )
        starts = [0, *np.cumsum(counted.sum(dim=1).tolist()).tolist()]
        batches.append(
            ProbeBatch(
                input_ids,
                attention_mask,
                counted,
                residual_at_layer(base_model, layer, input_ids, attention_mask),
                residual_at_layer(ft_model, layer, input_ids, attention_mask),
                [int(value) for value in starts],
                offset,
            )
        )
        offset += batches[-1].n_tokens
    return batches


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor, rows: int = 256) -> torch.Tensor:
    """KL(P ‖ Q) in nats over the last axis of (n, V) log-probabilities, ``rows`` at a time (to keep the
    temporaries small); rounding below 0 is clipped to 0."""
    parts = [
        (log_p[i : i + rows].exp() * (log_p[i : i + rows] - log_q[i : i + rows])).sum(dim=-1)
        for i in range(0, log_p.shape[0], rows)
    ]
    return torch.cat(parts).clamp_min(0.0) if parts else log_p.new_zeros(0)


def log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` over the last axis in float32, in place when ``logits`` already is float32: the logits of a
    stack of probe rows are hundreds of MB (rows × positions × vocabulary × 4 bytes), so only one copy is held."""
    with torch.inference_mode():
        logits = logits.float()
        return logits.sub_(logits.logsumexp(dim=-1, keepdim=True))


def firing_masses(intervention: Intervention, batches: Sequence[ProbeBatch], match: str) -> np.ndarray:
    """Per latent (F,): ``Σ_t f_j(t)`` over the counted probe tokens (``match="firing"``) or that times
    ``‖Δd_j‖`` (``"intervention"``, raw units)."""
    total = torch.zeros(intervention.n_latents, dtype=torch.float64, device=intervention.device)
    for batch in batches:
        f = intervention.encode(batch.h_base[batch.counted], batch.h_ft[batch.counted])
        total += f.sum(dim=0, dtype=torch.float64)
    if match == "intervention":
        total *= intervention.decoder_difference.norm(dim=1).double()
    return total.cpu().numpy()


def _edited_kl(
    model,
    layer: int,
    batch: ProbeBatch,
    items: Sequence[tuple[int, int, int]],
    states: torch.Tensor,
    reference: torch.Tensor,
    kl: torch.Tensor,
    ablate: bool,
    cost: dict[str, int],
) -> None:
    """Run edited ``states`` (one per item ``(variant, row, first)``: document ``row`` of ``batch`` edited from
    position ``first`` on) through the blocks above L and write each variant's per-token KL into ``kl`` (variants ×
    probe tokens). Positions before the chunk's smallest ``first`` are unchanged (causal attention), so the LM head
    is not run there and they keep their clean values. Ablation: ``KL(P_ft,ablated ‖ P_base)`` against
    ``reference`` = the base's clean log-probabilities; steering: ``KL(P_ft ‖ P_base,steered)``, reference = the
    fine-tune's."""
    rows = [row for _, row, _ in items]
    keep_from = min(first for *_, first in items)
    logits = logits_from_layer(
        model, layer, states, batch.input_ids[rows], batch.attention_mask[rows], keep_from
    )
    log_probs = log_probabilities(logits)
    for item, (variant, row, _) in enumerate(items):
        counted = batch.counted[row]
        lo = batch.starts[row] + int(counted[:keep_from].sum())
        hi = batch.starts[row + 1]
        edited = log_probs[item][counted[keep_from:]]
        clean = reference[lo:hi]
        values = kl_divergence(edited, clean) if ablate else kl_divergence(clean, edited)
        kl[variant, batch.offset + lo : batch.offset + hi] = values.double().cpu()
    cost["above_positions"] += len(rows) * batch.input_ids.shape[1]
    cost["head_positions"] += len(rows) * (batch.input_ids.shape[1] - keep_from)


def measure_effects(
    base_model,
    ft_model,
    intervention: Intervention,
    layer: int,
    batches: Sequence[ProbeBatch],
    sets: Sequence[LatentSet],
    excluded: set[int],
    cfg: CausalConfig,
) -> dict[str, Any]:
    """Ablation and steering effects of every set of ``sets`` and of ``cfg.n_controls`` matched controls of each
    (drawn from outside ``excluded``, seeded by ``cfg.seed``), over the probe ``batches``.

    Returns ``{"probe": ..., "sets": [one row per set], "cost": ...}`` (see docs/causal.md for every field)."""
    started = time.perf_counter()
    for latent_set in sets:
        intervention.check_latents(latent_set.latents)
    masses = firing_masses(intervention, batches, cfg.control_match)
    variants: list[LatentSet] = []  # each set, then its controls
    primary: list[int] = []  # index in variants of each set
    controls_of: list[list[int]] = []  # indices in variants of each set's controls
    for number, latent_set in enumerate(sets):
        rng = np.random.default_rng([cfg.seed, number])
        controls = matched_controls(latent_set, masses, excluded, cfg.n_controls, cfg.control_window, rng)
        primary.append(len(variants))
        controls_of.append(list(range(len(variants) + 1, len(variants) + 1 + len(controls))))
        variants += [latent_set, *controls]
    n_tokens = sum(batch.n_tokens for batch in batches)
    if n_tokens == 0:
        raise CausalError("the probe has no counted tokens: give longer probe documents")
    kl_clean = torch.zeros(n_tokens, dtype=torch.float64)
    kl_ablated = torch.zeros(len(variants), n_tokens, dtype=torch.float64)
    kl_steered = torch.zeros(len(variants), n_tokens, dtype=torch.float64)
    fires = torch.zeros(len(sets), n_tokens, dtype=torch.bool)
    norms = torch.zeros(len(variants), dtype=torch.float64)
    divergence = 0.0
    cost = {"layer_positions": 0, "above_positions": 0, "head_positions": 0, "skipped_rows": 0, "run_rows": 0}
    for batch in tqdm(batches, desc="causal", disable=not cfg.progress):
        width = batch.input_ids.shape[1]
        rows_per_forward = max(1, cfg.batch_tokens // width)
        cost["layer_positions"] += 2 * batch.input_ids.numel()
        log_ft = log_probabilities(
            logits_from_layer(ft_model, layer, batch.h_ft, batch.input_ids, batch.attention_mask)
        )[batch.counted]
        log_base = log_probabilities(
            logits_from_layer(base_model, layer, batch.h_base, batch.input_ids, batch.attention_mask)
        )[batch.counted]
        cost["above_positions"] += 2 * batch.input_ids.numel()
        cost["head_positions"] += 2 * batch.input_ids.numel()
        span = slice(batch.offset, batch.offset + batch.n_tokens)
        kl_clean[span] = kl_divergence(log_ft, log_base).double().cpu()
        kl_ablated[:, span] = kl_clean[span]
        kl_steered[:, span] = kl_clean[span]
        h_base, h_ft = batch.h_base[batch.counted], batch.h_ft[batch.counted]
        divergence += float((h_ft.float() - h_base.float()).norm(dim=1).sum())
        f = intervention.encode(h_base, h_ft)
        for index, number in enumerate(primary):
            fires[index, span] = intervention.fires(f, variants[number].latents).cpu()
        work: list[tuple[int, int, int]] = []  # (variant, document row, first edited position)
        for number, variant in enumerate(variants):
            delta = intervention.delta(f, variant.latents)
            norms[number] += float(delta.norm(dim=1).sum())
            changed = torch.zeros(batch.counted.shape, dtype=torch.bool, device=f.device)
            changed[batch.counted] = delta.ne(0).any(dim=1)  # positions this intervention edits
            active = changed.any(dim=1)
            cost["skipped_rows"] += int((~active).sum())
            cost["run_rows"] += int(active.sum())
            work += [
                (number, row, int(changed[row].nonzero()[0])) for row in active.nonzero().flatten().tolist()
            ]
        work.sort(key=lambda item: item[2])  # chunks of documents edited from similar positions
        for start in range(0, len(work), rows_per_forward):
            items = work[start : start + rows_per_forward]
            edits = torch.stack(
                [_document_delta(intervention, f, batch, variants[v].latents, row) for v, row, _ in items]
            )
            rows = [row for _, row, _ in items]
            _edited_kl(
                ft_model, layer, batch, items, batch.h_ft[rows] - edits, log_base, kl_ablated, True, cost
            )
            _edited_kl(
                base_model, layer, batch, items, batch.h_base[rows] + edits, log_ft, kl_steered, False, cost
            )
    rows = []
    for index, (latent_set, number) in enumerate(zip(sets, primary, strict=True)):
        group = controls_of[index]
        row = _set_row(latent_set, number, variants, group, kl_clean, kl_ablated, kl_steered, fires[index])
        row["firing_mass"] = float(masses[list(latent_set.latents)].sum())
        row["intervention_norm"] = float(norms[number]) / n_tokens
        row["controls"]["firing_mass"] = [float(masses[list(variants[v].latents)].sum()) for v in group]
        row["controls"]["intervention_norm"] = [float(norms[v]) / n_tokens for v in group]
        rows.append(row)
    return {
        "probe": {
            "n_documents": sum(len(batch.starts) - 1 for batch in batches),
            "n_tokens": n_tokens,
            "kl": float(kl_clean.mean()),
            "residual_difference_norm": divergence / n_tokens,
        },
        "sets": rows,
        "cost": cost | {"seconds": round(time.perf_counter() - started, 2), "variants": len(variants)},
    }


def _document_delta(
    intervention: Intervention, f: torch.Tensor, batch: ProbeBatch, latents: Sequence[int], row: int
) -> torch.Tensor:
    """``δ_S`` of document ``row`` as a (T, d) tensor in the models' dtype (zero at uncounted positions)."""
    delta = intervention.delta(f[batch.starts[row] : batch.starts[row + 1]], latents)
    dense = torch.zeros(batch.h_ft.shape[1:], dtype=torch.float32, device=f.device)
    dense[batch.counted[row]] = delta
    return dense.to(batch.h_ft.dtype)


def _fraction(clean: torch.Tensor, edited: torch.Tensor, mask: torch.Tensor | None = None) -> float | None:
    """``1 − Σ edited / Σ clean`` over ``mask`` (None when the clean KL there is 0: nothing to remove)."""
    before = clean if mask is None else clean[mask]
    after = edited if mask is None else edited[mask]
    total = float(before.sum())
    return None if total <= 0.0 else 1.0 - float(after.sum()) / total


def _mean(values: torch.Tensor) -> float | None:
    return float(values.mean()) if values.numel() else None


def _set_row(
    latent_set: LatentSet,
    number: int,
    variants: Sequence[LatentSet],
    controls: Sequence[int],
    kl_clean: torch.Tensor,
    kl_ablated: torch.Tensor,
    kl_steered: torch.Tensor,
    fires: torch.Tensor,
) -> dict[str, Any]:
    """One set's row: its KL figures, its controls' distribution, the 95th percentiles and the causal flags."""

    def effects(variant: int) -> dict[str, float | None]:
        return {
            "kl_removed": _fraction(kl_clean, kl_ablated[variant]),
            "kl_closed": _fraction(kl_clean, kl_steered[variant]),
            "kl_removed_firing": _fraction(kl_clean, kl_ablated[variant], fires),
            "kl_closed_firing": _fraction(kl_clean, kl_steered[variant], fires),
        }

    own = effects(number)
    control_effects = [effects(variant) for variant in controls]
    row: dict[str, Any] = {
        "kind": latent_set.kind,
        "name": latent_set.name,
        "class": latent_set.class_name,
        "category": latent_set.category,
        "n_latents": len(latent_set),
        "latents": list(latent_set.latents),
        "n_firing_tokens": int(fires.sum()),
        "kl": {
            "all": {
                "before": _mean(kl_clean),
                "ablated": _mean(kl_ablated[number]),
                "steered": _mean(kl_steered[number]),
            },
            "firing": {
                "before": _mean(kl_clean[fires]),
                "ablated": _mean(kl_ablated[number][fires]),
                "steered": _mean(kl_steered[number][fires]),
            },
        },
        **own,
        "controls": {
            "n": len(controls),
            **{key: [values[key] for values in control_effects] for key in own},
            "latents": [list(variants[variant].latents) for variant in controls],
        },
    }
    for key, suffix in (
        ("kl_removed", ""),
        ("kl_closed", "_closed"),
        ("kl_removed_firing", "_firing"),
        ("kl_closed_firing", "_closed_firing"),
    ):
        band = [value for value in row["controls"][key] if value is not None]
        p95 = float(np.percentile(band, 95)) if band else None
        row[f"control_p95{suffix}"] = p95
        row[f"percentile{suffix}"] = (
            100.0 * float(np.mean([value < own[key] for value in band]))
            if band and own[key] is not None
            else None
        )
        row[f"causal{suffix}"] = None if p95 is None or own[key] is None else bool(own[key] > p95)
    return row
