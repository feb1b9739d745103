"""Analyze stage: per-latent Δnorm, decoder cosine, latent scaling (ν^ε, ν^r), tags, examples and plots.

Orientation and units (the same everywhere in this module):

* Model index 0 is the base, 1 the fine-tune; ``W_dec`` is ``(F, 2, d)``.
* ``delta_norm`` follows the paper: ``½((‖d^ft‖ − ‖d^base‖) / max(‖d^ft‖, ‖d^base‖) + 1)``, so **1 = the latent
  exists only in the fine-tune**, 0 = only in the base, 0.5 = equal norms. (The anchors' ``dec_norm_diff`` is
  ``1 − delta_norm``.)
* Activations are compared in the crosscoder's normalized space (``cc.normalize``); latent activations ``f`` are
  ``cc.encode`` outputs (inference threshold rule), in the same units as ``max_act``.
* Latent scaling (Minder et al. 2025): for latent j, model m and probe direction p_j, the least-squares scale
  ``β = p_jᵀ Σ_n f_nj y_n / (‖p_j‖² Σ_n f_nj²)`` for the target ``y = x̂^m`` (reconstruction, giving β^r) or
  ``y = ε_j^m = x^m − x̂^m + f_j d_j^m`` (error with the latent's own contribution put back, giving β^ε).
  ``nu_eps = β^ε_base / β^ε_ft`` and ``nu_r = β^r_base / β^r_ft`` measured along the fine-tune decoder
  (``probe="ft"``, Minder et al.'s setting): ≈ 0 when the base does not contain the latent's direction, ≈ 1 when it
  does (complete shrinkage: ν^ε; latent decoupling, i.e. other latents reconstruct it in the base: ν^r).
  The mirror for base-only candidates, ``nu_eps_base = β^ε_ft / β^ε_base`` and ``nu_r_base = β^r_ft / β^r_base``
  along the base decoder, is computed with ``probe="base"``; ``probe="both"`` (the default) gives both.

The one-pass accumulation. By the identity ``Σ_n f_nj ε_j,n^m = Σ_n f_nj (x_n^m − x̂_n^m) + (Σ_n f_nj²) d_j^m``
every β needs only the row-wise sums ``Σ_n f_nj (p_j · y_n)`` for the four targets ``y ∈ {r^base, r^ft, x̂^base,
x̂^ft}`` (``r = x − x̂``) plus ``Σ_n f_nj²``. Per batch, ``f`` becomes a sparse (B, F) matrix (about L0 entries
per row), and one sampled matrix product (``torch.sparse.sampled_addmm`` of the stacked targets (4B, d) with the
probes (d, J), in the crosscoder's precision) gives ``p_j · y_n`` at exactly the entries where latent j fired;
multiplied by ``f_nj`` and summed per latent (``index_add_``) into float64 accumulators. Cost per batch ``∝ 4 · nnz · d`` instead of ``4 · B · J · d``
for a dense ``Fᵀ Y`` product, memory O(J): no per-latent loop, no (J, N, d) or (J, d) tensor. Latent scaling is
computed for candidate latents (those Δnorm alone does not call shared) by default, like Minder et al.

Outputs of the stage (run directory contract): ``latents/<pair>.parquet`` (thresholds and config in
``df.attrs``, which pandas stores in the Parquet metadata), ``examples.sqlite`` and two plots.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sqlite3
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from llmdiff_eval.utils import atomic_path, pair_name

log = logging.getLogger(__name__)

TAGS = ("ft_only", "base_only", "shared", "other")
SELECTIONS = ("absolute", "relative")
PROBES = ("ft", "base", "both")
BASE, FT = 0, 1

# acts accepted by latent_table: a raw (N, 2, d) tensor, a (base_cache_dir, ft_cache_dir) pair, or an iterable of
# raw (B, 2, d) batches.
Activations = torch.Tensor | tuple[str | os.PathLike, str | os.PathLike] | Iterable[torch.Tensor]


@dataclass
class AnalyzeConfig:
    """Settings of the analyze stage.

    Tags (``tag`` column; a latent that never fires is always ``other``):

    * ``ft_only``: ``delta_norm ≥ delta_norm_specific`` and ``nu_eps < nu_eps_max`` and ``nu_r < nu_r_max``.
    * ``base_only``: mirror — ``delta_norm ≤ 1 − delta_norm_specific`` and the same bounds on ``nu_eps_base``,
      ``nu_r_base``.
    * ``shared``: ``|delta_norm − 0.5| < shared_band``.
    * ``other``: everything else.

    ``selection`` picks the Δnorm cut-offs:

    * ``"absolute"`` (default, the paper's rule): ``delta_norm_specific`` and its mirror, plus the ν bounds above.
      Right for fine-tunes as far from their base as the paper's pt → it / SimPO, where some latents exist in one
      model only.
    * ``"relative"``: the pair's outliers. Over the latents that fire, ``ft_only`` is
      ``delta_norm ≥ median + delta_norm_z · σ`` and ``base_only`` ``delta_norm ≤ median − delta_norm_z · σ``, with σ
      the robust standard deviation 1.4826 · MAD (z = 5 by default: chosen on the demo's crosscoder seeds 0–2, where
      z = 4 let one seed's safety outliers be outnumbered by structural-token latents, and checked on seeds 3 and 4);
      the ν bounds are not applied (ν is still computed and reported).
      For fine-tunes close to their base (a LoRA or preference tuning of an instruct model), where no latent is
      exclusive to one model and every Δnorm stays within about 0.3–0.8 — the paper found the same for its direct
      it-vs-SimPO crosscoder — this keeps the latents the fine-tune changed most: the cut-off comes from the pair's
      own Δnorm spread, never from labels. The cut-offs used are written into ``thresholds``.

    ``nu_min`` (default None: no lower bound, the contract rule) optionally also requires ``ν ≥ nu_min`` (e.g.
    −0.1, the lower end of Minder et al.'s evaluation range). On planted data true model-specific latents reach
    ν^r ≈ −0.4 (a base reconstruction slightly anti-aligned with the probe), so a bound would drop real ones.

    Latent scaling is computed for latents with ``|delta_norm − 0.5| ≥ scaling_min_distance`` (default 0.1: every
    latent that Δnorm alone does not call shared, i.e. Δnorm ≤ 0.4 or ≥ 0.6 — all tag candidates with room to move
    the thresholds later). 0 computes it for every latent. Others get NaN ν and ``nu_computed = False``.
    ``probe`` picks which ν columns are filled (see the module docstring): ``"ft"`` fills ``nu_eps``/``nu_r``
    (fine-tune decoder as probe, enough for ``ft_only``), ``"base"`` fills ``nu_eps_base``/``nu_r_base`` (base
    decoder as probe, needed for ``base_only``), ``"both"`` fills all four.

    Examples (``examples.sqlite``) are collected for the latents whose tag is in ``example_tags``: the
    ``n_top_examples`` highest activations, ``n_per_quantile`` random samples from each activation bin
    ``(edge_{i-1}·max, edge_i·max]`` for the upper edges ``quantile_edges`` (held out from the top examples and
    their windows, for scoring), and ``n_negative`` random windows where the latent does not fire at all. A window
    holds ``window_before`` tokens before and ``window_after`` tokens after the token, within its document.
    """

    delta_norm_specific: float = 0.9
    selection: str = "absolute"
    delta_norm_z: float = 5.0
    nu_eps_max: float = 0.2
    nu_r_max: float = 0.5
    nu_min: float | None = None
    shared_band: float = 0.1
    scaling_min_distance: float = 0.1
    probe: str = "both"
    batch_size: int = 4096
    device: str | None = None
    example_tags: list[str] = field(default_factory=lambda: ["ft_only", "base_only"])
    n_top_examples: int = 20
    quantile_edges: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 0.95, 1.0])
    n_per_quantile: int = 5
    n_negative: int = 20
    window_before: int = 24
    window_after: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.probe not in PROBES:
            raise ValueError(f"analyze.probe must be one of {PROBES}, got {self.probe!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"analyze.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if not self.delta_norm_z > 0:
            raise ValueError(f"analyze.delta_norm_z must be > 0, got {self.delta_norm_z}")
        if not 0.5 < self.delta_norm_specific <= 1.0:
            raise ValueError(
                f"analyze.delta_norm_specific must be in (0.5, 1], got {self.delta_norm_specific}"
            )
        if not 0.0 <= self.shared_band <= 0.5 or not 0.0 <= self.scaling_min_distance <= 0.5:
            raise ValueError("analyze.shared_band and analyze.scaling_min_distance must be in [0, 0.5]")
        if self.nu_min is not None and not self.nu_min < min(self.nu_eps_max, self.nu_r_max):
            raise ValueError("analyze.nu_min must be below nu_eps_max and nu_r_max")
        unknown = sorted(set(self.example_tags) - set(TAGS))
        if unknown:
            raise ValueError(f"analyze.example_tags has unknown tag(s) {unknown}; choose from {list(TAGS)}")
        edges = list(self.quantile_edges)
        if (
            not edges
            or any(b <= a for a, b in zip([0.0, *edges[:-1]], edges, strict=True))
            or edges[-1] != 1.0
        ):
            raise ValueError(f"analyze.quantile_edges must increase from above 0 up to 1.0, got {edges}")
        counts = (self.batch_size, self.n_top_examples, self.n_per_quantile, self.n_negative)
        if self.batch_size < 1 or min(counts) < 0 or min(self.window_before, self.window_after) < 0:
            raise ValueError("analyze batch_size must be >= 1 and example counts / window sizes >= 0")

    @property
    def absolute_cutoffs(self) -> tuple[float, float]:
        """(ft_only, base_only) Δnorm cut-offs of the absolute rule: ``delta_norm_specific`` and its mirror."""
        return self.delta_norm_specific, round(1.0 - self.delta_norm_specific, 12)

    def thresholds(self, cutoffs: tuple[float, float] | None = None) -> dict[str, Any]:
        """The tag rules as plain data (written into every output). ``cutoffs`` = the (ft_only, base_only) Δnorm
        cut-offs a ``"relative"`` selection computed (see :func:`delta_norm_cutoffs`)."""
        high, low = cutoffs or self.absolute_cutoffs
        nu = self.selection == "absolute"  # the relative rule does not apply the ν bounds
        return {
            "orientation": "delta_norm 1 = only in the fine-tune (model 1), 0 = only in the base (model 0)",
            "selection": {"mode": self.selection}
            | ({"delta_norm_z": self.delta_norm_z, "spread": "1.4826 * MAD"} if not nu else {}),
            "ft_only": {
                "delta_norm_min": high,
                "nu_eps_max": self.nu_eps_max if nu else None,
                "nu_r_max": self.nu_r_max if nu else None,
                "nu_min": self.nu_min if nu else None,
            },
            "base_only": {
                "delta_norm_max": low,
                "nu_eps_base_max": self.nu_eps_max if nu else None,
                "nu_r_base_max": self.nu_r_max if nu else None,
                "nu_min": self.nu_min if nu else None,
            },
            "shared": {"abs_delta_norm_minus_half_max": self.shared_band},
            "scaling": {"min_abs_delta_norm_minus_half": self.scaling_min_distance, "probe": self.probe},
        }


# ---------------------------------------------------------------------------------------------------------------
# Decoder geometry
# ---------------------------------------------------------------------------------------------------------------


def decoder_geometry(W_dec: torch.Tensor, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Δnorm (paper orientation) and decoder cosine per latent from ``W_dec (F, 2, d)``.

    NaN Δnorm where both decoder vectors are zero; NaN cosine where either is zero (no direction to compare).
    Computed in float64, ``chunk`` latents at a time (the paper's W_dec is 114,688 × 2 × 3,584).
    """
    if W_dec.ndim != 3 or W_dec.shape[1] != 2:
        raise ValueError(
            f"W_dec must have shape (F, 2, d) with model 0 = base, 1 = fine-tune; got {tuple(W_dec.shape)}"
        )
    norms, dots = [], []
    for start in range(0, W_dec.shape[0], chunk):
        W = _as_float64(W_dec[start : start + chunk])
        norms.append(W.norm(dim=-1))  # (chunk, 2)
        dots.append((W[:, BASE] * W[:, FT]).sum(-1))
    norm, dot = torch.cat(norms), torch.cat(dots)
    base, ft = norm[:, BASE], norm[:, FT]
    delta_norm = 0.5 * ((ft - base) / torch.maximum(base, ft) + 1.0)  # 0/0 -> NaN for all-zero latents
    cos_sim = torch.where((base > 0) & (ft > 0), dot / (base * ft), math.nan)
    return delta_norm.numpy(), cos_sim.numpy()


def _as_float64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", torch.float64)


# ---------------------------------------------------------------------------------------------------------------
# Data sources
# ---------------------------------------------------------------------------------------------------------------


def _is_cache_pair(acts: Any) -> bool:
    return (
        isinstance(acts, (tuple, list))
        and len(acts) == 2
        and all(isinstance(a, (str, os.PathLike)) for a in acts)
    )


def _check_batch(batch: Any) -> torch.Tensor:
    if not isinstance(batch, torch.Tensor) or batch.ndim != 3 or batch.shape[1] != 2:
        shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise ValueError(f"activations must be (N, 2, d) tensors with 0 = base, 1 = fine-tune; got {shape}")
    return batch


def _iter_cache_pair(base_dir: str | os.PathLike, ft_dir: str | os.PathLike) -> Iterator[torch.Tensor]:
    """Raw (n, 2, d) float32 shard pairs of two aligned harvest caches (token streams checked per shard)."""
    from llmdiff_eval.harvest import ActivationCache

    base, ft = ActivationCache(base_dir), ActivationCache(ft_dir)
    if base.n_tokens != ft.n_tokens:
        raise ValueError(
            f"caches {base_dir} ({base.n_tokens} tokens) and {ft_dir} ({ft.n_tokens} tokens) are not aligned: "
            "harvest both models on the same corpus (`llmdiff-eval harvest`)"
        )
    for (x_base, tok_base, _), (x_ft, tok_ft, _) in zip(base.iter_shards(), ft.iter_shards(), strict=True):
        if not torch.equal(tok_base, tok_ft):
            raise ValueError(
                f"caches {base_dir} and {ft_dir} hold different token streams: re-run the harvest"
            )
        yield torch.stack([x_base, x_ft], dim=1)


def iter_batches(acts: Activations, batch_size: int) -> Iterator[torch.Tensor]:
    """Raw (B, 2, d) batches of at most ``batch_size`` rows, in row order, from any accepted source."""
    if isinstance(acts, torch.Tensor):
        _check_batch(acts)
        for start in range(0, acts.shape[0], batch_size):
            yield acts[start : start + batch_size]
        return
    chunks = _iter_cache_pair(*acts) if _is_cache_pair(acts) else acts
    for chunk in chunks:
        _check_batch(chunk)
        for start in range(0, chunk.shape[0], batch_size):
            yield chunk[start : start + batch_size]


def _iter_rows(
    acts: Activations, rows: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(row_ids, raw (b, 2, d))`` for the sorted unique global ``rows`` only, reading the source in order."""
    if isinstance(acts, torch.Tensor):
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            yield chunk, acts[chunk]
        return
    offset = 0
    for block in iter_batches(acts, batch_size):
        lo, hi = torch.searchsorted(rows, torch.tensor([offset, offset + block.shape[0]]))
        if hi > lo:
            chunk = rows[lo:hi]
            yield chunk, block[chunk - offset]
        offset += block.shape[0]


# ---------------------------------------------------------------------------------------------------------------
# Latent statistics: frequency, max activation, latent scaling (one pass)
# ---------------------------------------------------------------------------------------------------------------


def _prepare(cc: Any, device: str | None) -> tuple[Any, torch.device, torch.dtype]:
    current = cc.W_dec.device
    if device is not None and torch.device(device) != current:
        cc = cc.to(device)
    return cc, cc.W_dec.device, cc.W_dec.dtype


def _encode(
    cc: Any, raw: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized activations ``x (B, 2, d)`` and latent activations ``f (B, F)`` of a raw batch."""
    x = cc.normalize(raw.to(device=device, dtype=dtype))
    return x, cc.encode(x)


TARGETS = ("r_base", "r_ft", "xhat_base", "xhat_ft")  # r = x − x̂ (normalized space), x̂ = cc.decode(f)


@dataclass
class LatentSums:
    """What one pass accumulates (float64, CPU).

    ``fire_count``, ``max_act``, ``sum_f2`` (``Σ_n f_nj²``) cover all F latents; ``ids`` (J,) are the scaling
    candidates and ``projected[probe]`` (4, J) holds ``Σ_n f_nj (p_j · y_n)`` for the targets ``TARGETS`` along the
    probe decoder (``"ft"`` or ``"base"``).
    """

    ids: torch.Tensor
    fire_count: torch.Tensor
    max_act: torch.Tensor
    sum_f2: torch.Tensor
    projected: dict[str, torch.Tensor]
    n_tokens: int = 0


def _probe_names(probe: str) -> list[str]:
    return ["ft", "base"] if probe == "both" else [probe]


def accumulate_latent_sums(
    cc: Any,
    acts: Activations,
    scaling_ids: torch.Tensor,
    probe: str,
    batch_size: int,
    device: str | None = None,
) -> LatentSums:
    """One pass over ``acts``: firing counts, max activation and ``Σ f²`` of every latent, and the projected
    latent-scaling sums of ``scaling_ids`` along the ``probe`` decoder(s) (see the module docstring)."""
    cc, dev, dtype = _prepare(cc, device)
    n_latents, _, d = cc.W_dec.shape
    # sparse products in the crosscoder's precision (float32 for half-precision ones), sums in float64
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    slot = torch.full((n_latents,), -1, dtype=torch.long, device=dev)  # latent id -> candidate position
    slot[scaling_ids.to(dev)] = torch.arange(len(scaling_ids), device=dev)
    probes = {
        name: cc.W_dec.detach()[scaling_ids.to(dev), FT if name == "ft" else BASE]
        .to(compute)
        .t()
        .contiguous()
        for name in _probe_names(probe)
    }  # (d, J)
    decoder = cc.W_dec.detach().reshape(n_latents, 2 * d).to(compute)
    decoder_bias = cc.b_dec.detach().to(compute)
    zeros = partial(torch.zeros, dtype=torch.float64, device=dev)
    sums = LatentSums(
        ids=scaling_ids,
        fire_count=torch.zeros(n_latents, dtype=torch.long, device=dev),
        max_act=zeros(n_latents),
        sum_f2=zeros(n_latents),
        projected={name: zeros(len(TARGETS), len(scaling_ids)) for name in probes},
    )
    total = acts.shape[0] if isinstance(acts, torch.Tensor) else None
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        progress = tqdm(total=total, unit="tok", desc="latent statistics", disable=None)
        for raw in iter_batches(acts, batch_size):
            x, f = _encode(cc, raw, dev, dtype)
            sparse = f.to(compute).to_sparse_csr()  # the entries where a latent fired (f > 0)
            cols, values = sparse.col_indices(), sparse.values().to(torch.float64)
            sums.fire_count += torch.bincount(cols, minlength=n_latents)
            sums.max_act.scatter_reduce_(0, cols, values, "amax")
            sums.sum_f2.index_add_(0, cols, values.square())
            if len(scaling_ids):
                x_hat = (sparse @ decoder).view(-1, 2, d) + decoder_bias  # = cc.decode(f), from the sparse f
                if sums.n_tokens == 0:
                    _check_decoder(cc, f[:8], x_hat[:8])
                _project(sums, probes, sparse, slot, x.to(compute), x_hat)
            sums.n_tokens += raw.shape[0]
            progress.update(raw.shape[0])
        progress.close()
    return LatentSums(
        ids=scaling_ids,
        fire_count=sums.fire_count.cpu(),
        max_act=sums.max_act.cpu(),
        sum_f2=sums.sum_f2.cpu(),
        projected={name: value.cpu() for name, value in sums.projected.items()},
        n_tokens=sums.n_tokens,
    )


def _check_decoder(cc: Any, f: torch.Tensor, x_hat: torch.Tensor) -> None:
    """Raise unless ``cc.decode`` is the linear decoder ``f W_dec + b_dec`` that the sparse pass computes."""
    expected = cc.decode(f).to(x_hat.dtype)
    if not torch.allclose(x_hat, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max().clamp_min(1.0))):
        raise ValueError(
            "the crosscoder's decode(f) is not f·W_dec + b_dec; latent scaling here assumes the linear decoder "
            "of the crosscoder architecture (DESIGN.md)"
        )


def _project(
    sums: LatentSums,
    probes: dict[str, torch.Tensor],
    sparse: torch.Tensor,
    slot: torch.Tensor,
    x: torch.Tensor,
    x_hat: torch.Tensor,
) -> None:
    """Add ``Σ_n f_nj (p_j · y_n)`` of one batch for every target and probe, at the fired candidate entries only."""
    n_rows = x.shape[0]
    position = slot[sparse.col_indices()]
    keep = position >= 0
    if not bool(keep.any()):
        return
    rows = torch.repeat_interleave(torch.arange(n_rows, device=x.device), sparse.crow_indices().diff())[keep]
    cols, values = position[keep], sparse.values()[keep]
    nnz = len(cols)
    # One CSR pattern over the four stacked targets: block k holds rows k·B … (k+1)·B − 1.
    row_ptr = torch.zeros(n_rows + 1, dtype=torch.long, device=x.device)
    row_ptr[1:] = torch.bincount(rows, minlength=n_rows).cumsum(0)
    blocks = len(TARGETS)
    pattern = torch.sparse_csr_tensor(
        torch.cat([row_ptr[:-1] + k * nnz for k in range(blocks)] + [row_ptr[-1:] + (blocks - 1) * nnz]),
        cols.repeat(blocks),
        values.repeat(blocks),
        (blocks * n_rows, len(sums.ids)),
        check_invariants=False,
    )
    residual = x - x_hat
    stacked = torch.cat([residual[:, BASE], residual[:, FT], x_hat[:, BASE], x_hat[:, FT]])
    weights = values.to(torch.float64)
    for name, probe in probes.items():
        dots = torch.sparse.sampled_addmm(pattern, stacked, probe, beta=0.0).values().view(blocks, nnz)
        sums.projected[name].index_add_(1, cols, dots.to(torch.float64) * weights)


def latent_scaling_betas(sums: LatentSums, W_dec: torch.Tensor, probe: str) -> dict[str, np.ndarray]:
    """β^r and β^ε per model (keys ``r_base, r_ft, eps_base, eps_ft``) of the candidates along ``probe``'s decoder.

    ``β^r_m = S[x̂^m] / (‖p‖² Σf²)`` and ``β^ε_m = S[r^m] / (‖p‖² Σf²) + p·d^m / ‖p‖²`` with ``S`` the projected
    sums; NaN where the latent never fired or the probe is zero.
    """
    dec = _as_float64(W_dec.detach()[sums.ids.to(W_dec.device)])  # (J, 2, d)
    p = dec[:, FT if probe == "ft" else BASE]
    p_sq = (p * p).sum(-1)
    denominator = p_sq * sums.sum_f2[sums.ids]
    valid = denominator > 0
    safe_denominator = torch.where(valid, denominator, 1.0)
    safe_p_sq = torch.where(valid, p_sq, 1.0)
    projected = dict(zip(TARGETS, sums.projected[probe], strict=True))
    out = {}
    for m, name in ((BASE, "base"), (FT, "ft")):
        beta_r = projected[f"xhat_{name}"] / safe_denominator
        beta_eps = projected[f"r_{name}"] / safe_denominator + (p * dec[:, m]).sum(-1) / safe_p_sq
        out[f"r_{name}"] = torch.where(valid, beta_r, math.nan).numpy()
        out[f"eps_{name}"] = torch.where(valid, beta_eps, math.nan).numpy()
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


def delta_norm_cutoffs(df: pd.DataFrame, cfg: AnalyzeConfig) -> tuple[float, float]:
    """(ft_only, base_only) Δnorm cut-offs: ``ft_only`` needs Δnorm ≥ the first, ``base_only`` ≤ the second.

    ``"absolute"``: ``delta_norm_specific`` and ``1 − delta_norm_specific``. ``"relative"``: median ± z · 1.4826 ·
    MAD of the Δnorm of the latents that fire, kept on their side of 0.5 (a pair with no firing latent gets the
    absolute cut-offs)."""
    values = df.loc[df["freq"] > 0, "delta_norm"].dropna().to_numpy()
    if cfg.selection == "absolute" or len(values) == 0:
        return cfg.absolute_cutoffs
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    high = min(max(median + cfg.delta_norm_z * spread, 0.5), 1.0)
    low = max(min(median - cfg.delta_norm_z * spread, 0.5), 0.0)
    return round(high, 6), round(low, 6)


def assign_tags(
    df: pd.DataFrame, cfg: AnalyzeConfig, cutoffs: tuple[float, float] | None = None
) -> pd.Series:
    """Tag per latent from ``delta_norm``, the ν columns and ``freq`` (rules in :class:`AnalyzeConfig`;
    ``cutoffs`` default to :func:`delta_norm_cutoffs`)."""

    def nu_ok(eps: pd.Series, r: pd.Series) -> pd.Series:
        if cfg.selection == "relative":
            return pd.Series(True, index=df.index)
        ok = (eps < cfg.nu_eps_max) & (r < cfg.nu_r_max)
        return ok if cfg.nu_min is None else ok & (eps >= cfg.nu_min) & (r >= cfg.nu_min)

    high, low = cutoffs or delta_norm_cutoffs(df, cfg)
    fired = df["freq"] > 0
    dn = df["delta_norm"]
    ft_only = fired & (dn >= high) & (dn > 0.5) & nu_ok(df["nu_eps"], df["nu_r"])
    base_only = fired & (dn <= low) & (dn < 0.5) & nu_ok(df["nu_eps_base"], df["nu_r_base"])
    shared = fired & ((dn - 0.5).abs() < cfg.shared_band)
    tag = np.select([ft_only, base_only, shared], ["ft_only", "base_only", "shared"], default="other")
    return pd.Series(tag, index=df.index, name="tag")


def latent_table(cc: Any, acts: Activations, cfg: AnalyzeConfig | None = None) -> pd.DataFrame:
    """One row per latent (index ``latent_id``) with the crosscoder diffing statistics.

    Args:
        cc: a crosscoder exposing ``W_dec (F, 2, d)``, ``normalize(x_raw)``, ``encode(x) -> f (B, F)`` and
            ``decode(f) -> (B, 2, d)`` (model 0 = base, 1 = fine-tune); nothing else is used.
        acts: raw (un-normalized) activations: a ``(N, 2, d)`` float tensor, a ``(base_cache_dir, ft_cache_dir)``
            pair of harvest caches, or an iterable of ``(B, 2, d)`` batches (read once).
        cfg: thresholds and pass settings.

    Columns: ``delta_norm`` (1 = only in the fine-tune), ``cos_sim`` (decoder cosine, NaN if a decoder is zero),
    ``nu_eps``, ``nu_r`` (β_base/β_ft along the fine-tune decoder), ``nu_eps_base``, ``nu_r_base`` (β_ft/β_base along
    the base decoder), ``nu_computed`` (False: not a scaling candidate, ν are NaN), ``freq`` (fraction of tokens
    where f > 0), ``max_act`` (max f, normalized units; 0 if it never fires), ``tag``. ν is NaN also when the
    latent never fires or the probe decoder is zero, and ±inf when the denominator β is exactly 0.
    ``df.attrs`` holds ``thresholds``, ``analyze_config`` and ``n_tokens``.
    """
    cfg = cfg or AnalyzeConfig()
    delta_norm, cos_sim = decoder_geometry(cc.W_dec)
    distance = np.abs(delta_norm - 0.5)
    scaling_ids = torch.from_numpy(np.flatnonzero(distance >= cfg.scaling_min_distance))
    sums = accumulate_latent_sums(cc, acts, scaling_ids, cfg.probe, cfg.batch_size, cfg.device)
    if sums.n_tokens == 0:
        raise ValueError("no activations to analyze: the activation source is empty")

    n_latents = len(delta_norm)
    columns = {name: np.full(n_latents, math.nan) for name in ("nu_eps", "nu_r", "nu_eps_base", "nu_r_base")}
    ids = scaling_ids.numpy()
    if "ft" in sums.projected:
        beta = latent_scaling_betas(sums, cc.W_dec, "ft")
        columns["nu_eps"][ids] = _ratio(beta["eps_base"], beta["eps_ft"])
        columns["nu_r"][ids] = _ratio(beta["r_base"], beta["r_ft"])
    if "base" in sums.projected:
        beta = latent_scaling_betas(sums, cc.W_dec, "base")
        columns["nu_eps_base"][ids] = _ratio(beta["eps_ft"], beta["eps_base"])
        columns["nu_r_base"][ids] = _ratio(beta["r_ft"], beta["r_base"])
    nu_computed = np.zeros(n_latents, dtype=bool)
    nu_computed[ids] = True

    df = pd.DataFrame(
        {
            "delta_norm": delta_norm,
            "cos_sim": cos_sim,
            **columns,
            "nu_computed": nu_computed,
            "freq": sums.fire_count.numpy() / sums.n_tokens,
            "max_act": sums.max_act.numpy(),
        },
        index=pd.RangeIndex(n_latents, name="latent_id"),
    )
    cutoffs = delta_norm_cutoffs(df, cfg)
    df["tag"] = assign_tags(df, cfg, cutoffs)
    df.attrs = {
        "thresholds": cfg.thresholds(cutoffs),
        "analyze_config": dataclasses.asdict(cfg),
        "n_tokens": sums.n_tokens,
    }
    return df


def write_latent_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the table atomically as Parquet; ``df.attrs`` (thresholds, config) go into the file metadata."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp)


# ---------------------------------------------------------------------------------------------------------------
# Max-activating examples
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class LatentExamples:
    """Contexts of one latent: ``top`` and ``heldout`` are marked texts (activating tokens as ``<<tok>>``),
    ``negative`` are plain texts of windows where the latent never fires."""

    top: list[str] = field(default_factory=list)
    heldout: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


@dataclass
class TokenInfo:
    """Per-row token metadata aligned with the activation rows (from a harvest cache) and its tokenizer.

    Rows of one document must be contiguous and in position order (as the harvest writes them).
    """

    token_ids: torch.Tensor
    doc_ids: torch.Tensor
    positions: torch.Tensor
    tokenizer: Any

    def __post_init__(self) -> None:
        self.token_ids, self.doc_ids, self.positions = (
            torch.as_tensor(t).to(torch.int64).cpu() for t in (self.token_ids, self.doc_ids, self.positions)
        )
        if not len(self.token_ids) == len(self.doc_ids) == len(self.positions):
            raise ValueError("token_ids, doc_ids and positions must have one entry per activation row")
        doc = self.doc_ids.numpy()
        starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]]) if len(doc) else np.zeros(0, dtype=np.int64)
        if len(np.unique(doc[starts])) != len(starts):
            raise ValueError("activation rows of a document must be contiguous (harvest writes them so)")
        run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(doc)]))
        self._doc_start = starts[run]
        self._doc_end = np.r_[starts[1:], len(doc)][run]  # exclusive

    @classmethod
    def from_cache(cls, cache_dir: str | os.PathLike) -> TokenInfo:
        from llmdiff_eval.harvest import ActivationCache

        cache = ActivationCache(cache_dir)
        return cls(cache.token_ids, cache.doc_ids, cache.positions, cache.tokenizer())

    def __len__(self) -> int:
        return len(self.token_ids)

    def window(self, row: int, before: int, after: int) -> range:
        """Rows of the window around ``row``, clipped to its document."""
        return range(max(row - before, self._doc_start[row]), min(row + after + 1, self._doc_end[row]))


