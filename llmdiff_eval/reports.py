"""Reports of a run directory: the scorecard of two fine-tunes, the model card of one, the due-diligence comparison
of several, from one run directory or several (fine-tunes of different bases). The library behind ``llmdiff-eval scorecard / card / compare`` and the scorecard stage.

Each function reads the run's annotation and latent tables (``llmdiff_eval/rundir/``), resolves which fine-tunes
and which LMArena names to use — explicit arguments first, then the run config's ``scorecard`` section, then the
fine-tunes in config order — fetches Arena ratings — or fits them from battles when the config names ``scorecard.arena_battles`` — (a failure
leaves the Arena block empty and is recorded in the provenance, never stops the report), and computes with the pure
functions of ``llmdiff_eval/scorecard.py``.
Reference: docs/scorecard.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from llmdiff_eval.analyze import seed_stability, selected_ids
from llmdiff_eval.arena import (
    ArenaError,
    BattleFilter,
    fetch_arena,
    fit_arena,
    load_ratings,
    save_ratings,
)
from llmdiff_eval.causal.report import causal_block
from llmdiff_eval.config import ConfigError, RunConfig, load_models_section, load_seeds
from llmdiff_eval.counts import LatentCounts, counts_from_annotations, pool_counts
from llmdiff_eval.crosscoder import load_crosscoder
from llmdiff_eval.errors import ScorecardError
from llmdiff_eval.lm_eval_results import BenchmarkResults, benchmark_rows, parse_results_option
from llmdiff_eval.render import render, render_html
from llmdiff_eval.render.modelcard import arena_ratings_for, model_card, validate_model_card
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.scorecard import (
    build_scorecard,
    load_arena_map,
)
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import atomic_write_text, local_fingerprint, pair_name, stable_hash


@dataclass(frozen=True)
class RunModels:
    """Model names of a run: the base and its fine-tunes (config order), plus the scorecard settings.

    ``hub_ids`` maps a model name to its Hugging Face repo id when its config ``path`` is one (not a local path,
    not a packaged model, no adapter on top) — used for model-card metadata.
    """

    base: str
    finetunes: list[str]
    scorecard: dict[str, Any] = field(default_factory=dict)
    hub_ids: dict[str, str] = field(default_factory=dict)
    seeds: list[int] | None = None
    """``crosscoder.seeds`` of the config (a seed ensemble; the first is the primary crosscoder), else None."""
    has_config: bool = False
    base_source: str | None = None
    """Where the base's weights come from (``path``, ``@revision``, ``:gguf_file``); None without a config."""

    def extra_seeds(self, run: RunDir, pair: str) -> list[int]:
        """The pair's extra crosscoder seeds: from the config, else the ``<pair>@seed<k>`` annotation files."""
        if self.has_config:
            return list(self.seeds[1:]) if self.seeds else []
        return list(run.seed_replicas(pair))


def run_models(run_dir: str | os.PathLike) -> RunModels:
    """Names of the base and fine-tunes: from ``config.yaml`` if present, else from ``annotations/*.parquet``."""
    run = RunDir(run_dir)
    if run.config.is_file():
        try:
            base, finetunes, scorecard = load_models_section(run.config)
            seeds = load_seeds(run.config)
        except ConfigError as error:
            raise ScorecardError(str(error)) from error
        return RunModels(
            base=base.name,
            finetunes=[spec.name for spec in finetunes],
            scorecard=dataclasses.asdict(scorecard),
            hub_ids={spec.name: spec.hub_id for spec in (base, *finetunes) if spec.hub_id},
            seeds=seeds,
            has_config=True,
            base_source=base.path
            + (f"@{base.revision}" if base.revision else "")
            + (f":{base.gguf_file}" if base.gguf_file else ""),
        )
    pairs = run.annotated_pairs()
    if not pairs:
        raise ScorecardError(
            f"{run.root} has no config.yaml and no annotations/*.parquet; run `llmdiff-eval annotate` first"
        )
    split = [pair.split("__") for pair in pairs]
    bases = {parts[0] for parts in split if len(parts) == 2}
    if len(bases) != 1 or any(len(parts) != 2 for parts in split):
        raise ScorecardError(
            f"cannot tell the base model from annotation files {pairs} (expected <base>__<ft>.parquet "
            "with one base); add a config.yaml"
        )
    return RunModels(base=bases.pop(), finetunes=[parts[1] for parts in split])


