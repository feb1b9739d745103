"""The BatchTopK crosscoder architecture (SAE-Lens ``batchtopk_crosscoder``): its two SAE-Lens configs, the
inference class and the training class, side by side as in ``sae_lens/saes/batchtopk_sae.py``.

Shapes (M models, width d, F latents; index 0 = base, 1 = fine-tune)::

    W_enc (M, d, F), b_enc (F,), W_dec (F, M, d), b_dec (M, d)
    f   = ReLU(Σ_m x_m W_enc[m] + b_enc)      # (B, F), x normalized per model
    x̂_m = f W_dec[:, m] + b_dec[m]            # (B, M, d)
    s_j = Σ_m ‖W_dec[j, m]‖                    # latent j's total decoder norm
    train: keep the k·B largest f_j·s_j over the batch (kept values are the unscaled f)
    infer: keep f_j where f_j·s_j > threshold, an EMA of the smallest kept value during training

Reference: docs/train.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from sae_lens.saes.sae import (
    SAE,
    SAEConfig,
    TrainCoefficientConfig,
    TrainingSAE,
    TrainingSAEConfig,
    TrainStepInput,
    TrainStepOutput,
)
from torch import nn

from llmdiff_eval.crosscoder.kernels import DECODES, SparseIndex, batch_topk_flat, gather_preacts
from llmdiff_eval.errors import CrosscoderError

ARCHITECTURE = "batchtopk_crosscoder"


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
    decode: str = "sparse"  # the training step's decoder, a key of kernels.DECODES (same loss and gradients)

    @classmethod
    def architecture(cls) -> str:
        return ARCHITECTURE


class Normalizer(NamedTuple):
    """Per-model normalization recorded with a crosscoder: x_norm[:, m] = x_raw[:, m] · scale[m]."""

    kind: str
    scale: torch.Tensor  # (M,)
    mean: torch.Tensor | None  # (M, d) subtracted before scaling; None for the supported kinds


class _Selection(NamedTuple):
    """One batch's BatchTopK selection: flat inputs (B, M·d), dense pre-activations (B, F), decoder norms s (F,),
    the kept entries and their values (with the encoder's sparse gradient)."""

    x_flat: torch.Tensor
    pre: torch.Tensor
    norms: torch.Tensor
    index: SparseIndex
    values: torch.Tensor


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
        return torch.addmm(self.b_enc, flat, self.W_enc.reshape(-1, self.n_latents)).relu_()

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


class BatchTopKCrosscoderTrainingSAE(_CrosscoderMixin, TrainingSAE[BatchTopKCrosscoderTrainingConfig]):
    """Training version (SAE-Lens ``TrainingSAE``): BatchTopK selection, sparse step, AuxK, threshold EMA.

    The encoder's parameter is ``W_enc_by_latent`` (F, M, d), contiguous: latent-major like the sparse backward's
    gradient (F, M·d), which autograd then accumulates without a transposing copy, and contiguous so that torch's
    fused Adam updates it in place (a permuted view cost ≈ 11 ms of copies per cpu-small step). ``W_enc`` is its
    (M, d, F) view, as in the inference class; saved files and checkpoints hold ``W_enc`` (M, d, F).
    """

    W_enc_by_latent: nn.Parameter

    @property
    def W_enc(self) -> torch.Tensor:  # type: ignore[override]
        """(M, d, F) view of ``W_enc_by_latent``."""
        return self.W_enc_by_latent.permute(1, 2, 0)

    def initialize_weights(self) -> None:
        """W_enc kaiming-uniform (fan-in d, ReLU gain), identical for every model; W_dec = W_encᵀ with each
        ‖W_dec[j, m]‖ = decoder_init_norm; b_enc = 0; b_dec = 0 until ``init_b_dec`` sees the first batch."""
        super().initialize_weights()
        d, n = self.cfg.d_in, self.cfg.d_sae
        del self._parameters["W_enc"]  # the mixin's (M, d, F) parameter; this class holds it latent-major
        self.W_enc_by_latent = nn.Parameter(
            torch.zeros(n, self.cfg.n_models, d, dtype=self.dtype, device=self.device)
        )
        if self.device.type == "meta":
            return
        gen = torch.Generator().manual_seed(int(self.cfg.init_seed))
        weight = (torch.rand(d, n, generator=gen, dtype=torch.float64) * 2 - 1) * math.sqrt(6.0 / d)
        decoder = (weight / weight.norm(dim=0, keepdim=True)).t() * float(self.cfg.decoder_init_norm or 1.0)
        with torch.no_grad():
            self.W_enc.copy_(weight.to(self.W_enc.dtype).expand(self.cfg.n_models, d, n))
            self.W_dec.copy_(decoder[:, None, :].expand(n, self.cfg.n_models, d))

    def process_state_dict_for_saving(self, state_dict: dict[str, Any]) -> None:
        """Save ``W_enc`` (M, d, F), as the inference class and SAE-Lens's loaders read it."""
        state_dict["W_enc"] = state_dict.pop("W_enc_by_latent").permute(1, 2, 0).contiguous()

    def process_state_dict_for_loading(self, state_dict: dict[str, Any]) -> None:
        """A checkpoint's ``W_enc`` (M, d, F) back into ``W_enc_by_latent`` (F, M, d)."""
        super().process_state_dict_for_loading(state_dict)
        if "W_enc" in state_dict:
            state_dict["W_enc_by_latent"] = state_dict.pop("W_enc").permute(2, 0, 1).contiguous()

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

    def _select(self, x: torch.Tensor) -> _Selection:
        """Dense no-grad pre-activations, the kept entries and their values (with the encoder's sparse grad)."""
        x_flat = x.reshape(x.shape[0], -1).to(self.W_enc.dtype)
        with torch.no_grad():
            pre = self.pre_activations(x)
            norms = self.decoder_norms()
            index = SparseIndex.from_flat(self._batch_topk(pre * norms), *pre.shape)
        values = gather_preacts(
            pre[index.rows, index.cols], x_flat, self.W_enc.view(-1, self.n_latents), self.b_enc, index
        )
        return _Selection(x_flat, pre, norms, index, values)

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
        _, pre, _, index, values = self._select(self.check_input(x))
        acts = torch.zeros_like(pre).index_put((index.rows, index.cols), values)
        return acts, pre

    def training_forward_pass(self, step_input: TrainStepInput) -> TrainStepOutput:
        x = step_input.sae_in
        n_tokens = x.shape[0]
        x_flat, pre, norms, index, values = self._select(x)
        recon = self._decode(values, index)
        x_hat = recon.view_as(x) + self.b_dec
        mse = (x_hat - x).pow(2).sum(dim=(1, 2)).mean()
        auxk = step_input.coefficients.get("auxk", 0.0) * self._auxk_loss(
            x_flat, pre, (x - x_hat).detach(), step_input.dead_neuron_mask
        )
        self._update_threshold(values.detach() * norms[index.cols], step_input.n_training_steps)
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
        recon = self._decode(values, index).view_as(residual)
        error = (residual - recon).pow(2).sum(dim=(1, 2)).mean()
        return (error / self._batch_variance(residual)).nan_to_num(0.0)

    def _decode(self, values: torch.Tensor, index: SparseIndex) -> torch.Tensor:
        """(B, M·d) reconstruction without bias by the configured decoder (``cfg.decode``)."""
        return DECODES[self.cfg.decode](values, self.W_dec.view(self.n_latents, -1), index)

    @torch.no_grad()
    def _update_threshold(self, scores: torch.Tensor, step: int) -> None:
        """EMA of the smallest of the kept entries' positive ``scores`` f_j·s_j, starting at ``threshold_start_step``."""
        start = int(self.cfg.threshold_start_step)
        if step < start:
            return
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
        state_dict = self.state_dict()
        self.process_state_dict_for_saving(state_dict)
        crosscoder.load_state_dict(state_dict)
        return crosscoder


def crosscoder_from_weights(*args: Any, **kwargs: Any) -> BatchTopKCrosscoder:
    """Alias of ``BatchTopKCrosscoder.from_weights``."""
    return BatchTopKCrosscoder.from_weights(*args, **kwargs)
