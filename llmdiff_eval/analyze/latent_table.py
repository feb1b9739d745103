"""The per-latent table of the analyze stage (:func:`latent_table`): Δnorm, decoder cosine, latent scaling (ν^ε,
ν^r), firing statistics and tags of a crosscoder's latents over paired activations.

Orientation and units: model index 0 is the base, 1 the fine-tune (``BASE``, ``FT``; ``W_dec`` is ``(F, 2, d)``);
``delta_norm = ½((‖d^ft‖ − ‖d^base‖) / max(‖d^ft‖, ‖d^base‖) + 1)``, so **1 = the latent exists only in the
fine-tune**, 0 = only in the base. Activations are compared in the crosscoder's normalized space (``cc.normalize``),
and ``f`` is ``cc.encode`` (inference threshold rule), in the units of ``max_act``.

Latent scaling, for latent j, model m and probe p_j: ``β = p_jᵀ Σ_n f_nj y_n / (‖p_j‖² Σ_n f_nj²)`` with target
``y = x̂^m`` (β^r) or ``ε_j^m = x^m − x̂^m + f_j d_j^m`` (β^ε); ``nu_eps = β^ε_base / β^ε_ft``, ``nu_r = β^r_base /
β^r_ft`` along the fine-tune decoder (``probe="ft"``), the mirrors ``nu_*_base = β_ft / β_base`` along the base
decoder (``probe="base"``). Since ``Σ_n f_nj ε_j,n^m = Σ_n f_nj (x_n^m − x̂_n^m) + (Σ_n f_nj²) d_j^m``, one pass
accumulates ``Σ_n f_nj (p_j · y_n)`` for ``y ∈ {r^base, r^ft, x̂^base, x̂^ft}`` (``r = x − x̂``) and ``Σ_n f_nj²``
(:func:`accumulate_latent_sums`: ``torch.sparse.sampled_addmm`` at the entries where a latent fired, float64 sums).

Difference energy: ``diff_energy_j = Σ_n f_nj² · ‖d_j^ft − d_j^base‖² = Σ_n ‖f_nj (d_j^ft − d_j^base)‖²``, summed
over the analyzed tokens n, in the crosscoder's normalized units squared — how much of the fine-tune-minus-base
reconstruction difference latent j carries (cross terms between latents left out). It is unchanged by rescaling a
latent's encoder against its decoder. ``diff_energy / Σ_all diff_energy`` is the latent's share of the pair's total
difference.

Reference: docs/analyze.md, docs/concepts.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from llmdiff_eval.config.analyze import AnalyzeConfig
from llmdiff_eval.rundir.activations import ActivationCache

log = logging.getLogger(__name__)

BASE, FT = 0, 1

# acts accepted by latent_table: a raw (N, 2, d) tensor, a (base_cache_dir, ft_cache_dir) pair, or an iterable of
# raw (B, 2, d) batches.
Activations = torch.Tensor | tuple[str | os.PathLike, str | os.PathLike] | Iterable[torch.Tensor]


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


def decoder_difference_sq(W_dec: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """``‖d_j^ft − d_j^base‖²`` per latent from ``W_dec (F, 2, d)``, float64, normalized units squared."""
    parts = []
    for start in range(0, W_dec.shape[0], chunk):
        W = _as_float64(W_dec[start : start + chunk])
        parts.append((W[:, FT] - W[:, BASE]).square().sum(-1))
    return torch.cat(parts).numpy()


def _as_float64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", torch.float64)


# ---------------------------------------------------------------------------------------------------------------
# Data sources
# ---------------------------------------------------------------------------------------------------------------


def is_cache_pair(acts: Any) -> bool:
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
    chunks = _iter_cache_pair(*acts) if is_cache_pair(acts) else acts
    for chunk in chunks:
        _check_batch(chunk)
        for start in range(0, chunk.shape[0], batch_size):
            yield chunk[start : start + batch_size]


def iter_rows(
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


def prepare_crosscoder(cc: Any, device: str | None) -> tuple[Any, torch.device, torch.dtype]:
    current = cc.W_dec.device
    if device is not None and torch.device(device) != current:
        cc = cc.to(device)
    return cc, cc.W_dec.device, cc.W_dec.dtype


def encode_batch(
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
    cc, dev, dtype = prepare_crosscoder(cc, device)
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
            x, f = encode_batch(cc, raw, dev, dtype)
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


MIN_SPREAD = 1e-3
"""Floor of the relative rule's Δnorm spread: float noise between (near-)identical models is never an outlier."""