class _Pieces:
    """Text of each token in context, so that joining the pieces of a window reproduces its text.

    A token's piece is ``decode([prev, tok])`` minus ``decode([prev])``: this keeps the leading space that
    SentencePiece-style decoders drop from a lone token. Falls back to ``decode([tok])``; cached per pair.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[tuple[int, int], str] = {}

    def __call__(self, prev: int, tok: int) -> str:
        key = (prev, tok)
        if key not in self.cache:
            alone = self.tokenizer.decode([tok])
            if prev < 0:
                self.cache[key] = alone
            else:
                head = self.tokenizer.decode([prev])
                both = self.tokenizer.decode([prev, tok])
                self.cache[key] = both[len(head) :] if both.startswith(head) else alone
        return self.cache[key]


def _merge_running(
    keys: torch.Tensor,
    new_keys: torch.Tensor,
    payloads: list[torch.Tensor],
    new_payloads: list[torch.Tensor],
    largest: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Per column, keep the ``len(keys)`` largest (or smallest) of the old and new keys; payloads follow their key."""
    kept, order = torch.cat([keys, new_keys]).topk(keys.shape[0], dim=0, largest=largest)
    return kept, [
        torch.cat([old, new]).gather(0, order) for old, new in zip(payloads, new_payloads, strict=True)
    ]


