"""Harvest stage: one unit per model; caches the residual stream after ``harvest.layer`` (``activations/<model>/``).

Result-changing settings: the model spec, the contents of local weights / adapters (so weights replaced in place make
the cache stale) and ``harvest`` minus its ``RESULT_NEUTRAL`` settings. Reference: docs/harvest.md.
"""

from __future__ import annotations

from llmdiff_eval.config import RunConfig, result_settings
from llmdiff_eval.distributed import harvest_one
from llmdiff_eval.harvest import harvest as harvest_models
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.stages.base import Stage, Unit
from llmdiff_eval.utils import local_fingerprint, stable_hash

NAME = "harvest"


def unit_key(config: RunConfig, model: str) -> str:
    """Hash of everything model ``model``'s cache depends on."""
    spec = next(spec for spec in config.models if spec.name == model)
    contents = {"path": local_fingerprint(spec.path), "adapter": local_fingerprint(spec.adapter)}
    return stable_hash(
        {"model": spec.to_dict(), "contents": contents, "harvest": result_settings(config.harvest)}
    )


def run(config: RunConfig, run_dir: RunDir) -> None:
    """Harvest every model of the run (all together, so their tokenizers are checked against the base's first);
    finished caches are skipped and partial ones resumed, by this process alone or by rank under torchrun."""
    harvest_models(config.harvest, run_dir.root, config.models, harvest_one=harvest_one)


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    return [
        Unit(
            NAME,
            spec.name,
            unit_key(config, spec.name),
            lambda: run(config, run_dir),
            outputs=[run_dir.activations(spec.name)],
        )
        for spec in config.models
    ]


STAGE = Stage(NAME, units, all_ranks=True, summary="residual-stream activations of every model")
