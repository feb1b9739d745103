"""``fit_arena``: LMArena ratings recomputed from battles, for the public categories or your own slice, with and
without style control, with bootstrap intervals for each rating, each pairwise delta and each style coefficient.

The result has the columns of :func:`~llmdiff_eval.arena.fetch_arena` (``model, category, style_control, rating,
ci_lower, ci_upper, votes, date, source``; ``source`` = ``"battles"``, ``date`` = the newest battle's date) plus
:data:`STYLE_COLUMNS`, so the scorecard takes either table. ``attrs["pairwise"]`` holds the pairwise deltas
(:data:`PAIRWISE_COLUMNS`, column-oriented) and ``attrs["provenance"]`` the input, the filters, what was left out and
why, the method settings and the style coefficients with their intervals. The estimator and the bootstrap are
described in :mod:`llmdiff_eval.arena.bradley_terry` and docs/arena.md ("Ratings from battles").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from llmdiff_eval.arena.battles import (
    STYLE_FEATURES,
    BattleFilter,
    BattleTable,
    battles_from_frame,
    category_battles,
    filter_battles,
    load_battles,
    public_categories,
    style_differences,
    where_battles,
)
from llmdiff_eval.arena.bradley_terry import (
    DEFAULT_ANCHOR,
    DEFAULT_RIDGE,
    ELO_PER_LOGIT,
    BootstrapProblem,
    Comparisons,
    aggregate,
    bootstrap,
    disconnected_groups,
    fit_bradley_terry,
    standardize,
    to_elo,
)
from llmdiff_eval.arena.errors import (
    ArenaModelNotFound,
    BattleColumnMissing,
    BattleFilterError,
    BattleSelectionWarning,
    DisconnectedBattles,
    EmptyBattleSelection,
    ModelWithoutBattles,
)
from llmdiff_eval.arena.models import resolve_model
from llmdiff_eval.arena.records import make_frame
from llmdiff_eval.stats import LEVEL

FIT_SOURCE = "battles"
STYLE_COLUMNS: tuple[str, ...] = tuple(f"style_{feature}" for feature in STYLE_FEATURES)
"""Style coefficients of the row's fit, in Elo per standard deviation of the feature (style-controlled rows only;
positive: the answer with more of it is preferred)."""
PAIRWISE_COLUMNS: tuple[str, ...] = (
    "category",
    "model_a",
    "model_b",
    "delta",
    "delta_lower",
    "delta_upper",
    "delta_style",
    "delta_style_lower",
    "delta_style_upper",
    "style_share_pct",
    "style_share_lower",
    "style_share_upper",
)
"""One row per category and pair (A before B in the requested model order): ``delta = rating_b − rating_a`` (Elo)
without and with style control and their bootstrap percentile intervals (of the resampled differences, so they do
not depend on the anchor); ``style_share_pct = (delta − delta_style) / delta × 100`` and its interval from the same
resamples (NaN when the delta's interval contains 0: no gain to take a share of)."""


@dataclasses.dataclass(frozen=True)
class _Selection:
    """The battles of one category (public or the where expression) and how it was chosen."""

    label: str
    battles: pd.DataFrame
    definition: str


@dataclasses.dataclass(frozen=True)
class _CategoryFit:
    """One category's table rows, pairwise deltas, style coefficients and provenance entry."""

    rows: list[dict[str, Any]]
    pairwise: list[dict[str, Any]]
    coefficients: list[dict[str, Any]]
    provenance: dict[str, Any]


def fit_arena(
    battles: str | os.PathLike | BattleTable | pd.DataFrame,
    models: str | Sequence[str] | None = None,
    categories: str | Sequence[str] | None = None,
    where: str | None = None,
    name: str | None = None,
    battle_filter: BattleFilter | None = None,
    style_control: bool = False,
    bootstrap_rounds: int = 100,
    seed: int = 0,
    workers: int | None = None,
    anchor: tuple[str, float] | None = DEFAULT_ANCHOR,
    ridge: float = DEFAULT_RIDGE,
    split: str = "train",
    revision: str | None = None,
    strict: bool = False,
) -> pd.DataFrame:
    """Bradley–Terry Elo per model and category from LMArena battles (see the module docstring for the result).

    ``battles``: a path, a dataset id, a :class:`BattleTable` or a raw frame (:func:`load_battles`). ``models``:
    names (or comma-separated) whose rows and pairs are reported — every model is fitted; None: all, each category
    sorted by rating. ``categories``: public names, ``"all"`` (those the data can compute; others skipped and
    reported) or None (``overall``, or nothing besides ``where``). ``where``: a pandas expression over the battle
    columns (:mod:`llmdiff_eval.arena.battles`) defining one more category, called ``name`` (default: the
    expression). ``battle_filter``: date window, refusals, anonymity, applied before the categories.
    ``style_control``: also fit the style-controlled model (both use the battles with readable style metadata).
    ``bootstrap_rounds`` (0: no intervals), ``seed``, ``workers`` (None: all cores): the bootstrap.
    ``anchor``: (model, Elo) or None (mean 1000). ``ridge``: λ of the penalty.
    """
    table = _table(battles, split, revision, strict)
    if style_control and "conv_metadata" not in table.fields:
        raise BattleColumnMissing(
            "conv_metadata",
            "style control",
            ["model_a", "model_b", "winner", *sorted(table.fields)],
            hint="Run without style control (the 55k layout has no style metadata).",
        )
    battle_filter = battle_filter or BattleFilter()
    pool, excluded = filter_battles(table, battle_filter)
    where_text = f" after the filters {_described(battle_filter)}" if excluded else ""
    if pool.empty:
        raise EmptyBattleSelection(
            f"no battles are left{where_text} (of {len(table.frame)}); widen the date window or the filters"
        )
    requested = _split_names(models)
    matched = _match_models(requested, pool, f"{table.provenance['source']}{where_text}") if requested else {}
    selections, skipped = _selections(table, pool, categories, where, name)
    newest = pool["date"].dropna().max() if pool["date"].notna().any() else None
    rows: list[dict[str, Any]] = []
    pairwise: list[dict[str, Any]] = []
    coefficients: list[dict[str, Any]] = []
    fits: dict[str, Any] = {}
    reported = list(dict.fromkeys(matched.values()))
    for selection in selections:
        fit = _fit_selection(
            selection, reported, style_control, bootstrap_rounds, seed, workers, anchor, ridge
        )
        rows += [{**row, "date": newest} for row in fit.rows]
        pairwise += fit.pairwise
        coefficients += fit.coefficients
        fits[selection.label] = fit.provenance
    frame = make_frame(rows, FIT_SOURCE)
    for column in STYLE_COLUMNS:
        frame[column] = np.array([row.get(column, np.nan) for row in rows], dtype=float)
    frame.attrs["pairwise"] = {column: [record[column] for record in pairwise] for column in PAIRWISE_COLUMNS}
    frame.attrs["provenance"] = {
        "source": FIT_SOURCE,
        "url": table.provenance["source"],
        "revision": table.provenance.get("fingerprint") or table.provenance.get("revision"),
        "snapshot_date": newest,
        "battles": table.provenance,
        "filter": {
            **dataclasses.asdict(battle_filter),
            "anonymous_only_applied": battle_filter.anonymous_only and "anony" in table.fields,
        },
        "excluded_by_filter": excluded,
        "method": _method(style_control, bootstrap_rounds, seed, anchor, ridge),
        "models": matched,
        "categories": fits,
        "skipped_categories": skipped,
        "style_coefficients": coefficients,
        "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return frame


def _table(battles: Any, split: str, revision: str | None, strict: bool) -> BattleTable:
    if isinstance(battles, BattleTable):
        return battles
    if isinstance(battles, pd.DataFrame):
        return battles_from_frame(battles, strict=strict)
    return load_battles(battles, split=split, revision=revision, strict=strict)


def _split_names(models: str | Sequence[str] | None) -> list[str]:
    names = models.split(",") if isinstance(models, str) else list(models or [])
    return [name.strip() for name in names if name and name.strip()]


def _described(battle_filter: BattleFilter) -> str:
    settings = dataclasses.asdict(battle_filter)
    return "(" + ", ".join(f"{key}={value}" for key, value in settings.items() if value) + ")"


def _match_models(requested: list[str], pool: pd.DataFrame, where: str) -> dict[str, str]:
    """``{requested name: battle model name}`` (exact, case-insensitive, ``org/`` dropped, then aliases)."""
    available = sorted(set(pool["model_a"]) | set(pool["model_b"]))
    matched = {}
    for name in requested:
        try:
            matched[name] = resolve_model(name, available, where)
        except ArenaModelNotFound as error:
            raise ModelWithoutBattles(name, error.nearest, where) from error
    return matched


def _selections(
    table: BattleTable,
    pool: pd.DataFrame,
    categories: str | Sequence[str] | None,
    where: str | None,
    name: str | None,
) -> tuple[list[_Selection], dict[str, str]]:
    """The categories to fit, and (with ``"all"``) the public ones skipped and why."""
    every = _split_names(categories) == ["all"]
    wanted = [] if categories is None and where else public_categories(categories)
    selections, skipped = [], {}
    for category in wanted:
        try:
            battles = category_battles(pool, table.fields, category)
        except BattleColumnMissing as error:
            if not every:
                raise
            skipped[category] = f"the input has no {error.column!r} column"
            continue
        if battles.empty:
            message = f"category {category!r} selects no battles (of {len(pool)} after the filters)"
            if not every:
                raise EmptyBattleSelection(message + "; pick another category or widen the filters")
            skipped[category] = "no battles"
            continue
        selections.append(_Selection(category, battles, "public category"))
    if where:
        label = name or re.sub(r"\s+", " ", where.strip())
        if label in wanted:
            raise BattleFilterError(
                f"the where category's name {label!r} is also a public category being fitted; pass another --name"
            )
        battles = where_battles(pool, where)
        if battles.empty:
            raise EmptyBattleSelection(
                f"the where expression {where!r} selects no battles (of {len(pool)} after the filters)"
            )
        selections.append(_Selection(label, battles, f"where: {where}"))
    if skipped:
        warnings.warn(
            "categories skipped: " + "; ".join(f"{c} ({why})" for c, why in skipped.items()),
            BattleSelectionWarning,
            stacklevel=3,
        )
    if not selections:
        raise EmptyBattleSelection(f"no category has battles (skipped: {skipped})")
    return selections, skipped


def _method(
    style_control: bool, rounds: int, seed: int, anchor: tuple[str, float] | None, ridge: float
) -> dict[str, Any]:
    return {
        "model": "Bradley-Terry" + (" and contextual Bradley-Terry (style control)" if style_control else ""),
        "ties": "half a win for each side (tie and tie (bothbad))",
        "elo": f"1000 + 400/ln(10) x strength; anchor {anchor[0]} = {anchor[1]} when present"
        if anchor
        else "1000 + 400/ln(10) x strength, mean 1000",
        "ridge": ridge,
        "style_features": list(STYLE_FEATURES) if style_control else [],
        "style_normalization": "(a - b) / (a + b) per battle (0 when both are 0), then z-scored over the "
        "category's battles",
        "solver": "scipy.optimize.minimize(method='trust-exact'), analytic gradient and Hessian",
        "bootstrap_rounds": rounds,
        "seed": seed,
        "interval": f"{LEVEL:.0%} bootstrap percentile interval" if rounds else None,
    }


def _fit_selection(
    selection: _Selection,
    requested: list[str],
    style_control: bool,
    rounds: int,
    seed: int,
    workers: int | None,
    anchor: tuple[str, float] | None,
    ridge: float,
) -> _CategoryFit:
    """Fit one category: full-data fits, bootstrap, and its table rows, pairs, coefficients and provenance."""
    battles = selection.battles
    info: dict[str, Any] = {"definition": selection.definition, "battles_selected": len(battles)}
    raw_style = np.empty((len(battles), 0))
    if style_control:
        raw_style = style_differences(battles)
        usable = ~np.isnan(raw_style).any(axis=1)
        info["excluded_no_style_metadata"] = int((~usable).sum())
        if not usable.any():
            raise EmptyBattleSelection(
                f"no battle of {selection.label!r} has readable style metadata (conv_metadata); "
                "run without style control"
            )
        battles, raw_style = battles[usable].reset_index(drop=True), raw_style[usable]
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    index = {model: i for i, model in enumerate(models)}
    model_a = battles["model_a"].map(index).to_numpy()
    model_b = battles["model_b"].map(index).to_numpy()
    outcome = battles["outcome"].to_numpy(dtype=float)
    _check_connected(model_a, model_b, models, selection.label)
    groups, group_of_battle = aggregate(model_a, model_b, outcome, len(models))
    plain = fit_bradley_terry(groups, ridge)
    per_battle = Comparisons(model_a, model_b, outcome, np.ones(len(outcome)), len(models))
    style = None
    if style_control:
        features, mean, std = standardize(raw_style)
        per_battle = dataclasses.replace(per_battle, features=features)
        style = fit_bradley_terry(per_battle, ridge)
        info["style_feature_mean"] = dict(zip(STYLE_FEATURES, mean.tolist(), strict=True))
        info["style_feature_std"] = dict(zip(STYLE_FEATURES, std.tolist(), strict=True))
    draws = None
    if rounds > 0:
        problem = BootstrapProblem(per_battle, groups, group_of_battle, plain, style, ridge)
        draws = bootstrap(problem, rounds, seed, workers)
        info["disconnected_rounds"] = draws.disconnected_rounds
    info.update(battles=len(battles), models=len(models))
    votes = np.bincount(model_a, minlength=len(models)) + np.bincount(model_b, minlength=len(models))
    settings = [(False, plain.strengths, None if draws is None else draws.plain)]
    if style is not None:
        settings.append((True, style.strengths, None if draws is None else draws.style))
    ratings = {flag: _elo(point, sample, models, anchor) for flag, point, sample in settings}
    shown = _shown_models(requested, models, ratings[False].point, selection.label)
    info["models_without_battles"] = [model for model in requested if model not in index]
    rows = []
    coefficient_elo = (
        {} if style is None else dict(zip(STYLE_COLUMNS, style.coefficients * ELO_PER_LOGIT, strict=True))
    )
    for flag, setting in ratings.items():
        for model in shown:
            i = index[model]
            rows.append(
                {
                    "model": model,
                    "category": selection.label,
                    "style_control": flag,
                    "rating": setting.point[i],
                    "ci_lower": setting.lower[i],
                    "ci_upper": setting.upper[i],
                    "votes": int(votes[i]),
                    **(coefficient_elo if flag else {}),
                }
            )
    return _CategoryFit(
        rows,
        _pairs(selection.label, shown, index, ratings),
        _coefficients(selection.label, style, draws),
        info,
    )


def _check_connected(model_a: np.ndarray, model_b: np.ndarray, models: list[str], label: str) -> None:
    groups = disconnected_groups(model_a, model_b, len(models))
    if len(groups) > 1:
        described = "; ".join(
            "[" + ", ".join(models[i] for i in group[:5]) + (", ..." if len(group) > 5 else "") + "]"
            for group in sorted(groups, key=len)[:4]
        )
        raise DisconnectedBattles(
            f"in {label!r} the models form {len(groups)} groups that never met, directly or through other "
            f"models: {described}. Ratings across groups would not be comparable; narrow --models to one group "
            "or widen the filters."
        )


@dataclasses.dataclass(frozen=True)
class _Ratings:
    """One setting's Elo ratings per model: point, interval bounds (NaN without bootstrap), and the resampled
    ratings (rounds × models) when there was a bootstrap."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sample: np.ndarray | None


def _elo(
    point: np.ndarray, sample: np.ndarray | None, models: list[str], anchor: tuple[str, float] | None
) -> _Ratings:
    rating = to_elo(point, models, anchor)
    if sample is None:
        return _Ratings(rating, np.full_like(rating, np.nan), np.full_like(rating, np.nan), None)
    resampled = to_elo(sample, models, anchor)
    return _Ratings(rating, *_percentiles(resampled), resampled)


def _percentiles(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (1 − LEVEL)/2 and (1 + LEVEL)/2 quantiles over rounds (axis 0), ignoring NaN rounds."""
    tail = (1.0 - LEVEL) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, which is what we want
        bounds = np.nanquantile(sample, [tail, 1.0 - tail], axis=0)
    return bounds[0], bounds[1]


def _shown_models(requested: list[str], models: list[str], plain: np.ndarray, label: str) -> list[str]:
    if not requested:
        return [models[i] for i in np.argsort(-plain, kind="stable")]
    absent = [model for model in requested if model not in models]
    if absent:
        warnings.warn(
            f"{', '.join(absent)} {'has' if len(absent) == 1 else 'have'} no battles in {label!r}: no rating there",
            BattleSelectionWarning,
            stacklevel=4,
        )
    return [model for model in requested if model in models]


def _pairs(
    label: str, shown: list[str], index: dict[str, int], ratings: dict[bool, _Ratings]
) -> list[dict[str, Any]]:
    """Pairwise deltas (B − A, A first in ``shown`` order) with bootstrap intervals and the style share."""
    if len(shown) < 2:
        return []
    first, second = np.triu_indices(len(shown), k=1)
    a = np.array([index[shown[i]] for i in first])
    b = np.array([index[shown[j]] for j in second])
    nan = np.full(len(a), np.nan)
    columns: dict[str, np.ndarray] = {}
    samples: dict[bool, np.ndarray] = {}
    for flag, suffix in ((False, ""), (True, "_style")):
        setting = ratings.get(flag)
        columns[f"delta{suffix}"] = nan if setting is None else setting.point[b] - setting.point[a]
        columns[f"delta{suffix}_lower"] = columns[f"delta{suffix}_upper"] = nan
        if setting is not None and setting.sample is not None:
            samples[flag] = setting.sample[:, b] - setting.sample[:, a]
            columns[f"delta{suffix}_lower"], columns[f"delta{suffix}_upper"] = _percentiles(samples[flag])
    delta, delta_style = columns["delta"], columns["delta_style"]
    lower = upper = nan
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["style_share_pct"] = np.where(delta != 0, (delta - delta_style) / delta * 100.0, np.nan)
        if len(samples) == 2:
            lower, upper = _percentiles((samples[False] - samples[True]) / samples[False] * 100.0)
            crosses = ~((columns["delta_lower"] > 0) | (columns["delta_upper"] < 0))
            lower, upper = np.where(crosses, np.nan, lower), np.where(crosses, np.nan, upper)
    columns["style_share_lower"], columns["style_share_upper"] = lower, upper
    return [
        {
            "category": label,
            "model_a": shown[i],
            "model_b": shown[j],
            **{key: float(values[k]) for key, values in columns.items()},
        }
        for k, (i, j) in enumerate(zip(first, second, strict=True))
    ]


def _coefficients(label: str, style: Any, draws: Any) -> list[dict[str, Any]]:
    """Style coefficients in Elo per SD with their interval (JSON-safe: None instead of NaN)."""
    if style is None:
        return []
    point = style.coefficients * ELO_PER_LOGIT
    if draws is None:
        lower = upper = np.full(len(point), np.nan)
    else:
        lower, upper = _percentiles(draws.coefficients * ELO_PER_LOGIT)
    return [
        {
            "category": label,
            "feature": feature,
            "elo_per_sd": _finite(point[k]),
            "ci_lower": _finite(lower[k]),
            "ci_upper": _finite(upper[k]),
            "logit_per_sd": _finite(style.coefficients[k]),
        }
        for k, feature in enumerate(STYLE_FEATURES)
    ]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def pairwise_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """``attrs["pairwise"]`` of a :func:`fit_arena` result as a frame (empty for other tables)."""
    return pd.DataFrame(ratings.attrs.get("pairwise") or {column: [] for column in PAIRWISE_COLUMNS})


def style_coefficient_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """The style coefficients of a :func:`fit_arena` result (``category, feature, elo_per_sd, ci_lower, ci_upper,
    logit_per_sd``), from its provenance."""
    records = ratings.attrs.get("provenance", {}).get("style_coefficients") or []
    columns = ["category", "feature", "elo_per_sd", "ci_lower", "ci_upper", "logit_per_sd"]
    return pd.DataFrame(records, columns=columns)
