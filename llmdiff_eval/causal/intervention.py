"""The intervention: what a set S of crosscoder latents adds in the fine-tune beyond the base, in raw activation units.

For a pair (base, fine-tune), its crosscoder at layer L and a token with layer-L residuals ``h_base``, ``h_ft``::

    f        = encode(normalize([h_base, h_ft]))                      # (F,), the crosscoder's inference rule
    d_j^m    = W_dec[j, m] / scale[m]                                 # decoder of latent j for model m, raw units
    Δd_j     = d_j^ft − d_j^base                                      # (d,)
    δ_S      = Σ_{j∈S} f_j · Δd_j                                     # (d,), raw units of the residual stream
    ablate:  h_ft   ← h_ft − δ_S      (the fine-tune without what S adds beyond the base: necessity)
    steer:   h_base ← h_base + δ_S    (the base given what S adds in the fine-tune: sufficiency)

``normalize`` multiplies model m's raw activations by ``scale[m]`` (``x_norm = x_raw · scale[m]``), so a decoder
row in normalized space maps back to raw units by dividing by ``scale[m]``. ``f`` always comes from the *paired*,
un-intervened states of the same token (both models see the same tokens; the intervention at layer L cannot change
either model's layer-L states at that token). The decoder bias is not part of δ. Index 0 of the crosscoder's model
axis is the base, 1 the fine-tune. Reference: docs/causal.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from llmdiff_eval.crosscoder import BatchTopKCrosscoder
from llmdiff_eval.errors import CausalError

BASE, FT = 0, 1


@dataclass(frozen=True)
class LatentSet:
    """A named set of crosscoder latents of one pair.

    ``kind``: ``"model-specific"`` (every annotated model-specific latent of the fine-tune), ``"class"``,
    ``"category"``, ``"latents"`` (ids given by hand) or ``"control"`` (a matched random set).
    """

    kind: str
    name: str
    latents: tuple[int, ...]
    class_name: str | None = None
    category: str | None = None

    def __len__(self) -> int:
        return len(self.latents)


class Intervention:
    """The crosscoder side of every intervention of one pair: ``f`` from paired states and ``δ_S`` for any S.

    ``device``: where the crosscoder computes (the models' device). States of any float dtype go in; ``f`` and
    ``δ`` are float32 (δ is cast to the model's dtype where it is applied)."""

    def __init__(self, crosscoder: BatchTopKCrosscoder, device: torch.device | str = "cpu") -> None:
        if crosscoder.n_models != 2:
            raise CausalError(f"the crosscoder has {crosscoder.n_models} models; a pair's crosscoder has 2")
        self.crosscoder = crosscoder.to(device).eval()
        self.device = torch.device(device)
        self.n_latents = crosscoder.n_latents
        self.decoder_difference = decoder_difference(crosscoder).to(self.device)

    def check_latents(self, latents: Sequence[int]) -> None:
        """Raise :class:`CausalError` for ids outside ``0..F-1``."""
        bad = [latent for latent in latents if not 0 <= int(latent) < self.n_latents]
        if bad:
            raise CausalError(
                f"latent id(s) {bad[:10]} do not exist: this crosscoder has latents 0..{self.n_latents - 1}"
            )

    @torch.no_grad()
    def encode(self, h_base: torch.Tensor, h_ft: torch.Tensor) -> torch.Tensor:
        """``f`` (n, F) float32 of paired raw states ``h_base``, ``h_ft`` (n, d) of the same tokens."""
        cc = self.crosscoder
        pair = torch.stack([h_base, h_ft], dim=1).to(self.device, cc.W_enc.dtype)
        return cc.encode(cc.normalize(pair)).float()

    def delta(self, f: torch.Tensor, latents: Sequence[int]) -> torch.Tensor:
        """``δ_S`` (n, d) float32, raw units, for latent activations ``f`` (n, F) and S = ``latents``.

        An empty S gives exact zeros."""
        index = torch.as_tensor(list(latents), dtype=torch.long, device=f.device)
        if index.numel() == 0:
            return f.new_zeros(f.shape[0], self.decoder_difference.shape[1])
        return f[:, index] @ self.decoder_difference[index]

    def fires(self, f: torch.Tensor, latents: Sequence[int]) -> torch.Tensor:
        """(n,) bool: tokens where at least one latent of S is active (f_j > 0)."""
        index = torch.as_tensor(list(latents), dtype=torch.long, device=f.device)
        if index.numel() == 0:
            return torch.zeros(f.shape[0], dtype=torch.bool, device=f.device)
        return (f[:, index] > 0).any(dim=1)


def decoder_difference(crosscoder: BatchTopKCrosscoder) -> torch.Tensor:
    """``Δd`` (F, d) float32: ``W_dec[j, 1] / scale[1] − W_dec[j, 0] / scale[0]``, i.e. ``d_j^ft − d_j^base`` in raw
    activation units (undoing the crosscoder's per-model normalization)."""
    scale = crosscoder.normalizer.scale.to(crosscoder.W_dec.device, torch.float32)
    weights = crosscoder.W_dec.detach().float()
    return weights[:, FT] / scale[FT] - weights[:, BASE] / scale[BASE]
