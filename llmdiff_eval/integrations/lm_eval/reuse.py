"""Harvesting the evaluated model through lm-eval's own copy of it, instead of loading a second one.

lm-eval hands a task no reference to the model it evaluates. The model is ``lm``, the first argument of
``lm_eval.evaluator.evaluate``, which is on the call stack whenever the task's metrics are aggregated: that is
where :func:`evaluating_lm` finds it. :func:`reusable_model` then decides whether that model is the one the task
would load (docs/lm-eval.md, "Memory"): it must be lm-eval's Hugging Face model (``--model hf``, ``HFLM``, also
behind ``--use_cache``) in one process, with no ``peft`` or ``delta`` (lm-eval runs a PEFT adapter unmerged, the
task merges it, so the activations would differ in rounding), built from the same ``pretrained`` and revision, and
in the task's dtype and device (``"auto"`` takes the model's). Otherwise the task loads its own copy, as before,
and says why in its provenance.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from llmdiff_eval.integrations.lm_eval.settings import MechdiffSettings


def evaluating_lm() -> Any | None:
    """The ``lm`` argument of the ``lm_eval.evaluator.evaluate`` call this function runs under (None outside one)."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "evaluate" and frame.f_globals.get("__name__") == "lm_eval.evaluator":
            return frame.f_locals.get("lm")
        frame = frame.f_back
    return None


@dataclasses.dataclass
class Reuse:
    """The outcome of :func:`reusable_model`: the model to harvest (None: load a copy), the settings to harvest it
    with (the task's, with an ``"auto"`` dtype or device replaced by the model's) and the reason, for provenance."""

    model: Any | None
    settings: MechdiffSettings
    note: str


def reusable_model(lm: Any | None, settings: MechdiffSettings) -> Reuse:
    """Whether lm-eval's ``lm`` holds the evaluated model of ``settings`` in a form the harvest can use as is."""
    from lm_eval.api.model import CachingLM
    from lm_eval.models.huggingface import HFLM
    from transformers import PreTrainedModel

    def declined(why: str) -> Reuse:
        return Reuse(None, settings, f"loaded a copy of the evaluated model: {why}")

    if not settings.reuse_model:
        return declined('--metadata "reuse_model" is false')
    while isinstance(lm, CachingLM):
        lm = lm.lm
    if not isinstance(lm, HFLM):
        return declined(f"lm-eval's model is {type(lm).__name__}, not its Hugging Face model (--model hf)")
    if lm.world_size != 1:
        return declined(f"lm-eval runs in {lm.world_size} processes")
    if lm.peft or lm.delta:
        return declined("lm-eval applies a peft adapter or delta weights, which the task merges differently")
    model = lm.model
    if not isinstance(model, PreTrainedModel):
        return declined(f"lm-eval's model is a {type(model).__name__}, not a transformers PreTrainedModel")
    spec = settings.model
    if (
        spec.adapter
        or str(lm.pretrained) != spec.path
        or (lm.revision or "main") != (spec.revision or "main")
    ):
        return declined(f"the task's evaluated model ({spec.path}) is not lm-eval's ({lm.pretrained})")
    parameter = next(model.parameters())
    dtype = str(parameter.dtype).removeprefix("torch.")
    if settings.dtype not in ("auto", dtype):
        return declined(f"lm-eval's copy is in {dtype}, the task's --metadata \"dtype\" is {settings.dtype}")
    from llmdiff_eval.models import is_on_device

    if settings.device != "auto" and not is_on_device(parameter.device, settings.device):
        return declined(
            f"lm-eval's copy is on {parameter.device}, the task's \"device\" is {settings.device}"
        )
    adopted = dataclasses.replace(settings, dtype=dtype, device=str(parameter.device))
    return Reuse(
        model,
        adopted,
        f"harvested through lm-eval's copy of the evaluated model ({dtype}, {parameter.device})",
    )
