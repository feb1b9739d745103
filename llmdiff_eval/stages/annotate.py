"""Annotate stage: one unit per pair; names and categorizes the pair's model-specific latents
(``annotations/<pair>.parquet``, cache ``annotations.sqlite``). Result-changing settings: the pair's analyze key and
``annotate`` minus its ``RESULT_NEUTRAL`` settings, and the explainer's and judge's versions
(:func:`~llmdiff_eval.annotate.annotator_identity`); ``annotate.max_cost`` applies to each pair. A redo is cheap:
unchanged latents are served from the cache. Reference: docs/annotate.md.
"""

from __future__ import annotations

from llmdiff_eval.annotate import annotate, annotator_identity
from llmdiff_eval.config import RunConfig, result_settings
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.stages import analyze
from llmdiff_eval.stages.base import Stage, Unit, pair_units
from llmdiff_eval.utils import pair_name, stable_hash

NAME = "annotate"


def unit_key(config: RunConfig, base: str, ft: str, seed: int | None = None) -> str:
    return stable_hash(
        {
            "inputs": analyze.unit_key(config, base, ft, seed),
            "annotate": result_settings(config.annotate),
            "annotator": annotator_identity(config.annotate),
        }
    )


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    return pair_units(
        NAME,
        config,
        unit_key,
        lambda base, ft, seed: annotate(config.annotate, run_dir.root, base, ft, seed=seed),
        lambda base, ft, seed: [run_dir.annotations(pair_name(base, ft, seed))],
    )


STAGE = Stage(NAME, units, summary="name and categorize the model-specific latents")
