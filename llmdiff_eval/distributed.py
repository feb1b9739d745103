"""Scale-out on torch.distributed: data-parallel crosscoder training, sharded harvesting, streaming.

Launch with ``torchrun`` (this module is no launcher): every process runs the same command, torchrun sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` / ``MASTER_PORT`` (or a rendezvous endpoint for several nodes), and
the CLI wraps the stages in :func:`process_group`::

    torchrun --nproc_per_node 8 -m llmdiff_eval harvest run.yaml
    torchrun --nproc_per_node 8 -m llmdiff_eval train run.yaml

**Harvest** (:func:`harvest_ranks`): process ``r`` of ``W`` harvests the documents with ``doc_id % W == r`` into
its own shards and index (``shard_r<r>_XXXXX.safetensors``, ``index.rank<r>.json``, the seam of
:func:`llmdiff_eval.harvest.harvest_model`); rank 0 then merges the indexes into ``index.json`` + ``stats.json``
(:func:`llmdiff_eval.harvest.merge_ranks`). Shards are written atomically, so a process that dies loses only the
shard it was filling; rerunning the same command with the same ``W`` continues every rank after its last finished
shard (no duplicates, nothing lost). Rows are ordered (rank, document, position), identically in every model's cache.

**Training** (:class:`TorchDataParallel`, passed to :func:`llmdiff_eval.crosscoder.train_crosscoder` as
``parallel``): the sequence of global batches is the single-process one (a function of the seed, independent of
``W``); process ``r`` reads only rows ``r·B/W … (r+1)·B/W`` of each batch (memory-mapped rows of the cache,
:func:`read_rows`). One step then equals the single-process step on the whole batch up to floating-point rounding:

* BatchTopK keeps the top ``k·B`` scores of the *global* batch: each process sends its local top ``k·B`` candidates
  (:func:`global_batch_topk`), all processes take the same threshold and keep their entries above it (ties at the
  threshold are shared out in rank order so exactly ``k·B`` are kept);
* the loss is each process's mean over its rows; gradients are summed over processes and divided by ``W``
  (:class:`_GradientAverager`) before SAE-Lens clips the gradient norm and steps Adam, so every process holds the
  same weights and optimizer state. The AuxK loss divides by the variance of the residual over the global batch;
* the dead-latent counters (SAE-Lens's ``n_forward_passes_since_fired`` / ``act_freq_scores``) and the
  inference-threshold EMA (minimum kept score) are reduced over processes every step;
* rank 0 alone writes the log, checkpoints and final files. A checkpoint holds global state only, so a run resumes
  with any number of processes (the data order does not depend on ``W``).

Why not ``DistributedDataParallel``: SAE-Lens's trainer calls ``sae.training_forward_pass``, not ``forward``, so a
DDP wrapper's reducer would never be prepared for the backward pass; the selection and threshold need collectives
inside the step anyway; and the latent-major storage of ``W_enc`` is kept by reducing each gradient in place in
its own memory order. The averager does what DDP's reducer does (hooks that fire when a parameter's gradient is
accumulated), with one bucket per parameter.

**Streaming** (:class:`StreamingSource`): harvest feeds training directly, nothing is written to disk. Each process
harvests its own documents through a shuffle buffer of ``buffer_tokens / W`` rows (bf16, as a cache would store
them); per-model normalization comes from the first buffer of all processes. Each epoch harvests again.

**Memory** of one process: the dictionary is replicated (``W_enc`` + ``W_dec`` = 2·M·d·F parameters, ×4 with the
gradient and Adam's two moments in float32); the paper's F = 114,688, d = 3584, M = 2 is 1.64 G parameters,
≈ 26 GB — fits one 40/80 GB GPU. A dictionary that does not fit would need ``W_dec``/``W_enc`` sharded over F
(tensor parallelism, each process owning F/W latents and an all-gather of the candidate scores), which is not
implemented here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from llmdiff_eval.crosscoder import (
    BatchTopKCrosscoderTrainingSAE,
    CrosscoderConfig,
    CrosscoderError,
    DataParallel,
    _CrosscoderTrainer,
    _generator,
    _PairedSource,
    batch_topk_flat,
)
from llmdiff_eval.harvest import (
    ActivationCache,
    CacheError,
    HarvestConfig,
    harvest_model,
    merge_ranks,
    stream_activations,
)
from llmdiff_eval.models import ModelSpec, load_weights

__all__ = [
    "StreamingSource",
    "TorchDataParallel",
    "data_parallel",
    "global_batch_topk",
    "harvest_ranks",
    "process_group",
    "read_rows",
    "run_pipeline_distributed",
    "streaming_inputs",
    "world_from_env",
]

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


class _DataParallelTrainer(_CrosscoderTrainer):
    """SAE-Lens's trainer (through ``_CrosscoderTrainer``) for one of ``W`` processes: gradients averaged, firing
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


