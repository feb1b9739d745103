"""Data sources of crosscoder training: paired activations (an in-memory tensor or two harvested caches) served
as per-model-normalized, shuffled (B, 2, d) batches in an order fixed by the seed."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import torch

from llmdiff_eval.config.crosscoder import CrosscoderConfig
from llmdiff_eval.errors import CacheError, CrosscoderError
from llmdiff_eval.rundir.activations import ActivationCache, read_rows
from llmdiff_eval.utils import stable_hash


class PairedSource:
    """Paired activations in shards (one shard for an in-memory tensor); ``load`` returns (n, 2, d) float32."""

    def __init__(
        self, shard_sizes: list[int], d_model: int, mean_norms: torch.Tensor, identity: dict[str, Any]
    ):
        self.shard_sizes = shard_sizes
        self.n_tokens = sum(shard_sizes)
        self.d_model = d_model
        self.mean_norms = mean_norms  # (2,) E‖x_m‖ of the raw activations
        self.identity = identity  # what the fingerprint records about the data

    def load(self, shard_ids: list[int]) -> torch.Tensor:
        raise NotImplementedError

    def load_rows(self, shard_ids: list[int], rows: torch.Tensor) -> torch.Tensor:
        """Rows ``rows`` (indices into ``load(shard_ids)``) only, (len(rows), 2, d) float32."""
        return self.load(shard_ids)[rows]

    def total_steps(self, cfg: CrosscoderConfig) -> int:
        return _total_steps(self, cfg)

    def batches(
        self, cfg: CrosscoderConfig, scale: torch.Tensor, start_step: int, rank: int = 0, world_size: int = 1
    ) -> Iterator[torch.Tensor]:
        return _batches(self, cfg, scale, start_step, rank, world_size)


class TensorSource(PairedSource):
    def __init__(self, acts: torch.Tensor):
        if not isinstance(acts, torch.Tensor) or acts.ndim != 3 or acts.shape[1] != 2:
            shape = tuple(acts.shape) if isinstance(acts, torch.Tensor) else type(acts).__name__
            raise CrosscoderError(
                f"activations must be a float tensor of shape (N, 2, d) (index 0 = base, 1 = fine-tune), got "
                f"{shape}; stack the two models' (N, d) activations with torch.stack([base, ft], dim=1)"
            )
        if not acts.is_floating_point():
            raise CrosscoderError(f"activations must be floating point, got {acts.dtype}")
        if not bool(torch.isfinite(acts).all()):
            bad = (~torch.isfinite(acts)).any(dim=-1).nonzero()[:5].tolist()
            raise CrosscoderError(
                f"activations contain NaN/inf (first (token, model) pairs: {bad}); clean them first"
            )
        self.acts = acts.detach().cpu()
        stride = max(1, acts.shape[0] // 4096)
        sample = self.acts[::stride].to(torch.float32).contiguous()
        identity = {
            "shape": list(acts.shape),
            "sample_sha256": stable_hash(sample.numpy().tobytes().hex(), 32),
        }
        chunks = torch.split(self.acts, 65536)  # E‖x_m‖ in float64 without a float64 copy of the data
        mean_norms = sum(chunk.to(torch.float64).norm(dim=-1).sum(dim=0) for chunk in chunks) / acts.shape[0]
        super().__init__([acts.shape[0]], acts.shape[2], mean_norms, identity)

    def load(self, shard_ids: list[int]) -> torch.Tensor:
        return self.acts.to(torch.float32)


class CacheSource(PairedSource):
    """Two harvested caches (``llmdiff_eval.harvest``), read shard by shard; rows must be the same tokens."""

    def __init__(self, base_dir: str | os.PathLike, ft_dir: str | os.PathLike):
        try:
            self.caches = (ActivationCache(base_dir), ActivationCache(ft_dir))
        except CacheError as exc:
            raise CrosscoderError(str(exc)) from exc
        base, ft = self.caches
        if base.d_model != ft.d_model:
            raise CrosscoderError(f"{base.path} has d_model {base.d_model} but {ft.path} has {ft.d_model}")
        sizes = [[entry["n_tokens"] for entry in cache.index["shards"]] for cache in self.caches]
        if sizes[0] != sizes[1] or not torch.equal(base.token_ids, ft.token_ids):
            raise CrosscoderError(
                f"activation caches {base.path} and {ft.path} do not hold the same token stream; harvest both "
                "models of a pair on the same corpus with the same settings"
            )
        mean_norms = torch.tensor([cache.stats["mean_norm"] for cache in self.caches], dtype=torch.float64)
        identity = {
            "caches": [
                {
                    "n_tokens": cache.n_tokens,
                    "layer": cache.layer,
                    "shards": [e["sha256"] for e in cache.index["shards"]],
                }
                for cache in self.caches
            ]
        }
        super().__init__(sizes[0], base.d_model, mean_norms, identity)

    def load(self, shard_ids: list[int]) -> torch.Tensor:
        out = torch.empty(sum(self.shard_sizes[i] for i in shard_ids), 2, self.d_model, dtype=torch.float32)
        for slot, cache in enumerate(self.caches):
            start = 0
            for i in shard_ids:
                acts = cache.shard_acts(i)
                out[start : start + len(acts), slot] = acts.float()
                start += len(acts)
        return self._finite(out, shard_ids)

    def load_rows(self, shard_ids: list[int], rows: torch.Tensor) -> torch.Tensor:
        # memory-mapped: reads only these rows
        out = torch.stack([read_rows(cache, shard_ids, rows) for cache in self.caches], dim=1)
        return self._finite(out, shard_ids)

    def _finite(self, out: torch.Tensor, shard_ids: list[int]) -> torch.Tensor:
        if not bool(torch.isfinite(out).all()):
            raise CrosscoderError(
                f"shards {shard_ids} of {self.caches[0].path} / {self.caches[1].path} contain NaN/inf"
            )
        return out


def as_source(acts: Any) -> PairedSource:
    if isinstance(acts, PairedSource):
        return acts
    if isinstance(acts, torch.Tensor):
        return TensorSource(acts)
    if (
        isinstance(acts, (tuple, list))
        and len(acts) == 2
        and all(isinstance(a, (str, os.PathLike)) for a in acts)
    ):
        return CacheSource(*acts)
    raise CrosscoderError(
        "train_crosscoder needs a float tensor (N, 2, d) (index 0 = base, 1 = fine-tune) or a pair of harvested "
        f"cache directories (base_dir, ft_dir); got {type(acts).__name__}"
    )


def seeded_generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(stable_hash(list(parts)), 16) % (2**63))


def epoch_groups(source: PairedSource, cfg: CrosscoderConfig, epoch: int) -> list[list[int]]:
    """Shards grouped into shuffle buffers of about ``buffer_tokens``; one group when everything fits."""
    n_shards = len(source.shard_sizes)
    if source.n_tokens <= cfg.buffer_tokens:
        return [list(range(n_shards))]
    groups: list[list[int]] = [[]]
    filled = 0
    for shard in torch.randperm(n_shards, generator=seeded_generator(cfg.seed, epoch)).tolist():
        if groups[-1] and filled + source.shard_sizes[shard] > cfg.buffer_tokens:
            groups.append([])
            filled = 0
        groups[-1].append(shard)
        filled += source.shard_sizes[shard]
    return groups


def _total_steps(source: PairedSource, cfg: CrosscoderConfig) -> int:
    return sum(
        sum(source.shard_sizes[i] for i in group) // cfg.batch_size
        for epoch in range(cfg.epochs)
        for group in epoch_groups(source, cfg, epoch)
    )


def _batches(
    source: PairedSource,
    cfg: CrosscoderConfig,
    scale: torch.Tensor,
    start_step: int,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[torch.Tensor]:
    """Normalized (B, 2, d) batches in a fixed order (a function of the seed), starting at ``start_step``.

    Each group of shards is shuffled as a whole; the last partial batch of a group is dropped. With
    ``world_size`` > 1, only process ``rank``'s slice of each batch (rows rank·B/W … (rank+1)·B/W), and only those
    rows are read.
    """
    local = cfg.batch_size // world_size
    step = 0
    for epoch in range(cfg.epochs):
        for g, group in enumerate(epoch_groups(source, cfg, epoch)):
            n = sum(source.shard_sizes[i] for i in group)
            n_batches = n // cfg.batch_size
            if step + n_batches <= start_step:
                step += n_batches
                continue
            order = torch.randperm(n, generator=seeded_generator(cfg.seed, epoch, g))
            if world_size > 1:
                mine = (
                    order[: n_batches * cfg.batch_size]
                    .view(n_batches, world_size, local)[:, rank]
                    .reshape(-1)
                )
                data, order = source.load_rows(group, mine), torch.arange(len(mine))
            else:
                data = source.load(group)
            for b in range(n_batches):
                if step >= start_step:
                    yield data[order[b * local : (b + 1) * local]] * scale[None, :, None]
                step += 1


def norm_scale(source: PairedSource, cfg: CrosscoderConfig) -> torch.Tensor:
    """Per-model multiplier: √d / E‖x_m‖ for "unit_rms", 1 for "none"."""
    if cfg.normalization == "none":
        return torch.ones(2)
    if not bool((source.mean_norms > 0).all()):
        raise CrosscoderError(f"a model's activations are all zero (mean norms {source.mean_norms.tolist()})")
    return (math.sqrt(source.d_model) / source.mean_norms).to(torch.float32)
