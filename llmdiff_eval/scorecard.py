"""The combined scorecard: the latent category shares of two fine-tunes A and B of one base joined with LMArena Elo
and benchmark scores. Pure computation (counts and tables in, dicts out), shared by ``llmdiff_eval/reports.py`` (which
reads a run directory), ``llmdiff_eval/paper.py`` and the lm-eval task.

Orientation and units, here and in the JSON output: A is the reference (the paper's ``it``), B the challenger (the
paper's SimPO). ``share_a`` / ``share_b`` = ``count / total × 100`` of that model's model-specific latents, ``total``
including uncategorized ones; ``diff = share_b − share_a`` in percentage points; ``change_pct = diff / share_a × 100``,
``None`` (never ``inf``) when ``share_a`` is 0; ``delta = rating_b − rating_a`` in Elo; ``style_share_pct = (delta −
delta_style) / delta × 100``. Numbers are never rounded here, only by the renderers in ``llmdiff_eval/render/``.

Reference: docs/scorecard.md, docs/concepts.md.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from llmdiff_eval.arena import compare_arena, resolve_model
from llmdiff_eval.counts import (
    LatentCounts,
    compare_counts,
    share_pct,
    weighted_shares,
)
from llmdiff_eval.errors import ScorecardError
from llmdiff_eval.lm_eval_results import BenchmarkResults, benchmark_rows
from llmdiff_eval.stats import (
    ALPHA,
    LEVEL,
    bh_q_values,
    diff_interval,
    fisher_p,
    row_uncertainty,
    wilson_interval,
)
from llmdiff_eval.taxonomy import Taxonomy

ZERO_TOLERANCE = (
    1e-9  # |x| below this counts as exactly zero when an interval bound is compared with 0 (float noise)
)


# --------------------------------------------------------------------------------------------------------------
# Counting and shares
# --------------------------------------------------------------------------------------------------------------


def class_shares(
    counts_a: LatentCounts, counts_b: LatentCounts, taxonomy: Taxonomy, alpha: float = ALPHA
) -> list[dict[str, Any]]:
    """Per taxonomy class (taxonomy order): ``name`` + :data:`SHARE_COLUMNS` (paper Tables 2 and 5) + the
    uncertainty of ``diff`` (``diff_ci``, ``p_value``, ``q_value``, ``significant``: :mod:`llmdiff_eval.stats`)."""
    table = compare_counts(
        taxonomy.class_names, counts_a.classes, counts_b.classes, counts_a.total, counts_b.total
    )
    rows = [
        {"name": name, **_plain(row), **_row_extras(name, counts_a, counts_b, lambda c: c.classes)}
        for name, row in table.iterrows()
    ]
    return _uncertainty(rows, counts_a, counts_b, alpha)


def _uncertainty(
    rows: list[dict[str, Any]], counts_a: LatentCounts, counts_b: LatentCounts, alpha: float
) -> list[dict[str, Any]]:
    if counts_a.n_seeds != counts_b.n_seeds:
        raise ScorecardError(
            f"A pools {counts_a.n_seeds} crosscoder seed(s) and B {counts_b.n_seeds}; compare like with like "
            "(the same crosscoder.seeds for both pairs)"
        )
    return row_uncertainty(rows, counts_a.total, counts_b.total, alpha=alpha, n_seeds=counts_a.n_seeds)


def _row_extras(
    key: str,
    counts_a: LatentCounts,
    counts_b: LatentCounts,
    row_counts: Callable[[LatentCounts], Mapping[str, int]],
) -> dict[str, Any]:
    """Mean detection scores, activation-weighted shares and (for a seed ensemble) the per-seed diffs of a row."""
    weighted_a, weighted_b = weighted_shares(counts_a, key), weighted_shares(counts_b, key)
    extras: dict[str, Any] = {
        "mean_detection_a": counts_a.detection.get(key),
        "mean_detection_b": counts_b.detection.get(key),
        "weighted_share_a": weighted_a,
        "weighted_share_b": weighted_b,
        "weighted_diff": None if weighted_a is None or weighted_b is None else weighted_b - weighted_a,
    }
    if counts_a.per_seed and len(counts_a.per_seed) == len(counts_b.per_seed):
        diffs = []
        for seed_a, seed_b in zip(counts_a.per_seed, counts_b.per_seed, strict=True):
            share_a = share_pct(int(row_counts(seed_a).get(key, 0)), seed_a.total)
            share_b = share_pct(int(row_counts(seed_b).get(key, 0)), seed_b.total)
            diffs.append(None if share_a is None or share_b is None else share_b - share_a)
        known = [diff for diff in diffs if diff is not None]
        extras["diff_seeds"] = diffs
        extras["diff_seed_range"] = [min(known), max(known)] if known else None
    return extras


def category_shares(
    counts_a: LatentCounts,
    counts_b: LatentCounts,
    taxonomy: Taxonomy,
    codes: Sequence[str] | None = None,
    alpha: float = ALPHA,
) -> list[dict[str, Any]]:
    """Per category: ``code, name, class_name`` + :data:`SHARE_COLUMNS` (paper Table 4) + the uncertainty of
    ``diff`` as in :func:`class_shares` (q-values over the categories listed).

    ``codes`` defaults to every taxonomy category (taxonomy order); the paper passes only the ones it published.
    """
    codes = list(taxonomy.codes if codes is None else codes)
    table = compare_counts(codes, counts_a.categories, counts_b.categories, counts_a.total, counts_b.total)
    rows = []
    for code, row in table.iterrows():
        category = taxonomy.by_code(code)
        rows.append(
            {
                "code": code,
                "name": category.name,
                "class_name": category.class_name,
                **_plain(row),
                **_row_extras(code, counts_a, counts_b, lambda c: c.categories),
            }
        )
    return _uncertainty(rows, counts_a, counts_b, alpha)


# --------------------------------------------------------------------------------------------------------------
# Arena block
# --------------------------------------------------------------------------------------------------------------

ARENA_FIELDS: tuple[str, ...] = (
    "category",
    "rating_a",
    "rating_b",
    "delta",
    "rating_a_style",
    "rating_b_style",
    "delta_style",
    "style_diff",
    "style_share_pct",
    "delta_ci",
    "delta_style_ci",
    "delta_ci_method",
    "style_share_ci",
)


def style_share_pct(delta: float | None, delta_style: float | None) -> float | None:
    """Percent of B's raw Elo gain that style control removes: ``(delta − delta_style) / delta × 100``.

    ``None`` when either is missing or ``delta`` is 0. Overall in the paper: (20 − 15) / 20 × 100 = 25 %.
    """
    if delta is None or delta_style is None or delta == 0:
        return None
    return (delta - delta_style) / delta * 100.0


def style_share_interval(
    delta_ci: Sequence[float] | None, delta_style_ci: Sequence[float] | None
) -> list[float] | None:
    """Bounds of ``style_share_pct`` over every (delta, delta_style) in the two intervals (the extremes are at the
    corners); ``None`` when either is unknown or ``delta_ci`` contains 0. From two 95 % intervals the pair lies in
    the box with probability ≥ 90 % (Bonferroni), so this is a ≥ 90 % interval."""
    if delta_ci is None or delta_style_ci is None or delta_ci[0] <= 0 <= delta_ci[1]:
        return None
    shares = [style_share_pct(d, s) for d in delta_ci for s in delta_style_ci]
    return [min(shares), max(shares)]


def _interval(low: Any, high: Any) -> list[float] | None:
    low, high = _none_if_nan(low), _none_if_nan(high)
    return None if low is None or high is None else [low, high]


def arena_block(arena: pd.DataFrame, model_a: str, model_b: str) -> list[dict[str, Any]]:
    """Rows of :func:`llmdiff_eval.arena.compare_arena` (paper Tables 1 and 3) plus ``style_share_pct`` and the
    intervals: ``delta_ci`` / ``delta_style_ci`` ([low, high] Elo; ``delta_ci_method`` says how they were made, see
    ``compare_arena``) and ``style_share_ci`` (percent: the bootstrap's when the table comes from
    :func:`llmdiff_eval.arena.fit_arena`, else :func:`style_share_interval`).

    ``arena`` is a :func:`llmdiff_eval.arena.fetch_arena` or ``fit_arena`` table; ``model_a`` / ``model_b`` are
    LMArena names. Missing ratings and intervals are ``None``.
    """

    rows = []
    for record in compare_arena(arena, model_a, model_b).to_dict("records"):
        row = {key: _none_if_nan(value) for key, value in record.items()}
        row["style_share_pct"] = style_share_pct(row["delta"], row["delta_style"])
        row["delta_ci"] = _interval(record["delta_lower"], record["delta_upper"])
        row["delta_style_ci"] = _interval(record["delta_style_lower"], record["delta_style_upper"])
        row["delta_ci_method"] = row["delta_interval"]
        row["style_share_ci"] = _interval(record["style_share_lower"], record["style_share_upper"])
        if row["delta_ci_method"] != "bootstrap":
            row["style_share_ci"] = style_share_interval(row["delta_ci"], row["delta_style_ci"])
        rows.append({key: row.get(key) for key in ARENA_FIELDS})
    return rows


def style_summary(
    arena_rows: Sequence[Mapping[str, Any]], category: str = "overall"
) -> dict[str, Any] | None:
    """The share of the ``overall`` Elo gain that style explains (``None`` without an overall row)."""
    for row in arena_rows:
        if row["category"] == category:
            return {
                "category": category,
                "delta": row["delta"],
                "delta_style": row["delta_style"],
                "style_share_pct": row["style_share_pct"],
                "style_share_ci": row.get("style_share_ci"),
                "definition": "(delta - delta_style) / delta x 100: percent of B's raw Elo gain over A that "
                "disappears under LMArena style control",
            }
    return None


# --------------------------------------------------------------------------------------------------------------
# The join: Arena categories <-> taxonomy categories
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArenaMapping:
    """The taxonomy category codes one Arena category corresponds to, and why."""

    codes: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class ArenaMap:
    """``taxonomies/arena_map.yaml``: canonical Arena category -> :class:`ArenaMapping`, for one taxonomy."""

    taxonomy: str
    categories: dict[str, ArenaMapping]
    source: str = ""


def load_arena_map(
    name_or_path: str | os.PathLike = "arena_map", taxonomy: Taxonomy | None = None
) -> ArenaMap:
    """Load an Arena→taxonomy map (shipped ``arena_map`` or a YAML path) and check its codes against ``taxonomy``."""
    text_name = str(name_or_path)
    if text_name.endswith((".yaml", ".yml")) or os.sep in text_name:
        path = Path(name_or_path)
        if not path.is_file():
            raise ScorecardError(f"arena map {path} not found")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = importlib.resources.files("llmdiff_eval.taxonomies") / f"{text_name}.yaml"
        if not resource.is_file():
            raise ScorecardError(f"no shipped arena map {text_name!r}; pass a YAML path")
        text, source = resource.read_text(encoding="utf-8"), f"{text_name}.yaml"
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise ScorecardError(f"{source}: expected 'taxonomy:' and a 'categories:' mapping")
    mapping: dict[str, ArenaMapping] = {}
    for category, entry in data["categories"].items():
        entry = entry or {}
        codes = entry.get("codes") or []
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise ScorecardError(f"{source}: categories.{category}.codes must be a list of category codes")
        mapping[str(category)] = ArenaMapping(tuple(codes), " ".join(str(entry.get("note", "")).split()))
    arena_map = ArenaMap(taxonomy=str(data.get("taxonomy", "")), categories=mapping, source=source)
    if taxonomy is not None:
        validate_arena_map(arena_map, taxonomy)
    return arena_map


def validate_arena_map(arena_map: ArenaMap, taxonomy: Taxonomy) -> None:
    """Raise :class:`ScorecardError` if the map is for another taxonomy or names codes the taxonomy lacks."""
    if arena_map.taxonomy and arena_map.taxonomy != taxonomy.name:
        raise ScorecardError(
            f"{arena_map.source} maps to taxonomy {arena_map.taxonomy!r} but the latents use {taxonomy.name!r}; "
            "pass an arena map written for that taxonomy (--arena-map)"
        )
    known = set(taxonomy.codes)
    for category, entry in arena_map.categories.items():
        unknown = [code for code in entry.codes if code not in known]
        if unknown:
            raise ScorecardError(
                f"{arena_map.source}: {category} maps to {unknown}, not in taxonomy {taxonomy.name!r}"
            )


def agreement(
    arena_delta: float | None,
    delta_ci: Sequence[float] | None,
    latent_diff: float | None,
    latent_diff_ci: Sequence[float] | None,
) -> str:
    """``"agree"`` / ``"disagree"`` when the Arena delta's interval and the latent diff's interval both exclude 0
    and point the same / opposite way; ``"inconclusive"`` when either interval contains 0 or is unknown (e.g. the
    Arena source published no intervals); ``"missing"`` when either value is unknown."""
    if arena_delta is None or latent_diff is None or _is_nan(arena_delta) or _is_nan(latent_diff):
        return "missing"
    if delta_ci is None or latent_diff_ci is None:
        return "inconclusive"
    if _contains_zero(delta_ci) or _contains_zero(latent_diff_ci):
        return "inconclusive"
    return "agree" if (delta_ci[0] > 0) == (latent_diff_ci[0] > 0) else "disagree"


def _contains_zero(interval: Sequence[float]) -> bool:
    return interval[0] <= ZERO_TOLERANCE and interval[1] >= -ZERO_TOLERANCE


def join_arena(
    arena_rows: Sequence[Mapping[str, Any]],
    category_rows: Sequence[Mapping[str, Any]],
    arena_map: ArenaMap,
    totals: tuple[int, int] | None = None,
    n_seeds: int = 1,
) -> list[dict[str, Any]]:
    """Each Arena row beside the latent shift of the taxonomy categories it maps to.

    ``latent_diff`` (percentage points) = Σ share_b − Σ share_a over the mapped categories present in
    ``category_rows``; ``missing_codes`` lists mapped codes with no published/known counts (the paper lists only
    ten categories). ``latent_diff_ci`` is its Newcombe interval from the summed counts and the two models'
    ``totals`` (a latent is in one category, so the sum is one proportion; ``None`` without ``totals``); for a seed
    ensemble (``n_seeds`` > 1, counts and totals summed over the seeds) from the mean counts per seed.
    ``agree`` weighs ``delta`` and its ``delta_ci`` against ``latent_diff`` and its interval, ``agree_style`` the
    same for ``delta_style`` (see :func:`agreement`). Without Arena rows, one row per mapped Arena category with
    latent data is given (Arena fields ``None``) so the latent side is still shown.
    """
    by_code = {row["code"]: row for row in category_rows}
    if arena_rows:
        sources = [dict(row) for row in arena_rows]
    else:
        known = {
            code for code, row in by_code.items() if row["share_a"] is not None and row["share_b"] is not None
        }
        sources = [
            {"category": name, "delta": None, "delta_style": None}
            for name, entry in arena_map.categories.items()
            if known.intersection(entry.codes)
        ]
    joined = []
    for arena_row in sources:
        entry = arena_map.categories.get(arena_row["category"], ArenaMapping(()))
        present = [code for code in entry.codes if code in by_code]
        usable = [by_code[code] for code in present if by_code[code]["share_a"] is not None]
        usable = [row for row in usable if row["share_b"] is not None]
        share_a = sum(row["share_a"] for row in usable) if usable else None
        share_b = sum(row["share_b"] for row in usable) if usable else None
        latent_diff = None if share_a is None else share_b - share_a
        latent_ci = None
        if usable and totals is not None:
            counts = [sum(row[f"count_{side}"] for row in usable) for side in "ab"]
            latent_ci = diff_interval(
                *(value / n_seeds for value in (counts[0], totals[0], counts[1], totals[1]))
            )
        latent_ci = list(latent_ci) if latent_ci else None
        joined.append(
            {
                "arena_category": arena_row["category"],
                "delta": arena_row.get("delta"),
                "delta_style": arena_row.get("delta_style"),
                "delta_ci": arena_row.get("delta_ci"),
                "delta_style_ci": arena_row.get("delta_style_ci"),
                "codes": list(entry.codes),
                "category_names": [by_code[code]["name"] for code in present],
                "missing_codes": [code for code in entry.codes if code not in present],
                "share_a": share_a,
                "share_b": share_b,
                "latent_diff": latent_diff,
                "latent_diff_ci": latent_ci,
                "agree": agreement(arena_row.get("delta"), arena_row.get("delta_ci"), latent_diff, latent_ci),
                "agree_style": agreement(
                    arena_row.get("delta_style"), arena_row.get("delta_style_ci"), latent_diff, latent_ci
                ),
                "note": entry.note,
            }
        )
    return joined


# --------------------------------------------------------------------------------------------------------------
# Assembling the scorecard (the stable JSON shape)
# --------------------------------------------------------------------------------------------------------------


def build_scorecard(
    counts_a: LatentCounts,
    counts_b: LatentCounts,
    taxonomy: Taxonomy,
    models: Mapping[str, Any],
    arena: pd.DataFrame | None = None,
    arena_models: tuple[str, str] | None = None,
    arena_map: ArenaMap | None = None,
    benchmarks: Sequence[BenchmarkResults] = (),
    category_codes: Sequence[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    alpha: float = ALPHA,
    ensemble: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The scorecard as a JSON-ready dict (the issue's stable shape; numbers unrounded).

    ``models`` holds at least ``base``, ``a``, ``b`` (names); ``arena_models`` the LMArena names whose ratings fill
    the Arena columns (recorded as ``models["arena_a"]`` / ``["arena_b"]`` so renderers can label them).
    ``ensemble``: for a crosscoder seed ensemble, its seeds and their stability (``"ensemble"`` in the output; None
    for one crosscoder per pair).
    """
    classes = class_shares(counts_a, counts_b, taxonomy, alpha)
    categories = category_shares(counts_a, counts_b, taxonomy, category_codes, alpha)
    arena_rows: list[dict[str, Any]] = []
    models = dict(models)
    provenance = dict(provenance or {})
    if arena is not None and arena_models is not None:
        arena_rows = arena_block(arena, *arena_models)
        models["arena_a"], models["arena_b"] = arena_models
        provenance["arena"] = dict(arena.attrs.get("provenance", {}))
    arena_map = arena_map or load_arena_map(taxonomy=taxonomy)
    provenance.setdefault("arena_map", arena_map.source)
    provenance.setdefault("taxonomy", taxonomy.name)
    if benchmarks:
        provenance["lm_eval_results"] = {result.label: result.path for result in benchmarks}
    provenance.setdefault("created_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    return {
        "models": models,
        "totals": {
            "a": counts_a.total,
            "b": counts_b.total,
            "uncategorized_a": counts_a.uncategorized,
            "uncategorized_b": counts_b.uncategorized,
            "unexplained_a": counts_a.unexplained,
            "unexplained_b": counts_b.unexplained,
            "explained_a": counts_a.explained,
            "explained_b": counts_b.explained,
            "n_seeds": counts_a.n_seeds,
        },
        "classes": classes,
        "categories": categories,
        "significance": significance_summary(classes, categories, alpha),
        "ensemble": dict(ensemble) if ensemble else None,
        "arena": arena_rows,
        "style": style_summary(arena_rows),
        # per crosscoder: with a seed ensemble the counts are sums over the seeds (see row_uncertainty)
        "joined": join_arena(
            arena_rows,
            categories,
            arena_map,
            (counts_a.total, counts_b.total),
            n_seeds=counts_a.n_seeds,
        ),
        "benchmarks": benchmark_rows(benchmarks, models.get("a"), models.get("b")),
        "units": UNITS,
        "provenance": provenance,
    }


