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
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from llmdiff_eval.analyze import STABILITY_COSINE, seed_stability, selected_ids, shared_fraction
from llmdiff_eval.arena import (
    ArenaError,
    BattleFilter,
    fetch_arena,
    fit_arena,
    load_ratings,
    save_ratings,
)
from llmdiff_eval.causal.report import causal_block, read_causal
from llmdiff_eval.config import ConfigError, RunConfig, load_models_section, load_seeds
from llmdiff_eval.counts import LatentCounts, counts_from_annotations, pool_counts
from llmdiff_eval.crosscoder import load_crosscoder
from llmdiff_eval.errors import ScorecardError
from llmdiff_eval.lm_eval_results import BenchmarkResults, benchmark_rows, parse_results_option
from llmdiff_eval.render import render, render_html
from llmdiff_eval.render.modelcard import arena_ratings_for, model_card, validate_model_card
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.scorecard import (
    UNITS,
    build_scorecard,
    compare_arena_ratings,
    compare_shares,
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


@dataclass(frozen=True)
class CompareEntry:
    """One fine-tune in a due-diligence comparison: its ``label`` in the report (the model name, or
    ``<run directory name>/<model>`` when several run directories are compared), where it was diffed, and against
    which base (``base`` its run's base name, ``base_source`` where the base's weights come from)."""

    label: str
    run_dir: Path
    model: str
    base: str
    base_source: str

    @property
    def pair(self) -> str:
        return pair_name(self.base, self.model)


COMPARABILITY_SAME_BASE = (
    "All models are fine-tunes of one base, each diffed against it: shares are fractions of each model's own "
    "model-specific latents. Latent ids are not shared between pairs (one crosscoder per pair); --latents matches "
    "decoder directions instead."
)
COMPARABILITY_CROSS_BASE = (
    "The models are fine-tunes of different bases, each diffed against its own: what is compared is the share of "
    "each model's own model-specific latents per capability class, and the causal fraction of its own divergence "
    "from its base; both are relative to the model's base. Latent ids, decoder directions and delta-norm values "
    "live in different residual spaces and are not compared."
)


def compare_entries(run_dirs: Sequence[str | os.PathLike], models: Sequence[str] = ()) -> list[CompareEntry]:
    """The fine-tunes to compare: every fine-tune of every run directory, or those named in ``models`` (labels, or
    plain model names when they are unambiguous across the runs), in the order given."""
    if not run_dirs:
        raise ScorecardError("compare needs at least one run directory")
    described = [(Path(run_dir), run_models(run_dir)) for run_dir in run_dirs]
    names = [run_dir.resolve().name for run_dir, _ in described]
    prefixes = [name if names.count(name) == 1 else f"{name}#{index + 1}" for index, name in enumerate(names)]
    everything = [
        CompareEntry(
            label=model if len(described) == 1 else f"{prefix}/{model}",
            run_dir=run_dir,
            model=model,
            base=run.base,
            base_source=run.base_source or run.base,
        )
        for prefix, (run_dir, run) in zip(prefixes, described, strict=True)
        for model in run.finetunes
    ]
    if not models:
        chosen = everything
    else:
        chosen = []
        for wanted in models:
            matches = [e for e in everything if wanted in (e.label, e.model)]
            exact = [e for e in matches if e.label == wanted]
            if not matches:
                raise ScorecardError(
                    f"{wanted!r} is not a fine-tune of the compared runs; choose from {[e.label for e in everything]}"
                )
            if len(matches) > 1 and not exact:
                raise ScorecardError(
                    f"{wanted!r} is a fine-tune of several compared runs; name one of {[e.label for e in matches]}"
                )
            chosen.append((exact or matches)[0])
    if len({e.label for e in chosen}) < 2:
        raise ScorecardError(f"compare needs at least two fine-tunes; got {[e.label for e in chosen]}")
    return chosen


def compare_from_runs(
    entries: Sequence[CompareEntry],
    arena: pd.DataFrame | None = None,
    arena_models: Mapping[str, str] | None = None,
    benchmarks: Sequence[BenchmarkResults] = (),
    taxonomy: str | Taxonomy = "paper",
    arena_note: str | None = None,
    latents: bool = False,
) -> dict[str, Any]:
    """Due-diligence report for N ≥ 2 fine-tunes (:func:`compare_entries`), of one base or of several: shares and
    ranks per class with intervals and the lead's significance, causal effects where measured, Arena and benchmark
    columns, and a plain-language summary per model.

    JSON shape: ``base`` (the common base name, or None), ``bases {label: base}``, ``same_base``, ``comparability``
    (what may be compared), ``models [labels]``, ``runs {label: {run_dir, model, base, base_source}}``,
    ``totals {label: n}``, ``classes [{name, counts, shares, share_ci, ranks, leaders, lead_p_value, lead_q_value,
    lead_significant, causal {label: {kl_removed, causal}}}]``, ``categories`` (same, by code), ``summary {label:
    text}``, ``shared_directions`` (with ``latents``; see :func:`shared_directions`), ``arena [{category, ratings,
    ratings_style}]``, ``arena_models {label: LMArena name}``, ``benchmarks``, ``provenance``.

    ``latents=True`` adds latent-level matching, which only fine-tunes of one base allow: across bases it raises
    :class:`ScorecardError`.
    """
    taxonomy = load_taxonomy(taxonomy)
    labels = [entry.label for entry in entries]
    same_base = len({entry.base_source for entry in entries}) == 1
    if latents and not same_base:
        bases = sorted({entry.base_source for entry in entries})
        raise ScorecardError(
            f"latent-level comparison (--latents) needs fine-tunes of one base, but these have {len(bases)}: {bases}. "
            "Crosscoders of different bases live in different residual spaces, so their latents and decoder "
            "directions cannot be matched; compare the per-class shares (the report without --latents) instead."
        )
    loaded = {
        entry.label: load_counts(entry.run_dir, run_models(entry.run_dir), entry.model, taxonomy)
        for entry in entries
    }
    counts = {label: value[0] for label, value in loaded.items()}
    provenance: dict[str, Any] = {"taxonomy": taxonomy.name}
    provenance.update({label: value[1] for label, value in loaded.items()})
    arena_rows: list[dict[str, Any]] = []
    arena_models = {m: n for m, n in (arena_models or {}).items() if m in labels}
    if arena is not None and arena_models:
        arena_rows = compare_arena_ratings(arena, arena_models)
        provenance["arena"] = dict(arena.attrs.get("provenance", {}))
    if arena_note:
        provenance["arena_note"] = arena_note
    if benchmarks:
        provenance["lm_eval_results"] = {result.label: result.path for result in benchmarks}
    provenance["created_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    shares = compare_shares(counts, taxonomy)
    _add_causal(shares["classes"], entries)
    return {
        "base": entries[0].base if same_base else None,
        "bases": {entry.label: entry.base for entry in entries},
        "same_base": same_base,
        "comparability": COMPARABILITY_SAME_BASE if same_base else COMPARABILITY_CROSS_BASE,
        "models": labels,
        "runs": {
            entry.label: {
                "run_dir": str(entry.run_dir),
                "model": entry.model,
                "base": entry.base,
                "base_source": entry.base_source,
            }
            for entry in entries
        },
        "totals": {label: c.total for label, c in counts.items()},
        **shares,
        "summary": compare_summary(shares["classes"], labels),
        "shared_directions": shared_directions(entries) if latents else None,
        "arena": arena_rows,
        "arena_models": arena_models,
        "benchmarks": benchmark_rows(benchmarks),
        "units": {
            "share": UNITS["share"],
            "rank": "1 = largest share among the compared models; ties share a rank",
            "kl_removed": "fraction of the model's KL divergence from its own base that ablating the class's "
            "latents removes (1 = all of it)",
        },
        "provenance": provenance,
    }


def _add_causal(classes: list[dict[str, Any]], entries: Sequence[CompareEntry]) -> None:
    """Give each class row ``causal {label: {kl_removed, causal}}`` for the models whose causal stage ran."""
    measured = {entry.label: read_causal(entry.run_dir, entry.pair) for entry in entries}
    for row in classes:
        row["causal"] = {}
        for label, data in measured.items():
            found = next(
                (
                    s
                    for s in (data or {}).get("sets", [])
                    if s["kind"] == "class" and s["class"] == row["name"]
                ),
                None,
            )
            if found is not None:
                row["causal"][label] = {"kl_removed": found.get("kl_removed"), "causal": found.get("causal")}


def compare_summary(classes: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> dict[str, str]:
    """One sentence per model: the classes it leads (largest share among the compared models), with its share, the
    runner-up's, and whether the lead is significant; or that it leads none."""
    summary = {}
    for label in labels:
        led = [row for row in classes if row["leaders"] == [label]]
        led.sort(key=lambda row: -(row["shares"][label] or 0.0))
        parts = []
        for row in led:
            others = [row["shares"][m] for m in labels if m != label and row["shares"][m] is not None]
            runner_up = max(others) if others else None
            sure = "significant" if row.get("lead_significant") else "not significant"
            against = f" vs {runner_up:.1f}% for the next" if runner_up is not None else ""
            q = row.get("lead_q_value")
            parts.append(
                f"{row['name']} ({row['shares'][label]:.1f}% of its model-specific latents{against}; "
                f"lead {sure}{f', q {q:.3g}' if q is not None else ''})"
            )
        shared = [row["name"] for row in classes if label in row["leaders"] and len(row["leaders"]) > 1]
        text = f"{label} leads on " + "; ".join(parts) if parts else f"{label} leads on no class alone"
        if shared:
            text += f"; ties for the lead on {', '.join(shared)}"
        summary[label] = text + "."
    return summary


def shared_directions(entries: Sequence[CompareEntry], threshold: float = STABILITY_COSINE) -> dict[str, Any]:
    """For fine-tunes of one base: per ordered pair (X, Y), the fraction of X's annotated model-specific latents
    whose decoder direction (base and fine-tune decoders concatenated, unit norm) has cosine ≥ ``threshold`` with
    one of Y's — do the two fine-tunes change the same things? Latent ids themselves are never compared."""
    decoders, selected = {}, {}
    for entry in entries:
        run = RunDir(entry.run_dir)
        decoders[entry.label] = load_crosscoder(run.crosscoder(entry.base, entry.model)).W_dec
        selected[entry.label] = [
            int(i) for i in pd.read_parquet(run.annotations(entry.pair), columns=[]).index
        ]
    pairs = [
        {
            "from": x,
            "to": y,
            "n_latents": len(selected[x]),
            "fraction": shared_fraction(decoders[x], selected[x], decoders[y], selected[y], threshold),
        }
        for x in decoders
        for y in decoders
        if x != y
    ]
    return {"threshold": threshold, "pairs": pairs}


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


def _fetch_arena(
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
        arena, error = _fetch_arena(run_dir, names, settings, arena_source, offline)
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


def run_compare(
    run_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    models: Sequence[str] = (),
    arena_names: Sequence[str] = (),
    arena_source: str | None = None,
    arena_note: str | None = None,
    offline: bool = False,
    lm_eval_results: Sequence[str] = (),
    taxonomy: str | Taxonomy = "paper",
    latents: bool = False,
) -> dict[str, Any]:
    """The due-diligence report of ``models`` (default: every fine-tune of every run) from one or several run
    directories, see :func:`compare_entries` and :func:`compare_from_runs`.

    ``arena_names``: one LMArena name per compared model, in their order (default: each run's
    ``scorecard.arena_models``). Ratings are fetched (or fitted) with the first run's ``scorecard`` settings and
    Arena cache. An Arena failure is recorded as ``provenance.arena_error``.
    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    entries = compare_entries(run_dirs, models)
    labels = [entry.label for entry in entries]
    if arena_names and len(arena_names) != len(labels):
        raise ScorecardError(
            f"give one LMArena name per model ({len(labels)}: {labels}) with --arena-models; got {list(arena_names)}"
        )
    settings = {Path(run_dir): run_models(run_dir).scorecard for run_dir in run_dirs}
    if arena_names:
        mapping = dict(zip(labels, arena_names, strict=True))
    else:
        configured = {
            entry.label: (settings[entry.run_dir].get("arena_models") or {}).get(entry.model)
            for entry in entries
        }
        mapping = {label: name for label, name in configured.items() if name}
    first = settings[Path(run_dirs[0])]
    arena = error = None
    if mapping:
        arena, error = _fetch_arena(run_dirs[0], list(mapping.values()), first, arena_source, offline)
    report = compare_from_runs(
        entries,
        arena=arena,
        arena_models=mapping if arena is not None else None,
        benchmarks=parse_results_option(lm_eval_results),
        taxonomy=taxonomy,
        arena_note=arena_note or first.get("arena_note"),
        latents=latents,
    )
    if error:
        report["provenance"]["arena_error"] = error
    return report


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
        arena, error = _fetch_arena(run_dir, [arena_name], settings, arena_source, offline)
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
