"""Causal stage: one unit per pair; ablates and steers each class's (and large category's) model-specific latents
against matched random controls and writes ``causal/<pair>.json``. Result-changing settings: the pair's annotate
key and ``causal`` minus its ``RESULT_NEUTRAL`` settings. Off in ``llmdiff-eval run`` unless ``causal.enabled``
(the demo turns it on); ``llmdiff-eval causal`` runs it. Reference: docs/causal.md.
"""

from __future__ import annotations

from llmdiff_eval.causal.run import causal_pair
from llmdiff_eval.config import RunConfig, result_settings
from llmdiff_eval.models import check_device, load_models, resolve_device
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.stages import annotate
from llmdiff_eval.stages.base import Stage, Unit, pair_units
from llmdiff_eval.utils import local_fingerprint, pair_name, stable_hash

NAME = "causal"


def unit_key(config: RunConfig, base: str, ft: str, seed: int | None = None) -> str:
    """The pair's annotate key (which covers the models, the harvest, the crosscoder and the latent selection), the
    causal settings and the contents of ``causal.corpus`` files."""
    probe = config.causal.corpus.sources if config.causal.corpus is not None else []
    return stable_hash(
        {
            "inputs": annotate.unit_key(config, base, ft),
            "causal": result_settings(config.causal),
            "probe_contents": [local_fingerprint(source.path) for source in probe],
        }
    )


class PairModels:
    """Gives each pair its two models: the base stays loaded from one pair to the next, the previous pair's
    fine-tune is released before the next one is loaded, so at most two models are resident (holding every
    fine-tune at once cost one more model's memory per fine-tune)."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.models: dict = {}

    def __call__(self, specs) -> dict:
        wanted = {spec.name for spec in specs}
        self.models = {name: model for name, model in self.models.items() if name in wanted}
        missing = [spec for spec in specs if spec.name not in self.models]
        if missing:
            device = resolve_device(self.config.causal.device)
            self.models |= load_models(missing, device, self.config.harvest.dtype)
        return dict(self.models)


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    if not config.causal.enabled:
        return []
    models = PairModels(config)
    return pair_units(  # the primary crosscoder of each pair only (not each seed of an ensemble)
        NAME,
        config,
        unit_key,
        lambda base, ft, seed: causal_pair(config, run_dir.root, base, ft, models=models),
        lambda base, ft, seed: [run_dir.causal(pair_name(base, ft))],
        with_seeds=False,
    )


def check(config: RunConfig) -> None:
    check_device(config.causal.device)


STAGE = Stage(
    NAME,
    units,
    summary="ablate and steer each class's latents against matched controls (KL removed / closed)",
    when_empty="off (causal.enabled is false; `llmdiff-eval causal` runs it)",
    check=check,
)
