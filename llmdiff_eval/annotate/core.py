"""Annotate latents: explain, categorize, score, cache. The library entry points of the annotate stage.

* :func:`annotate_latents`: any ``{latent_id: contexts}`` mapping -> DataFrame (one row per latent).
* :func:`annotate`: the stage function of a run directory (``latents/<pair>.parquet`` + ``examples.sqlite`` ->
  ``annotations/<pair>.parquet``, cache in ``annotations.sqlite``).
* :func:`plan_annotation`: what a run would cost before anything is sent (used by the CLI's estimate).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from llmdiff_eval.annotate.base import (
    AnnotationError,
    AnnotationIncompleteError,
    AnnotationResult,
    Annotator,
    Budget,
    BudgetExceededError,
    CategorizationError,
    Explanation,
    Judge,
    Usage,
)
from llmdiff_eval.annotate.cache import AnnotationCache, AnnotationKey, ScoreKey
from llmdiff_eval.annotate.scoring import DetectionSet, baseline_descriptions, detection_set, score_program
from llmdiff_eval.config.annotate import AnnotateConfig
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.examples import load_examples
from llmdiff_eval.rundir.latents import read_latent_table
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import atomic_path, pair_name, stable_hash

log = logging.getLogger(__name__)

COLUMNS = [
    "label", "description", "confidence", "confidence_reason", "patterns", "category", "category_name",
    "class_name", "annotator", "model_id", "prompt_version", "detection_score", "random_baseline_score", "judge",
    "n_shown", "n_heldout", "n_negative", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "requests", "cost_usd", "from_cache", "error",
]  # fmt: skip
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "requests",
    "cost_usd",
)


def resolve_annotator_kind(kind: str) -> str:
    """ "auto" -> "claude" when ANTHROPIC_API_KEY is set, else "offline"; other values are checked."""
    if kind not in {"auto", "claude", "offline"}:
        raise ValueError(f"annotator must be 'auto', 'claude' or 'offline', got {kind!r}")
    if kind == "auto":
        return "claude" if os.environ.get("ANTHROPIC_API_KEY") else "offline"
    return kind


def make_annotator(cfg: AnnotateConfig) -> Annotator:
    """The annotator ``cfg`` asks for (Claude needs ANTHROPIC_API_KEY)."""
    if resolve_annotator_kind(cfg.annotator) == "offline":
        from llmdiff_eval.annotate.offline import EmbeddingAnnotator

        return EmbeddingAnnotator()
    from llmdiff_eval.annotate.claude import ClaudeAnnotator

    return ClaudeAnnotator(
        model=cfg.model,
        base_url=cfg.base_url,
        max_concurrency=cfg.max_concurrency,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout,
        prices=cfg.prices,
        batch=cfg.batch,
    )


def annotator_identity(cfg: AnnotateConfig) -> dict[str, str]:
    """Which explainer and judge versions ``cfg``'s annotations come from, found without building an API client
    (``"auto"`` resolved as :func:`make_annotator` would). Part of the annotate stage's unit key, so that a new
    explainer or prompt version (or an API key appearing for ``"auto"``) re-annotates on a rerun instead of leaving
    the old labels in place; the annotation cache still serves every latent whose annotation did not change."""
    if resolve_annotator_kind(cfg.annotator) == "offline":
        from llmdiff_eval.annotate.offline import EmbeddingAnnotator, EmbeddingJudge

        explainer = EmbeddingAnnotator()  # cheap: the embedding model loads on first use
        return {
            "annotator": explainer.name,
            "version": explainer.prompt_version,
            "judge": EmbeddingJudge.prompt_version,
        }
    from llmdiff_eval.annotate.prompts import JUDGE_PROMPT_VERSION, PROMPT_VERSION

    return {"annotator": "claude", "version": PROMPT_VERSION, "judge": JUDGE_PROMPT_VERSION}


@dataclass
class LatentInput:
    """What one latent brings: contexts for the explainer (marked), held-out activating ones, negatives."""

    top: list[str]
    heldout: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


def normalize_examples(
    examples: Mapping[int, Any],
    heldout: Mapping[int, list[str]] | None = None,
    negatives: Mapping[int, list[str]] | list[str] | None = None,
) -> dict[int, LatentInput]:
    """Accept ``{latent_id: [contexts]}`` (plus optional ``heldout`` / ``negatives`` mappings, or one shared
    negatives list) or ``{latent_id: LatentExamples(top, heldout, negative)}`` from ``analyze.load_examples``.

    When a latent has held-out contexts but no negatives, the held-out contexts of the other latents are its
    negatives (texts on which *other* latents fire most), a fixed-seed sample.
    """
    inputs: dict[int, LatentInput] = {}
    for latent, value in examples.items():
        if hasattr(value, "top"):
            item = LatentInput(
                list(value.top), list(getattr(value, "heldout", [])), list(getattr(value, "negative", []))
            )
        elif isinstance(value, (list, tuple)) and all(isinstance(text, str) for text in value):
            item = LatentInput(list(value))
        else:
            raise TypeError(
                f"examples[{latent!r}] must be a list of context strings or an object with .top/.heldout/.negative, "
                f"got {type(value).__name__}"
            )
        if heldout is not None and latent in heldout:
            item.heldout = list(heldout[latent])
        if isinstance(negatives, list):
            item.negative = list(negatives)
        elif negatives is not None and latent in negatives:
            item.negative = list(negatives[latent])
        inputs[int(latent)] = item
    for latent, item in inputs.items():
        if item.heldout and not item.negative:
            pool = [text for other, o in sorted(inputs.items()) if other != latent for text in o.heldout]
            item.negative = random.Random(stable_hash(["negatives", latent])).sample(
                pool, min(len(pool), len(item.heldout))
            )
    return inputs


@dataclass
class AnnotationPlan:
    """Which latents a run must annotate (cache misses) and what that is expected to cost, before spending."""

    taxonomy: Taxonomy
    annotator: Annotator
    judge: Judge | None
    shown: dict[int, list[str]]
    keys: dict[int, AnnotationKey]
    cached: dict[int, tuple[AnnotationResult, Usage]]
    detection: dict[int, DetectionSet]
    estimate: Usage

    @property
    def n_latents(self) -> int:
        return len(self.shown)

    @property
    def n_to_annotate(self) -> int:
        return self.n_latents - len(self.cached)


def plan_annotation(
    inputs: dict[int, LatentInput],
    annotator: Annotator,
    taxonomy: Taxonomy,
    cache: AnnotationCache,
    judge: Judge | None,
    n_examples: int = 20,
    n_score: int = 10,
) -> AnnotationPlan:
    """Cache lookups and a cost estimate: uncached annotations, plus scoring (description and random baseline) for
    every latent whose description is not yet scored on its detection set."""
    shown: dict[int, list[str]] = {}
    keys: dict[int, AnnotationKey] = {}
    cached: dict[int, tuple[AnnotationResult, Usage]] = {}
    detection: dict[int, DetectionSet] = {}
    estimate = Usage()
    for latent, item in sorted(inputs.items()):
        contexts = item.top[:n_examples]
        shown[latent] = contexts
        keys[latent] = AnnotationKey(
            stable_hash(contexts),
            annotator.name,
            annotator.model_id,
            annotator.prompt_version,
            taxonomy.fingerprint,
        )
        hit = cache.get_annotation(keys[latent])
        if hit is not None:
            cached[latent] = hit
        elif contexts:
            estimate = estimate + annotator.estimate(contexts, taxonomy)
        if judge is not None:
            dataset = detection_set(item.heldout, item.negative, n_score, seed=["detection", latent])
            if dataset is not None:
                detection[latent] = dataset
                if (
                    hit is None
                    or cache.get_score(_score_key(judge, hit[0].explanation.description, dataset)) is None
                ):
                    typical = "x" * 400  # a typical description, in characters
                    one = judge.estimate(typical, dataset.contexts)
                    estimate = estimate + one + one  # the description and the random baseline
    return AnnotationPlan(taxonomy, annotator, judge, shown, keys, cached, detection, estimate)


def _score_key(judge: Judge, description: str, dataset: DetectionSet) -> ScoreKey:
    return ScoreKey(
        judge.name, judge.model_id, judge.prompt_version, stable_hash(description), dataset.fingerprint
    )


def _resolve_judge(judge: Judge | bool | None, annotator: Annotator) -> Judge | None:
    if judge is False:
        return None
    if judge is None or judge is True:
        return annotator.default_judge()
    return judge


def annotate_latents(
    examples: Mapping[int, Any],
    annotator: Annotator | None = None,
    taxonomy: str | os.PathLike | Taxonomy = "paper",
    cache_path: str | os.PathLike | None = None,
    judge: Judge | bool | None = None,
    heldout: Mapping[int, list[str]] | None = None,
    negatives: Mapping[int, list[str]] | list[str] | None = None,
    max_cost: float | None = None,
    n_examples: int = 20,
    n_score: int = 10,
    progress: bool = False,
    on_plan: Callable[[AnnotationPlan], None] | None = None,
) -> pd.DataFrame:
    """Label, describe, categorize and (when held-out contexts exist) detection-score each latent.

    ``examples``: ``{latent_id: [contexts with activating tokens marked <<like this>>]}`` (strongest first) or
    ``{latent_id: LatentExamples}``; see :func:`normalize_examples` for ``heldout`` / ``negatives``.
    ``annotator``: default offline unless ANTHROPIC_API_KEY is set. ``judge``: None = the annotator's default judge,
    False = no scoring. ``max_cost`` (US$): refuse before sending anything if the estimate exceeds it, and never
    start a request that could take the spend past it. ``on_plan`` sees the plan (cache hits, estimate) first.

    Returns a DataFrame indexed by ``latent_id`` with the columns in ``COLUMNS``; ``category`` is a taxonomy code
    or None (uncategorized or failed; ``error`` says why a latent failed). Tokens and ``cost_usd`` per row are what
    the latent's annotation and scoring cost when they were made (also for rows served from the cache);
    ``df.attrs["usage"]`` has the totals, what this call spent, and the cache hits.
    """
    taxonomy = load_taxonomy(taxonomy)
    if annotator is None:
        annotator = make_annotator(AnnotateConfig())
    judge = _resolve_judge(judge, annotator)
    inputs = normalize_examples(examples, heldout, negatives)
    cache = AnnotationCache(cache_path)
    try:
        plan = plan_annotation(inputs, annotator, taxonomy, cache, judge, n_examples, n_score)
        if on_plan is not None:
            on_plan(plan)
        if max_cost is not None and plan.estimate.cost_usd > max_cost:
            raise BudgetExceededError(
                f"estimated cost ${plan.estimate.cost_usd:.4f} for {plan.n_to_annotate} latent(s) exceeds the limit "
                f"${max_cost:.4f}; raise the limit, annotate fewer latents, or use batch mode (half price)"
            )
        return _execute(plan, cache, Budget(max_cost), progress)
    finally:
        cache.close()


def _progress_bar(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="latent", disable=not enabled or total == 0, leave=False)


def _execute(plan: AnnotationPlan, cache: AnnotationCache, budget: Budget, progress: bool) -> pd.DataFrame:
    annotator, judge, taxonomy = plan.annotator, plan.judge, plan.taxonomy
    results: dict[int, AnnotationResult] = {latent: hit[0] for latent, hit in plan.cached.items()}
    usage: dict[int, Usage] = {latent: hit[1] for latent, hit in plan.cached.items()}
    errors: dict[int, str] = {}
    partial: dict[int, Explanation] = {}  # explained, but categorization failed (shown, not cached)
    spent = Usage()

    programs = {}
    for latent, contexts in plan.shown.items():
        if latent in results:
            continue
        if not contexts:
            errors[latent] = "no activating contexts to explain"
            continue
        programs[latent] = annotator.program(contexts, taxonomy)

    with _progress_bar(len(programs), "annotate", progress) as bar:

        def annotation_done(latent: int, outcome: Any, used: Usage) -> None:
            nonlocal spent
            spent = spent + used
            usage[latent] = used
            if isinstance(outcome, AnnotationResult):
                results[latent] = outcome
                cache.put_annotation(plan.keys[latent], outcome, used)
            else:
                if isinstance(outcome, CategorizationError):
                    partial[latent] = outcome.explanation
                errors[latent] = _error_text(outcome)
                log.warning("latent %s: %s", latent, errors[latent])
            bar.update(1)

        annotator.runner.run(programs, annotation_done, budget)

    scores: dict[int, dict[str, float]] = {}
    if judge is not None and plan.detection:
        scores, score_spent = _score(plan, results, usage, cache, budget, progress, errors)
        spent = spent + score_spent

    no_contexts = {latent for latent, contexts in plan.shown.items() if not contexts}
    failed = sorted(latent for latent in errors if latent not in no_contexts)
    frame = _frame(plan, results, partial, usage, errors, scores)
    total = Usage(**{name: frame[name].sum() for name in _USAGE_FIELDS}) if len(frame) else Usage()
    frame.attrs.update(
        {
            "annotator": annotator.name,
            "model_id": annotator.model_id,
            "prompt_version": annotator.prompt_version,
            "judge": f"{judge.name}:{judge.model_id}" if judge else None,
            "taxonomy": taxonomy.name,
            "taxonomy_fingerprint": taxonomy.fingerprint,
            "usage": {
                "total": _plain(total),
                "this_run": _plain(spent),
                "cache_hits": len(plan.cached),
                "annotated_now": len(programs) - sum(latent in errors for latent in programs),
                "errors": len(errors),
                "failed": len(failed),
            },
            "failed_latents": failed,
        }
    )
    return frame


def _score(
    plan, results, usage, cache, budget, progress, errors
) -> tuple[dict[int, dict[str, float]], Usage]:
    """Detection scores of each annotated latent's description and of its random baseline."""
    judge = plan.judge
    annotated = {
        latent: (result.explanation.description, result.category)
        for latent, result in results.items()
        if latent in plan.detection
    }
    baselines = baseline_descriptions(annotated, plan.taxonomy)
    scores: dict[int, dict[str, float]] = {latent: {} for latent in annotated}
    programs, keys = {}, {}
    for latent, (description, _) in annotated.items():
        dataset = plan.detection[latent]
        for kind, text in (("detection", description), ("baseline", baselines[latent])):
            key = _score_key(judge, text, dataset)
            hit = cache.get_score(key)
            if hit is not None:
                scores[latent][kind] = hit[0]
                usage[latent] = usage[latent] + hit[1]
            else:
                keys[(latent, kind)] = key
                programs[(latent, kind)] = score_program(judge, text, dataset)
    spent = Usage()
    with _progress_bar(len(programs), "score", progress) as bar:

        def score_done(program_key: tuple[int, str], outcome: Any, used: Usage) -> None:
            nonlocal spent
            latent, kind = program_key
            spent = spent + used
            usage[latent] = usage[latent] + used
            if isinstance(outcome, float):
                scores[latent][kind] = outcome
                dataset = plan.detection[latent]
                cache.put_score(keys[program_key], outcome, dataset.n_active, dataset.n_negative, used)
            else:
                message = f"{kind} scoring failed: {_error_text(outcome)}"
                errors[latent] = f"{errors[latent]}; {message}" if latent in errors else message
                log.warning("latent %s: %s", latent, message)
            bar.update(1)

        judge.runner.run(programs, score_done, budget)
    return scores, spent