def load_counts(
    run_dir: str | os.PathLike,
    models: RunModels,
    finetune: str,
    taxonomy: Taxonomy,
    explained_margin: float | None = None,
) -> tuple[LatentCounts, dict]:
    """Counts of ``finetune``'s annotated model-specific latents (vs ``models.base``), and provenance (files,
    ft_only count); see :func:`~llmdiff_eval.scorecard.counts_from_annotations` for ``explained_margin``.

    With a seed ensemble (:meth:`RunModels.extra_seeds`), the counts of every seed are pooled
    (:func:`~llmdiff_eval.scorecard.pool_counts`) and the provenance lists each seed's."""
    run = RunDir(run_dir)
    base = models.base
    pair = pair_name(base, finetune)
    replicas = [pair_name(base, finetune, seed) for seed in models.extra_seeds(run, pair)]
    loaded = [_replica_counts(run, name, taxonomy, explained_margin) for name in (pair, *replicas)]
    if len(loaded) == 1:
        return loaded[0]
    info = {
        **loaded[0][1],
        "seed_replicas": {name: info for name, (_, info) in zip(replicas, loaded[1:], strict=True)},
    }
    return pool_counts([counts for counts, _ in loaded]), info


def _replica_counts(
    run: RunDir, pair: str, taxonomy: Taxonomy, explained_margin: float | None
) -> tuple[LatentCounts, dict]:
    path = run.annotations(pair)
    if not path.is_file():
        raise ScorecardError(
            f"{path} not found; run `llmdiff-eval annotate {run.root}` for pair {pair} first"
        )
    annotations = pd.read_parquet(path)
    failed = (annotations.attrs.get("usage") or {}).get("failed", 0)
    if failed:
        raise ScorecardError(
            f"{path} was built while {failed} latent(s) failed annotation, which would count as uncategorized; "
            f"rerun `llmdiff-eval annotate {run.root}` to retry them"
        )
    info: dict[str, Any] = {"annotations": str(path)}
    latents_path = run.latents(pair)
    if latents_path.is_file():
        latents = pd.read_parquet(latents_path)
        info["ft_only_latents"] = int((latents["tag"] == "ft_only").sum())
        if "diff_energy" in latents.columns and "diff_energy" not in annotations.columns:
            annotations = annotations.join(latents["diff_energy"], how="left")
            total = float(latents["diff_energy"].sum())
            selected = float(annotations["diff_energy"].sum())
            info["diff_energy_covered"] = selected / total if total > 0 else None
    counts = counts_from_annotations(
        annotations, taxonomy, where=str(path), explained_margin=explained_margin
    )
    info["annotated"] = counts.total
    return counts, info


def ensemble_block(
    run_dir: str | os.PathLike, described: RunModels, sides: Mapping[str, str]
) -> dict[str, Any] | None:
    """For a seed ensemble: the seeds and, per side (``{"a": name, ...}``), how stable its model-specific latents
    are across them (:func:`~llmdiff_eval.analyze.seed_stability`); None for one crosscoder per pair."""
    run = RunDir(run_dir)
    base = described.base
    stability = {}
    extra: list[int] = []
    for side, model in sides.items():
        extra = described.extra_seeds(run, pair_name(base, model))
        if not extra:
            return None
        decoders, selected = [], []
        for seed in (None, *extra):
            decoders.append(load_crosscoder(run.crosscoder(base, model, seed)).W_dec)
            tags = pd.read_parquet(run.latents(pair_name(base, model, seed)), columns=["tag"])["tag"]
            selected.append(selected_ids(tags.to_numpy()))
        stability[side] = seed_stability(decoders, selected)
    return {
        "n_seeds": 1 + len(extra),
        "seeds": described.seeds,
        "extra_seeds": extra,
        "pooling": "counts summed over the seeds; diff_ci and p_value from the mean counts per seed; "
        "diff_seed_range = min and max of the per-seed diff",
        "stability": stability,
    }


