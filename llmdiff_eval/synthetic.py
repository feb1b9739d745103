"""Synthetic paired activations with planted ground truth, for known-answer tests of crosscoder diffing.

``make_planted_pairs`` returns activations ``acts (N, 2, d)`` float32 for a pair of "models" (index 0 = base,
1 = fine-tune) built as sparse sums of planted concept directions plus Gaussian noise::

    acts[n, m] = model_scale[m] * (Σ_c coefficients[n, m, c] · directions[c, m] + bias[m] + noise_{n,m})

Concept kinds (``PlantedPairs.kinds[c]``):

* ``"shared"``: fires on the same tokens in both models with the same magnitude up to a per-concept ratio
  (``shared_scale_ratio``, fine-tune / base); the fine-tune direction is the base direction rotated slightly
  (cosine drawn from ``shared_cos``).
* ``"ft_only"``: present only in the fine-tune stream (its base direction and coefficients are zero).
* ``"base_only"``: present only in the base stream.
* ``"confound"``: *latent decoupling*. The concept fires on the same tokens in both models with the **same**
  direction, but its magnitude is drawn **independently** per model. One shared crosscoder latent (one value per
  token) cannot reconstruct two uncorrelated magnitudes, so a crosscoder tends to split it into a fine-tune-only
  latent plus a base-only latent that fire on the same tokens. Such a fine-tune-only latent has Δnorm ≈ 1 although
  the concept is plainly present in the base; latent scaling exposes it (the base reconstruction explains it:
  ν^r ≈ E[a_base a_ft] / E[a_ft²] ≈ 0.9 for the default magnitudes). A hand-built crosscoder with the decoupled
  latents ``(0, v)`` and ``(v, 0)`` is the deterministic version of this case.

Units: ``directions`` are unit vectors; ``coefficients`` are in raw (pre-``model_scale``) units, i.e. the
length of concept c's contribution to model m's activation at token n before the global per-model scale.
``concept_scale[c, m]`` is the mean magnitude of concept c in model m when firing (0 where absent); it includes the
per-concept shared ratio but not ``model_scale``. The noise has per-coordinate standard deviation ``noise``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

KINDS = ("shared", "ft_only", "base_only", "confound")
BASE, FT = 0, 1


@dataclass(frozen=True)
class PlantedPairs:
    """Paired activations and their planted ground truth (see module docstring for the generative model).

    Attributes:
        acts: ``(N, 2, d)`` float32 activations, index 0 = base, 1 = fine-tune.
        directions: ``(C, 2, d)`` float32 unit direction of concept c in model m (all-zero where absent).
        kinds: length-C tuple of ``"shared" | "ft_only" | "base_only" | "confound"``.
        coefficients: ``(N, 2, C)`` float32 per-token magnitude of concept c in model m (0 when not firing).
        fires: ``(N, C)`` bool, whether concept c fires on token n (in every model where it exists).
        firing_prob: ``(C,)`` planted firing probability per concept.
        concept_scale: ``(C, 2)`` mean magnitude of concept c in model m when firing (0 where absent).
        bias: ``(2, d)`` constant offset added to every token of each model (before ``model_scale``).
        model_scale: ``(2,)`` global multiplier of each model's activations.
        noise: per-coordinate standard deviation of the Gaussian noise (before ``model_scale``).
        seed: the generator seed of the concepts.
        token_seed: the generator seed of the per-token draws (None: drawn after the concepts from ``seed``).
    """

    acts: torch.Tensor
    directions: torch.Tensor
    kinds: tuple[str, ...]
    coefficients: torch.Tensor
    fires: torch.Tensor
    firing_prob: torch.Tensor
    concept_scale: torch.Tensor
    bias: torch.Tensor
    model_scale: torch.Tensor
    noise: float
    seed: int
    token_seed: int | None = None

    @property
    def n_concepts(self) -> int:
        return len(self.kinds)

    @property
    def d_model(self) -> int:
        return int(self.acts.shape[-1])

    def index(self, kind: str) -> torch.Tensor:
        """Concept ids (LongTensor) of one kind, in increasing order."""
        if kind not in KINDS:
            raise ValueError(f"unknown concept kind {kind!r}; expected one of {KINDS}")
        return torch.tensor([c for c, k in enumerate(self.kinds) if k == kind], dtype=torch.long)

    def expected_delta_norm(self) -> torch.Tensor:
        """Ground-truth Δnorm per concept (paper orientation: 1 = only in the fine-tune, 0 = only in the base).

        Computed from ``concept_scale`` times ``model_scale``, i.e. for raw activations. After per-model
        normalization the global ``model_scale`` drops out, so use ``model_scale=(1, 1)`` (the default) when comparing
        with a crosscoder trained on normalized activations. Confound concepts have equal scales, hence 0.5.
        """
        norms = self.concept_scale * self.model_scale
        biggest = norms.max(dim=1).values.clamp_min(1e-12)
        return 0.5 * ((norms[:, FT] - norms[:, BASE]) / biggest + 1.0)


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    lo, hi = float(value[0]), float(value[1])
    if not (low <= lo <= hi <= high):
        raise ValueError(f"{name} must be a range (lo, hi) with {low} <= lo <= hi <= {high}; got {value!r}")
    return lo, hi


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, shape: tuple[int, ...] = ()) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand((n, *shape), generator=gen)


def make_planted_pairs(
    n_tokens: int,
    d_model: int,
    n_shared: int,
    n_ft_only: int,
    n_base_only: int,
    n_confound: int = 0,
    firing_prob: float | tuple[float, float] = 0.05,
    magnitude: tuple[float, float] = (0.5, 1.5),
    shared_cos: tuple[float, float] = (0.95, 1.0),
    shared_scale_ratio: tuple[float, float] = (0.8, 1.25),
    noise: float = 0.01,
    model_scale: tuple[float, float] = (1.0, 1.0),
    bias_norm: float = 0.0,
    seed: int = 0,
    token_seed: int | None = None,
) -> PlantedPairs:
    """Generate paired activations with planted shared, fine-tune-only, base-only and confound concepts.

    Concepts are ordered shared, ft_only, base_only, confound (use ``PlantedPairs.index(kind)``).

    Args:
        n_tokens: number of tokens N.
        d_model: activation width d.
        n_shared, n_ft_only, n_base_only, n_confound: number of concepts of each kind (see module docstring).
        firing_prob: per-token firing probability of every concept, or a range (lo, hi) from which each
            concept's probability is drawn uniformly. Concepts fire independently.
        magnitude: range of the uniform per-token magnitude of a firing concept (raw units).
        shared_cos: range of the cosine between a shared concept's base and fine-tune directions.
        shared_scale_ratio: range of the fine-tune / base magnitude ratio of a shared concept, drawn
            log-uniformly; the geometric mean of the two model scales is 1.
        noise: per-coordinate standard deviation of isotropic Gaussian noise.
        model_scale: global multiplier of each model's activations (base, fine-tune), e.g. ``(1, 3)`` for a
            fine-tune whose residual stream is 3x larger; per-model normalization should cancel it.
        bias_norm: norm of a random constant offset per model (the residual stream's mean), 0 for none.
        seed: seed of the torch generator; the output is a pure function of the arguments.
        token_seed: if given, seeds the per-token draws (firing, magnitudes, noise) separately, so that
            ``make_planted_pairs(..., seed=s, token_seed=t)`` gives fresh tokens of the *same* concepts (directions,
            scales, firing probabilities and bias depend on ``seed`` only); held-out data for the same ground truth.
    """
    counts = {"shared": n_shared, "ft_only": n_ft_only, "base_only": n_base_only, "confound": n_confound}
    if n_tokens < 1 or d_model < 2:
        raise ValueError(f"need n_tokens >= 1 and d_model >= 2; got n_tokens={n_tokens}, d_model={d_model}")
    if any(int(v) != v or v < 0 for v in counts.values()) or sum(counts.values()) == 0:
        raise ValueError(f"concept counts must be non-negative integers, not all zero; got {counts}")
    if isinstance(firing_prob, (int, float)):
        firing_prob = (float(firing_prob), float(firing_prob))
    p_lo, p_hi = _check_range("firing_prob", firing_prob, 0.0, 1.0)
    m_lo, m_hi = _check_range("magnitude", magnitude, 0.0, math.inf)
    c_lo, c_hi = _check_range("shared_cos", shared_cos, -1.0, 1.0)
    r_lo, r_hi = _check_range("shared_scale_ratio", shared_scale_ratio, 1e-6, math.inf)
    if noise < 0 or bias_norm < 0 or min(model_scale) <= 0:
        raise ValueError("noise and bias_norm must be >= 0 and model_scale entries > 0")

    gen = torch.Generator().manual_seed(seed)
    kinds = tuple(kind for kind in KINDS for _ in range(counts[kind]))
    n_concepts = len(kinds)
    kind_of = {kind: torch.tensor([k == kind for k in kinds]) for kind in KINDS}

    base_dir = torch.nn.functional.normalize(torch.randn(n_concepts, d_model, generator=gen), dim=-1)
    # Fine-tune direction of shared concepts: rotate the base direction towards a random orthogonal unit vector.
    other = torch.randn(n_concepts, d_model, generator=gen)
    other = torch.nn.functional.normalize(other - (other * base_dir).sum(-1, keepdim=True) * base_dir, dim=-1)
    cos = torch.where(kind_of["shared"], _uniform(n_concepts, c_lo, c_hi, gen), torch.ones(n_concepts))
    ft_dir = cos[:, None] * base_dir + (1 - cos**2).clamp_min(0).sqrt()[:, None] * other

    directions = torch.stack([base_dir, ft_dir], dim=1)
    present = torch.ones(n_concepts, 2, dtype=torch.bool)
    present[kind_of["ft_only"], BASE] = False
    present[kind_of["base_only"], FT] = False
    directions = directions * present[:, :, None]

    log_ratio = math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * torch.rand(n_concepts, generator=gen)
    ratio = torch.where(kind_of["shared"], log_ratio.exp(), torch.ones(n_concepts))
    per_model = (
        torch.stack([ratio.rsqrt(), ratio.sqrt()], dim=1) * present
    )  # (C, 2), geometric mean 1 if shared
    mean_magnitude = 0.5 * (m_lo + m_hi)
    concept_scale = per_model * mean_magnitude

    probs = _uniform(n_concepts, p_lo, p_hi, gen)
    bias = torch.nn.functional.normalize(torch.randn(2, d_model, generator=gen), dim=-1) * bias_norm
    if token_seed is not None:
        gen = torch.Generator().manual_seed(token_seed)
    fires = torch.rand(n_tokens, n_concepts, generator=gen) < probs
    shared_mag = _uniform(n_tokens, m_lo, m_hi, gen, (n_concepts,))
    own_mag = _uniform(
        n_tokens, m_lo, m_hi, gen, (n_concepts,)
    )  # the confound's independent fine-tune magnitude
    ft_mag = torch.where(kind_of["confound"], own_mag, shared_mag)
    coefficients = torch.stack([shared_mag, ft_mag], dim=1) * fires[:, None, :] * per_model.T[None]

    scale = torch.tensor(model_scale, dtype=torch.float32)
    acts = torch.einsum("nmc,cmd->nmd", coefficients, directions) + bias[None]
    acts = acts + noise * torch.randn(n_tokens, 2, d_model, generator=gen)
    acts = acts * scale[None, :, None]

    return PlantedPairs(
        acts=acts.float().contiguous(),
        directions=directions.float(),
        kinds=kinds,
        coefficients=coefficients.float(),
        fires=fires,
        firing_prob=probs,
        concept_scale=concept_scale.float(),
        bias=bias.float(),
        model_scale=scale,
        noise=float(noise),
        seed=int(seed),
        token_seed=token_seed,
    )
