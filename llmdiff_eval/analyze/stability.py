"""How stable a pair's model-specific latents are across the crosscoder seeds of an ensemble.

For each seed s and each of its selected (model-specific) latents j, the latent's decoder direction is its two
decoder vectors concatenated, ``u_j = [d_j^base; d_j^ft] / ‖[d_j^base; d_j^ft]‖`` (so a latent that writes the same
thing in both models and one that writes only in the fine-tune are different directions). Latent j *reappears* in
another seed t when some latent of t has cosine ``u_j · u_k ≥ threshold`` (default 0.7): among t's selected latents
(``reappear_selected`` — the selection is stable) or among all of t's latents (``reappear_any`` — the feature is
learned again, whatever its tag). Fractions are over all selected latents of all seeds. Reference: docs/analyze.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

STABILITY_COSINE = 0.7
"""Default cosine at which a decoder direction counts as found again in another seed."""


def decoder_directions(W_dec: torch.Tensor) -> torch.Tensor:
    """Unit concatenated decoder directions ``(F, 2·d)`` (float32; all-zero latents stay zero)."""
    flat = W_dec.detach().to("cpu", torch.float32).reshape(W_dec.shape[0], -1)
    return flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)


def seed_stability(
    decoders: Sequence[torch.Tensor],
    selected: Sequence[Sequence[int]],
    threshold: float = STABILITY_COSINE,
    chunk: int = 4096,
) -> dict[str, Any]:
    """Fractions of the selected latents of each seed that reappear in another seed (see the module docstring).

    Args:
        decoders: ``W_dec (F, 2, d)`` of each seed's crosscoder (model 0 = base, 1 = fine-tune).
        selected: the selected latent ids of each seed, same order.
        threshold: cosine at which a direction counts as found again.

    Returns ``{"threshold", "seeds": n, "selected": [n per seed], "reappear_selected", "reappear_any"}``, the two
    fractions None with fewer than two seeds or no selected latent.
    """
    if len(decoders) != len(selected):
        raise ValueError(f"{len(decoders)} decoders but {len(selected)} selections")
    directions = [decoder_directions(W) for W in decoders]
    found_selected = found_any = 0
    n_selected = [len(ids) for ids in selected]
    for s, ids in enumerate(selected):
        if not len(ids) or len(decoders) < 2:
            continue
        mine = directions[s][torch.as_tensor(list(ids), dtype=torch.long)]
        best_any = torch.full((len(ids),), -1.0)
        best_selected = torch.full((len(ids),), -1.0)
        for t, other in enumerate(directions):
            if t == s:
                continue
            for start in range(0, other.shape[0], chunk):
                cosines = mine @ other[start : start + chunk].T
                best_any = torch.maximum(best_any, cosines.max(dim=1).values)
            theirs = torch.as_tensor(list(selected[t]), dtype=torch.long)
            if len(theirs):
                best_selected = torch.maximum(best_selected, (mine @ other[theirs].T).max(dim=1).values)
        found_any += int((best_any >= threshold).sum())
        found_selected += int((best_selected >= threshold).sum())
    total = sum(n_selected)
    usable = len(decoders) >= 2 and total > 0
    return {
        "threshold": threshold,
        "seeds": len(decoders),
        "selected": n_selected,
        "reappear_selected": found_selected / total if usable else None,
        "reappear_any": found_any / total if usable else None,
    }


def shared_fraction(
    decoder_x: torch.Tensor,
    ids_x: Sequence[int],
    decoder_y: torch.Tensor,
    ids_y: Sequence[int],
    threshold: float = STABILITY_COSINE,
) -> float | None:
    """Fraction of latents ``ids_x`` of crosscoder X whose direction (as in :func:`decoder_directions`) has cosine
    ≥ ``threshold`` with one of latents ``ids_y`` of crosscoder Y (same base, same shapes); None when ``ids_x`` is
    empty. Orientation: 1 = every one of X's latents has a counterpart among Y's."""
    if not len(ids_x):
        return None
    if not len(ids_y):
        return 0.0
    mine = decoder_directions(decoder_x)[torch.as_tensor(list(ids_x), dtype=torch.long)]
    theirs = decoder_directions(decoder_y)[torch.as_tensor(list(ids_y), dtype=torch.long)]
    return float(((mine @ theirs.T).max(dim=1).values >= threshold).float().mean())


def selected_ids(tags: Sequence[str] | np.ndarray, tag: str = "ft_only") -> list[int]:
    """Positions (latent ids) whose tag is ``tag``."""
    return [int(i) for i in np.flatnonzero(np.asarray(tags) == tag)]