def choose_pair(models: RunModels, a: str | None, b: str | None) -> tuple[str, str, str | None]:
    """Resolve A and B: explicit names, else ``scorecard.a/b`` from the config, else the first two fine-tunes.

    Returns ``(a, b, note)``; ``note`` says how they were chosen when not explicit.
    """
    note = None
    a = a or models.scorecard.get("a")
    b = b or models.scorecard.get("b")
    if not (a and b):
        remaining = [name for name in models.finetunes if name not in (a, b)]
        if len(remaining) + bool(a) + bool(b) < 2:
            raise ScorecardError(
                f"the scorecard compares two fine-tunes of one base; this run has {models.finetunes}"
            )
        a = a or remaining.pop(0)
        b = b or remaining.pop(0)
        note = f"a={a}, b={b} chosen by fine-tune order {models.finetunes}; pass --a/--b to choose"
    for name in (a, b):
        if name not in models.finetunes:
            raise ScorecardError(f"{name!r} is not a fine-tune of this run; fine-tunes: {models.finetunes}")
    if a == b:
        raise ScorecardError(f"--a and --b must differ (both {a!r})")
    return a, b, note


def scorecard_from_run(
    run_dir: str | os.PathLike,
    a: str | None = None,
    b: str | None = None,
    arena: pd.DataFrame | None = None,
    arena_models: tuple[str, str] | None = None,
    benchmarks: Sequence[BenchmarkResults] = (),
    taxonomy: str | Taxonomy = "paper",
    arena_map: str | os.PathLike = "arena_map",
    arena_note: str | None = None,
    explained_margin: float | None = None,
) -> dict[str, Any]:
    """Build the scorecard of fine-tunes ``a`` vs ``b`` from a run directory (see :func:`build_scorecard`)."""
    taxonomy = load_taxonomy(taxonomy)
    models = run_models(run_dir)
    a, b, note = choose_pair(models, a, b)
    counts_a, info_a = load_counts(run_dir, models, a, taxonomy, explained_margin)
    counts_b, info_b = load_counts(run_dir, models, b, taxonomy, explained_margin)
    provenance: dict[str, Any] = {"run_dir": str(run_dir), "a": info_a, "b": info_b}
    if note:
        provenance["pair_choice"] = note
    if arena_note:
        provenance["arena_note"] = arena_note
    if explained_margin is not None:
        provenance["explained_margin"] = explained_margin
    card = build_scorecard(
        counts_a,
        counts_b,
        taxonomy,
        {"base": models.base, "a": a, "b": b},
        arena=arena,
        arena_models=arena_models,
        arena_map=load_arena_map(arena_map, taxonomy),
        benchmarks=benchmarks,
        provenance=provenance,
        ensemble=ensemble_block(run_dir, models, {"a": a, "b": b}),
    )
    causal = causal_block(run_dir, models.base, a, b)
    if causal is not None:
        card["causal"] = causal
    return card


def fetch_run_arena(
    names: Sequence[str],
    source: str | None = None,
    date: str | None = None,
    offline: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame | None, str | None]:
    """LMArena ratings for ``names`` via :func:`llmdiff_eval.arena.fetch_arena`; ``(None, error)`` on failure.

    ``source`` None uses fetch_arena's default; ``offline`` and ``cache_dir`` (a run's ``arena/``) are passed
    through when set. A failure never stops the scorecard: the Arena block stays empty, the error goes into the
    provenance.
    """
    kwargs: dict[str, Any] = {"date": date}
    if source:
        kwargs["source"] = source
    if offline:
        kwargs["offline"] = True
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    try:
        return fetch_arena(list(names), **kwargs), None
    except ArenaError as error:
        return None, str(error)


