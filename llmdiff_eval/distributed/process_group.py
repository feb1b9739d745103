"""The torch.distributed process group and data-parallel crosscoder training (:class:`TorchDataParallel`): global
batch top-k, averaged gradients, reduced firing statistics. How and why: docs/scaling.md."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from llmdiff_eval.crosscoder import (
    BatchTopKCrosscoderTrainingSAE,
    CrosscoderTrainer,
    DataParallel,
    batch_topk_flat,
)

# Collectives wait this long for the slowest process (a harvest rank finishing its last shard, rank 0 merging).
TIMEOUT = timedelta(minutes=int(os.environ.get("LLMDIFF_DIST_TIMEOUT_MIN", "60")))


# ---------------------------------------------------------------------------------------------------------------
# Process group


def world_from_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` as set by torchrun (``(0, 1, 0)`` when not launched by it)."""
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )


@contextlib.contextmanager
def process_group() -> Iterator[TorchDataParallel | None]:
    """Join torchrun's process group for the duration of the block; yields the group (None for one process).

    Backend: gloo for CPU tensors, plus NCCL for CUDA tensors when CUDA is available (each process then uses GPU
    ``LOCAL_RANK``). An already initialized group (a caller's own) is used as it is and left open.
    """
    _, world_size, local_rank = world_from_env()
    if dist.is_available() and dist.is_initialized():
        yield TorchDataParallel() if dist.get_world_size() > 1 else None
        return
    if world_size <= 1:
        yield None
        return
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend, timeout=TIMEOUT)
    try:
        yield TorchDataParallel()
    finally:
        dist.destroy_process_group()


def data_parallel() -> TorchDataParallel | None:
    """The running process group as a :class:`TorchDataParallel`, or None outside torch.distributed / for one
    process (what the stage functions call to decide whether to split the work)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return TorchDataParallel()
    return None


class TorchDataParallel(DataParallel):
    """Data-parallel training over the current torch.distributed process group (see the module docstring)."""

    def __init__(self) -> None:
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()

    def barrier(self) -> None:
        """Wait for every process (a CPU all-reduce, so it also works when the CUDA backend is NCCL)."""
        dist.all_reduce(torch.zeros(1))

    def all_reduce_(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduce ``tensor`` in place over all processes (``op``: "sum", "min" or "max") and return it."""
        dist.all_reduce(
            tensor, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op]
        )
        return tensor

    def all_gather(self, rows: torch.Tensor) -> torch.Tensor:
        """Every process's ``rows`` (same shape everywhere) concatenated along dim 0 in rank order."""
        rows = rows.contiguous()
        parts = [torch.empty_like(rows) for _ in range(self.world_size)]
        dist.all_gather(parts, rows)
        return torch.cat(parts)

    def average_(self, grad: torch.Tensor) -> None:
        """Replace ``grad`` by its mean over processes, in place and in its own memory order (no copy unless its
        strides are not a permutation of a contiguous layout)."""
        view = _dense_view(grad)
        if view is None:
            dense = grad.contiguous()
            self.all_reduce_(dense)
            grad.copy_(dense)
            view = grad
        else:
            self.all_reduce_(view)
        view.div_(self.world_size)

    def training_sae(self, cfg) -> _DataParallelTrainingSAE:
        sae = _DataParallelTrainingSAE(cfg)
        sae.world = self
        return sae

    def trainer(self, *args: Any, **kwargs: Any) -> _DataParallelTrainer:
        return _DataParallelTrainer(*args, world=self, **kwargs)


def _dense_view(tensor: torch.Tensor) -> torch.Tensor | None:
    """A contiguous view of ``tensor``'s memory (its dims permuted by decreasing stride), or None if it has none."""
    order = sorted(range(tensor.ndim), key=lambda dim: -tensor.stride(dim))
    view = tensor.permute(order)
    return view if view.is_contiguous() else None


# ---------------------------------------------------------------------------------------------------------------
# Data-parallel training step


@torch.no_grad()
def global_batch_topk(scores: torch.Tensor, n_keep: int, world: TorchDataParallel) -> torch.Tensor:
    """Flat indices into this process's ``scores`` (b, F) of its share of the top ``n_keep`` scores of the global
    batch (all processes' rows together).

    Each process's share of the global top ``n_keep`` is among its own top ``n_keep``, so those candidates are
    gathered (``W·n_keep`` values), the ``n_keep``-th largest of them is the global threshold, and each process keeps
    its entries above it; entries equal to it are given out in rank order until exactly ``n_keep`` are kept.
    """
    flat = scores.reshape(-1)
    local = batch_topk_flat(scores, min(n_keep, flat.numel()))
    values = flat[local]
    padded = torch.full((n_keep,), float("-inf"), dtype=values.dtype, device=values.device)
    padded[: values.numel()] = values
    threshold = world.all_gather(padded).topk(n_keep, sorted=False).values.min()
    above, tied = local[values > threshold], local[values == threshold]
    counts = world.all_gather(torch.tensor([above.numel(), tied.numel()], device=values.device)).view(-1, 2)
    still_needed = n_keep - int(counts[:, 0].sum())
    taken_before = int(counts[: world.rank, 1].sum())
    take = min(max(still_needed - taken_before, 0), tied.numel())
    return torch.cat([above, tied[:take]])


