"""lm-eval results JSON files as benchmark rows of the scorecard and model card: which task and metric, each model's
value and its standard error, and the delta B − A. Reference: docs/scorecard.md ("Benchmarks").
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdiff_eval.errors import ScorecardError


@dataclass(frozen=True)
class BenchmarkResults:
    """One lm-eval results file: ``values[(task, metric)] = (value, stderr or None)``; ``label`` = whose results."""

    label: str
    path: str
    values: dict[tuple[str, str], tuple[float, float | None]]
    higher_is_better: dict[tuple[str, str], bool]


def load_lm_eval_results(path: str | os.PathLike, label: str | None = None) -> BenchmarkResults:
    """Read an lm-eval results JSON (``lm_eval ... --output_path`` / ``simple_evaluate`` output).

    Metric keys look like ``"acc,none"`` (metric, filter); ``"<m>_stderr,<filter>"`` is the standard error of
    ``<m>``. Metric names are kept as ``metric`` when the filter is ``none``, else ``metric,filter``. Non-numeric
    values (``"N/A"``, aliases) are skipped. Any task's metrics are read the same way, including the mechdiff
    task's per-class share metrics. ``label`` defaults to the file's model (``model_name`` or
    ``config.model_args`` ``pretrained=``), else the file name.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScorecardError(f"lm-eval results file {path} not found") from None
    except json.JSONDecodeError as error:
        raise ScorecardError(f"{path} is not JSON ({error}); pass the results_*.json lm-eval wrote") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results:
        raise ScorecardError(f"{path}: no 'results' mapping; is this an lm-eval results file?")
    values: dict[tuple[str, str], tuple[float, float | None]] = {}
    stderrs: dict[tuple[str, str], float] = {}
    for task, metrics in results.items():
        if not isinstance(metrics, dict):
            continue
        for key, value in metrics.items():
            if "," not in key or not _is_number(value):
                continue
            metric, filter_name = key.split(",", 1)
            if metric.endswith("_stderr"):
                stderrs[(task, _metric_name(metric[: -len("_stderr")], filter_name))] = float(value)
            else:
                values[(task, _metric_name(metric, filter_name))] = (float(value), None)
    for key, stderr in stderrs.items():
        if key in values:
            values[key] = (values[key][0], stderr)
    higher: dict[tuple[str, str], bool] = {}
    for task, flags in (data.get("higher_is_better") or {}).items():
        for metric, flag in (flags or {}).items():
            if isinstance(flag, bool):
                for t, name in values:
                    if t == task and name.split(",", 1)[0] == metric:
                        higher[(t, name)] = flag
    return BenchmarkResults(label or _results_model(data) or path.stem, str(path), values, higher)


def benchmark_rows(
    results: Sequence[BenchmarkResults], a: str | None = None, b: str | None = None
) -> list[dict]:
    """Align benchmark values of several result files by (task, metric).

    Each row: ``task, metric, values {label: value}, stderrs {label: stderr}``, ``value_a`` / ``value_b`` (the
    values of files labelled ``a`` / ``b``, else ``None``), ``delta = value_b − value_a`` (metric units; ``None``
    unless both exist) and ``higher_is_better`` (``None`` if no file says). Files whose label is neither ``a`` nor
    ``b`` (e.g. one mechdiff results file) still appear in ``values``.
    """
    labels = [result.label for result in results]
    if len(set(labels)) != len(labels):
        raise ScorecardError(
            f"two lm-eval results files have the same model label {labels}; name them NAME=FILE"
        )
    keys = list(dict.fromkeys(key for result in results for key in result.values))
    rows = []
    for task, metric in keys:
        values = {r.label: r.values[(task, metric)][0] for r in results if (task, metric) in r.values}
        stderrs = {r.label: r.values[(task, metric)][1] for r in results if (task, metric) in r.values}
        flags = {r.higher_is_better[(task, metric)] for r in results if (task, metric) in r.higher_is_better}
        value_a, value_b = values.get(a) if a else None, values.get(b) if b else None
        rows.append(
            {
                "task": task,
                "metric": metric,
                "value_a": value_a,
                "value_b": value_b,
                "delta": None if value_a is None or value_b is None else value_b - value_a,
                "higher_is_better": flags.pop() if len(flags) == 1 else None,
                "values": values,
                "stderrs": stderrs,
            }
        )
    return rows


def parse_results_option(specs: Iterable[str]) -> list[BenchmarkResults]:
    """``--lm-eval-results`` values: ``NAME=FILE`` (results of run model NAME) or ``FILE`` (label from the file)."""
    loaded = []
    for spec in specs:
        label, _, file_name = (
            spec.partition("=") if "=" in spec and not Path(spec).exists() else ("", "", spec)
        )
        loaded.append(load_lm_eval_results(file_name, label or None))
    return loaded


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metric_name(metric: str, filter_name: str) -> str:
    return metric if filter_name == "none" else f"{metric},{filter_name}"


def _results_model(data: Mapping[str, Any]) -> str | None:
    if isinstance(data.get("model_name"), str) and data["model_name"]:
        return data["model_name"]
    model_args = (data.get("config") or {}).get("model_args")
    if isinstance(model_args, str):
        for part in model_args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    if isinstance(model_args, dict) and model_args.get("pretrained"):
        return str(model_args["pretrained"])
    return None