def _error_text(outcome: Any) -> str:
    if isinstance(outcome, BaseException):
        kind = "" if isinstance(outcome, AnnotationError) else f"{type(outcome).__name__}: "
        return f"{kind}{outcome}"
    return f"unexpected result {outcome!r}"


def _plain(usage: Usage) -> dict[str, Any]:
    return {
        key: (float(value) if key == "cost_usd" else int(value)) for key, value in usage.to_dict().items()
    }


def _frame(plan, results, partial, usage, errors, scores) -> pd.DataFrame:
    taxonomy, annotator, judge = plan.taxonomy, plan.annotator, plan.judge
    rows = []
    for latent in plan.shown:
        result = results.get(latent)
        explanation = result.explanation if result else partial.get(latent)
        category = result.category if result else None
        used = usage.get(latent, Usage())
        dataset = plan.detection.get(latent)
        rows.append(
            {
                "latent_id": latent,
                "label": explanation.label if explanation else None,
                "description": explanation.description if explanation else None,
                "confidence": explanation.confidence if explanation else None,
                "confidence_reason": explanation.confidence_reason if explanation else None,
                "patterns": "; ".join(explanation.patterns) if explanation else None,
                "category": category,
                "category_name": taxonomy.by_code(category).name if category else None,
                "class_name": taxonomy.class_of(category).name if category else None,
                "annotator": annotator.name,
                "model_id": annotator.model_id,
                "prompt_version": annotator.prompt_version,
                "detection_score": scores.get(latent, {}).get("detection", math.nan),
                "random_baseline_score": scores.get(latent, {}).get("baseline", math.nan),
                "judge": f"{judge.name}:{judge.model_id}" if judge and dataset else None,
                "n_shown": len(plan.shown[latent]),
                "n_heldout": dataset.n_active if dataset else 0,
                "n_negative": dataset.n_negative if dataset else 0,
                **{name: getattr(used, name) for name in _USAGE_FIELDS},
                "from_cache": latent in plan.cached,
                "error": errors.get(latent),
            }
        )
    frame = pd.DataFrame(rows, columns=["latent_id", *COLUMNS]).set_index("latent_id")
    for name in (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "requests",
        "n_shown",
    ):
        frame[name] = frame[name].astype("int64")
    for name in ("cost_usd", "detection_score", "random_baseline_score"):
        frame[name] = frame[name].astype("float64")
    frame["from_cache"] = frame["from_cache"].astype(bool)
    return frame


