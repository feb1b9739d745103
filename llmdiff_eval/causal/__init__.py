"""Causal attribution: ablate a fine-tune's model-specific latents (or steer the base with them) at the crosscoder's
layer and measure how much of the fine-tune's divergence from the base they carry, against matched random latent
sets; generate with the intervention hooked in (``steer``).

* ``intervention.py`` — :class:`Intervention` (f from paired states, δ_S in raw units), :class:`LatentSet`;
* ``forward.py`` — forwards with block L's output edited: a hook, or only the blocks above L;
* ``sets.py`` — the latent sets of a pair (classes, categories, model-specific, ids) and matched controls;
* ``measure.py`` — KL removed / closed over probe tokens, with controls (:func:`measure_effects`);
* ``run.py`` — the stage's work on one pair of a run directory (:func:`causal_pair`);
* ``steer.py`` — greedy generation with the intervention (:func:`steer`, :func:`steer_run`);
* ``report.py`` — the scorecard's causal block from a run directory (:func:`causal_block`), no torch.

Names are imported lazily, so the report side (``causal_block``) does not load torch. Reference: docs/causal.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Intervention": "llmdiff_eval.causal.intervention",
    "LatentSet": "llmdiff_eval.causal.intervention",
    "decoder_difference": "llmdiff_eval.causal.intervention",
    "edited_layer_output": "llmdiff_eval.causal.forward",
    "logits_from_layer": "llmdiff_eval.causal.forward",
    "full_logits": "llmdiff_eval.causal.forward",
    "pair_sets": "llmdiff_eval.causal.sets",
    "resolve_selector": "llmdiff_eval.causal.sets",
    "matched_controls": "llmdiff_eval.causal.sets",
    "MODEL_SPECIFIC": "llmdiff_eval.causal.sets",
    "measure_effects": "llmdiff_eval.causal.measure",
    "probe_batches": "llmdiff_eval.causal.measure",
    "causal_pair": "llmdiff_eval.causal.run",
    "steer": "llmdiff_eval.causal.steer",
    "steer_run": "llmdiff_eval.causal.steer",
    "generate": "llmdiff_eval.causal.steer",
    "causal_block": "llmdiff_eval.causal.report",
    "read_causal": "llmdiff_eval.causal.report",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'llmdiff_eval.causal' has no attribute {name!r}")