def significance_summary(
    classes: Sequence[Mapping[str, Any]], categories: Sequence[Mapping[str, Any]], alpha: float = ALPHA
) -> dict[str, Any]:
    """How many class and category rows differ significantly, and the methods behind ``diff_ci`` / ``q_value``."""
    return {
        "alpha": alpha,
        "level": LEVEL,
        "interval": "Newcombe hybrid score interval (method 10) for a difference of two proportions",
        "test": "Fisher exact test, two-sided, on count vs the rest of each model's total",
        "adjustment": "Benjamini-Hochberg over the rows of each table",
        "classes": {"significant": sum(bool(r["significant"]) for r in classes), "rows": len(classes)},
        "categories": {
            "significant": sum(bool(r["significant"]) for r in categories),
            "rows": len(categories),
        },
    }


UNITS = {
    "share": "percent of the model's model-specific latents (count / total x 100; total includes uncategorized); "
    "with a seed ensemble, counts and totals are summed over the seeds",
    "weighted_share": "percent of the difference energy (sum over tokens of f^2 * |d_ft - d_base|^2) of the "
    "model's model-specific latents carried by the row's latents; ensemble: mean over seeds",
    "weighted_diff": "weighted_share_b - weighted_share_a, percentage points",
    "explained": "latents whose detection score beats their random-label baseline (by more than explained_margin "
    "when set); null without scores",
    "diff_seed_range": "min and max over the crosscoder seeds of the per-seed diff, percentage points",
    "diff": "share_b - share_a, percentage points",
    "change_pct": "diff / share_a x 100; null when share_a is 0",
    "diff_ci": "95% confidence interval of diff, percentage points [low, high] (Newcombe hybrid score)",
    "p_value": "Fisher exact test of equal shares (two-sided)",
    "q_value": "Benjamini-Hochberg adjusted p-value over the rows of the same table; significant = q < alpha",
    "rating": "LMArena Elo",
    "delta": "rating_b - rating_a, Elo points; *_style: with style control; style_diff = delta_style - delta",
    "style_share_pct": "(delta - delta_style) / delta x 100; null when delta is 0",
    "delta_ci": "95% interval of delta (delta_style_ci: of delta_style), Elo [low, high]; delta_ci_method "
    "bootstrap: percentile interval of the resampled differences (ratings fitted from battles); combined: "
    "[lower_b - upper_a, upper_b - lower_a] from the two ratings' intervals (conservative); null: no interval",
    "style_share_ci": "interval of style_share_pct, percent: bootstrap (95%) or from the corners of delta_ci x "
    "delta_style_ci (>= 90%); null when delta_ci contains 0",
    "latent_diff": "sum of share_b - share_a over the taxonomy categories an Arena category maps to",
    "latent_diff_ci": "95% Newcombe interval of latent_diff from the summed counts, percentage points",
    "agree": "agree/disagree: the intervals of the Arena delta and of latent_diff both exclude 0 and point the "
    "same/opposite way; inconclusive: either interval contains 0 or is unknown; missing: a value is unknown",
}


