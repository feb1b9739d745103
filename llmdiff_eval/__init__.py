"""llmdiff-eval: explain why one fine-tuned LLM beats another.

Stable API (imported lazily, so ``import llmdiff_eval`` does not pull in torch)::

    from llmdiff_eval import CrosscoderConfig, train_crosscoder, latent_table
    cfg = CrosscoderConfig(n_latents=4096, k=32, lr=1e-4, batch_size=1024, epochs=2, seed=0)
    cc = train_crosscoder(acts, cfg)   # acts: float tensor (N, 2, d); index 0 = base, 1 = fine-tune
    df = latent_table(cc, acts)        # one row per latent: delta_norm (1 = only in the fine-tune), cos_sim,
                                       # nu_eps, nu_r, freq, max_act, tag

Layers, bottom up (docs/architecture.md): ``config`` and ``rundir``; the domain libraries (``models``, ``corpus``,
``harvest``, ``crosscoder``, ``analyze``, ``annotate``, ``arena``, ``scorecard``, ``render``, ``reports``);
``distributed``; ``stages`` (the registry); ``pipeline`` runs them from a ``config.RunConfig``; ``cli``.
Reference: docs/python-api.md.
"""

from __future__ import annotations

import importlib
import importlib.resources
from typing import Any

__version__ = "0.1.0"

TASKS_DIR: str = str(importlib.resources.files("llmdiff_eval.tasks"))
"""Pass to ``lm_eval --include_path``: holds the ``mechdiff`` task (``tasks/mechdiff/mechdiff.yaml``)."""

_EXPORTS: dict[str, str] = {
    "CrosscoderConfig": "llmdiff_eval.config",
    "train_crosscoder": "llmdiff_eval.crosscoder",
    "load_crosscoder": "llmdiff_eval.crosscoder",
    "AnalyzeConfig": "llmdiff_eval.config",
    "latent_table": "llmdiff_eval.analyze",
    "HarvestConfig": "llmdiff_eval.config",
    "ActivationCache": "llmdiff_eval.rundir.activations",
    "ModelSpec": "llmdiff_eval.config",
    "CorpusConfig": "llmdiff_eval.config",
    "CorpusSource": "llmdiff_eval.config",
    "RunConfig": "llmdiff_eval.config",
    "load_config": "llmdiff_eval.config",
    "run_pipeline": "llmdiff_eval.pipeline",
    "load_taxonomy": "llmdiff_eval.taxonomy",
    "fetch_arena": "llmdiff_eval.arena",
    "load_paired": "llmdiff_eval.rundir.activations",
    "load_model": "llmdiff_eval.models",
}

__all__ = ["__version__", "TASKS_DIR", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'llmdiff_eval' has no attribute {name!r}")
