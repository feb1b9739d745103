"""The stage registry: the pipeline's stages in run order. Each stage is one module of this package declaring its
units, the settings that change its results (its unit keys), its outputs and its run function
(:class:`~llmdiff_eval.stages.base.Stage`). Adding a stage is one new module and one line in :data:`STAGES`.
Reference: docs/architecture.md.
"""

from __future__ import annotations

from llmdiff_eval.stages import analyze, annotate, causal, harvest, scorecard, train
from llmdiff_eval.stages.base import Stage, Unit, pairs

STAGES: tuple[Stage, ...] = (
    harvest.STAGE,
    train.STAGE,
    analyze.STAGE,
    annotate.STAGE,
    causal.STAGE,
    scorecard.STAGE,
)
"""Every stage, in the order a run executes them."""

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)

__all__ = ["STAGES", "STAGE_NAMES", "Stage", "Unit", "get_stage", "pairs"]


def get_stage(name: str) -> Stage:
    """The registered stage called ``name``; ``ValueError`` lists the valid names."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ValueError(f"unknown stage {name!r}; choose from {list(STAGE_NAMES)}")