def collect_examples(
    cc: Any,
    acts: torch.Tensor | tuple[str | os.PathLike, str | os.PathLike],
    tokens: TokenInfo,
    latent_ids: Sequence[int],
    max_act: np.ndarray | torch.Tensor,
    cfg: AnalyzeConfig | None = None,
) -> pd.DataFrame:
    """Top, quantile (held-out) and negative contexts for ``latent_ids``, one pass plus a short re-encode.

    ``max_act`` is the per-latent maximum activation over the same data (``latent_table``'s column, indexed by
    latent id); it sets the quantile bins. The pass keeps, per latent, a running top-N (``torch.topk`` per batch,
    merged), the rows with the smallest random keys in every bin (a uniform sample without replacement per bin), and
    whether the latent fires anywhere in each window of a random pool. Afterwards the window rows of the chosen
    top/held-out examples are encoded again to mark every activating token.

    Returns a DataFrame with the ``examples`` table columns except ``pair``: ``latent_id, kind ("top" |
    "quantile" | "negative"), rank, activation (f at the example token; 0 for negatives), doc_id, token_index
    (position of the token in its document), text, marked_text``.
    """
    cfg = cfg or AnalyzeConfig()
    if not (isinstance(acts, torch.Tensor) or _is_cache_pair(acts)):
        raise ValueError("collect_examples needs a (N, 2, d) tensor or a (base_cache_dir, ft_cache_dir) pair")
    cc, dev, dtype = _prepare(cc, cfg.device)
    ids = torch.as_tensor(list(latent_ids), dtype=torch.long)
    n_latents, n_rows = len(ids), len(tokens)
    columns = ["latent_id", "kind", "rank", "activation", "doc_id", "token_index", "text", "marked_text"]
    if n_latents == 0 or n_rows == 0:
        return pd.DataFrame(columns=columns)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_top, n_bins = cfg.n_top_examples, len(cfg.quantile_edges)
    # per bin, keep spare samples: those inside the windows of top examples are dropped at the end
    per_bin = 4 * cfg.n_per_quantile + n_top
    inner_edges = torch.tensor(cfg.quantile_edges[:-1], dtype=torch.float64)
    scale = torch.tensor(np.asarray(max_act, dtype=np.float64))[ids]
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))

    # Negative pool: random windows; we record whether each latent fires anywhere inside each of them.
    pool_size = min(n_rows, max(8 * cfg.n_negative, 64)) if cfg.n_negative else 0
    pool_centres = torch.randperm(n_rows, generator=gen)[:pool_size]
    pool_windows = [tokens.window(int(r), cfg.window_before, cfg.window_after) for r in pool_centres]
    member_rows = torch.tensor([r for w in pool_windows for r in w], dtype=torch.long)
    member_window = torch.tensor([i for i, w in enumerate(pool_windows) for _ in w], dtype=torch.long)
    order = member_rows.argsort()
    member_rows, member_window = member_rows[order], member_window[order]
    pool_fired = torch.zeros(pool_size, n_latents)

    top_vals = torch.zeros(n_top, n_latents)
    top_rows = torch.full((n_top, n_latents), -1, dtype=torch.long)
    bin_keys = torch.full((n_bins, per_bin, n_latents), math.inf)
    bin_rows = torch.full((n_bins, per_bin, n_latents), -1, dtype=torch.long)
    bin_vals = torch.zeros(n_bins, per_bin, n_latents)

    offset = 0
    with torch.inference_mode():
        progress = tqdm(total=n_rows, unit="tok", desc="examples", disable=None)
        for raw in iter_batches(acts, cfg.batch_size):
            f = _encode(cc, raw, dev, dtype)[1][:, ids.to(dev)].float().cpu()  # (B, J)
            size = f.shape[0]
            rows = torch.arange(offset, offset + size).unsqueeze(1).expand(size, n_latents)
            if n_top:
                vals, at = f.topk(min(n_top, size), dim=0)
                top_vals, (top_rows,) = _merge_running(top_vals, vals, [top_rows], [rows.gather(0, at)], True)
            if cfg.n_per_quantile:
                bins = torch.bucketize(f.to(torch.float64) / scale, inner_edges).clamp_max(n_bins - 1)
                keys = torch.rand(f.shape, generator=gen)
                for b in range(n_bins):
                    masked = torch.where((f > 0) & (bins == b), keys, math.inf)
                    new_keys, at = masked.topk(min(per_bin, size), dim=0, largest=False)
                    bin_keys[b], (bin_rows[b], bin_vals[b]) = _merge_running(
                        bin_keys[b],
                        new_keys,
                        [bin_rows[b], bin_vals[b]],
                        [rows.gather(0, at), f.gather(0, at)],
                        False,
                    )
            lo, hi = torch.searchsorted(member_rows, torch.tensor([offset, offset + size]))
            if hi > lo:
                local = member_rows[lo:hi] - offset
                pool_fired.index_add_(0, member_window[lo:hi], (f[local] > 0).float())
            offset += size
            progress.update(size)
        progress.close()
    if offset != n_rows:
        raise ValueError(
            f"activations have {offset} rows but the token metadata has {n_rows}: they must match"
        )

    picks = _pick_examples(
        cfg, tokens, (top_vals, top_rows), (bin_keys, bin_rows, bin_vals), pool_centres, pool_fired, gen
    )
    window_acts = _window_activations(cc, acts, tokens, ids, picks, cfg, dev, dtype)
    pieces = _Pieces(tokens.tokenizer)
    records = []
    for (j, kind, rank, row, value), marks in zip(picks, window_acts, strict=True):
        window = tokens.window(row, cfg.window_before, cfg.window_after)
        token_ids = tokens.token_ids[window.start : window.stop].tolist()
        texts = [pieces(token_ids[i - 1] if i else -1, t) for i, t in enumerate(token_ids)]
        marked = [
            f"<<{t}>>" if (marks is not None and (marks[i] > 0 or window.start + i == row)) else t
            for i, t in enumerate(texts)
        ]
        records.append(
            (
                int(ids[j]),
                kind,
                rank,
                float(value),
                int(tokens.doc_ids[row]),
                int(tokens.positions[row]),
                "".join(texts),
                "".join(marked),
            )
        )
    return pd.DataFrame.from_records(records, columns=columns)


