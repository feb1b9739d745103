"""Scale-out on torch.distributed: data-parallel crosscoder training, sharded harvesting, streaming.

Modules: ``process_group.py`` (:func:`process_group`, :class:`TorchDataParallel`, :func:`global_batch_topk`),
``harvest.py`` (:func:`harvest_ranks`, :func:`harvest_one`), ``streaming.py`` (:class:`StreamingSource`). These are
backends that extend the public seams of ``llmdiff_eval/crosscoder/`` (``DataParallel``, ``CrosscoderTrainer``,
``PairedSource``) and ``llmdiff_eval/harvest.py`` (``harvest_one``, ``harvest_model(..., rank, world_size)``,
``merge_ranks``); the stages choose them, and under ``torchrun`` (this package is no launcher)
``llmdiff_eval/pipeline.py`` runs the harvest and train stages inside :func:`process_group`. With ``W`` processes, one data-parallel step
equals the single-process step on the whole global batch up to floating-point rounding.

Reference: docs/scaling.md.
"""

from __future__ import annotations

from llmdiff_eval.distributed.harvest import harvest_one, harvest_ranks, process_slot
from llmdiff_eval.distributed.process_group import (
    TIMEOUT,
    TorchDataParallel,
    data_parallel,
    global_batch_topk,
    process_group,
    world_from_env,
)
from llmdiff_eval.distributed.streaming import StreamingSource
from llmdiff_eval.rundir.activations import read_rows

__all__ = [
    "TIMEOUT",
    "StreamingSource",
    "TorchDataParallel",
    "data_parallel",
    "global_batch_topk",
    "harvest_one",
    "harvest_ranks",
    "process_group",
    "process_slot",
    "read_rows",
    "world_from_env",
]