class _DataParallelTrainingSAE(BatchTopKCrosscoderTrainingSAE):
    """The training crosscoder of one process: batch statistics (top-k, threshold minimum, AuxK variance) are taken
    over the global batch. Saves and loads exactly like the single-process class (same architecture name)."""

    world: TorchDataParallel

    def _batch_topk(self, scores: torch.Tensor) -> torch.Tensor:
        return global_batch_topk(
            scores, int(self.cfg.k * scores.shape[0] * self.world.world_size), self.world
        )

    def _batch_min(self, values: torch.Tensor) -> torch.Tensor | None:
        local = values.min() if values.numel() else values.new_tensor(float("inf"))
        smallest = self.world.all_reduce_(local.reshape(1).clone(), op="min")[0]
        return None if bool(torch.isinf(smallest)) else smallest

    def _batch_variance(self, residual: torch.Tensor) -> torch.Tensor:
        r = residual.detach().to(torch.float64)
        sums = torch.cat(
            [r.sum(dim=0).flatten(), r.pow(2).sum().reshape(1), r.new_tensor([float(r.shape[0])])]
        )
        self.world.all_reduce_(sums)
        n, total_square = sums[-1], sums[-2]
        return ((total_square - sums[:-2].pow(2).sum() / n) / n).to(residual.dtype)


class _GradientAverager:
    """Averages every parameter's gradient over the processes once the backward pass has accumulated all of them
    (hooks fire per parameter; the reduction runs in a fixed parameter order, identical on every process)."""

    def __init__(self, params, world: TorchDataParallel):
        self.params = [p for p in params if p.requires_grad]
        self.world = world
        self.ready = 0
        for param in self.params:
            param.register_post_accumulate_grad_hook(self._accumulated)

    def _accumulated(self, _param: torch.Tensor) -> None:
        self.ready += 1
        if self.ready < len(self.params):
            return
        self.ready = 0
        for param in self.params:
            self.world.average_(param.grad)


class _DataParallelTrainer(CrosscoderTrainer):
    """SAE-Lens's trainer (through ``CrosscoderTrainer``) for one of ``W`` processes: gradients averaged, firing
    statistics and sample counts made global after each step, files written by rank 0 only."""

    def __init__(self, *args: Any, world: TorchDataParallel, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.world = world
        self.averager = _GradientAverager(self.sae.parameters(), world)

    def _train_step(self, sae, sae_in: torch.Tensor):
        # SAETrainer.step counted this process's rows; the step covers the whole batch.
        self.n_training_samples += sae_in.shape[0] * (self.world.world_size - 1)
        since, freq = self.n_forward_passes_since_fired.clone(), self.act_freq_scores.clone()
        output = super()._train_step(sae, sae_in)
        if self.averager.ready:
            raise RuntimeError("a parameter received no gradient in this step; the processes are out of step")
        # A latent fired in the global batch if it fired on any process; firing counts add up.
        fired_here = (self.n_forward_passes_since_fired == 0).to(freq.dtype)
        reduced = self.world.all_reduce_(torch.cat([fired_here, self.act_freq_scores - freq]))
        n = freq.numel()
        self.n_forward_passes_since_fired = torch.where(reduced[:n] > 0, torch.zeros_like(since), since + 1)
        self.act_freq_scores = freq + reduced[n:]
        return output

    @torch.no_grad()
    def _metrics(self, output, done: int) -> dict[str, Any]:
        """The log line of the global batch: losses and L0 averaged, explained variance from summed moments."""
        entry = super()._metrics(output, done)
        x, x_hat = output.sae_in.to(torch.float64), output.sae_out.to(torch.float64)
        m, names = x.shape[1], list(output.losses)
        # per model: squared error, Σ‖x‖², Σx (d values); then the row count and the process's scalars
        moments = torch.cat(
            [(x - x_hat).pow(2).sum(dim=(0, 2)), x.pow(2).sum(dim=(0, 2)), x.sum(dim=0).flatten()]
        )
        scalars = x.new_tensor(
            [
                float(x.shape[0]),
                float(output.loss),
                *(float(output.losses[k]) for k in names),
                output.metrics["l0"],
            ]
        )
        reduced = self.world.all_reduce_(torch.cat([moments, scalars]))
        error, square = reduced[:m], reduced[m : 2 * m]
        total = reduced[2 * m : len(moments)].view(m, -1)
        n = reduced[len(moments)]
        means = (reduced[len(moments) + 1 :] / self.world.world_size).tolist()  # equal rows per process
        fvu = (error / (square - total.pow(2).sum(dim=1) / n).clamp_min(1e-12)).tolist()
        entry.update(loss=means[0], **dict(zip(names, means[1:-1], strict=True)), l0=means[-1])
        entry.update(
            fvu_base=fvu[0],
            fvu_ft=fvu[1],
            explained_variance_base=1 - fvu[0],
            explained_variance_ft=1 - fvu[1],
        )
        return entry

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        if self.world.is_writer:
            super().save_checkpoint(*args, **kwargs)
