"""Annotate settings: :class:`AnnotateConfig` (annotator, Claude model and limits, taxonomy, scoring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

DEFAULT_MODEL = "claude-sonnet-4-6"
"""The Claude model used when ``annotate.model`` is not set."""


@dataclass
class AnnotateConfig:
    """Settings of the annotate stage.

    annotator: "auto" (Claude when ANTHROPIC_API_KEY is set, else offline), "claude" or "offline".
    model / base_url / batch / max_concurrency / max_retries / timeout (seconds): Claude settings.
    max_cost: hard limit in US dollars for one pair (None = no limit). taxonomy: shipped name or YAML path.
    tags: which latents to annotate (``tag`` column of the latent table). n_examples: top contexts shown to the
    explainer. n_score: held-out activating and non-activating contexts each used for detection scoring.
    score: run detection scoring. prices: per-model price overrides (US$ per million tokens).
    """

    RESULT_NEUTRAL: ClassVar[tuple[str, ...]] = (
        "max_concurrency",
        "max_cost",
        "timeout",
        "max_retries",
        "batch",
        "base_url",
    )
    """Settings that do not change the stage's results (left out of its unit keys)."""

    annotator: str = "auto"
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    batch: bool = False
    max_concurrency: int = 8
    max_cost: float | None = None
    taxonomy: str = "paper"
    tags: tuple[str, ...] = ("ft_only",)
    n_examples: int = 20
    n_score: int = 10
    score: bool = True
    max_retries: int = 4
    timeout: float = 120.0
    prices: dict[str, Any] | None = None