def _pick_examples(
    cfg, tokens, top, bins, pool_centres, pool_fired, gen
) -> list[tuple[int, str, int, int, float]]:
    """Final examples ``(latent column, kind, rank, row, activation)`` from the pass's running state.

    A held-out (quantile) sample whose window overlaps the window of a top example or of an earlier held-out sample
    is skipped, so scoring texts differ from the explainer's and from each other; negatives are pool windows where
    the latent fired on no token.
    """
    top_vals, top_rows = top
    bin_keys, bin_rows, bin_vals = bins
    negative_order = torch.rand(pool_fired.shape, generator=gen).argsort(dim=0)
    picks = []
    for j in range(top_vals.shape[1]):
        best = [(int(r), float(v)) for v, r in zip(top_vals[:, j], top_rows[:, j], strict=True) if v > 0]
        picks += [(j, "top", rank, row, value) for rank, (row, value) in enumerate(best)]
        covered = {r for row, _ in best for r in tokens.window(row, cfg.window_before, cfg.window_after)}
        heldout = []
        for b in range(bin_keys.shape[0]):
            taken = 0
            for k, r, v in zip(bin_keys[b, :, j], bin_rows[b, :, j], bin_vals[b, :, j], strict=True):
                if taken == cfg.n_per_quantile or not math.isfinite(k):
                    break
                window = tokens.window(int(r), cfg.window_before, cfg.window_after)
                if covered.isdisjoint(window):
                    heldout.append((int(r), float(v)))
                    covered.update(window)
                    taken += 1
        heldout.sort(key=lambda item: -item[1])
        picks += [(j, "quantile", rank, row, value) for rank, (row, value) in enumerate(heldout)]
        clean = [int(pool_centres[w]) for w in negative_order[:, j] if pool_fired[w, j] == 0]
        picks += [(j, "negative", rank, row, 0.0) for rank, row in enumerate(clean[: cfg.n_negative])]
    return picks


