"""Streaming: harvest feeds crosscoder training through a shuffle buffer, with no activation cache on disk
(:class:`StreamingSource`). Reference: docs/scaling.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from llmdiff_eval.crosscoder import (
    CrosscoderConfig,
    CrosscoderError,
    DataParallel,
    PairedSource,
)
from llmdiff_eval.crosscoder.sources import seeded_generator
from llmdiff_eval.harvest import (
    HarvestConfig,
    stream_activations,
)
from llmdiff_eval.models import ModelSpec, load_weights


class StreamingSource(PairedSource):
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
                order = torch.randperm(len(block), generator=seeded_generator(cfg.seed, epoch, b, rank))
                for i in range(n_batches):
                    if step >= start_step:
                        rows = block[order[i * self.local : (i + 1) * self.local]]
                        yield rows.float() * scale[None, :, None]
                    step += 1
