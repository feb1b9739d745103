"""Causal-attribution settings: :class:`CausalConfig` (probe tokens, matched controls, which latent sets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from llmdiff_eval.config.corpus import CorpusConfig
from llmdiff_eval.errors import ConfigError

CONTROL_MATCHES = ("firing", "intervention")


@dataclass
class CausalConfig:
    """Settings of the causal stage (docs/causal.md).

    Attributes:
        enabled: run the stage in ``llmdiff-eval run`` (off by default: it loads every model again and runs them
            many times; the demo turns it on; ``llmdiff-eval causal`` runs it whatever this says).
        probe_tokens: held-out tokens on which next-token distributions are compared (whole documents are taken,
            the last one truncated, until this many tokens are counted).
        corpus: where the probe documents come from. ``None`` (default): the documents of the harvest corpus that
            the harvest did not reach (held out from the crosscoder's training and the latent selection). A corpus
            here is read from its start; it should hold no harvested document.
        n_controls: random latent sets per measured set (0: no controls, no ``causal`` flag).
        control_match: what the control latents are matched on, latent by latent, besides the set size:
            ``"firing"`` — the firing mass ``Σ_t f_j(t)`` over the probe tokens; ``"intervention"`` — the mass of
            the intervention ``Σ_t f_j(t) · ‖d_j^ft − d_j^base‖`` (raw units), a stricter control.
        control_window: each latent of a set is replaced by one drawn from the ``2 · control_window`` latents outside
            the model-specific set nearest to it in that mass.
        min_category_latents: a category is measured on its own when the pair has at least this many
            model-specific latents in it (classes are always measured).
        seed: seed of the probe-document sample and the control draws.
        device: device of the models and the crosscoder (``"cpu"``, ``"cuda"``, ``"auto"``, ...); the compute dtype
            is ``harvest.dtype``, the one the crosscoder's activations were harvested in.
        batch_size: probe documents per forward pass up to layer L.
        batch_tokens: token rows per forward pass of the blocks above L (interventions and controls are stacked in
            the batch dimension up to this many rows × positions).
        progress: show a progress bar.
    """

    RESULT_NEUTRAL: ClassVar[tuple[str, ...]] = (
        "enabled",
        "device",
        "batch_size",
        "batch_tokens",
        "progress",
    )
    """Settings that do not change the stage's results (left out of its unit keys)."""

    enabled: bool = False
    probe_tokens: int = 2048
    corpus: CorpusConfig | None = None
    n_controls: int = 20
    control_match: str = "firing"
    control_window: int = 10
    min_category_latents: int = 3
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 8
    batch_tokens: int = 2048
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.corpus, dict):
            self.corpus = CorpusConfig.from_dict(self.corpus)
        for key in ("probe_tokens", "control_window", "min_category_latents", "batch_size", "batch_tokens"):
            if getattr(self, key) < 1:
                raise ConfigError(f"causal.{key} must be >= 1, got {getattr(self, key)}")
        if self.n_controls < 0:
            raise ConfigError(f"causal.n_controls must be >= 0, got {self.n_controls}")
        if self.control_match not in CONTROL_MATCHES:
            raise ConfigError(
                f"causal.control_match must be one of {list(CONTROL_MATCHES)}, got {self.control_match!r}"
            )