def delta_norm_cutoffs(df: pd.DataFrame, cfg: AnalyzeConfig) -> tuple[float, float]:
    """(ft_only, base_only) Δnorm cut-offs: ``ft_only`` needs Δnorm ≥ the first, ``base_only`` ≤ the second.

    ``"absolute"``: ``delta_norm_specific`` and ``1 − delta_norm_specific``; ``"energy"``: 0.5 and 0.5 (the side
    of 0.5; :func:`energy_selection` picks the latents). ``"relative"``: median ± z · 1.4826 ·
    MAD of the Δnorm of the latents that fire (at least :data:`MIN_SPREAD`), kept on their side of 0.5 (a pair with
    no firing latent gets the absolute cut-offs)."""
    values = df.loc[df["freq"] > 0, "delta_norm"].dropna().to_numpy()
    if cfg.selection == "energy":
        return 0.5, 0.5
    if cfg.selection == "absolute" or len(values) == 0:
        return cfg.absolute_cutoffs
    median = float(np.median(values))
    spread = max(1.4826 * float(np.median(np.abs(values - median))), MIN_SPREAD)
    high = min(max(median + cfg.delta_norm_z * spread, 0.5), 1.0)
    low = max(min(median - cfg.delta_norm_z * spread, 0.5), 0.0)
    return round(high, 6), round(low, 6)


def energy_selection(df: pd.DataFrame, cfg: AnalyzeConfig) -> pd.Series:
    """True for the latents the ``"energy"`` rule selects: the smallest set, largest ``diff_energy`` first, whose
    energies sum to at least ``cfg.energy_fraction`` of the total over all latents, at most ``cfg.max_latents``
    (ties keep latent-id order). No latent is selected when the total is 0."""
    energy = np.nan_to_num(df["diff_energy"].to_numpy(dtype=np.float64), nan=0.0)
    selected = np.zeros(len(df), dtype=bool)
    total = float(energy.sum())
    if total > 0:
        order = np.argsort(-energy, kind="stable")
        covered = np.cumsum(energy[order])
        needed = int(np.searchsorted(covered, cfg.energy_fraction * total)) + 1
        selected[order[: min(needed, cfg.max_latents, int(np.count_nonzero(energy)))]] = True
    return pd.Series(selected, index=df.index, name="energy_selected")


def assign_tags(
    df: pd.DataFrame, cfg: AnalyzeConfig, cutoffs: tuple[float, float] | None = None
) -> pd.Series:
    """Tag per latent from ``delta_norm``, the ν columns and ``freq`` (rules in :class:`AnalyzeConfig`;
    ``cutoffs`` default to :func:`delta_norm_cutoffs`)."""

    def nu_ok(eps: pd.Series, r: pd.Series) -> pd.Series:
        if cfg.selection != "absolute":
            return pd.Series(True, index=df.index)
        ok = (eps < cfg.nu_eps_max) & (r < cfg.nu_r_max)
        return ok if cfg.nu_min is None else ok & (eps >= cfg.nu_min) & (r >= cfg.nu_min)

    high, low = cutoffs or delta_norm_cutoffs(df, cfg)
    fired = df["freq"] > 0
    dn = df["delta_norm"]
    candidate = fired & energy_selection(df, cfg) if cfg.selection == "energy" else fired
    ft_only = candidate & (dn >= high) & (dn > 0.5) & nu_ok(df["nu_eps"], df["nu_r"])
    base_only = candidate & (dn <= low) & (dn < 0.5) & nu_ok(df["nu_eps_base"], df["nu_r_base"])
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
    where f > 0), ``max_act`` (max f, normalized units; 0 if it never fires), ``diff_energy`` (``Σ_n f_nj² ·
    ‖d_j^ft − d_j^base‖²``, normalized units squared, see the module docstring), ``tag``. ν is NaN also when the
    latent never fires or the probe decoder is zero, and ±inf when the denominator β is exactly 0.
    ``df.attrs`` holds ``thresholds``, ``analyze_config``, ``n_tokens`` and ``diff_energy_total``.
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
            "diff_energy": sums.sum_f2.numpy() * decoder_difference_sq(cc.W_dec),
        },
        index=pd.RangeIndex(n_latents, name="latent_id"),
    )
    cutoffs = delta_norm_cutoffs(df, cfg)
    df["tag"] = assign_tags(df, cfg, cutoffs)
    df.attrs = {
        "thresholds": cfg.thresholds(cutoffs),
        "analyze_config": dataclasses.asdict(cfg),
        "n_tokens": sums.n_tokens,
        "diff_energy_total": float(df["diff_energy"].sum()),
    }
    return df