# --- the stage ------------------------------------------------------------------------------------------------


def load_pair_inputs(cfg: AnnotateConfig, run_dir: str | os.PathLike, pair: str) -> dict[int, Any]:
    """The latents of ``pair`` tagged as in ``cfg.tags`` with their examples from ``examples.sqlite``."""
    run = RunDir(run_dir)
    table = read_latent_table(run.latents(pair))
    ids = [int(latent) for latent in table.index[table["tag"].isin(cfg.tags)]]
    if not ids:
        return {}
    db = run.examples_db
    if not db.is_file():
        raise FileNotFoundError(f"{db} not found: run `llmdiff-eval analyze` first (it writes the examples)")
    examples = load_examples(db, pair, ids)
    missing = [latent for latent in ids if latent not in examples]
    if missing:
        log.warning(
            "%d tagged latent(s) of %s have no examples in %s: %s", len(missing), pair, db, missing[:10]
        )
    return {latent: examples[latent] for latent in ids if latent in examples}


def run_pairs(run_dir: str | os.PathLike, requested: Sequence[str] = ()) -> list[str]:
    """The pairs of a run directory to annotate: ``requested`` (checked against the latent tables, extra seeds of an
    ensemble included), else all of them."""
    run = RunDir(run_dir)
    available = run.analyzed_pairs(include_seeds=True)
    if not available:
        raise FileNotFoundError(f"no latent tables in {run.latents_root}: run `llmdiff-eval analyze` first")
    unknown = [pair for pair in requested if pair not in available]
    if unknown:
        raise ValueError(f"unknown pair(s) {unknown}; pairs in this run: {', '.join(available)}")
    return list(requested) or available


