"""Analyze settings: :class:`AnalyzeConfig` (tag rules, latent-scaling candidates, examples)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

TAGS = ("ft_only", "base_only", "shared", "other")
SELECTIONS = ("absolute", "relative", "energy")
PROBES = ("ft", "base", "both")


@dataclass
class AnalyzeConfig:
    """Settings of the analyze stage.

    Tags (``tag`` column; a latent that never fires is always ``other``):

    * ``ft_only``: ``delta_norm ≥ delta_norm_specific`` and ``nu_eps < nu_eps_max`` and ``nu_r < nu_r_max``.
    * ``base_only``: mirror — ``delta_norm ≤ 1 − delta_norm_specific`` and the same bounds on ``nu_eps_base``,
      ``nu_r_base``.
    * ``shared``: ``|delta_norm − 0.5| < shared_band``.
    * ``other``: everything else.

    ``selection`` picks the Δnorm cut-offs:

    * ``"absolute"`` (default, the paper's rule): ``delta_norm_specific`` and its mirror, plus the ν bounds above.
      Right for fine-tunes as far from their base as the paper's pt → it / SimPO, where some latents exist in one
      model only.
    * ``"relative"``: the pair's outliers. Over the latents that fire, ``ft_only`` is
      ``delta_norm ≥ median + delta_norm_z · σ`` and ``base_only`` ``delta_norm ≤ median − delta_norm_z · σ``, with σ
      the robust standard deviation 1.4826 · MAD, floored at 0.001 (z = 5 by default: chosen on the demo's crosscoder seeds 0–2, where
      z = 4 let one seed's safety outliers be outnumbered by structural-token latents, and checked on seeds 3 and 4);
      the ν bounds are not applied (ν is still computed and reported).
      For fine-tunes close to their base (a LoRA or preference tuning of an instruct model), where no latent is
      exclusive to one model and every Δnorm stays within about 0.3–0.8 — the paper found the same for its direct
      it-vs-SimPO crosscoder — this keeps the latents the fine-tune changed most: the cut-off comes from the pair's
      own Δnorm spread, never from labels. The cut-offs used are written into ``thresholds``.
    * ``"energy"``: threshold-free. Each latent's *difference energy* ``diff_energy_j = Σ_n f_nj² ·
      ‖d_j^ft − d_j^base‖²`` (summed over the harvested tokens, normalized units squared; see
      ``llmdiff_eval.analyze.latent_table``) is its share of the pair's representational difference. The smallest set
      of latents (largest energy first) whose energies sum to ``energy_fraction`` of the total over all latents,
      capped at ``max_latents``, is selected; selected latents with Δnorm > 0.5 are ``ft_only``, those with Δnorm <
      0.5 ``base_only``. The ν bounds are not applied.

    ``nu_min`` (default None: no lower bound, the contract rule) optionally also requires ``ν ≥ nu_min`` (e.g.
    −0.1, the lower end of Minder et al.'s evaluation range). On planted data true model-specific latents reach
    ν^r ≈ −0.4 (a base reconstruction slightly anti-aligned with the probe), so a bound would drop real ones.

    Latent scaling is computed for latents with ``|delta_norm − 0.5| ≥ scaling_min_distance`` (default 0.1: every
    latent that Δnorm alone does not call shared, i.e. Δnorm ≤ 0.4 or ≥ 0.6 — all tag candidates with room to move
    the thresholds later). 0 computes it for every latent. Others get NaN ν and ``nu_computed = False``.
    ``probe`` picks which ν columns are filled (see the module docstring): ``"ft"`` fills ``nu_eps``/``nu_r``
    (fine-tune decoder as probe, enough for ``ft_only``), ``"base"`` fills ``nu_eps_base``/``nu_r_base`` (base
    decoder as probe, needed for ``base_only``), ``"both"`` fills all four.

    Examples (``examples.sqlite``) are collected for the latents whose tag is in ``example_tags``: the
    ``n_top_examples`` highest activations, ``n_per_quantile`` random samples from each activation bin
    ``(edge_{i-1}·max, edge_i·max]`` for the upper edges ``quantile_edges`` (held out from the top examples and
    their windows, for scoring), and ``n_negative`` random windows where the latent does not fire at all. A window
    holds ``window_before`` tokens before and ``window_after`` tokens after the token, within its document.

    ``logit_lens_top_k`` (default 10; 0 = off): for the same latents, the number of output tokens whose logits the
    latent's fine-tune-minus-base decoder direction raises most (promoted) and lowers most (suppressed) through the
    fine-tune's unembedding (``logit_lens/<pair>.parquet``; definition in ``llmdiff_eval/analyze/logit_lens.py``).
    """

    RESULT_NEUTRAL: ClassVar[tuple[str, ...]] = ("device", "batch_size")
    """Settings that do not change the stage's results (left out of its unit keys)."""

    delta_norm_specific: float = 0.9
    selection: str = "absolute"
    delta_norm_z: float = 5.0
    energy_fraction: float = 0.5
    max_latents: int = 500
    nu_eps_max: float = 0.2
    nu_r_max: float = 0.5
    nu_min: float | None = None
    shared_band: float = 0.1
    scaling_min_distance: float = 0.1
    probe: str = "both"
    batch_size: int = 4096
    device: str | None = None
    example_tags: list[str] = field(default_factory=lambda: ["ft_only", "base_only"])
    n_top_examples: int = 20
    quantile_edges: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 0.95, 1.0])
    n_per_quantile: int = 5
    n_negative: int = 20
    window_before: int = 24
    window_after: int = 8
    logit_lens_top_k: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.probe not in PROBES:
            raise ValueError(f"analyze.probe must be one of {PROBES}, got {self.probe!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"analyze.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if not self.delta_norm_z > 0:
            raise ValueError(f"analyze.delta_norm_z must be > 0, got {self.delta_norm_z}")
        if not 0.0 < self.energy_fraction <= 1.0:
            raise ValueError(f"analyze.energy_fraction must be in (0, 1], got {self.energy_fraction}")
        if (
            not isinstance(self.max_latents, int)
            or isinstance(self.max_latents, bool)
            or self.max_latents < 1
        ):
            raise ValueError(f"analyze.max_latents must be a positive integer, got {self.max_latents!r}")
        if not 0.5 < self.delta_norm_specific <= 1.0:
            raise ValueError(
                f"analyze.delta_norm_specific must be in (0.5, 1], got {self.delta_norm_specific}"
            )
        if not 0.0 <= self.shared_band <= 0.5 or not 0.0 <= self.scaling_min_distance <= 0.5:
            raise ValueError("analyze.shared_band and analyze.scaling_min_distance must be in [0, 0.5]")
        if self.nu_min is not None and not self.nu_min < min(self.nu_eps_max, self.nu_r_max):
            raise ValueError("analyze.nu_min must be below nu_eps_max and nu_r_max")
        unknown = sorted(set(self.example_tags) - set(TAGS))
        if unknown:
            raise ValueError(f"analyze.example_tags has unknown tag(s) {unknown}; choose from {list(TAGS)}")
        edges = list(self.quantile_edges)
        if (
            not edges
            or any(b <= a for a, b in zip([0.0, *edges[:-1]], edges, strict=True))
            or edges[-1] != 1.0
        ):
            raise ValueError(f"analyze.quantile_edges must increase from above 0 up to 1.0, got {edges}")
        counts = (
            self.batch_size,
            self.n_top_examples,
            self.n_per_quantile,
            self.n_negative,
            self.logit_lens_top_k,
        )
        if self.batch_size < 1 or min(counts) < 0 or min(self.window_before, self.window_after) < 0:
            raise ValueError("analyze batch_size must be >= 1 and example counts / window sizes >= 0")

    @property
    def absolute_cutoffs(self) -> tuple[float, float]:
        """(ft_only, base_only) Δnorm cut-offs of the absolute rule: ``delta_norm_specific`` and its mirror."""
        return self.delta_norm_specific, round(1.0 - self.delta_norm_specific, 12)

    def thresholds(self, cutoffs: tuple[float, float] | None = None) -> dict[str, Any]:
        """The tag rules as plain data (written into every output). ``cutoffs`` = the (ft_only, base_only) Δnorm
        cut-offs a ``"relative"`` selection computed (see :func:`delta_norm_cutoffs`)."""
        high, low = cutoffs or self.absolute_cutoffs
        nu = self.selection == "absolute"  # the relative and energy rules do not apply the ν bounds
        selection: dict[str, Any] = {"mode": self.selection}
        if self.selection == "relative":
            selection |= {"delta_norm_z": self.delta_norm_z, "spread": "1.4826 * MAD"}
        elif self.selection == "energy":
            selection |= {"energy_fraction": self.energy_fraction, "max_latents": self.max_latents}
        return {
            "orientation": "delta_norm 1 = only in the fine-tune (model 1), 0 = only in the base (model 0)",
            "selection": selection,
            "ft_only": {
                "delta_norm_min": high,
                "nu_eps_max": self.nu_eps_max if nu else None,
                "nu_r_max": self.nu_r_max if nu else None,
                "nu_min": self.nu_min if nu else None,
            },
            "base_only": {
                "delta_norm_max": low,
                "nu_eps_base_max": self.nu_eps_max if nu else None,
                "nu_r_base_max": self.nu_r_max if nu else None,
                "nu_min": self.nu_min if nu else None,
            },
            "shared": {"abs_delta_norm_minus_half_max": self.shared_band},
            "scaling": {"min_abs_delta_norm_minus_half": self.scaling_min_distance, "probe": self.probe},
        }
