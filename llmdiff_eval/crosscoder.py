"""Train stage: the two-model BatchTopK crosscoder as an SAE-Lens architecture ("batchtopk_crosscoder").

Architecture (M models, width d, F latents; index 0 = base, 1 = fine-tune)::

    W_enc (M, d, F), b_enc (F,), W_dec (F, M, d), b_dec (M, d)
    f      = ReLU(Σ_m x_m W_enc[m] + b_enc)                 # (B, F), x already normalized per model
    x̂_m    = f W_dec[:, m] + b_dec[m]                        # (B, M, d)
    s_j    = Σ_m ‖W_dec[j, m]‖                                # latent j's total decoder norm
    train: keep the k·B largest f_j·s_j over the whole batch (kept values are the unscaled f)
    infer: keep f_j where f_j·s_j > threshold (an EMA of the smallest kept value during training)

Loss: Σ_m ‖x_m − x̂_m‖² averaged over tokens, plus AuxK (weight ``aux_coefficient``): the top-``aux_k`` dead latents
of each token reconstruct the detached residual, normalized by the residual's variance.

Activations are normalized per model before training (``normalization="unit_rms"``: x_m ← x_m · √d / E‖x_m‖), and
the scales are recorded in ``cfg.json`` (``norm_scale``); ``Crosscoder.normalize`` applies them, and every decoder
quantity (Δnorm, cosines) lives in that normalized space.

The training step is sparse after the encoder matmul: the batch top-k is selected among the entries above a sampled
threshold (exact, with a fallback), the decoder runs on the kept (row, column, value) triples (``embedding_bag``), and all backward
passes use only the kept entries (``embedding_bag`` and ``sampled_addmm``), so no dense B×F matrix is multiplied
except the encoder's forward pass.

SAE-Lens integration: the inference class ``BatchTopKCrosscoder`` (an ``sae_lens.SAE``) and the training class
``BatchTopKCrosscoderTrainingSAE`` (an ``sae_lens.TrainingSAE``) are registered under "batchtopk_crosscoder";
training runs through ``sae_lens.SAETrainer`` (its optimizer, LR schedule, gradient clipping, dead-latent tracking and
checkpoint format); results are saved with ``save_inference_model`` and load through ``SAE.load_from_disk``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.registry import (
    SAE_CLASS_REGISTRY,
    SAE_TRAINING_CLASS_REGISTRY,
    register_sae_class,
    register_sae_training_class,
)
from sae_lens.saes.sae import (
    SAE,
    SAEConfig,
    SAEMetadata,
    TrainCoefficientConfig,
    TrainingSAE,
    TrainingSAEConfig,
    TrainStepInput,
    TrainStepOutput,
)
from sae_lens.training.sae_trainer import SAETrainer
from torch import nn

from llmdiff_eval.utils import atomic_write_json, atomic_write_text, pair_name, stable_hash

ARCHITECTURE = "batchtopk_crosscoder"
# torch warns once that CSR tensors (used for sampled_addmm in the backward pass) are "beta"; they are tested here.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
NORMALIZATIONS = ("unit_rms", "none")
LR_SCHEDULES = ("constant", "cosine")


class CrosscoderError(ValueError):
    """Bad input to the train stage; the message says what to fix."""


# ----------------------------------------------------------------------------------------------------------------
# User-facing training configuration
# ----------------------------------------------------------------------------------------------------------------


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
        dtype: parameter dtype, "float32" (default) or "bfloat16" / "float16".
        checkpoint_every_steps: save a resumable checkpoint this often (0 = never).
        log_every_steps: write a ``training_log.jsonl`` line this often.
        buffer_tokens: for harvested caches larger than memory, shuffle within groups of shards of about this many
            tokens (the whole data set is shuffled when it fits).
        keep_checkpoints: keep the last checkpoint after the final model is written (it holds optimizer state).
        stream_tokens: streaming mode (``llmdiff_eval.distributed.StreamingSource``): the train stage harvests this
            many tokens per epoch on the fly through a shuffle buffer of ``buffer_tokens``, writing no activation
            cache; None (default) trains on the harvested cache.
    """

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

    def __post_init__(self) -> None:
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
        if self.dtype not in ("float32", "bfloat16", "float16", "float64"):
            raise CrosscoderError(
                f"crosscoder.dtype must be float32, bfloat16, float16 or float64, got {self.dtype!r}"
            )

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> CrosscoderConfig:
        """A named preset (``PRESETS``) with some fields overridden."""
        if name not in PRESETS:
            raise CrosscoderError(f"unknown crosscoder preset {name!r}; choose one of {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def resolved_device(self) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device


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


# ----------------------------------------------------------------------------------------------------------------
# SAE-Lens configs and classes
# ----------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _CrosscoderFields:
    """Fields shared by the inference and the training config (``d_in`` = d per model, ``d_sae`` = F)."""

    n_models: int = 2
    k: float = 100.0
    normalization: str = "none"
    norm_scale: list[float] | None = None  # per-model multiplier applied to raw activations (None = 1)


@dataclass
class BatchTopKCrosscoderConfig(SAEConfig, _CrosscoderFields):
    """SAE-Lens inference config of a BatchTopK crosscoder (saved as ``cfg.json``)."""

    apply_b_dec_to_input: bool = False

    @classmethod
    def architecture(cls) -> str:
        return ARCHITECTURE


@dataclass(kw_only=True)
class BatchTopKCrosscoderTrainingConfig(TrainingSAEConfig, _CrosscoderFields):
    """SAE-Lens training config: the inference fields plus AuxK and threshold-EMA settings."""

    apply_b_dec_to_input: bool = False
    decoder_init_norm: float | None = 0.1
    aux_k: int = 0  # 0 = d_in // 2
    aux_coefficient: float = 1 / 32
    threshold_beta: float = 0.999
    threshold_start_step: int = 1000
    init_seed: int = 0

    @classmethod
    def architecture(cls) -> str:
        return ARCHITECTURE


class Normalizer(NamedTuple):
    """Per-model normalization recorded with a crosscoder: x_norm[:, m] = x_raw[:, m] · scale[m]."""

    kind: str
    scale: torch.Tensor  # (M,)
    mean: torch.Tensor | None  # (M, d) subtracted before scaling; None for the supported kinds


class _CrosscoderMixin:
    """Parameters, validation, normalization, decoder norms and decoding shared by both SAE-Lens classes."""

    cfg: Any
    W_enc: nn.Parameter
    b_enc: nn.Parameter
    W_dec: nn.Parameter
    b_dec: nn.Parameter
    threshold: torch.Tensor

    def initialize_weights(self) -> None:
        """Create the parameters (zeros); the training class fills in its initialization."""
        m, d, n = self.cfg.n_models, self.cfg.d_in, self.cfg.d_sae
        kw = {"dtype": self.dtype, "device": self.device}
        self.W_enc = nn.Parameter(torch.zeros(m, d, n, **kw))
        self.b_enc = nn.Parameter(torch.zeros(n, **kw))
        self.W_dec = nn.Parameter(torch.zeros(n, m, d, **kw))
        self.b_dec = nn.Parameter(torch.zeros(m, d, **kw))
        self.register_buffer("threshold", torch.zeros((), **kw))

    # -- shapes and normalization -----------------------------------------------------------------------------
    @property
    def n_models(self) -> int:
        return int(self.cfg.n_models)

    @property
    def d_model(self) -> int:
        return int(self.cfg.d_in)

    @property
    def n_latents(self) -> int:
        return int(self.cfg.d_sae)

    @property
    def normalizer(self) -> Normalizer:
        scale = self.cfg.norm_scale or [1.0] * self.n_models
        return Normalizer(self.cfg.normalization, torch.tensor(scale, dtype=torch.float32), None)

    def check_input(self, x: torch.Tensor, what: str = "activations") -> torch.Tensor:
        """Raise ``CrosscoderError`` unless ``x`` is a finite float tensor of shape (B, n_models, d)."""
        if not isinstance(x, torch.Tensor):
            raise CrosscoderError(
                f"{what}: expected a torch.Tensor of shape (B, {self.n_models}, {self.d_model})"
            )
        if x.ndim != 3 or x.shape[1] != self.n_models or x.shape[2] != self.d_model:
            raise CrosscoderError(
                f"{what}: expected shape (B, {self.n_models}, {self.d_model}) (tokens, models [0 = base, 1 = "
                f"fine-tune], d_model), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise CrosscoderError(f"{what}: expected a floating-point tensor, got {x.dtype}")
        if not bool(torch.isfinite(x).all()):
            raise CrosscoderError(
                f"{what}: contains NaN or inf values; clean the activations (or the harvest) first"
            )
        return x

    def normalize(self, x_raw: torch.Tensor) -> torch.Tensor:
        """Raw activations (B, M, d) → the normalized space the crosscoder works in (per-model scale)."""
        self.check_input(x_raw, "raw activations")
        scale = self.normalizer.scale.to(device=x_raw.device, dtype=x_raw.dtype)
        return x_raw * scale[None, :, None]

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of ``normalize`` (e.g. to map a reconstruction back to raw units)."""
        scale = self.normalizer.scale.to(device=x.device, dtype=x.dtype)
        return x / scale[None, :, None]

    # -- encoder / decoder --------------------------------------------------------------------------------------
    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(Σ_m x_m W_enc[m] + b_enc) for normalized x (B, M, d) → (B, F)."""
        flat = x.reshape(x.shape[0], -1).to(self.W_enc.dtype)
        return torch.relu(torch.addmm(self.b_enc, flat, self.W_enc.reshape(-1, self.n_latents)))

    def decoder_norms(self) -> torch.Tensor:
        """s_j = Σ_m ‖W_dec[j, m]‖, shape (F,) (the BatchTopK ranking weight)."""
        return self.W_dec.norm(dim=-1).sum(dim=-1)

    def decode(self, feature_acts: torch.Tensor) -> torch.Tensor:
        """Latent activations (B, F), dense or sparse COO → reconstruction (B, M, d) in normalized space."""
        w = self.W_dec.reshape(self.n_latents, -1)
        if feature_acts.is_sparse:
            out = torch.sparse.mm(feature_acts.to(w.dtype), w)
        else:
            out = feature_acts.to(w.dtype) @ w
        out = out.reshape(-1, self.n_models, self.d_model) + self.b_dec
        return self.hook_sae_recons(out)

    # -- SAE-Lens helpers that assume a 2-D W_dec, redone for (F, M, d) -----------------------------------------
    @torch.no_grad()
    def get_W_dec_norm(self) -> torch.Tensor:
        return self.decoder_norms().clamp(min=1e-8)

    @torch.no_grad()
    def fold_W_dec_norm(self) -> None:
        """Rescale every latent so that s_j = 1; encodings f·s, reconstructions and Δnorm are unchanged."""
        norms = self.get_W_dec_norm()
        self.W_dec.data /= norms[:, None, None]
        self.W_enc.data *= norms
        self.b_enc.data *= norms

    @torch.no_grad()
    def fold_activation_norm_scaling_factor(self, scaling_factor: float) -> None:
        self.W_enc.data *= scaling_factor
        self.W_dec.data /= scaling_factor
        self.b_dec.data /= scaling_factor
        self.threshold /= scaling_factor  # f is unchanged, s_j shrinks by the factor
        self.cfg.normalize_activations = "none"

    def fold_activation_whitening(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("a crosscoder normalizes each model separately; whitening is not supported")

    @torch.no_grad()
    def log_histograms(self) -> dict[str, Any]:
        return {"weights/W_dec_norms": self.W_dec.detach().float().norm(dim=-1).cpu().numpy()}


class BatchTopKCrosscoder(_CrosscoderMixin, SAE[BatchTopKCrosscoderConfig]):
    """A trained two-model BatchTopK crosscoder (SAE-Lens inference class, architecture "batchtopk_crosscoder").

    ``encode(x)`` takes *normalized* activations (B, M, d) (use ``normalize`` on raw ones) and returns f (B, F) with
    the inference rule f_j·s_j > threshold; ``decode(f)`` returns (B, M, d) in normalized space.
    """

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_sae_input(self.check_input(x))
        pre = self.hook_sae_acts_pre(self.pre_activations(x))
        keep = pre * self.decoder_norms() > self.threshold
        return self.hook_sae_acts_post(pre * keep)

    def process_state_dict_for_loading(self, state_dict: dict[str, Any]) -> None:
        for key in [
            key for key in state_dict if key not in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")
        ]:
            del state_dict[key]

    @classmethod
    def from_weights(
        cls,
        W_enc: torch.Tensor,
        b_enc: torch.Tensor,
        W_dec: torch.Tensor,
        b_dec: torch.Tensor,
        threshold: float = 0.0,
        norm_scale: Sequence[float] | None = None,
        k: float = 0.0,
        normalization: str = "none",
    ) -> BatchTopKCrosscoder:
        """Build a crosscoder from explicit weights (shapes W_enc (M,d,F), b_enc (F), W_dec (F,M,d), b_dec (M,d)).

        ``threshold=0`` keeps every positive pre-activation (a plain ReLU crosscoder). ``norm_scale`` is the per-model
        multiplier ``normalize`` applies to raw activations (default 1). ``k`` is informational.
        """
        if W_enc.ndim != 3 or W_dec.ndim != 3:
            raise CrosscoderError(
                f"W_enc must be (M, d, F) and W_dec (F, M, d); got {W_enc.shape}, {W_dec.shape}"
            )
        m, d, n = W_enc.shape
        expected = {"b_enc": (n,), "W_dec": (n, m, d), "b_dec": (m, d)}
        for name, tensor in (("b_enc", b_enc), ("W_dec", W_dec), ("b_dec", b_dec)):
            if tuple(tensor.shape) != expected[name]:
                raise CrosscoderError(
                    f"{name} must have shape {expected[name]} to match W_enc {tuple(W_enc.shape)}"
                )
        if norm_scale is not None and len(norm_scale) != m:
            raise CrosscoderError(f"norm_scale needs one value per model ({m}), got {list(norm_scale)}")
        cfg = BatchTopKCrosscoderConfig(
            d_in=d,
            d_sae=n,
            n_models=m,
            k=float(k),
            normalization=normalization,
            norm_scale=[float(v) for v in norm_scale] if norm_scale is not None else None,
            dtype=str(W_enc.dtype).removeprefix("torch."),
        )
        crosscoder = cls(cfg)
        with torch.no_grad():
            for name, tensor in (("W_enc", W_enc), ("b_enc", b_enc), ("W_dec", W_dec), ("b_dec", b_dec)):
                getattr(crosscoder, name).copy_(tensor)
            crosscoder.threshold.fill_(float(threshold))
        return crosscoder


# ----------------------------------------------------------------------------------------------------------------
# Sparse training kernels: batch top-k selection, gathered encoder values, sparse decoding
# ----------------------------------------------------------------------------------------------------------------


class SparseIndex(NamedTuple):
    """Positions of the kept entries of a (B, F) latent matrix, row-major sorted, with CSR/CSC helpers."""

    rows: torch.Tensor  # (n,) int64
    cols: torch.Tensor  # (n,) int64
    row_ptr: torch.Tensor  # (B + 1,) CSR row pointers
    by_col: torch.Tensor  # (n,) permutation sorting the entries by column (stable)
    col_ptr: torch.Tensor  # (F + 1,) pointers into the column-sorted order
    n_rows: int
    n_cols: int

    @classmethod
    def from_flat(cls, flat: torch.Tensor, n_rows: int, n_cols: int) -> SparseIndex:
        flat = flat.sort().values
        rows, cols = flat // n_cols, flat % n_cols
        by_col = torch.argsort(cols, stable=True)
        return cls(rows, cols, _pointers(rows, n_rows), by_col, _pointers(cols, n_cols), n_rows, n_cols)


def _pointers(sorted_or_any: torch.Tensor, n: int) -> torch.Tensor:
    pointers = torch.zeros(n + 1, dtype=torch.long, device=sorted_or_any.device)
    pointers[1:] = torch.bincount(sorted_or_any, minlength=n).cumsum(0)
    return pointers


@torch.no_grad()
def batch_topk_flat(scores: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Flat indices (into ``scores.flatten()``) of the ``n_keep`` largest entries of a (B, F) matrix.

    Exact, without a top-k over all B·F entries: a threshold is estimated from a strided sample (aiming at 2× the
    entries needed), the entries above it are the candidates, and the top-k runs on those. If fewer than ``n_keep``
    entries clear the threshold it is lowered (×4 the fraction) and, at worst, the full top-k runs. Whenever enough
    candidates clear it, every entry of the true top ``n_keep`` is among them.
    """
    flat = scores.reshape(-1)
    n_keep = min(n_keep, flat.numel())
    if 8 * n_keep >= flat.numel():
        return flat.topk(n_keep, sorted=False).indices
    stride = max(1, flat.numel() // 65536) | 1
    while math.gcd(stride, scores.shape[-1]) != 1:  # sample every latent column, not a fixed subset
        stride += 2
    sample = flat[::stride]
    fraction = 2.0 * n_keep / flat.numel()
    while fraction < 0.25:
        threshold = sample.kthvalue(max(1, int(sample.numel() * (1 - fraction)))).values
        candidates = (flat >= threshold).nonzero().squeeze(1)
        if candidates.numel() >= n_keep:
            return candidates[flat[candidates].topk(n_keep, sorted=False).indices]
        fraction *= 4
    return flat.topk(n_keep, sorted=False).indices


def _sampled_dot(index: SparseIndex, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """out[e] = ⟨left[rows[e]], right[cols[e]]⟩ for every kept entry, without a dense (B, F) product."""
    if left.dtype in (torch.float32, torch.float64):
        pattern = torch.sparse_csr_tensor(
            index.row_ptr,
            index.cols,
            torch.ones_like(index.rows, dtype=left.dtype),
            (index.n_rows, index.n_cols),
            check_invariants=False,
        )
        return torch.sparse.sampled_addmm(pattern, left, right.t(), beta=0.0).values()
    out = torch.empty(index.rows.numel(), dtype=left.dtype, device=left.device)
    for start in range(0, out.numel(), 8192):
        part = slice(start, start + 8192)
        out[part] = (left[index.rows[part]] * right[index.cols[part]]).sum(-1)
    return out


def _column_sums(index: SparseIndex, weights: torch.Tensor, rows_matrix: torch.Tensor) -> torch.Tensor:
    """(F, D) matrix whose row j is Σ_{e in column j} weights[e] · rows_matrix[rows[e]] (a sparse Aᵀ·X)."""
    perm = index.by_col
    return F.embedding_bag(
        index.rows[perm],
        rows_matrix,
        index.col_ptr,
        mode="sum",
        per_sample_weights=weights[perm],
        include_last_offset=True,
    )


class _GatherPreacts(torch.autograd.Function):
    """values[e] = ReLU(x W + b)[rows[e], cols[e]], given those values computed without grad; sparse backward."""

    @staticmethod
    def forward(ctx, values, x_flat, w_enc_flat, b_enc, *index):  # noqa: ANN001, ANN205
        ctx.index = SparseIndex(*index)
        ctx.save_for_backward(values, x_flat)
        return values.clone()

    @staticmethod
    def backward(ctx, grad_values):  # noqa: ANN001, ANN205
        values, x_flat = ctx.saved_tensors
        grad = grad_values * (values > 0)
        grad_w = _column_sums(ctx.index, grad.to(x_flat.dtype), x_flat).t()
        grad_b = torch.zeros(ctx.index.n_cols, dtype=grad.dtype, device=grad.device).index_add_(
            0, ctx.index.cols, grad
        )
        return (None, None, grad_w, grad_b, *([None] * len(SparseIndex._fields)))


class _SparseDecode(torch.autograd.Function):
    """out[b] = Σ_{e in row b} values[e] · W[cols[e]] (no bias), with sparse forward and backward."""

    @staticmethod
    def forward(ctx, values, w_flat, *index):  # noqa: ANN001, ANN205
        index = SparseIndex(*index)
        ctx.index = index
        ctx.save_for_backward(values, w_flat)
        return F.embedding_bag(
            index.cols, w_flat, index.row_ptr, mode="sum", per_sample_weights=values, include_last_offset=True
        )

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        values, w_flat = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_values = _sampled_dot(ctx.index, grad_out, w_flat) if ctx.needs_input_grad[0] else None
        grad_w = _column_sums(ctx.index, values, grad_out) if ctx.needs_input_grad[1] else None
        return (grad_values, grad_w, *([None] * len(SparseIndex._fields)))


def sparse_decode(values: torch.Tensor, w_dec_flat: torch.Tensor, index: SparseIndex) -> torch.Tensor:
    """(B, M·d) reconstruction without bias from kept entries; differentiable in values and W_dec."""
    return _SparseDecode.apply(values, w_dec_flat, *index)


def gather_preacts(
    values: torch.Tensor,
    x_flat: torch.Tensor,
    w_enc_flat: torch.Tensor,
    b_enc: torch.Tensor,
    index: SparseIndex,
) -> torch.Tensor:
    """Attach the encoder's (sparse) gradient to pre-activation values gathered at ``index``."""
    return _GatherPreacts.apply(values, x_flat, w_enc_flat, b_enc, *index)


class BatchTopKCrosscoderTrainingSAE(_CrosscoderMixin, TrainingSAE[BatchTopKCrosscoderTrainingConfig]):
    """Training version (SAE-Lens ``TrainingSAE``): BatchTopK selection, sparse step, AuxK, threshold EMA."""

    def initialize_weights(self) -> None:
        """W_enc kaiming-uniform (fan-in d, ReLU gain), identical for every model; W_dec = W_encᵀ with each
        ‖W_dec[j, m]‖ = decoder_init_norm; b_enc = 0; b_dec = 0 until ``init_b_dec`` sees the first batch."""
        super().initialize_weights()
        if self.device.type == "meta":
            return
        d, n = self.cfg.d_in, self.cfg.d_sae
        # W_enc is (M, d, F) but stored latent-major, like the sparse backward's gradient (F, M·d), which autograd
        # can then accumulate without a transposing copy; saved files hold it contiguous.
        self.W_enc = nn.Parameter(torch.zeros(n, self.cfg.n_models, d, dtype=self.dtype).permute(1, 2, 0))
        gen = torch.Generator().manual_seed(int(self.cfg.init_seed))
        weight = (torch.rand(d, n, generator=gen, dtype=torch.float64) * 2 - 1) * math.sqrt(6.0 / d)
        decoder = (weight / weight.norm(dim=0, keepdim=True)).t() * float(self.cfg.decoder_init_norm or 1.0)
        with torch.no_grad():
            self.W_enc.copy_(weight.to(self.W_enc.dtype).expand(self.cfg.n_models, d, n))
            self.W_dec.copy_(decoder[:, None, :].expand(n, self.cfg.n_models, d))

    def process_state_dict_for_saving(self, state_dict: dict[str, Any]) -> None:
        state_dict["W_enc"] = state_dict["W_enc"].contiguous()

    @torch.no_grad()
    def init_b_dec(self, x: torch.Tensor, iterations: int = 50) -> None:
        """Set b_dec to each model's geometric median (Weiszfeld) of a normalized batch x (B, M, d)."""
        x = self.check_input(x).to(torch.float64)
        median = x.mean(dim=0)
        for _ in range(iterations):
            weights = 1.0 / (x - median).norm(dim=-1).clamp_min(1e-8)  # (B, M)
            median = (weights[:, :, None] * x).sum(0) / weights.sum(0)[:, None]
        self.b_dec.copy_(median.to(self.b_dec.dtype))

    @property
    def aux_k(self) -> int:
        return int(self.cfg.aux_k) or self.cfg.d_in // 2

    def get_coefficients(self) -> dict[str, float | TrainCoefficientConfig]:
        return {"auxk": float(self.cfg.aux_coefficient)}

    def _select(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, SparseIndex, torch.Tensor]:
        """Dense no-grad pre-activations, the kept entries and their values (with the encoder's sparse grad)."""
        x_flat = x.reshape(x.shape[0], -1).to(self.W_enc.dtype)
        with torch.no_grad():
            pre = self.pre_activations(x)
            scores = pre * self.decoder_norms()
            index = SparseIndex.from_flat(self._batch_topk(scores), *pre.shape)
        values = gather_preacts(
            pre[index.rows, index.cols], x_flat, self.W_enc.view(-1, self.n_latents), self.b_enc, index
        )
        return x_flat, pre, index, values

    # Batch statistics; ``llmdiff_eval.distributed`` overrides them to cover all processes' rows of a batch.
    def _batch_topk(self, scores: torch.Tensor) -> torch.Tensor:
        """Flat indices of the k·B largest entries of the batch's scores (B, F)."""
        return batch_topk_flat(scores, int(self.cfg.k * scores.shape[0]))

    def _batch_min(self, values: torch.Tensor) -> torch.Tensor | None:
        """Smallest of ``values`` (None if empty)."""
        return values.min() if values.numel() else None

    def _batch_variance(self, residual: torch.Tensor) -> torch.Tensor:
        """Σ_m,d of the per-coordinate variance of ``residual`` (B, M, d) over the batch."""
        return (residual - residual.mean(dim=0)).pow(2).sum(dim=(1, 2)).mean()

    def encode_with_hidden_pre(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense BatchTopK activations (B, F) and pre-activations, for SAE-Lens callers (training uses the sparse path)."""
        _, pre, index, values = self._select(self.check_input(x))
        acts = torch.zeros_like(pre).index_put((index.rows, index.cols), values)
        return acts, pre

    def training_forward_pass(self, step_input: TrainStepInput) -> TrainStepOutput:
        x = step_input.sae_in
        n_tokens = x.shape[0]
        x_flat, pre, index, values = self._select(x)
        recon = sparse_decode(values, self.W_dec.view(self.n_latents, -1), index)
        x_hat = recon.view_as(x) + self.b_dec
        mse = (x_hat - x).pow(2).sum(dim=(1, 2)).mean()
        auxk = step_input.coefficients.get("auxk", 0.0) * self._auxk_loss(
            x_flat, pre, (x - x_hat).detach(), step_input.dead_neuron_mask
        )
        self._update_threshold(index, values.detach(), step_input.n_training_steps)
        # Dense for SAETrainer's bookkeeping (firing counts): on CPU its sparse-COO reductions are ~5x slower.
        feature_acts = torch.zeros_like(pre).index_put_((index.rows, index.cols), values.detach())
        return TrainStepOutput(
            sae_in=x,
            sae_out=x_hat,
            feature_acts=feature_acts,
            hidden_pre=pre,
            loss=mse + auxk,
            losses={"mse_loss": mse, "auxk_loss": auxk},
            metrics={"threshold": float(self.threshold), "l0": float((values > 0).sum()) / n_tokens},
        )

    def calculate_aux_loss(
        self,
        step_input: TrainStepInput,
        feature_acts: torch.Tensor,
        hidden_pre: torch.Tensor,
        sae_out: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        x = step_input.sae_in
        residual = (x - sae_out).detach()
        x_flat = x.reshape(x.shape[0], -1).to(self.W_enc.dtype)
        loss = self._auxk_loss(x_flat, hidden_pre.detach(), residual, step_input.dead_neuron_mask)
        return {"auxk_loss": step_input.coefficients.get("auxk", 0.0) * loss}

    def _auxk_loss(
        self, x_flat: torch.Tensor, pre: torch.Tensor, residual: torch.Tensor, dead_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """‖residual − Σ top-aux_k dead latents‖² / Var(residual), both summed over models and d, mean over tokens."""
        zero = residual.new_zeros(())
        if dead_mask is None or not bool(dead_mask.any()):
            return zero
        dead = dead_mask.nonzero().squeeze(1)
        k_aux = min(self.aux_k, dead.numel())
        with torch.no_grad():
            cols = dead[pre[:, dead].topk(k_aux, dim=1, sorted=False).indices]
            rows = torch.arange(pre.shape[0], device=pre.device)[:, None].expand_as(cols)
            index = SparseIndex.from_flat((rows * pre.shape[1] + cols).flatten(), *pre.shape)
        values = gather_preacts(
            pre[index.rows, index.cols], x_flat, self.W_enc.view(-1, self.n_latents), self.b_enc, index
        )
        recon = sparse_decode(values, self.W_dec.view(self.n_latents, -1), index).view_as(residual)
        error = (residual - recon).pow(2).sum(dim=(1, 2)).mean()
        return (error / self._batch_variance(residual)).nan_to_num(0.0)

    @torch.no_grad()
    def _update_threshold(self, index: SparseIndex, values: torch.Tensor, step: int) -> None:
        """EMA of the smallest kept (positive) f_j·s_j, starting at ``threshold_start_step``."""
        start = int(self.cfg.threshold_start_step)
        if step < start:
            return
        scores = values * self.decoder_norms()[index.cols]
        smallest = self._batch_min(scores[scores > 0])
        if smallest is None:
            return
        smallest = smallest.to(self.threshold.dtype)
        beta = float(self.cfg.threshold_beta)
        self.threshold.copy_(smallest if step == start else beta * self.threshold + (1 - beta) * smallest)

    def to_inference(self) -> BatchTopKCrosscoder:
        """The trained weights as an inference ``BatchTopKCrosscoder`` (config as ``save_inference_model`` writes)."""
        cfg = BatchTopKCrosscoderConfig.from_dict(self.cfg.get_inference_sae_cfg_dict())
        crosscoder = BatchTopKCrosscoder(cfg)
        crosscoder.load_state_dict(self.state_dict())
        return crosscoder


def crosscoder_from_weights(*args: Any, **kwargs: Any) -> BatchTopKCrosscoder:
    """Alias of ``BatchTopKCrosscoder.from_weights``."""
    return BatchTopKCrosscoder.from_weights(*args, **kwargs)


def _register() -> None:
    """Register both classes with SAE-Lens; re-importing this module (reload) replaces its own earlier entries."""
    for registry, register, classes in (
        (SAE_CLASS_REGISTRY, register_sae_class, (BatchTopKCrosscoder, BatchTopKCrosscoderConfig)),
        (
            SAE_TRAINING_CLASS_REGISTRY,
            register_sae_training_class,
            (BatchTopKCrosscoderTrainingSAE, BatchTopKCrosscoderTrainingConfig),
        ),
    ):
        existing = registry.get(ARCHITECTURE)
        if existing is not None:
            if existing[0].__module__ != __name__:
                raise RuntimeError(
                    f"SAE-Lens architecture {ARCHITECTURE!r} is already registered by {existing[0]}"
                )
            del registry[ARCHITECTURE]
        register(ARCHITECTURE, *classes)


# ----------------------------------------------------------------------------------------------------------------
# Data: paired activations served as per-model-normalized, shuffled (B, 2, d) batches
# ----------------------------------------------------------------------------------------------------------------


class _PairedSource:
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


class _TensorSource(_PairedSource):
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


class _CacheSource(_PairedSource):
    """Two harvested caches (``llmdiff_eval.harvest``), read shard by shard; rows must be the same tokens."""

    def __init__(self, base_dir: str | os.PathLike, ft_dir: str | os.PathLike):
        from llmdiff_eval.harvest import ActivationCache, CacheError

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
        from llmdiff_eval.harvest import _open_shard

        out = torch.empty(sum(self.shard_sizes[i] for i in shard_ids), 2, self.d_model, dtype=torch.float32)
        for slot, cache in enumerate(self.caches):
            start = 0
            for i in shard_ids:
                entry = cache.index["shards"][i]
                with _open_shard(cache.path, entry) as handle:
                    acts = cache._get(handle, entry, "acts")
                out[start : start + len(acts), slot] = acts.float()
                start += len(acts)
        return self._finite(out, shard_ids)

    def load_rows(self, shard_ids: list[int], rows: torch.Tensor) -> torch.Tensor:
        from llmdiff_eval.distributed import read_rows  # memory-mapped: reads only these rows

        out = torch.stack([read_rows(cache, shard_ids, rows) for cache in self.caches], dim=1)
        return self._finite(out, shard_ids)

    def _finite(self, out: torch.Tensor, shard_ids: list[int]) -> torch.Tensor:
        if not bool(torch.isfinite(out).all()):
            raise CrosscoderError(
                f"shards {shard_ids} of {self.caches[0].path} / {self.caches[1].path} contain NaN/inf"
            )
        return out


def _as_source(acts: Any) -> _PairedSource:
    if isinstance(acts, _PairedSource):
        return acts
    if isinstance(acts, torch.Tensor):
        return _TensorSource(acts)
    if (
        isinstance(acts, (tuple, list))
        and len(acts) == 2
        and all(isinstance(a, (str, os.PathLike)) for a in acts)
    ):
        return _CacheSource(*acts)
    raise CrosscoderError(
        "train_crosscoder needs a float tensor (N, 2, d) (index 0 = base, 1 = fine-tune) or a pair of harvested "
        f"cache directories (base_dir, ft_dir); got {type(acts).__name__}"
    )


def _generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(stable_hash(list(parts)), 16) % (2**63))


def _epoch_groups(source: _PairedSource, cfg: CrosscoderConfig, epoch: int) -> list[list[int]]:
    """Shards grouped into shuffle buffers of about ``buffer_tokens``; one group when everything fits."""
    n_shards = len(source.shard_sizes)
    if source.n_tokens <= cfg.buffer_tokens:
        return [list(range(n_shards))]
    groups: list[list[int]] = [[]]
    filled = 0
    for shard in torch.randperm(n_shards, generator=_generator(cfg.seed, epoch)).tolist():
        if groups[-1] and filled + source.shard_sizes[shard] > cfg.buffer_tokens:
            groups.append([])
            filled = 0
        groups[-1].append(shard)
        filled += source.shard_sizes[shard]
    return groups


def _total_steps(source: _PairedSource, cfg: CrosscoderConfig) -> int:
    return sum(
        sum(source.shard_sizes[i] for i in group) // cfg.batch_size
        for epoch in range(cfg.epochs)
        for group in _epoch_groups(source, cfg, epoch)
    )


def _batches(
    source: _PairedSource,
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
        for g, group in enumerate(_epoch_groups(source, cfg, epoch)):
            n = sum(source.shard_sizes[i] for i in group)
            n_batches = n // cfg.batch_size
            if step + n_batches <= start_step:
                step += n_batches
                continue
            order = torch.randperm(n, generator=_generator(cfg.seed, epoch, g))
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


def _norm_scale(source: _PairedSource, cfg: CrosscoderConfig) -> torch.Tensor:
    """Per-model multiplier: √d / E‖x_m‖ for "unit_rms", 1 for "none"."""
    if cfg.normalization == "none":
        return torch.ones(2)
    if not bool((source.mean_norms > 0).all()):
        raise CrosscoderError(f"a model's activations are all zero (mean norms {source.mean_norms.tolist()})")
    return (math.sqrt(source.d_model) / source.mean_norms).to(torch.float32)


# ----------------------------------------------------------------------------------------------------------------
# Training run: SAE-Lens's SAETrainer with step-based atomic checkpoints, resume and a JSONL log
# ----------------------------------------------------------------------------------------------------------------

CHECKPOINTS = "checkpoints"
LOG_FILE = "training_log.jsonl"
PROGRESS_FILE = "progress.json"


class _StopTraining(Exception):
    """Raised after the checkpoint at ``max_steps``: the run stops there and can be resumed."""


class _RunFiles:
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


class _CrosscoderTrainer(SAETrainer):
    """SAE-Lens's trainer, plus our per-step log, step-based atomic checkpoints and an optional stop step.

    ``step`` and ``save_checkpoint`` are the trainer's public seams; everything else (Adam, LR schedule, grad clip,
    dead-latent tracking, checkpoint contents) is SAE-Lens's.
    """

    def __init__(
        self,
        *args: Any,
        run: _RunFiles,
        total_steps: int,
        cfg_xc: CrosscoderConfig,
        max_steps: int | None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
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
                f"{checkpoint} belongs to a run with a different config or data; pass resume=False to start over "
                "or use another out_dir"
            )
        self.sae.load_weights_from_checkpoint(checkpoint)
        self.load_trainer_state(checkpoint)
        # SAETrainer saves n_training_steps before incrementing it; the sample count is authoritative.
        self.n_training_steps = self.n_training_samples // self.xc.batch_size
        self.checkpoint_thresholds = [t for t in self.checkpoint_thresholds if t >= self.n_training_samples]
        self.start_step = self.n_training_steps
        return self.n_training_steps


def _fingerprint(cfg: CrosscoderConfig, source: _PairedSource, scale: torch.Tensor) -> str:
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RUN_ONLY_FIELDS + _DATA_FIELDS}
    return stable_hash({"config": settings, "data": source.identity, "norm_scale": scale.tolist()}, 32)


_RUN_ONLY_FIELDS = ("device", "log_every_steps", "checkpoint_every_steps", "keep_checkpoints")
_DATA_FIELDS = ("stream_tokens",)  # recorded by the data source's identity instead


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

    def trainer(self, *args: Any, **kwargs: Any) -> _CrosscoderTrainer:
        return _CrosscoderTrainer(*args, **kwargs)


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
    source = _as_source(acts)
    d = source.d_model
    if source.n_tokens < cfg.batch_size:
        raise CrosscoderError(
            f"only {source.n_tokens} tokens, fewer than batch_size {cfg.batch_size}: lower batch_size"
        )
    aux_k = cfg.aux_k if cfg.aux_k is not None else d // 2
    if aux_k > d // 2:
        raise CrosscoderError(f"crosscoder.aux_k ({aux_k}) must be at most d/2 = {d // 2}")
    scale = _norm_scale(source, cfg)
    fingerprint = _fingerprint(cfg, source, scale)
    run = _RunFiles(Path(out_dir) if out_dir is not None else None, fingerprint, write=parallel.is_writer)

    if run.out_dir is not None:
        if resume and (run.out_dir / "cfg.json").exists():
            finished = load_crosscoder(run.out_dir, device=cfg.resolved_device())
            if finished.cfg.metadata.get("llmdiff_eval", {}).get("fingerprint") == fingerprint:
                return finished
            raise CrosscoderError(
                f"{run.out_dir} holds a crosscoder trained with another config or data; pass resume=False to "
                "retrain it, or use another out_dir"
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
    device = cfg.resolved_device()
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
    architecture = json.loads(cfg_path.read_text()).get("architecture")
    if architecture != ARCHITECTURE:
        raise CrosscoderError(f"{path} holds an SAE-Lens {architecture!r} SAE, not a {ARCHITECTURE!r}")
    crosscoder = SAE.load_from_disk(path, device=device)
    log_path = path / LOG_FILE
    crosscoder.training_log = (
        [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if log_path.exists()
        else []
    )
    return crosscoder


def train(cfg: CrosscoderConfig, run_dir: str | os.PathLike, base: str, ft: str) -> Path:
    """Stage function: train ``crosscoders/<base>__<ft>/`` from ``activations/<base>/`` and ``activations/<ft>/``."""
    from llmdiff_eval.distributed import data_parallel, streaming_inputs

    run_dir = Path(run_dir)
    out_dir = run_dir / "crosscoders" / pair_name(base, ft)
    parallel = data_parallel()  # several processes under torchrun, else None
    if cfg.stream_tokens is not None:
        acts, metadata = streaming_inputs(cfg, run_dir, base, ft, parallel)
    else:
        acts = (run_dir / "activations" / base, run_dir / "activations" / ft)
        metadata = _cache_facts(acts, base, ft)
    train_crosscoder(acts, cfg, out_dir=out_dir, resume=True, metadata=metadata, parallel=parallel)
    return out_dir


def _cache_facts(caches: tuple[Path, Path], base: str, ft: str) -> dict[str, Any]:
    """Pair names, layer and model specs of two caches (recorded in ``cfg.json`` so a copied crosscoder can be
    checked against the models it is used with, e.g. by the lm-eval task)."""
    facts: dict[str, Any] = {"pair": {"base": base, "ft": ft}}
    paths = [cache / "index.json" for cache in caches]
    if all(path.exists() for path in paths):
        indexes = [json.loads(path.read_text()) for path in paths]
        facts["layer"] = indexes[0]["layer"]
        facts["model_specs"] = {"base": indexes[0]["model"], "ft": indexes[1]["model"]}
    return facts


_register()