def fit_run_arena(
    names: Sequence[str], battles: Mapping[str, Any], cache_dir: str | os.PathLike | None = None
) -> tuple[pd.DataFrame | None, str | None]:
    """LMArena ratings for ``names`` fitted from battles (``scorecard.arena_battles`` settings, see
    :class:`~llmdiff_eval.config.ArenaBattlesConfig`) via :func:`llmdiff_eval.arena.fit_arena`; ``(None, error)``
    on failure, like :func:`fetch_run_arena`.

    With ``cache_dir``, a fit of local battles is kept there as ``battles-<key>.csv`` (+ side files), the key
    hashing the files' fingerprint, the settings and the names, and reused while they are unchanged; battles
    named by a dataset id are fitted every time.
    """
    settings = dict(battles)
    source = str(settings["path"])
    fingerprint = local_fingerprint(source)
    cache = None
    if cache_dir is not None and fingerprint is not None:
        key = stable_hash({"fingerprint": fingerprint, "settings": settings, "models": list(names)})
        cache = Path(cache_dir) / f"battles-{key}.csv"
    try:
        if cache is not None and cache.is_file():
            return load_ratings(cache), None
        ratings = fit_arena(
            source,
            models=list(names),
            categories=settings["categories"],
            where=settings["where"],
            name=settings["name"],
            battle_filter=BattleFilter(settings["since"], settings["until"], settings["exclude_refusals"]),
            style_control=settings["style_control"],
            bootstrap_rounds=settings["bootstrap"],
            seed=settings["seed"],
        )
    except ArenaError as error:
        return None, str(error)
    if cache is not None:
        save_ratings(ratings, cache)
    return ratings, None


def fetch_arena_for_run(
    run_dir: str | os.PathLike,
    names: Sequence[str],
    settings: Mapping[str, Any],
    source: str | None,
    offline: bool,
) -> tuple[pd.DataFrame | None, str | None]:
    """:func:`fetch_run_arena` with the run's ``scorecard`` settings as defaults and its ``arena/`` cache; ratings
    fitted from battles (:func:`fit_run_arena`) when the settings name ``arena_battles`` and no ``source`` is
    passed."""
    if settings.get("arena_battles") and not source:
        return fit_run_arena(names, settings["arena_battles"], RunDir(run_dir).arena_cache)
    return fetch_run_arena(
        names,
        source or settings.get("arena_source"),
        settings.get("arena_date"),
        offline=offline,
        cache_dir=RunDir(run_dir).arena_cache,
    )