def _window_activations(cc, acts, tokens, ids, picks, cfg, dev, dtype) -> list[torch.Tensor | None]:
    """For each top/quantile pick, its latent's activation on every row of its window (None for negatives).

    Only the distinct window rows are read and encoded, in row order, ``batch_size`` at a time.
    """
    windows = [
        tokens.window(row, cfg.window_before, cfg.window_after) if kind != "negative" else range(0)
        for _, kind, _, row, _ in picks
    ]
    need_rows = torch.tensor([r for w in windows for r in w], dtype=torch.long)
    need_latent = torch.tensor(
        [j for (j, *_), w in zip(picks, windows, strict=True) for _ in w], dtype=torch.long
    )
    values = torch.zeros(len(need_rows))
    unique_rows, position = torch.unique(need_rows, return_inverse=True)
    dev_ids = ids.to(dev)
    with torch.inference_mode():
        first = 0
        for chunk, raw in _iter_rows(acts, unique_rows, cfg.batch_size):
            f = _encode(cc, raw, dev, dtype)[1][:, dev_ids].float().cpu()
            inside = (position >= first) & (position < first + len(chunk))
            values[inside] = f[position[inside] - first, need_latent[inside]]
            first += len(chunk)
    per_pick = values.split([len(w) for w in windows])
    return [v if len(w) else None for v, w in zip(per_pick, windows, strict=True)]