def rank_desc(values: Mapping[str, float | None]) -> dict[str, int | None]:
    """Competition ranks, 1 = largest value; ties share the better rank (1, 1, 3); ``None`` values get ``None``."""
    known = [value for value in values.values() if value is not None]
    return {
        key: None if value is None else 1 + sum(other > value for other in known)
        for key, value in values.items()
    }


def compare_shares(
    counts: Mapping[str, LatentCounts], taxonomy: Taxonomy, alpha: float = ALPHA
) -> dict[str, list[dict[str, Any]]]:
    """Per class and per category, each model's count, share (percent of its model-specific latents) and rank.

    ``leaders`` are the models ranked 1 with a non-zero share (empty when no model has that class). How sure:
    ``share_ci`` per model is the 95% Wilson interval of its share (percent; from the mean counts per seed for a
    seed ensemble); ``lead_p_value`` is Fisher's exact test of the top-ranked model's share against the second's,
    ``lead_q_value`` its Benjamini–Hochberg adjustment over the rows of the table, ``lead_significant`` = q < alpha.
    """

    def rows(keys: Sequence[str], key_counts: Callable[[LatentCounts], Mapping[str, int]]) -> list[dict]:
        out = []
        for key in keys:
            counts_by_model = {model: int(key_counts(c).get(key, 0)) for model, c in counts.items()}
            shares = {model: share_pct(counts_by_model[model], c.total) for model, c in counts.items()}
            ranks = rank_desc(shares)
            leaders = [m for m in shares if ranks[m] == 1 and shares[m]]
            per_seed = {m: (counts_by_model[m] / c.n_seeds, c.total / c.n_seeds) for m, c in counts.items()}
            share_ci = {
                m: [100 * bound for bound in wilson_interval(count, total)] if total > 0 else None
                for m, (count, total) in per_seed.items()
            }
            ordered = sorted((m for m in shares if shares[m] is not None), key=lambda m: -(shares[m] or 0.0))
            lead_p = (
                fisher_p(*(round(x) for x in (*per_seed[ordered[1]], *per_seed[ordered[0]])))
                if len(ordered) >= 2 and shares[ordered[0]]
                else None
            )
            out.append(
                {
                    "key": key,
                    "counts": counts_by_model,
                    "shares": shares,
                    "share_ci": share_ci,
                    "ranks": ranks,
                    "leaders": leaders,
                    "lead_p_value": lead_p,
                }
            )
        for row, q in zip(out, bh_q_values([row["lead_p_value"] for row in out]), strict=True):
            row["lead_q_value"], row["lead_significant"] = q, q is not None and q < alpha
        return out

    classes = [{"name": row.pop("key"), **row} for row in rows(taxonomy.class_names, lambda c: c.classes)]
    categories = []
    for row in rows(taxonomy.codes, lambda c: c.categories):
        category = taxonomy.by_code(row.pop("key"))
        categories.append(
            {"code": category.code, "name": category.name, "class_name": category.class_name, **row}
        )
    return {"classes": classes, "categories": categories}


def compare_arena_ratings(arena: pd.DataFrame, arena_models: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per Arena category: ``ratings`` / ``ratings_style`` {run model name: Elo} for the models in ``arena_models``."""

    available = arena["model"].unique()
    resolved = {
        model: resolve_model(name, available, "the Arena table") for model, name in arena_models.items()
    }
    rows = []
    for category in dict.fromkeys(arena["category"]):
        subset = arena[arena["category"] == category]
        row: dict[str, Any] = {"category": category, "ratings": {}, "ratings_style": {}}
        for model, leaderboard_name in resolved.items():
            for style, key in ((False, "ratings"), (True, "ratings_style")):
                match = subset[(subset["model"] == leaderboard_name) & (subset["style_control"] == style)]
                row[key][model] = _none_if_nan(match["rating"].iloc[0]) if len(match) else None
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _none_if_nan(value: Any) -> Any:
    if value is None or _is_nan(value) or value is pd.NA:
        return None
    if hasattr(value, "item"):  # numpy scalar -> python
        return value.item()
    return value


def _plain(row: pd.Series) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        value = _none_if_nan(value)
        out[key] = int(value) if key.startswith("count") else value
    return out