def run_scorecard(
    run_dir: str | os.PathLike,
    a: str | None = None,
    b: str | None = None,
    arena_names: Sequence[str] = (),
    arena_source: str | None = None,
    arena_note: str | None = None,
    offline: bool = False,
    lm_eval_results: Sequence[str] = (),
    taxonomy: str | Taxonomy = "paper",
    arena_map: str | os.PathLike = "arena_map",
    settings: Mapping[str, Any] | None = None,
    explained_margin: float | None = None,
) -> dict[str, Any]:
    """The scorecard of fine-tunes ``a`` vs ``b`` of a run directory, with Arena ratings and benchmarks.

    Each argument left empty falls back to the run's ``scorecard`` settings (``settings``, default: the run's
    ``config.yaml``): ``a``/``b`` (then the first two fine-tunes), ``arena_names`` (two LMArena names, for A and B;
    else ``arena_models[a]``, ``arena_models[b]``), ``arena_source``, ``arena_note``, ``lm_eval_results``
    (``[NAME=]FILE`` specs). An Arena failure leaves the Arena block empty and is recorded as
    ``provenance.arena_error``.
    """
    models = run_models(run_dir)
    settings = dict(models.scorecard if settings is None else settings)
    a, b, _ = choose_pair(models, a or settings.get("a"), b or settings.get("b"))
    names = list(arena_names)
    if names and len(names) != 2:
        raise ScorecardError(f"give two LMArena names, for A and B (--arena-models A,B); got {names}")
    configured = settings.get("arena_models") or {}
    if not names and a in configured and b in configured:
        names = [configured[a], configured[b]]
    arena = error = None
    if names:
        arena, error = fetch_arena_for_run(run_dir, names, settings, arena_source, offline)
    card = scorecard_from_run(
        run_dir,
        a,
        b,
        arena=arena,
        arena_models=tuple(names) if arena is not None else None,
        benchmarks=parse_results_option(lm_eval_results or settings.get("lm_eval_results") or []),
        taxonomy=taxonomy,
        arena_map=arena_map,
        arena_note=arena_note or settings.get("arena_note"),
        explained_margin=explained_margin
        if explained_margin is not None
        else settings.get("explained_margin"),
    )
    if error:
        card["provenance"]["arena_error"] = error
    return card


def run_model_card(
    run_dir: str | os.PathLike,
    model: str,
    out: str | os.PathLike | None = None,
    arena_name: str | None = None,
    arena_source: str | None = None,
    arena_note: str | None = None,
    offline: bool = False,
    lm_eval_results: Sequence[str] = (),
    taxonomy: str | Taxonomy = "paper",
    arena_own: bool | None = None,
) -> tuple[Path, str | None]:
    """Write the model card of fine-tune ``model`` (see :func:`write_model_card`); returns ``(path, arena error)``.

    ``arena_name`` defaults to the run's ``scorecard.arena_models[model]``; ``arena_own`` (None: the run's
    ``scorecard.arena_own``) says whether those are the model's own ratings (then they enter the model-index).
    """
    settings = run_models(run_dir).scorecard
    arena_name = arena_name or (settings.get("arena_models") or {}).get(model)
    arena = error = None
    if arena_name:
        arena, error = fetch_arena_for_run(run_dir, [arena_name], settings, arena_source, offline)
    path = write_model_card(
        run_dir,
        model,
        out=out,
        arena=arena,
        arena_model=arena_name if arena is not None else None,
        benchmarks=parse_results_option(lm_eval_results),
        taxonomy=taxonomy,
        arena_note=arena_note or settings.get("arena_note"),
        arena_own=arena_own,
    )
    return path, error


def write_scorecard(config: RunConfig | None, run_dir: str | os.PathLike) -> dict[str, Any]:
    """The scorecard stage's outputs: ``scorecard.json/.md/.csv``, ``report.html`` and ``model_card.md`` (of B).

    ``config`` is the run's :class:`~llmdiff_eval.config.RunConfig`, whose ``scorecard`` section is used; ``None``
    reads it from ``run_dir/config.yaml``.
    """
    run = RunDir(run_dir)
    settings = dataclasses.asdict(config.scorecard) if config is not None else None
    card = run_scorecard(run.root, settings=settings)
    for fmt, name in (("json", "scorecard.json"), ("md", "scorecard.md"), ("csv", "scorecard.csv")):
        atomic_write_text(run.output(name), render(card, fmt))
    atomic_write_text(run.output("report.html"), render_html(card, run_dir=run.root))
    write_model_card(run.root, card["models"]["b"], card=card, out=run.output("model_card.md"))
    return card


