"""The crosscoder training run: SAE-Lens's ``SAETrainer`` with step-based atomic checkpoints, resume, a JSONL
log, and the :class:`DataParallel` seam that ``llmdiff_eval/distributed/`` extends."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.saes.sae import (
    SAE,
    SAEMetadata,
    TrainStepOutput,
)
from sae_lens.training.sae_trainer import SAETrainer
from safetensors import SafetensorError

from llmdiff_eval.config import result_settings
from llmdiff_eval.config.crosscoder import CrosscoderConfig
from llmdiff_eval.crosscoder.batchtopk import (
    ARCHITECTURE,
    BatchTopKCrosscoder,
    BatchTopKCrosscoderTrainingConfig,
    BatchTopKCrosscoderTrainingSAE,
)
from llmdiff_eval.crosscoder.kernels import choose_decode
from llmdiff_eval.crosscoder.sources import PairedSource, as_source, norm_scale
from llmdiff_eval.errors import CrosscoderError
from llmdiff_eval.precision import autocast_enabled, bf16_autocast
from llmdiff_eval.utils import atomic_write_json, atomic_write_text, stable_hash

CHECKPOINTS = "checkpoints"
LOG_FILE = "training_log.jsonl"
PROGRESS_FILE = "progress.json"


class _StopTraining(Exception):
    """Raised after the checkpoint at ``max_steps``: the run stops there and can be resumed."""


class RunFiles:
    """Files of one training run in ``out_dir`` (None = keep the log in memory only)."""

    def __init__(self, out_dir: Path | None, fingerprint: str, write: bool = True):
        self.out_dir = out_dir
        self.fingerprint = fingerprint
        self.write = write  # False: another process writes the files (data-parallel training)
        self.entries: list[dict[str, Any]] = []

    @property
    def checkpoints(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / CHECKPOINTS

    def latest_checkpoint(self) -> Path | None:
        if self.checkpoints is None or not self.checkpoints.is_dir():
            return None
        done = sorted(p for p in self.checkpoints.glob("step_*") if (p / PROGRESS_FILE).exists())
        return done[-1] if done else None

    def log(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        if self.out_dir is not None and self.write:
            with open(self.out_dir / LOG_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def restore_log(self, up_to_step: int) -> None:
        """Keep the log lines of the steps a resumed run will not redo."""
        path = None if self.out_dir is None else self.out_dir / LOG_FILE
        if path is None or not path.exists():
            return
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        self.entries = [entry for entry in lines if entry["step"] <= up_to_step]
        if self.write:
            atomic_write_text(path, "".join(json.dumps(entry) + "\n" for entry in self.entries))


def use_fused_adam(optimizer: torch.optim.Optimizer) -> bool:
    """Switch an Adam optimizer (SAE-Lens builds a plain one) to torch's fused implementation, one kernel per
    parameter instead of a dozen elementwise passes (measured on this project's 2-core CPU for the cpu-small shapes:
    Adam's share of a step 57 → 16 ms; benchmarks/README.md, "Crosscoder training"). ``fused`` is an ordinary
    per-group option of ``torch.optim.Adam``, validated by torch when each parameter's state is created; it is only
    set when every parameter is a floating-point tensor on CPU or CUDA. Returns whether it was set."""
    params = [param for group in optimizer.param_groups for param in group["params"]]
    if type(optimizer) is not torch.optim.Adam or not all(
        param.is_floating_point() and param.device.type in ("cpu", "cuda") for param in params
    ):
        return False
    for group in optimizer.param_groups:
        group["fused"], group["foreach"] = True, False
    return True


class CrosscoderTrainer(SAETrainer):
    """SAE-Lens's trainer, plus our per-step log, step-based atomic checkpoints and an optional stop step.

    ``step`` and ``save_checkpoint`` are the trainer's public seams; everything else (Adam, LR schedule, grad clip,
    dead-latent tracking, checkpoint contents) is SAE-Lens's, with its Adam switched to torch's fused kernel
    (:func:`use_fused_adam`).
    """

    def __init__(
        self,
        *args: Any,
        run: RunFiles,
        total_steps: int,
        cfg_xc: CrosscoderConfig,
        max_steps: int | None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        use_fused_adam(self.optimizer)
        self.run = run
        self.total_steps = total_steps
        self.xc = cfg_xc
        self.max_steps = max_steps
        self.started = time.perf_counter()
        self.start_step = 0

    def step(self, batch: torch.Tensor) -> TrainStepOutput:
        output = super().step(batch)
        done = self.n_training_steps + 1  # SAETrainer.fit increments n_training_steps after this call
        if done % self.xc.log_every_steps == 0 or done == self.total_steps or done == self.max_steps:
            self.run.log(self._metrics(output, done))
        if self.max_steps is not None and done >= self.max_steps and done < self.total_steps:
            self.save_checkpoint(checkpoint_name=f"step_{done:09d}")
            raise _StopTraining
        return output

    @torch.no_grad()
    def _metrics(self, output: TrainStepOutput, done: int) -> dict[str, Any]:
        x, x_hat = output.sae_in.float(), output.sae_out.float()
        error = (x - x_hat).pow(2).sum(dim=(0, 2))
        variance = (x - x.mean(dim=0)).pow(2).sum(dim=(0, 2)).clamp_min(1e-12)
        fvu = (error / variance).tolist()
        elapsed = time.perf_counter() - self.started
        entry = {
            "step": done,
            "tokens": done * self.xc.batch_size,
            "loss": float(output.loss),
            **{name: float(value) for name, value in output.losses.items()},
            "fvu_base": fvu[0],
            "fvu_ft": fvu[1],
            "explained_variance_base": 1 - fvu[0],
            "explained_variance_ft": 1 - fvu[1],
            "l0": output.metrics["l0"],
            "dead_latents": int(self.dead_neurons.sum()),
            "threshold": output.metrics["threshold"],
            "lr": self.optimizer.param_groups[0]["lr"],
            "elapsed_s": round(elapsed, 3),
            "tokens_per_s": round((done - self.start_step) * self.xc.batch_size / max(elapsed, 1e-9), 1),
        }
        return entry

    def save_checkpoint(
        self,
        checkpoint_name: str,
        base_path: Path | str | None = None,
        wandb_aliases: list[str] | None = None,
    ) -> None:
        """Write SAE-Lens's checkpoint into a temporary directory, add our progress file, rename it into place."""
        root = self.run.checkpoints
        if root is None:
            return
        done = self.n_training_samples // self.xc.batch_size
        final = root / f"step_{done:09d}"
        tmp = root / f".tmp_step_{done:09d}"
        shutil.rmtree(tmp, ignore_errors=True)
        super().save_checkpoint(checkpoint_name=tmp.name, base_path=root, wandb_aliases=wandb_aliases)
        atomic_write_json(tmp / PROGRESS_FILE, {"step": done, "fingerprint": self.run.fingerprint})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in root.glob("step_*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)

    def resume_from(self, checkpoint: Path) -> int:
        """Load SAE weights and trainer state; returns the number of finished steps."""
        progress = json.loads((checkpoint / PROGRESS_FILE).read_text())
        if progress["fingerprint"] != self.run.fingerprint:
            raise CrosscoderError(
                f"{checkpoint} belongs to an interrupted training with another config or data, so it cannot be "
                "resumed: rerun with --force to start this training afresh (`llmdiff-eval train CONFIG|RUN_DIR "
                "--force`; in Python, train_crosscoder(..., resume=False)), or go back to the old settings to resume it"
            )
        self.sae.load_weights_from_checkpoint(checkpoint)
        self.load_trainer_state(checkpoint)
        # SAETrainer saves n_training_steps before incrementing it; the sample count is authoritative.
        self.n_training_steps = self.n_training_samples // self.xc.batch_size
        self.checkpoint_thresholds = [t for t in self.checkpoint_thresholds if t >= self.n_training_samples]
        self.start_step = self.n_training_steps
        return self.n_training_steps


def _fingerprint(cfg: CrosscoderConfig, source: PairedSource, scale: torch.Tensor) -> str:
    # ``stream_tokens`` is recorded by the data source's identity instead.
    settings = {k: v for k, v in result_settings(cfg).items() if k != "stream_tokens"}
    return stable_hash({"config": settings, "data": source.identity, "norm_scale": scale.tolist()}, 32)


class DataParallel:
    """The processes that train one crosscoder together; this base class is the default, a single process.

    ``llmdiff_eval.distributed.TorchDataParallel`` runs several over torch.distributed: process ``rank`` gets its
    slice of every batch, and its ``training_sae`` / ``trainer`` make each step equal the single-process step on the
    whole batch. Only the writer (rank 0) writes files.
    """

    rank: int = 0
    world_size: int = 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every process gets here."""

    def all_gather(self, rows: torch.Tensor) -> torch.Tensor:
        """Every process's ``rows`` concatenated in rank order (the whole batch)."""
        return rows

    def training_sae(self, cfg: BatchTopKCrosscoderTrainingConfig) -> BatchTopKCrosscoderTrainingSAE:
        return BatchTopKCrosscoderTrainingSAE(cfg)

    def trainer(self, *args: Any, **kwargs: Any) -> CrosscoderTrainer:
        return CrosscoderTrainer(*args, **kwargs)


def training_device(cfg: CrosscoderConfig) -> str:
    """The device ``cfg.device`` names; ``"auto"`` = CUDA when available, else the CPU."""
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.device


def train_crosscoder(
    acts: torch.Tensor | tuple[str | os.PathLike, str | os.PathLike],
    cfg: CrosscoderConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = True,
    metadata: dict[str, Any] | None = None,
    max_steps: int | None = None,
    parallel: DataParallel | None = None,
) -> BatchTopKCrosscoder:
    """Train a two-model BatchTopK crosscoder with SAE-Lens's trainer and return it (inference class).

    Args:
        acts: float tensor (N, 2, d) (index 0 = base, 1 = fine-tune; raw activations, normalized here per model),
            or a pair of harvested cache directories (base_dir, ft_dir), streamed shard group by shard group.
        cfg: hyperparameters (default ``CrosscoderConfig()`` = the "cpu-small" preset).
        out_dir: where to write ``cfg.json`` + ``sae_weights.safetensors`` (SAE-Lens format), ``training_log.jsonl``
            and ``checkpoints/``; None trains in memory (the log is still on ``crosscoder.training_log``).
        resume: continue from the latest checkpoint in ``out_dir`` (or return the finished model if it is there
            already); False starts over.
        metadata: extra JSON-able facts recorded under ``cfg.json`` → ``metadata.llmdiff_eval``.
        max_steps: stop after this many steps (a checkpoint is saved; the final files are not written), to split a
            long run into sessions. The returned crosscoder is then the partly trained one.
        parallel: the processes training together (``llmdiff_eval.distributed.TorchDataParallel`` under torchrun;
            every process calls this function); None = this process alone.
    """
    cfg = cfg or CrosscoderConfig()
    parallel = parallel or DataParallel()
    if cfg.batch_size % parallel.world_size:
        raise CrosscoderError(
            f"crosscoder.batch_size ({cfg.batch_size}) must be divisible by the number of processes "
            f"({parallel.world_size})"
        )
    source = as_source(acts)
    d = source.d_model
    if source.n_tokens < cfg.batch_size:
        raise CrosscoderError(
            f"only {source.n_tokens} tokens, fewer than batch_size {cfg.batch_size}: lower batch_size"
        )
    aux_k = cfg.aux_k if cfg.aux_k is not None else d // 2
    if aux_k > d // 2:
        raise CrosscoderError(f"crosscoder.aux_k ({aux_k}) must be at most d/2 = {d // 2}")
    scale = norm_scale(source, cfg)
    fingerprint = _fingerprint(cfg, source, scale)
    run = RunFiles(Path(out_dir) if out_dir is not None else None, fingerprint, write=parallel.is_writer)

    if run.out_dir is not None:
        if resume and (run.out_dir / "cfg.json").exists():
            finished = load_crosscoder(run.out_dir, device=training_device(cfg))
            if finished.cfg.metadata.get("llmdiff_eval", {}).get("fingerprint") == fingerprint:
                return finished
            raise CrosscoderError(
                f"{run.out_dir} holds a crosscoder trained with another config or data: rerun with --force to "
                "retrain it (`llmdiff-eval train CONFIG|RUN_DIR --force`; in Python, train_crosscoder(..., "
                "resume=False)), or use another output directory"
            )
        if not resume and parallel.is_writer:
            for stale in (run.out_dir / CHECKPOINTS, run.out_dir / LOG_FILE, run.out_dir / "cfg.json"):
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        run.out_dir.mkdir(parents=True, exist_ok=True)
        parallel.barrier()

    total_steps = source.total_steps(cfg)
    warmup = min(cfg.warmup_steps, total_steps // 4)
    decay = int(cfg.lr_decay_fraction * total_steps)
    threshold_start = min(cfg.threshold_start_step, total_steps // 2)
    device = training_device(cfg)
    autocast = autocast_enabled(cfg.autocast, device)
    with bf16_autocast(autocast, device):
        decode, decode_seconds = choose_decode(
            cfg.decode, cfg.batch_size, cfg.n_latents, 2 * d, cfg.k, device
        )
    facts = {
        "fingerprint": fingerprint,
        "training": dataclasses.asdict(cfg),
        "models": {"0": "base", "1": "fine-tune"},
        "normalization": {
            "kind": cfg.normalization,
            "scale": scale.tolist(),
            "raw_mean_norm": source.mean_norms.tolist(),
        },
        "n_tokens": source.n_tokens,
        "total_steps": total_steps,
        "effective": {
            "warmup_steps": warmup,
            "lr_decay_steps": decay,
            "threshold_start_step": threshold_start,
            "aux_k": aux_k,
            "autocast": autocast,
            "decode": decode,
            "decode_seconds": decode_seconds,  # the micro-benchmark behind an "auto" choice (None: not measured)
        },
        **(metadata or {}),
    }
    sae_cfg = BatchTopKCrosscoderTrainingConfig(
        d_in=d,
        d_sae=cfg.n_latents,
        n_models=2,
        k=float(cfg.k),
        normalization=cfg.normalization,
        norm_scale=scale.tolist(),
        dtype=cfg.dtype,
        device=device,
        decoder_init_norm=cfg.decoder_init_norm,
        aux_k=aux_k,
        aux_coefficient=cfg.aux_coefficient,
        threshold_beta=cfg.threshold_beta,
        threshold_start_step=threshold_start,
        init_seed=cfg.seed,
        decode=decode,
        metadata=SAEMetadata(llmdiff_eval=facts),
    )
    sae = parallel.training_sae(sae_cfg)
    trainer_cfg = SAETrainerConfig(
        total_training_samples=total_steps * cfg.batch_size,
        train_batch_size_samples=cfg.batch_size,
        lr=cfg.lr,
        lr_end=cfg.lr * cfg.lr_end_fraction,
        lr_scheduler_name="cosineannealing" if cfg.lr_schedule == "cosine" else "constant",
        lr_warm_up_steps=warmup,
        lr_decay_steps=decay,
        device=device,
        autocast=autocast,
        dead_feature_window=max(1, math.ceil(cfg.dead_after_tokens / cfg.batch_size)),
        feature_sampling_window=total_steps + 1,
        checkpoint_path=None if run.checkpoints is None else str(run.checkpoints),
        logger=LoggingConfig(log_to_wandb=False),
    )
    start_step = 0
    checkpoint = run.latest_checkpoint() if resume else None
    batches = source.batches(cfg, scale, 0, parallel.rank, parallel.world_size)
    if checkpoint is None:
        first = next(batches)
        sae.init_b_dec(parallel.all_gather(first))
        batches = itertools.chain([first], batches)
    trainer = parallel.trainer(
        trainer_cfg,
        sae,
        batches,
        run=run,
        total_steps=total_steps,
        cfg_xc=cfg,
        max_steps=max_steps,
    )
    if cfg.checkpoint_every_steps and run.checkpoints is not None:
        every = cfg.checkpoint_every_steps
        trainer.checkpoint_thresholds = [s * cfg.batch_size - 1 for s in range(every, total_steps, every)]
    if checkpoint is not None:
        start_step = trainer.resume_from(checkpoint)
        run.restore_log(start_step)
        trainer.data_provider = source.batches(cfg, scale, start_step, parallel.rank, parallel.world_size)
    try:
        trained = trainer.fit()
    except _StopTraining:
        parallel.barrier()  # the checkpoint is on disk for every process
        trained = trainer.sae
        crosscoder = trained.to_inference()
        crosscoder.training_log = run.entries
        return crosscoder
    if run.out_dir is not None and parallel.is_writer:
        _save_final(trained, run.out_dir)
        if not cfg.keep_checkpoints:
            shutil.rmtree(run.out_dir / CHECKPOINTS, ignore_errors=True)
    parallel.barrier()
    crosscoder = trained.to_inference()
    crosscoder.training_log = run.entries
    return crosscoder


def _save_final(sae: BatchTopKCrosscoderTrainingSAE, out_dir: Path) -> None:
    """SAE-Lens inference files, written atomically: weights first, ``cfg.json`` (the completion mark) last."""
    staging = out_dir / ".final.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    weights, cfg_path = sae.save_inference_model(staging)
    for produced in (weights, cfg_path):
        with open(produced, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(produced, out_dir / produced.name)
    shutil.rmtree(staging, ignore_errors=True)


def load_crosscoder(path: str | os.PathLike, device: str = "cpu") -> BatchTopKCrosscoder:
    """Load a crosscoder saved by ``train_crosscoder`` / ``train`` (SAE-Lens format) through SAE-Lens's loader."""
    path = Path(path)
    cfg_path = path / "cfg.json"
    if not cfg_path.exists():
        raise CrosscoderError(f"no crosscoder in {path} (cfg.json missing); run the train stage first")
    redo = (
        "rerun the train stage on its run directory (`llmdiff-eval run RUN_DIR` notices the damage and retrains "
        "that pair; `llmdiff-eval train RUN_DIR --force` retrains every pair)"
    )
    try:
        architecture = json.loads(cfg_path.read_text()).get("architecture")
    except ValueError as error:
        raise CrosscoderError(f"{cfg_path} is not valid JSON ({error}): {redo}") from error
    if architecture != ARCHITECTURE:
        raise CrosscoderError(f"{path} holds an SAE-Lens {architecture!r} SAE, not a {ARCHITECTURE!r}")
    try:
        crosscoder = SAE.load_from_disk(path, device=device)
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as error:
        raise CrosscoderError(
            f"the crosscoder weights in {path} (sae_weights.safetensors) are unreadable: {error}. The file is "
            f"truncated or corrupt: {redo}"
        ) from error
    log_path = path / LOG_FILE
    crosscoder.training_log = (
        [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if log_path.exists()
        else []
    )
    return crosscoder