def check_estimates(plans: Mapping[str, AnnotationPlan], max_cost: float | None) -> None:
    """Refuse before sending anything when a pair's estimated cost exceeds ``max_cost`` (US$, per pair: the same
    limit ``annotate.max_cost`` sets for each pair of a pipeline run)."""
    if max_cost is None:
        return
    over = {pair: plan.estimate.cost_usd for pair, plan in plans.items() if plan.estimate.cost_usd > max_cost}
    if over:
        listed = ", ".join(f"{pair} ${cost:,.4f}" for pair, cost in over.items())
        raise BudgetExceededError(
            f"estimated cost exceeds --max-cost ${max_cost:,.4f} for {listed}; raise the limit, annotate fewer "
            "pairs/tags, or use --batch (half price)"
        )


def plan_pair(
    cfg: AnnotateConfig, run_dir: str | os.PathLike, pair: str, annotator: Annotator
) -> AnnotationPlan:
    """Cache hits and the cost estimate of annotating ``pair`` with ``cfg``; sends nothing."""
    inputs = normalize_examples(load_pair_inputs(cfg, run_dir, pair))
    judge = annotator.default_judge() if cfg.score else None
    with AnnotationCache(RunDir(run_dir).annotation_cache) as cache:
        return plan_annotation(
            inputs, annotator, load_taxonomy(cfg.taxonomy), cache, judge, cfg.n_examples, cfg.n_score
        )


