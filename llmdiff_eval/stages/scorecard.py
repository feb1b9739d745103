"""Scorecard stage: the combined scorecard of ``scorecard.a`` vs ``scorecard.b`` (``scorecard.json/.md/.csv``,
``report.html``, ``model_card.md``). One unit without a key: it is cheap and reads live Arena data, so it runs on
every pass; it needs two fine-tunes. Reference: docs/scorecard.md.
"""

from __future__ import annotations

from llmdiff_eval.config import RunConfig
from llmdiff_eval.reports import write_scorecard
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.stages.base import Stage, Unit

NAME = "scorecard"


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    if len(config.finetunes) < 2 and not (config.scorecard.a and config.scorecard.b):
        return []
    return [Unit(NAME, NAME, None, lambda: write_scorecard(config, run_dir.root))]


STAGE = Stage(
    NAME,
    units,
    summary="latent shares + Arena Elo + benchmarks in one table",
    when_empty="needs two fine-tunes (scorecard.a and scorecard.b)",
)
