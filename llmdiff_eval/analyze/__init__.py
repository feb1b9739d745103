"""Analyze: per-latent Δnorm, decoder cosine, latent scaling (ν^ε, ν^r), tags, max-activating examples and plots.

* ``latent_table.py`` — decoder geometry, the one-pass latent-scaling accumulation and the tag rules
  (:func:`latent_table`);
* ``examples.py`` — contexts per tagged latent (:func:`collect_examples`);
* ``logit_lens.py`` — the tokens each latent's decoder difference promotes and suppresses (:func:`logit_lens`);
* ``plots.py`` — the Δnorm histogram and the ν scatter;
* ``stability.py`` — how often a seed's model-specific latents reappear in the other seeds of an ensemble.

Orientation: model 0 is the base, 1 the fine-tune; Δnorm = 1 means "only in the fine-tune", 0 "only in the base".
The stage that runs this on a run directory is ``llmdiff_eval/stages/analyze.py``. Reference: docs/analyze.md,
docs/concepts.md.
"""

from __future__ import annotations

from llmdiff_eval.analyze.examples import TokenInfo, collect_examples
from llmdiff_eval.analyze.latent_table import (
    Activations,
    LatentSums,
    accumulate_latent_sums,
    assign_tags,
    decoder_difference_sq,
    decoder_geometry,
    delta_norm_cutoffs,
    energy_selection,
    iter_batches,
    latent_scaling_betas,
    latent_table,
)
from llmdiff_eval.analyze.logit_lens import LOGIT_LENS_COLUMNS, decoder_difference, logit_lens
from llmdiff_eval.analyze.plots import plot_delta_norm, plot_nu_scatter
from llmdiff_eval.analyze.stability import (
    STABILITY_COSINE,
    decoder_directions,
    seed_stability,
    selected_ids,
    shared_fraction,
)
from llmdiff_eval.config.analyze import PROBES, SELECTIONS, TAGS, AnalyzeConfig

__all__ = [
    "LOGIT_LENS_COLUMNS",
    "PROBES",
    "SELECTIONS",
    "STABILITY_COSINE",
    "TAGS",
    "Activations",
    "AnalyzeConfig",
    "LatentSums",
    "TokenInfo",
    "accumulate_latent_sums",
    "assign_tags",
    "collect_examples",
    "decoder_difference",
    "decoder_difference_sq",
    "decoder_directions",
    "decoder_geometry",
    "delta_norm_cutoffs",
    "energy_selection",
    "iter_batches",
    "latent_scaling_betas",
    "latent_table",
    "logit_lens",
    "plot_delta_norm",
    "plot_nu_scatter",
    "seed_stability",
    "shared_fraction",
    "selected_ids",
]