def annotate_pair(
    cfg: AnnotateConfig,
    run_dir: str | os.PathLike,
    pair: str,
    annotator: Annotator | None = None,
    progress: bool = False,
    on_plan: Callable[[AnnotationPlan], None] | None = None,
) -> pd.DataFrame:
    """Annotate one pair of a run directory and write ``annotations/<pair>.parquet`` atomically."""
    run = RunDir(run_dir)
    inputs = load_pair_inputs(cfg, run_dir, pair)
    annotator = annotator or make_annotator(cfg)
    frame = annotate_latents(
        inputs,
        annotator,
        taxonomy=cfg.taxonomy,
        cache_path=run.annotation_cache,
        judge=None if cfg.score else False,
        max_cost=cfg.max_cost,
        n_examples=cfg.n_examples,
        n_score=cfg.n_score,
        progress=progress,
        on_plan=on_plan,
    )
    frame.attrs["pair"] = pair
    frame.attrs["config"] = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()
    }
    if not frame.attrs["usage"]["failed"]:  # a table built on failures would publish them as "uncategorized"
        with atomic_path(run.annotations(pair)) as tmp:
            frame.to_parquet(tmp)
    return frame


def annotate(
    cfg: AnnotateConfig,
    run_dir: str | os.PathLike,
    base: str,
    ft: str,
    progress: bool = False,
    seed: int | None = None,
) -> pd.DataFrame:
    """Stage function: annotate the model-specific latents of ``base`` vs ``ft`` in ``run_dir`` (``seed``: an
    extra crosscoder seed of the ensemble, pair ``<base>__<ft>@seed<k>``).

    Raises :class:`AnnotationIncompleteError` when some latents failed: their pair's table is then not written (a
    previous one is kept), the successes are in the cache, and the next run retries only the failed latents."""
    pair = pair_name(base, ft, seed)
    frame = annotate_pair(cfg, run_dir, pair, progress=progress)
    failed = frame.attrs["failed_latents"]
    if failed:
        reasons = "; ".join(f"latent {latent}: {frame.at[latent, 'error']}" for latent in failed[:3])
        raise AnnotationIncompleteError(
            f"{len(failed)} of {len(frame)} latents of {pair} failed ({reasons}{'; ...' if len(failed) > 3 else ''}); "
            f"annotations/{pair}.parquet was not written. The {len(frame) - len(failed)} finished ones are cached: "
            "rerun the same command to retry only the failed ones (see --timeout / --max-retries, or annotate.timeout "
            "and annotate.max_retries in the config)"
        )
    return frame