def write_examples(
    db_path: str | os.PathLike,
    pair: str,
    examples: pd.DataFrame,
    cfg: AnalyzeConfig,
    thresholds: dict[str, Any] | None = None,
) -> None:
    """Replace ``pair``'s rows of ``examples.sqlite`` in one transaction and mark the pair complete.

    Table ``examples(pair, latent_id, kind, rank, activation, doc_id, token_index, text, marked_text)`` (the run
    contract) plus ``examples_complete(pair, n_latents, n_rows, thresholds, config, finished_at)``; a crash before
    the commit leaves the previous content untouched, and readers only trust pairs listed as complete.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        (
            pair,
            int(r.latent_id),
            r.kind,
            int(r.rank),
            float(r.activation),
            int(r.doc_id),
            int(r.token_index),
            r.text,
            r.marked_text,
        )
        for r in examples.itertuples(index=False)
    ]
    con = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "CREATE TABLE IF NOT EXISTS examples(pair TEXT, latent_id INT, kind TEXT, rank INT, activation REAL, "
            "doc_id INT, token_index INT, text TEXT, marked_text TEXT)"
        )
        con.execute("CREATE INDEX IF NOT EXISTS examples_by_latent ON examples(pair, latent_id, kind, rank)")
        con.execute(
            "CREATE TABLE IF NOT EXISTS examples_complete(pair TEXT PRIMARY KEY, n_latents INT, n_rows INT, "
            "thresholds TEXT, config TEXT, finished_at TEXT)"
        )
        con.execute("DELETE FROM examples WHERE pair = ?", (pair,))
        con.execute("DELETE FROM examples_complete WHERE pair = ?", (pair,))
        con.executemany("INSERT INTO examples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute(
            "INSERT INTO examples_complete VALUES (?, ?, ?, ?, ?, ?)",
            (
                pair,
                int(examples["latent_id"].nunique()),
                len(rows),
                json.dumps(thresholds or cfg.thresholds()),
                json.dumps(dataclasses.asdict(cfg)),
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            ),
        )
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def load_examples(
    db_path: str | os.PathLike, pair: str, latent_ids: Iterable[int] | None = None
) -> dict[int, LatentExamples]:
    """Examples of ``pair`` per latent id: ``top``/``heldout`` marked texts in rank order, ``negative`` plain texts.

    With ``latent_ids`` every requested id gets an entry (empty lists if it has no examples); without, every latent
    that has examples. Raises ``FileNotFoundError`` if the pair's examples were never completely written.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(
            f"{db_path} does not exist: run the analyze stage (`llmdiff-eval analyze`) first"
        )
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
    try:
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        complete = (
            "examples_complete" in tables
            and con.execute("SELECT 1 FROM examples_complete WHERE pair = ?", (pair,)).fetchone()
        )
        if not complete:
            raise FileNotFoundError(
                f"{db_path} has no finished examples for pair {pair!r}: run the analyze stage (`llmdiff-eval analyze`)"
            )
        query = "SELECT latent_id, kind, text, marked_text FROM examples WHERE pair = ?"
        params: list[Any] = [pair]
        wanted = None if latent_ids is None else [int(i) for i in latent_ids]
        if wanted is not None:
            con.execute("CREATE TEMP TABLE wanted(latent_id INT PRIMARY KEY)")
            con.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(i,) for i in wanted])
            query += " AND latent_id IN (SELECT latent_id FROM wanted)"
        result: dict[int, LatentExamples] = {i: LatentExamples() for i in wanted or []}
        for latent_id, kind, text, marked in con.execute(query + " ORDER BY latent_id, kind, rank", params):
            entry = result.setdefault(latent_id, LatentExamples())
            if kind == "top":
                entry.top.append(marked)
            elif kind == "quantile":
                entry.heldout.append(marked)
            else:
                entry.negative.append(text)
        return result
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------

