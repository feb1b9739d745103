"""Train stage: one unit per base–fine-tune pair; trains ``crosscoders/<base>__<ft>/`` (SAE-Lens format).

Result-changing settings: both models' harvest keys and ``crosscoder`` minus its ``RESULT_NEUTRAL`` settings. Under
torchrun every process trains together (:class:`llmdiff_eval.distributed.TorchDataParallel`); with
``crosscoder.stream_tokens`` the stage harvests on the fly instead of reading the caches. Reference: docs/train.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from llmdiff_eval.config import CrosscoderConfig, RunConfig, load_config, result_settings
from llmdiff_eval.crosscoder import train_crosscoder, training_device
from llmdiff_eval.distributed import StreamingSource, data_parallel
from llmdiff_eval.errors import CrosscoderError
from llmdiff_eval.models import check_device
from llmdiff_eval.rundir import INDEX_FILE, RunDir
from llmdiff_eval.stages import harvest
from llmdiff_eval.stages.base import Stage, Unit, pair_units
from llmdiff_eval.utils import stable_hash

NAME = "train"


def unit_key(config: RunConfig, base: str, ft: str, seed: int | None = None) -> str:
    return stable_hash(
        {
            "inputs": [harvest.unit_key(config, base), harvest.unit_key(config, ft)],
            "crosscoder": result_settings(config.crosscoder.for_seed(seed)),
        }
    )


def train_pair(
    cfg: CrosscoderConfig,
    run_dir: str | os.PathLike,
    base: str,
    ft: str,
    run_config: RunConfig | None = None,
    seed: int | None = None,
) -> Path:
    """Train (or resume) the crosscoder of pair (base, ft) of a run directory; returns its directory.

    Reads ``activations/<base>/`` and ``activations/<ft>/``; with ``cfg.stream_tokens`` it harvests on the fly
    instead, with the models and harvest settings of ``run_config`` (default: the run's ``config.yaml``). ``seed``:
    an extra seed of the ensemble (``crosscoders/<pair>@seed<k>/``, trained with that seed).
    """
    run_dir = RunDir(run_dir)
    cfg = cfg.for_seed(seed)
    out_dir = run_dir.crosscoder(base, ft, seed)
    parallel = data_parallel()  # several processes under torchrun, else None
    if cfg.stream_tokens is not None:
        run_config = run_config or _saved_config(run_dir)
        specs = {spec.name: spec for spec in run_config.models}
        missing = [name for name in (base, ft) if name not in specs]
        if missing:
            raise CrosscoderError(f"models {missing} are not in the run config (it has {sorted(specs)})")
        acts: Any = StreamingSource(
            run_config.harvest, specs[base], specs[ft], cfg, cfg.stream_tokens, parallel=parallel
        )
        metadata = {
            "pair": {"base": base, "ft": ft},
            "layer": run_config.harvest.layer,
            "model_specs": {"base": specs[base].to_dict(), "ft": specs[ft].to_dict()},
            "streaming": {"tokens_per_epoch": cfg.stream_tokens, "buffer_tokens": cfg.buffer_tokens},
        }
    else:
        acts = (run_dir.activations(base), run_dir.activations(ft))
        metadata = cache_facts(acts, base, ft)
    train_crosscoder(acts, cfg, out_dir=out_dir, resume=True, metadata=metadata, parallel=parallel)
    return out_dir


def _saved_config(run_dir: RunDir) -> RunConfig:
    if not run_dir.config.exists():
        raise CrosscoderError(
            f"crosscoder.stream_tokens is set but {run_dir.config} does not exist: streaming reads the models and "
            "harvest settings from the run config; run the stage with `llmdiff-eval train CONFIG.yaml` (or "
            "run_pipeline)"
        )
    return load_config(run_dir.config)


def cache_facts(caches: tuple[Path, Path], base: str, ft: str) -> dict[str, Any]:
    """Pair names, layer and model specs of two caches (recorded in ``cfg.json`` so a copied crosscoder can be
    checked against the models it is used with, e.g. by the lm-eval task)."""
    facts: dict[str, Any] = {"pair": {"base": base, "ft": ft}}
    paths = [cache / INDEX_FILE for cache in caches]
    if all(path.exists() for path in paths):
        indexes = [json.loads(path.read_text()) for path in paths]
        facts["layer"] = indexes[0]["layer"]
        facts["model_specs"] = {"base": indexes[0]["model"], "ft": indexes[1]["model"]}
    return facts


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    return pair_units(
        NAME,
        config,
        unit_key,
        lambda base, ft, seed: train_pair(config.crosscoder, run_dir.root, base, ft, config, seed),
        lambda base, ft, seed: [run_dir.crosscoder(base, ft, seed)],
    )


def check(config: RunConfig) -> None:
    check_device(training_device(config.crosscoder))


STAGE = Stage(
    NAME, units, all_ranks=True, summary="one BatchTopK crosscoder per base–fine-tune pair", check=check
)
