"""Crosscoder training settings: :class:`CrosscoderConfig` and the named ``PRESETS`` (``paper``, ``cpu-small``, ``cpu-tiny``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from llmdiff_eval.errors import CrosscoderError

NORMALIZATIONS = ("unit_rms", "none")
LR_SCHEDULES = ("constant", "cosine")
DECODES = ("auto", "sparse", "dense")


@dataclass
class CrosscoderConfig:
    """Hyperparameters of one crosscoder training run (defaults = the "cpu-small" preset).

    Units: ``batch_size`` and ``dead_after_tokens`` count tokens; ``warmup_steps``, ``threshold_start_step``,
    ``checkpoint_every_steps`` and ``log_every_steps`` count optimizer steps (one step = one batch). ``k`` is the mean
    number of active latents per token (BatchTopK keeps k·batch_size entries per batch). ``aux_k=None`` means d/2.

    Fields:
        n_latents: F, the dictionary size.
        k: mean active latents per token.
        lr: Adam learning rate (SAE-Lens's trainer; grad-norm clip 1.0).
        batch_size: tokens per step.
        epochs: passes over the activations.
        seed: seeds the initialization and the data order.
        aux_k: latents per token used by the AuxK loss (must be ≤ d/2); ``None`` = d // 2.
        aux_coefficient: weight of the AuxK loss (anchors: 1/32).
        dead_after_tokens: a latent that has not fired for this many tokens is dead (feeds AuxK).
        warmup_steps: linear LR warm-up.
        lr_schedule: "constant" or "cosine" (cosine anneals to ``lr * lr_end_fraction``).
        lr_decay_fraction: final fraction of the steps with a linear decay of the LR to 0.
        lr_end_fraction: LR at the end of the main schedule, as a fraction of ``lr``.
        normalization: "unit_rms" (per-model scale so that E‖x_m‖ = √d) or "none".
        threshold_beta: EMA coefficient of the inference threshold.
        threshold_start_step: first step whose smallest kept value enters the threshold EMA (earlier steps see an
            untrained encoder); clamped to half the run so that short runs still learn a threshold.
        decoder_init_norm: initial ‖W_dec[j, m]‖ (normalized units).
        device: "cpu", "cuda", "cuda:1", or "auto" (CUDA when available).
        autocast: bf16 autocast of the training step: true, false, or null (default: on for a CUDA device that
            supports bf16, off elsewhere). Parameters and Adam state stay in ``dtype``.
        decode: the step's decoder: "sparse" (embedding-bag over the kept entries), "dense" (one (B, F) × (F, M·d)
            matmul), or "auto" (default: sparse on the CPU; elsewhere the faster of the two by a micro-benchmark at
            the run's shapes, recorded in the crosscoder's metadata).
        dtype: parameter dtype, "float32" (default) or "bfloat16" / "float16".
        checkpoint_every_steps: save a resumable checkpoint this often (0 = never).
        log_every_steps: write a ``training_log.jsonl`` line this often.
        buffer_tokens: for harvested caches larger than memory, shuffle within groups of shards of about this many
            tokens (the whole data set is shuffled when it fits).
        keep_checkpoints: keep the last checkpoint after the final model is written (it holds optimizer state).
        seeds: a seed ensemble: one crosscoder per seed per pair, all on the same harvest (e.g. ``[0, 1, 2]``).
            The first is the primary (it replaces ``seed``; its crosscoder is ``crosscoders/<pair>/``, the others
            ``crosscoders/<pair>@seed<k>/``); each is analyzed and annotated, and the scorecard pools them. None
            (default): one crosscoder, seeded by ``seed``.
        stream_tokens: streaming mode (``llmdiff_eval.distributed.StreamingSource``): the train stage harvests this
            many tokens per epoch on the fly through a shuffle buffer of ``buffer_tokens``, writing no activation
            cache; None (default) trains on the harvested cache.
    """

    RESULT_NEUTRAL: ClassVar[tuple[str, ...]] = (
        "device",
        "log_every_steps",
        "checkpoint_every_steps",
        "keep_checkpoints",
        "seeds",  # the primary's key has its ``seed``; each extra seed is a unit of its own
        "decode",  # both decoders compute the same loss and gradients (tested)
        "autocast",  # a compute-precision choice, like ``device``; the resolved value is in the crosscoder's metadata
    )
    """Settings that do not change the stage's results (left out of its unit keys)."""

    n_latents: int = 2048
    k: int = 32
    lr: float = 2e-3
    batch_size: int = 256
    epochs: int = 10
    seed: int = 0
    aux_k: int | None = None
    aux_coefficient: float = 1 / 32
    dead_after_tokens: int = 200_000
    warmup_steps: int = 100
    lr_schedule: str = "constant"
    lr_decay_fraction: float = 0.2
    lr_end_fraction: float = 0.1
    normalization: str = "unit_rms"
    threshold_beta: float = 0.99
    threshold_start_step: int = 200
    decoder_init_norm: float = 0.1
    device: str = "cpu"
    dtype: str = "float32"
    checkpoint_every_steps: int = 500
    log_every_steps: int = 50
    buffer_tokens: int = 4_000_000
    keep_checkpoints: bool = False
    stream_tokens: int | None = None
    seeds: list[int] | None = None
    autocast: bool | None = None
    decode: str = "auto"

    def __post_init__(self) -> None:
        if self.seeds is not None:
            seeds = list(self.seeds)
            if (
                not seeds
                or any(not isinstance(s, int) or isinstance(s, bool) for s in seeds)
                or len(set(seeds)) != len(seeds)
            ):
                raise CrosscoderError(
                    f"crosscoder.seeds must be a non-empty list of distinct integers, got {seeds!r}"
                )
            self.seeds, self.seed = seeds, seeds[0]
        positive = (
            "n_latents",
            "k",
            "batch_size",
            "epochs",
            "dead_after_tokens",
            "log_every_steps",
            "buffer_tokens",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CrosscoderError(f"crosscoder.{name} must be a positive integer, got {value!r}")
        for name in ("warmup_steps", "threshold_start_step", "checkpoint_every_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise CrosscoderError(f"crosscoder.{name} must be a non-negative integer, got {value!r}")
        if self.k >= self.n_latents:
            raise CrosscoderError(
                f"crosscoder.k ({self.k}) must be smaller than n_latents ({self.n_latents})"
            )
        if self.stream_tokens is not None and (
            not isinstance(self.stream_tokens, int)
            or isinstance(self.stream_tokens, bool)
            or self.stream_tokens < 1
        ):
            raise CrosscoderError(
                f"crosscoder.stream_tokens must be a positive integer or null, got {self.stream_tokens!r}"
            )
        if self.aux_k is not None and (not isinstance(self.aux_k, int) or self.aux_k < 1):
            raise CrosscoderError(f"crosscoder.aux_k must be a positive integer or null, got {self.aux_k!r}")
        if not (self.lr > 0 and self.aux_coefficient >= 0 and self.decoder_init_norm > 0):
            raise CrosscoderError("crosscoder.lr and decoder_init_norm must be > 0, aux_coefficient >= 0")
        if not (0.0 < self.threshold_beta < 1.0):
            raise CrosscoderError(f"crosscoder.threshold_beta must be in (0, 1), got {self.threshold_beta}")
        if not (0.0 <= self.lr_decay_fraction < 1.0 and 0.0 < self.lr_end_fraction <= 1.0):
            raise CrosscoderError(
                "crosscoder.lr_decay_fraction must be in [0, 1) and lr_end_fraction in (0, 1]"
            )
        if self.normalization not in NORMALIZATIONS:
            raise CrosscoderError(
                f"crosscoder.normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise CrosscoderError(
                f"crosscoder.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
            )
        if self.decode not in DECODES:
            raise CrosscoderError(f"crosscoder.decode must be one of {DECODES}, got {self.decode!r}")
        if self.autocast not in (None, True, False):
            raise CrosscoderError(
                f"crosscoder.autocast must be true, false or null (auto), got {self.autocast!r}"
            )
        if self.dtype not in ("float32", "bfloat16", "float16", "float64"):
            raise CrosscoderError(
                f"crosscoder.dtype must be float32, bfloat16, float16 or float64, got {self.dtype!r}"
            )

    @property
    def extra_seeds(self) -> list[int]:
        """The ensemble's seeds after the primary (empty without ``seeds``)."""
        return list(self.seeds[1:]) if self.seeds else []

    def for_seed(self, seed: int | None) -> CrosscoderConfig:
        """These settings for one seed of the ensemble (``None``: the primary, unchanged)."""
        return self if seed is None else dataclasses.replace(self, seed=seed, seeds=None)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> CrosscoderConfig:
        """A named preset (``PRESETS``) with some fields overridden."""
        if name not in PRESETS:
            raise CrosscoderError(f"unknown crosscoder preset {name!r}; choose one of {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)


PRESETS: dict[str, CrosscoderConfig] = {
    # The paper (F = 114,688, k = 100, lr 1e-4) with the anchors' training recipe (batch 2048, 1000 warm-up steps,
    # dead after 10M tokens, threshold EMA β = 0.999 from step 1000).
    "paper": CrosscoderConfig(
        n_latents=114_688,
        k=100,
        lr=1e-4,
        batch_size=2048,
        epochs=1,
        dead_after_tokens=10_000_000,
        warmup_steps=1000,
        threshold_beta=0.999,
        threshold_start_step=1000,
        device="auto",
        checkpoint_every_steps=2000,
        log_every_steps=100,
        buffer_tokens=2_000_000,  # shuffle groups of 2M float32 pairs: ~57 GB of RAM at d = 3584
    ),
    # Harvests of ~50k-500k tokens on a CPU (the demo: 60k tokens, 2,340 steps, ~3 min per pair on 2 cores): many
    # small steps at a high LR. With 4096 latents, batch 1024 and 2 epochs (116 steps) every Δnorm stayed at 0.5 ± 0.1.
    "cpu-small": CrosscoderConfig(),
    # Short runs on tiny models: a higher LR, and AuxK that revives dead latents early and strongly (with the
    # anchors' 1/32 and 10M tokens, a few hundred steps end with concepts merged into shared latents).
    "cpu-tiny": CrosscoderConfig(
        n_latents=256,
        k=8,
        lr=1e-2,
        batch_size=128,
        epochs=4,
        dead_after_tokens=4000,
        aux_coefficient=0.25,
        warmup_steps=20,
        threshold_beta=0.95,
        threshold_start_step=20,
        checkpoint_every_steps=100,
        log_every_steps=10,
    ),
}
