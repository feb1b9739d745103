"""Sharded harvest under torchrun: process ``r`` of ``W`` harvests the documents with ``doc_id % W == r``; rank 0
merges the indexes. Reference: docs/scaling.md."""

from __future__ import annotations

from pathlib import Path

import torch.distributed as dist

from llmdiff_eval.distributed.process_group import data_parallel
from llmdiff_eval.harvest import (
    CacheError,
    HarvestConfig,
    harvest_model,
    merge_ranks,
)
from llmdiff_eval.models import ModelSpec
from llmdiff_eval.rundir.activations import finished_elsewhere


def harvest_ranks(
    spec: ModelSpec, cfg: HarvestConfig, out_dir: str | Path, *, tokenizer, rank: int, world_size: int
) -> Path:
    """Harvest one model as process ``rank`` of ``world_size`` (all processes call this), or accept a cache that a
    run with another number of processes finished.

    Each process harvests (or resumes) its documents into its own shards; after all are done rank 0 merges the
    indexes (:func:`llmdiff_eval.harvest.merge_ranks`). A cache *being* harvested by ``W'`` processes must be
    finished by ``W'`` processes (documents are split by ``doc_id % W'``): :class:`CacheError` says so.
    """
    out_dir = Path(out_dir)
    if finished_elsewhere(out_dir, world_size, full=cfg.verify_shards):
        return out_dir
    world = data_parallel()
    if world is None:
        raise CacheError(
            f"harvesting {out_dir} with {world_size} processes needs torch.distributed (torchrun)"
        )
    harvest_model(spec, cfg, out_dir, tokenizer=tokenizer, rank=rank, world_size=world_size)
    world.barrier()
    if rank == 0:
        merge_ranks(out_dir, world_size)
    world.barrier()
    return out_dir


def process_slot() -> tuple[int, int]:
    """``(rank, world_size)`` of this process in a running torch.distributed group, else ``(0, 1)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def harvest_one(spec: ModelSpec, cfg: HarvestConfig, out_dir: str | Path, *, tokenizer) -> Path:
    """Harvest one model as this process's share: by rank under torchrun, else alone. The ``harvest_one`` the harvest stage passes to :func:`llmdiff_eval.harvest.harvest`."""
    rank, world_size = process_slot()
    if world_size > 1:
        return harvest_ranks(spec, cfg, out_dir, tokenizer=tokenizer, rank=rank, world_size=world_size)
    return harvest_model(spec, cfg, out_dir, tokenizer=tokenizer)