def write_model_card(
    run_dir: str | os.PathLike,
    model: str,
    card: Mapping[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    arena: pd.DataFrame | None = None,
    arena_model: str | None = None,
    benchmarks: Sequence[BenchmarkResults] = (),
    taxonomy: str | Taxonomy = "paper",
    arena_note: str | None = None,
    arena_own: bool | None = None,
) -> Path:
    """Build, validate and write (atomically) the model card of run model ``model``; returns the path.

    ``card`` (a scorecard dict) supplies the comparison with its ``a`` when its ``b`` is ``model``, its causal
    results for ``model`` (``card["causal"]``, when present), and — if no ``arena`` is passed — that model's Arena
    ratings from its ``arena`` block. ``arena_own``: the ratings are ``model``'s own LMArena ratings, so they enter
    the ``model-index``; None = as the run's ``scorecard.arena_own`` says (default: a stand-in, prose only).
    Default output: ``run_dir/model_card.md``.
    """
    run_dir = Path(run_dir)
    taxonomy = load_taxonomy(taxonomy)
    run = run_models(run_dir)
    if model not in run.finetunes:
        raise ScorecardError(f"{model!r} is not a fine-tune of this run; fine-tunes: {run.finetunes}")
    counts, _ = load_counts(run_dir, run, model, taxonomy)
    if arena_own is None:
        arena_own = model in (run.scorecard.get("arena_own") or [])
    side = next((key for key in ("b", "a") if card is not None and card["models"][key] == model), None)
    arena_rows: list[dict[str, Any]] = []
    arena_info: dict[str, Any] = {}
    if arena is not None and arena_model:
        arena_rows = arena_ratings_for(arena, arena_model)
        arena_info = {**arena.attrs.get("provenance", {}), "arena_model": arena_model, "note": arena_note}
    elif card is not None and card["arena"] and side is not None:
        arena_rows = [
            {
                "category": r["category"],
                "rating": r[f"rating_{side}"],
                "rating_style": r[f"rating_{side}_style"],
            }
            for r in card["arena"]
        ]
        arena_info = {
            **(card["provenance"].get("arena") or {}),
            "arena_model": card["models"][f"arena_{side}"],
            "note": card["provenance"].get("arena_note"),
        }
    rows = benchmark_rows(benchmarks)
    bench = [
        {"task": r["task"], "metric": r["metric"], "value": r["values"].get(model, _only(r["values"]))}
        for r in rows
    ]
    text = model_card(
        run.hub_ids.get(model, model),
        counts,
        taxonomy,
        run.base,
        base_model=run.hub_ids.get(run.base),
        arena_ratings=arena_rows,
        arena_info=arena_info,
        benchmarks=bench,
        comparison=card if card is not None and card["models"]["b"] == model else None,
        dataset_name=f"{run_dir.name} probe corpus",
        thresholds=_thresholds(run_dir, run.base, model),
        arena_own=arena_own,
        causal=_causal_side(card, side),
    )
    validate_model_card(text)
    out = Path(out) if out is not None else RunDir(run_dir).output("model_card.md")
    atomic_write_text(out, text)
    return out


def _causal_side(card: Mapping[str, Any] | None, side: str | None) -> dict[str, Any] | None:
    """One side (``"a"`` / ``"b"``) of the scorecard's causal block, as :func:`~llmdiff_eval.render.modelcard.
    model_card` takes it; None when the scorecard has no causal results for that side."""
    block = (card or {}).get("causal")
    if not block or side is None:
        return None
    rows, overall = block.get(side) or [], (block.get("model_specific") or {}).get(side)
    if not rows and not overall:
        return None
    return {"rows": rows, "model_specific": overall, "probe": (block.get("probe") or {}).get(side)}


def _only(values: Mapping[str, Any]) -> Any:
    """The single value of a one-file benchmark row (a results file not labelled with the model), else None."""
    return next(iter(values.values())) if len(values) == 1 else None


def _thresholds(run_dir: str | os.PathLike, base: str, model: str) -> dict[str, Any] | None:
    """The tag rules the analyze stage recorded in the pair's latent table (None when there is no table)."""
    path = RunDir(run_dir).latents(pair_name(base, model))
    return pd.read_parquet(path, columns=["tag"]).attrs.get("thresholds") if path.is_file() else None