TAG_COLOURS = {"ft_only": "#7b3294", "base_only": "#e66101", "shared": "#4d9221", "other": "#9e9e9e"}
NU_PLOT_RANGE = (-0.5, 2.0)


def plot_delta_norm(df: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """Histogram of Δnorm (log count axis) with the model-specific thresholds and the shared band marked."""
    from matplotlib.figure import Figure

    thresholds = df.attrs.get("thresholds", AnalyzeConfig().thresholds())
    high = thresholds["ft_only"]["delta_norm_min"]
    low = thresholds["base_only"]["delta_norm_max"]
    band = thresholds["shared"]["abs_delta_norm_minus_half_max"]
    values = df["delta_norm"].dropna().to_numpy()
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.axvspan(
        0.5 - band,
        0.5 + band,
        color=TAG_COLOURS["shared"],
        alpha=0.15,
        label=f"shared: |Δnorm − 0.5| < {band:g}",
    )
    ax.hist(values, bins=np.linspace(0, 1, 51), color="#4c72b0", edgecolor="white", linewidth=0.4)
    ax.axvline(
        high,
        color=TAG_COLOURS["ft_only"],
        linestyle="--",
        label=f"fine-tune-only candidates: Δnorm ≥ {high:g}",
    )
    ax.axvline(
        low, color=TAG_COLOURS["base_only"], linestyle="--", label=f"base-only candidates: Δnorm ≤ {low:g}"
    )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Δnorm   (0 = only in the base, 0.5 = equal, 1 = only in the fine-tune)")
    ax.set_ylabel("latents (log scale)")
    counts = df["tag"].value_counts()
    summary = ", ".join(f"{tag} {int(counts.get(tag, 0))}" for tag in TAGS)
    ax.set_title(
        f"{title}: Δnorm of {len(values)} latents\ntags after latent scaling: {summary}", fontsize=10
    )
    ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def plot_nu_scatter(df: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """ν^ε vs ν^r of the model-specific candidates (paper Fig. 1 style) with the tag box marked.

    Left: fine-tune side (Δnorm ≥ threshold, ν along the fine-tune decoder); right: base side (the mirrored ν).
    Points outside ``NU_PLOT_RANGE`` are drawn as triangles on the edge and counted in the panel title.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    thresholds = df.attrs.get("thresholds", AnalyzeConfig().thresholds())
    rule = thresholds["ft_only"]
    sides = [
        ("fine-tune side", df["delta_norm"] >= rule["delta_norm_min"], ("nu_eps", "nu_r"), "ft_only", ""),
        (
            "base side",
            df["delta_norm"] <= thresholds["base_only"]["delta_norm_max"],
            ("nu_eps_base", "nu_r_base"),
            "base_only",
            " (mirror: ν = β_ft / β_base)",
        ),
    ]
    lo, hi = NU_PLOT_RANGE
    margin = 0.04 * (hi - lo)
    fig = Figure(figsize=(11, 5), layout="constrained")
    for ax, (label, candidate, (eps_col, r_col), tag, mirror) in zip(fig.subplots(1, 2), sides, strict=True):
        part = df[candidate & df[eps_col].notna() & df[r_col].notna()]
        eps, r = part[eps_col].to_numpy(), part[r_col].to_numpy()
        outside = (eps < lo) | (eps > hi) | (r < lo) | (r > hi)
        chosen = (part["tag"] == tag).to_numpy()
        for mask, colour, name in (
            (~chosen, TAG_COLOURS["other"], "candidate by Δnorm, not tagged"),
            (chosen, TAG_COLOURS[tag], f"{tag} ({int(chosen.sum())})"),
        ):
            for shape, where in (("o", mask & ~outside), ("^", mask & outside)):
                ax.scatter(
                    np.clip(eps[where], lo, hi),
                    np.clip(r[where], lo, hi),
                    s=12,
                    alpha=0.7,
                    marker=shape,
                    color=colour,
                    label=name if shape == "o" else None,
                )
        if rule["nu_eps_max"] is not None:  # the relative selection applies no ν box
            box_lo = lo - margin if rule["nu_min"] is None else rule["nu_min"]
            ax.add_patch(
                Rectangle(
                    (box_lo, box_lo),
                    rule["nu_eps_max"] - box_lo,
                    rule["nu_r_max"] - box_lo,
                    fill=False,
                    edgecolor=TAG_COLOURS[tag],
                    linestyle="--",
                    linewidth=1.3,
                )
            )
        ax.axhline(1.0, color="#cccccc", linewidth=0.8, zorder=0)
        ax.axvline(1.0, color="#cccccc", linewidth=0.8, zorder=0)
        ax.set_xlim(lo - margin, hi + margin)
        ax.set_ylim(lo - margin, hi + margin)
        ax.set_xlabel(r"$\nu^\epsilon$   (0 = absent from the other model's error)")
        ax.set_ylabel(r"$\nu^r$   (0 = absent from the other model's reconstruction)")
        clipped = f", {int(outside.sum())} outside the axes (▲)" if outside.any() else ""
        ax.set_title(f"{label}{mirror}: {len(part)} candidates{clipped}", fontsize=10)
        ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.suptitle(f"{title}: latent scaling of model-specific candidates (dashed box = tag rule)", fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


# ---------------------------------------------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------------------------------------------


def analyze(cfg: AnalyzeConfig, run_dir: str | os.PathLike, base: str, ft: str) -> pd.DataFrame:
    """Analyze one base–fine-tune pair of a run directory.

    Reads ``crosscoders/<pair>/`` and ``activations/<base>/``, ``activations/<ft>/``; writes
    ``examples.sqlite`` (this pair's rows), ``plots/<pair>_delta_norm.png``, ``plots/<pair>_nu_scatter.png`` and,
    last, ``latents/<pair>.parquet`` (so the table's presence means the stage finished). Returns the table.
    """
    run_dir = Path(run_dir)
    pair = pair_name(base, ft)
    cc_dir = run_dir / "crosscoders" / pair
    if not (cc_dir / "cfg.json").exists():
        raise FileNotFoundError(
            f"no trained crosscoder for pair {pair!r} at {cc_dir}: run the train stage first (`llmdiff-eval train`)"
        )
    from llmdiff_eval.crosscoder import load_crosscoder
    from llmdiff_eval.harvest import ActivationCache

    cache_dirs = (run_dir / "activations" / base, run_dir / "activations" / ft)
    for cache_dir in cache_dirs:
        ActivationCache(cache_dir)  # raises CacheError naming the harvest stage if missing or incomplete

    cc = load_crosscoder(cc_dir)
    df = latent_table(cc, cache_dirs, cfg)
    df.attrs.update({"pair": pair, "base": base, "ft": ft})
    chosen = df.index[df["tag"].isin(cfg.example_tags)].to_numpy()
    log.info("analyze %s: %s; examples for %d latents", pair, df["tag"].value_counts().to_dict(), len(chosen))
    tokens = TokenInfo.from_cache(cache_dirs[0])
    examples = collect_examples(cc, cache_dirs, tokens, chosen, df["max_act"].to_numpy(), cfg)
    write_examples(run_dir / "examples.sqlite", pair, examples, cfg, df.attrs["thresholds"])
    plot_delta_norm(df, run_dir / "plots" / f"{pair}_delta_norm.png", title=pair)
    plot_nu_scatter(df, run_dir / "plots" / f"{pair}_nu_scatter.png", title=pair)
    write_latent_table(df, run_dir / "latents" / f"{pair}.parquet")
    return df
