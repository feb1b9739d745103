"""Logit lens of each tagged latent's decoder difference: which output tokens the fine-tune-minus-base direction of
a latent pushes up (promoted) and down (suppressed) through the fine-tune's unembedding.

Definition, for latent j of a crosscoder with per-model normalization ``x_norm[m] = x_raw[m] · scale[m]``:

* ``Δd_j = W_dec[j, ft] / scale[ft] − W_dec[j, base] / scale[base]`` — the decoder difference in **raw** residual
  units of the harvested layer: what one unit of ``f_j`` adds to the fine-tune's reconstruction minus what it adds to
  the base's;
* ``logit_j = U (γ ⊙ Δd_j)`` (V,) with ``U`` the fine-tune's unembedding (LM head weight, ``(V, d)``) and ``γ`` the
  gain of its final norm (:class:`~llmdiff_eval.models.OutputHead`); for a ``LayerNorm`` final norm, ``Δd_j`` is
  first centered (LayerNorm subtracts the mean). Units: logits per unit of ``f_j``.

Left out on purpose: the final norm's division by the RMS (or standard deviation) of the whole residual — a positive
factor common to every token at a position, so it changes no ranking, only the scale — the norm's bias and the LM
head's bias (constant in the direction), and Gemma-2's final logit soft-capping (monotone). This is the usual
"direction logit lens" (e.g. SAE feature dashboards' logit weights), applied at the harvested layer, not the last:
the later layers are skipped, so the tokens read how the direction would be decoded if it reached the output as is.

``promoted`` = the ``top_k`` largest logits, ``suppressed`` the ``top_k`` smallest. Stored by
``llmdiff_eval/rundir/latents.py`` (``logit_lens/<pair>.parquet``). Reference: docs/analyze.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from llmdiff_eval.analyze.latent_table import BASE, FT
from llmdiff_eval.models import OutputHead

LOGIT_LENS_COLUMNS = ["latent_id", "direction", "rank", "token_id", "token", "logit"]
DEFINITION = (
    "logit = U (gain * (W_dec[j, ft] / scale[ft] - W_dec[j, base] / scale[base])): the fine-tune's unembedding U "
    "and final-norm gain, raw residual units; the norm's 1/RMS factor, biases and soft-capping left out"
)


def decoder_difference(cc: Any, latent_ids: Sequence[int]) -> torch.Tensor:
    """``Δd_j`` (J, d), float32 on the CPU, in raw residual units (the module docstring) for ``latent_ids``."""
    ids = torch.as_tensor(list(latent_ids), dtype=torch.long)
    W = cc.W_dec.detach()[ids.to(cc.W_dec.device)].to("cpu", torch.float64)  # (J, 2, d)
    scale = cc.normalizer.scale.to(torch.float64)
    return (W[:, FT] / scale[FT] - W[:, BASE] / scale[BASE]).to(torch.float32)


def logit_lens(
    cc: Any, head: OutputHead, tokenizer: Any, latent_ids: Sequence[int], top_k: int, chunk: int = 64
) -> pd.DataFrame:
    """Promoted and suppressed tokens of each latent's decoder difference (the module docstring).

    Returns the :data:`LOGIT_LENS_COLUMNS` frame: per latent, ``direction`` ``"promoted"`` (largest logits first)
    and ``"suppressed"`` (smallest first), ``rank`` from 0, ``token_id``, ``token`` (``tokenizer.decode([id])``)
    and ``logit`` (logits per unit of ``f_j``). ``chunk`` latents are projected at a time ((chunk, V) floats).
    """
    ids = [int(i) for i in latent_ids]
    vocabulary = head.unembedding.shape[0]
    k = min(int(top_k), vocabulary)
    if not ids or k <= 0:
        return pd.DataFrame(columns=LOGIT_LENS_COLUMNS)
    records = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        direction = decoder_difference(cc, part)
        if head.centers:
            direction = direction - direction.mean(dim=1, keepdim=True)
        logits = (direction * head.gain) @ head.unembedding.T  # (J, V)
        for name, largest in (("promoted", True), ("suppressed", False)):
            values, tokens = logits.topk(k, dim=1, largest=largest)
            for row, latent_id in enumerate(part):
                for rank, (token_id, value) in enumerate(
                    zip(tokens[row].tolist(), values[row].tolist(), strict=True)
                ):
                    records.append((latent_id, name, rank, token_id, tokenizer.decode([token_id]), value))
    frame = pd.DataFrame.from_records(records, columns=LOGIT_LENS_COLUMNS)
    frame.attrs.update({"definition": DEFINITION, "final_norm": head.final_norm, "top_k": k})
    return frame