# ---------------------------------------------------------------------------------------------------------------
# Reading one process's rows of a cache


def read_rows(cache: ActivationCache, shard_ids: list[int], rows: torch.Tensor) -> torch.Tensor:
    """Activations ``(len(rows), d)`` float32 of ``cache`` at ``rows`` — indices into the concatenation of shards
    ``shard_ids`` (in that order) — read through a memory map of each shard, so only those rows' pages are read."""
    entries = [cache.index["shards"][i] for i in shard_ids]
    bounds = torch.tensor([0] + [e["n_tokens"] for e in entries]).cumsum(0)
    rows = rows.long()
    which = torch.searchsorted(bounds[1:], rows, right=True)
    out = torch.empty(len(rows), cache.d_model, dtype=torch.float32)
    for j, entry in enumerate(entries):
        positions = (which == j).nonzero().squeeze(1)
        if positions.numel() == 0:
            continue
        local = rows[positions] - bounds[j]
        order = local.argsort()  # ascending offsets: sequential reads
        acts = _acts_memmap(cache.path, entry)
        picked = np.ascontiguousarray(acts[local[order].numpy()])
        out[positions[order]] = torch.from_numpy(picked).view(torch.bfloat16).float()
    return out


def _acts_memmap(cache_dir: Path, entry: dict) -> np.ndarray:
    """The ``acts`` tensor of one safetensors shard as a read-only ``(n, d)`` uint16 memmap (bf16 bit patterns)."""
    path = cache_dir / entry["file"]
    if not path.exists():
        raise CacheError(f"shard {entry['file']} of activation cache {cache_dir} is missing; rerun harvest")
    with open(path, "rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_size))
    info = header.get("acts", {})
    if (
        info.get("dtype") != "BF16"
        or len(info.get("shape", ())) != 2
        or info["shape"][0] != entry["n_tokens"]
    ):
        raise CacheError(
            f"shard {entry['file']} of activation cache {cache_dir} is corrupt (acts header {info}); delete it and "
            "rerun harvest"
        )
    begin = info["data_offsets"][0]
    return np.memmap(path, dtype="<u2", mode="r", offset=8 + header_size + begin, shape=tuple(info["shape"]))


# ---------------------------------------------------------------------------------------------------------------
# Streaming: harvest feeds training through a shuffle buffer


class StreamingSource(_PairedSource):
    """Paired activations harvested on the fly for :func:`llmdiff_eval.crosscoder.train_crosscoder` (no disk cache).

    ``n_tokens`` rows per epoch in all, of which each of the ``W`` processes harvests its share from its own
    documents (``doc_id % W == rank``) with :func:`llmdiff_eval.harvest.stream_activations` (both models in lockstep).
    Rows go through a shuffle buffer of ``buffer_tokens / W`` rows (rounded to whole local batches), stored in bf16
    as a cache would store them; each full buffer is shuffled (seeded by seed, epoch, buffer, rank) and served as
    batches of ``B / W`` rows. Normalization uses E‖x_m‖ over the first buffer of every process. Each epoch streams
    the corpus again; resuming from a checkpoint re-harvests (and skips) the rows of the finished steps of its epoch.

    Construction loads both models onto ``harvest_cfg.device`` and harvests the first buffer.
    """

    def __init__(
        self,
        harvest_cfg: HarvestConfig,
        base: ModelSpec,
        ft: ModelSpec,
        cfg: CrosscoderConfig,
        n_tokens: int,
        parallel: DataParallel | None = None,
        loaded_models: list | None = None,
    ):
        self.parallel = parallel or DataParallel()
        world = self.parallel.world_size
        if cfg.batch_size % world:
            raise CrosscoderError(
                f"crosscoder.batch_size ({cfg.batch_size}) must be divisible by the number of processes ({world})"
            )
        if n_tokens < cfg.batch_size:
            raise CrosscoderError(
                f"crosscoder.stream_tokens ({n_tokens}) must be at least batch_size ({cfg.batch_size})"
            )
        self.harvest_cfg, self.models = harvest_cfg, [base, ft]
        self.local = cfg.batch_size // world
        self.rows_per_epoch = (n_tokens // cfg.batch_size) * self.local  # this process's rows
        self.capacity = min(
            self.rows_per_epoch, max(self.local, cfg.buffer_tokens // world // self.local * self.local)
        )
        self.loaded = loaded_models or [
            load_weights(spec, harvest_cfg.device, harvest_cfg.dtype) for spec in self.models
        ]
        self._live: tuple[torch.Tensor, Iterator[torch.Tensor]] | None = None
        blocks = self._blocks(0)
        first = next(blocks)
        self._live = (first, blocks)
        x = first.float()
        moments = torch.cat(
            [x.norm(dim=-1).to(torch.float64).sum(dim=0), torch.tensor([float(len(x))], dtype=torch.float64)]
        )
        if self.parallel.world_size > 1:
            self.parallel.all_reduce_(moments)
        identity = {
            "stream": {
                "models": [spec.to_dict() for spec in self.models],
                "harvest": {
                    key: value
                    for key, value in dataclasses.asdict(harvest_cfg).items()
                    if key
                    not in ("device", "batch_size", "progress", "verify_shards", "shard_tokens", "max_tokens")
                },
                "n_tokens": n_tokens,
                "world_size": world,
                "norm_tokens": int(moments[-1]),
            }
        }
        super().__init__([n_tokens], x.shape[-1], moments[:2] / moments[-1], identity)

    def _blocks(self, epoch: int) -> Iterator[torch.Tensor]:
        """This process's rows of one epoch in buffers of ``capacity`` rows, (n, 2, d) bf16."""
        if epoch == 0 and self._live is not None:
            first, rest = self._live
            self._live = None
            yield first
            yield from rest
            return
        cfg = dataclasses.replace(self.harvest_cfg, max_tokens=self.rows_per_epoch)
        stream = stream_activations(
            cfg,
            self.models,
            loaded_models=self.loaded,
            rank=self.parallel.rank,
            world_size=self.parallel.world_size,
        )
        buffer, filled, served = None, 0, 0
        for acts, _, _ in stream:
            acts = acts.to(torch.bfloat16)
            while len(acts):
                if buffer is None:
                    size = min(self.capacity, self.rows_per_epoch - served)
                    buffer = torch.empty(size, *acts.shape[1:], dtype=torch.bfloat16)
                take = min(len(buffer) - filled, len(acts))
                buffer[filled : filled + take] = acts[:take]
                filled, acts = filled + take, acts[take:]
                if filled == len(buffer):
                    served += filled
                    yield buffer
                    buffer, filled = None, 0
        if served < self.rows_per_epoch:
            raise CrosscoderError(
                f"the corpus gave process {self.parallel.rank} only {served + filled} tokens in epoch {epoch}, fewer "
                f"than the {self.rows_per_epoch} it needs: lower crosscoder.stream_tokens or add documents"
            )

    def total_steps(self, cfg: CrosscoderConfig) -> int:
        return cfg.epochs * (self.n_tokens // cfg.batch_size)

    def batches(
        self, cfg: CrosscoderConfig, scale: torch.Tensor, start_step: int, rank: int = 0, world_size: int = 1
    ) -> Iterator[torch.Tensor]:
        """Normalized local batches ``(B/W, 2, d)`` float32 from step ``start_step`` on (earlier steps of the same
        epoch are harvested again and skipped; earlier epochs are skipped without harvesting)."""
        if (rank, world_size) != (self.parallel.rank, self.parallel.world_size):
            raise CrosscoderError("a StreamingSource serves the process it was built for")
        per_epoch = self.n_tokens // cfg.batch_size
        step = 0
        for epoch in range(cfg.epochs):
            if step + per_epoch <= start_step:
                step += per_epoch
                continue
            for b, block in enumerate(self._blocks(epoch)):
                n_batches = len(block) // self.local
                if step + n_batches <= start_step:
                    step += n_batches
                    continue
                order = torch.randperm(len(block), generator=_generator(cfg.seed, epoch, b, rank))
                for i in range(n_batches):
                    if step >= start_step:
                        rows = block[order[i * self.local : (i + 1) * self.local]]
                        yield rows.float() * scale[None, :, None]
                    step += 1


def streaming_inputs(
    cfg: CrosscoderConfig, run_dir: Path, base: str, ft: str, parallel: DataParallel | None
) -> tuple[StreamingSource, dict[str, Any]]:
    """The train stage's streaming source for pair (base, ft) and the metadata to record, from the run's resolved
    ``config.yaml`` (models and harvest settings)."""
    from llmdiff_eval.config import load_config

    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise CrosscoderError(
            f"crosscoder.stream_tokens is set but {path} does not exist: streaming reads the models and harvest "
            "settings from the run config; run the stage with `llmdiff-eval train CONFIG.yaml` (or run_pipeline)"
        )
    run = load_config(path)
    specs = {spec.name: spec for spec in run.models}
    missing = [name for name in (base, ft) if name not in specs]
    if missing:
        raise CrosscoderError(f"models {missing} are not in {path} (it has {sorted(specs)})")
    source = StreamingSource(run.harvest, specs[base], specs[ft], cfg, cfg.stream_tokens, parallel=parallel)
    metadata = {
        "pair": {"base": base, "ft": ft},
        "layer": run.harvest.layer,
        "model_specs": {"base": specs[base].to_dict(), "ft": specs[ft].to_dict()},
        "streaming": {"tokens_per_epoch": cfg.stream_tokens, "buffer_tokens": cfg.buffer_tokens},
    }
    return source, metadata


# ---------------------------------------------------------------------------------------------------------------
# Sharded harvest


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CacheError(f"{path} is not valid JSON ({exc}); delete {path.parent} and harvest again") from exc


def _ranked_world_size(out_dir: Path) -> int | None:
    """The number of processes that harvest (or harvested) ``out_dir`` rank by rank, or None."""
    for path in sorted(out_dir.glob("index.rank*.json")):
        index = _read_json(path)
        if index is not None:
            return int(index["world_size"])
    return None


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
    merged = _read_json(out_dir / "index.json")
    ranked = _ranked_world_size(out_dir)
    if merged is not None and ranked is None:  # a single-process cache
        if merged.get("complete"):
            return out_dir
        raise CacheError(
            f"the activation cache {out_dir} was started by a single process: finish it with `llmdiff-eval "
            f"harvest` without torchrun, or delete the directory to harvest it with {world_size} processes"
        )
    if ranked is not None and ranked != world_size:
        if merged is not None and merged.get("complete"):
            return out_dir
        raise CacheError(
            f"the activation cache {out_dir} is being harvested by {ranked} processes (index.rank*.json): finish "
            f"it with `torchrun --nproc_per_node {ranked} ...` (documents are split by doc_id % {ranked}), or "
            "delete the directory to start over"
        )
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


# ---------------------------------------------------------------------------------------------------------------
# The pipeline under torchrun

DISTRIBUTED_STAGES = ("harvest", "train")


def run_pipeline_distributed(config, run_dir: str | Path, stages, force: bool = False, log=print):
    """Run ``stages`` of a run config as one process of a torchrun job.

    Harvest and train use every process; the other stages (analyze, annotate, scorecard) run on rank 0 alone after
    the process group is closed, while the other processes exit. Before the shared stages start, rank 0 clears the
    outputs of stale units (config changed), so no two processes delete files at once. Returns rank 0's list of
    :class:`llmdiff_eval.pipeline.UnitResult` and None on the other processes; only rank 0 logs.
    """
    from llmdiff_eval.pipeline import run_pipeline

    stages = list(stages)
    shared = [stage for stage in stages if stage in DISTRIBUTED_STAGES]
    rest = [stage for stage in stages if stage not in DISTRIBUTED_STAGES]
    results = []
    with process_group() as world:
        writer = world is None or world.is_writer
        if writer and not force:
            _clear_stale_units(config, Path(run_dir), shared, log)
        if world is not None:
            world.barrier()
        if shared:
            results = run_pipeline(config, run_dir, shared, force=force, log=log if writer else _quiet)
    if not writer:
        return None
    if rest:
        results += run_pipeline(config, run_dir, rest, force=force, log=log)
    return results


def _quiet(_message: str) -> None:
    pass


def _clear_stale_units(config, run_dir: Path, stages: list[str], log) -> None:
    """Delete the outputs and marker of every stale harvest/train unit (rank 0, before the others start)."""
    from llmdiff_eval.pipeline import Runner, _marker, stage_state
    from llmdiff_eval.utils import pair_name

    runner = Runner(config, run_dir, log=log)
    units = []
    if "harvest" in stages:
        units += [
            ("harvest", spec.name, runner.harvest_key(spec.name), run_dir / "activations" / spec.name)
            for spec in config.models
        ]
    if "train" in stages:
        units += [
            ("train", pair_name(b, f), runner.train_key(b, f), run_dir / "crosscoders" / pair_name(b, f))
            for b, f in runner.pairs()
        ]
    for stage, item, key, path in units:
        if stage_state(run_dir, stage, item, key) == "stale":
            log(f"[{stage}] {item}: config changed since it ran; clearing it for a redo")
            shutil.rmtree(path, ignore_errors=True)
            _marker(run_dir, stage, item).unlink(missing_ok=True)
