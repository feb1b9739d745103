"""The lm-evaluation-harness task ``mechdiff``: the mechanistic diff of the evaluated model against its base model,
reported as one more lm-eval task beside any benchmark.

Modules: ``settings.py`` (``--metadata`` → :class:`MechdiffSettings`, checked when lm-eval builds the task, before
any request; crosscoder checks), ``run.py`` (:func:`run_mechdiff`: the pipeline's own stages on the probe documents,
and the metrics), ``task.py`` (:class:`MechdiffTask`, built by ``tasks/mechdiff/mechdiff.yaml`` in :data:`TASKS_DIR`
through ``class: !function llmdiff_eval.integrations.lm_eval.task.MechdiffTask``). The diff runs once per
evaluation, at the first aggregation of a mechanistic metric, in a cached run directory whose models are ``base``
(:data:`BASE_NAME`) and ``model`` (:data:`MODEL_NAME`).

Reference: docs/lm-eval.md.
"""

from __future__ import annotations

from llmdiff_eval.integrations.lm_eval.run import (
    MechdiffResult,
    compute_metrics,
    firing_rates,
    probe_documents,
    run_mechdiff,
)
from llmdiff_eval.integrations.lm_eval.settings import (
    BASE_NAME,
    MODEL_NAME,
    PLAIN_CHAT_TEMPLATE,
    PROBE_CORPUS,
    RESULTS_FILE,
    TASK_YAML,
    TASKS_DIR,
    CrosscoderSource,
    MechdiffConfigError,
    MechdiffSettings,
    check_crosscoder,
    class_slug,
    metric_names,
    model_shape,
    resolve_crosscoder,
)
from llmdiff_eval.integrations.lm_eval.task import MechdiffTask

__all__ = [
    "BASE_NAME",
    "MODEL_NAME",
    "PLAIN_CHAT_TEMPLATE",
    "PROBE_CORPUS",
    "RESULTS_FILE",
    "TASKS_DIR",
    "TASK_YAML",
    "CrosscoderSource",
    "MechdiffConfigError",
    "MechdiffResult",
    "MechdiffSettings",
    "MechdiffTask",
    "check_crosscoder",
    "class_slug",
    "compute_metrics",
    "firing_rates",
    "metric_names",
    "model_shape",
    "probe_documents",
    "resolve_crosscoder",
    "run_mechdiff",
]
