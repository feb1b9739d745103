"""Harvest stage: one unit per model; caches the residual stream after ``harvest.layer`` (``activations/<model>/``).

Result-changing settings: the model spec, the contents of local weights, adapters and corpus files (so one replaced or
edited in place makes the cache stale) and ``harvest`` minus its ``RESULT_NEUTRAL`` settings. A skipped unit first
checks its cache (every shard present with its recorded size, and its sha256 when ``harvest.verify_shards``); a
damaged one is repaired by harvesting the missing or corrupt shards again. Reference: docs/harvest.md.
"""

from __future__ import annotations

from llmdiff_eval.config import RunConfig, result_settings
from llmdiff_eval.distributed import harvest_one
from llmdiff_eval.errors import CacheError
from llmdiff_eval.harvest import check_layer
from llmdiff_eval.harvest import harvest as harvest_models
from llmdiff_eval.models import check_device, model_shape
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.activations import ActivationCache
from llmdiff_eval.stages.base import Stage, Unit
from llmdiff_eval.utils import local_fingerprint, stable_hash

NAME = "harvest"


def unit_key(config: RunConfig, model: str) -> str:
    """Hash of everything model ``model``'s cache depends on, including the contents of local weights, adapters and
    corpus files (so that one replaced or edited in place makes the cache stale)."""
    spec = next(spec for spec in config.models if spec.name == model)
    contents = {"path": local_fingerprint(spec.path), "adapter": local_fingerprint(spec.adapter)}
    corpus = [local_fingerprint(source.path) for source in config.harvest.corpus.sources]
    return stable_hash(
        {
            "model": spec.to_dict(),
            "contents": contents,
            "corpus_contents": corpus,
            "harvest": result_settings(config.harvest),
        }
    )


def check(config: RunConfig) -> None:
    """Before anything is written: the device exists and every model has ``harvest.layer`` (read from its config,
    not its weights)."""
    check_device(config.harvest.device)
    for spec in config.models:
        n_layers, _ = model_shape(spec)
        check_layer(config.harvest.layer, n_layers, spec.name)


def _cache_problems(config: RunConfig, cache_dir) -> list[str]:
    try:
        return ActivationCache(cache_dir, require_complete=False).problems(full=config.harvest.verify_shards)
    except CacheError as error:
        return [str(error).split(";")[0]]


def run(config: RunConfig, run_dir: RunDir, model: str) -> None:
    """Harvest model ``model`` (every tokenizer of the run is checked against the base's first); a finished cache
    is verified and repaired, a partial one resumed, by this process alone or by rank under torchrun."""
    harvest_models(config.harvest, run_dir.root, config.models, harvest_one=harvest_one, only=model)


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    return [
        Unit(
            NAME,
            spec.name,
            unit_key(config, spec.name),
            lambda name=spec.name: run(config, run_dir, name),
            outputs=[run_dir.activations(spec.name)],
            verify=lambda name=spec.name: _cache_problems(config, run_dir.activations(name)),
            repair_in_place=True,
            manifest=False,
        )
        for spec in config.models
    ]


STAGE = Stage(NAME, units, all_ranks=True, summary="residual-stream activations of every model", check=check)
