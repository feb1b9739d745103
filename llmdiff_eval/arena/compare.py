"""Compare two models' Arena ratings per category, with and without style control (the paper's Tables 1 and 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmdiff_eval.arena.categories import paper_order_key
from llmdiff_eval.arena.errors import ArenaError
from llmdiff_eval.arena.models import resolve_model

COMPARE_COLUMNS: tuple[str, ...] = (
    "category",
    "rating_a",
    "rating_b",
    "delta",
    "rating_a_style",
    "rating_b_style",
    "delta_style",
    "style_diff",
    "delta_lower",
    "delta_upper",
    "delta_style_lower",
    "delta_style_upper",
    "delta_interval",
    "style_share_lower",
    "style_share_upper",
)
INTERVAL_BOOTSTRAP = "bootstrap"
"""``delta_interval``: the bootstrap percentile interval of the resampled differences (:func:`fit_arena`)."""
INTERVAL_COMBINED = "combined"
"""``delta_interval``: ``[lower_b − upper_a, upper_b − lower_a]`` from the two ratings' own intervals. For
(approximately) normal estimates the standard deviation of a difference is at most the sum of the two standard
deviations, whatever their correlation, so this interval is at least as wide as the difference's own interval at the
same level: conservative."""


def compare_arena(df: pd.DataFrame, model_a: str, model_b: str) -> pd.DataFrame:
    """Per-category Elo of ``model_b`` relative to ``model_a`` from a :func:`fetch_arena` table.

    Columns: ``category``, ``rating_a``, ``rating_b``, ``delta = rating_b − rating_a`` (without style control),
    the same three with style control (``rating_a_style``, ``rating_b_style``, ``delta_style``), and
    ``style_diff = delta_style − delta`` (negative: style accounts for part of B's gain). All in Elo points.
    ``delta_lower`` / ``delta_upper`` (and ``_style``) bound each delta: from the bootstrap of the differences when
    the table comes from :func:`~llmdiff_eval.arena.fit_arena` (``delta_interval`` = ``"bootstrap"``; then
    ``style_share_lower`` / ``_upper`` bound ``(delta − delta_style) / delta × 100`` from the same resamples), else
    combined from the two ratings' intervals (``"combined"``, see :data:`INTERVAL_COMBINED`); NaN (and
    ``delta_interval`` None) when the source published no intervals.
    The table must hold one snapshot per style setting. Rows are sorted like the paper's Table 1: by ``style_diff`` ascending, ties in the paper's row order; categories
    missing a rating in one setting come last. Model names are matched like :func:`fetch_arena` does
    (``princeton-nlp/gemma-2-9b-it-SimPO`` finds ``gemma-2-9b-it-simpo``). ``attrs`` keeps the input's provenance
    plus ``model_a`` / ``model_b`` (leaderboard names).
    """
    for _style, rows in df.groupby("style_control"):
        if rows["date"].nunique(dropna=False) > 1:
            raise ArenaError(
                f"the table mixes snapshot dates {sorted(rows['date'].dropna().unique())}; fetch one date"
            )
    if df.duplicated(["model", "category", "style_control"]).any():
        raise ArenaError(
            "the table has several rows for one (model, category, style_control); fetch one snapshot"
        )
    name_a = resolve_model(model_a, df["model"].unique(), "the given table")
    name_b = resolve_model(model_b, df["model"].unique(), "the given table")
    wide = df.pivot_table(
        index="category", columns=["style_control", "model"], values="rating", aggfunc="first"
    )
    out = pd.DataFrame(index=wide.index)
    for style, suffix in ((False, ""), (True, "_style")):
        for name, key in ((name_a, "a"), (name_b, "b")):
            column = (style, name)
            out[f"rating_{key}{suffix}"] = wide[column] if column in wide.columns else float("nan")
        out[f"delta{suffix}"] = out[f"rating_b{suffix}"] - out[f"rating_a{suffix}"]
    out["style_diff"] = out["delta_style"] - out["delta"]
    _add_intervals(out, df, name_a, name_b)
    out = out.reset_index()
    out = out.assign(
        _missing=out["style_diff"].isna(), _paper=out["category"].map(lambda c: paper_order_key(c)[0])
    )
    out = out.sort_values(["_missing", "style_diff", "_paper", "category"], kind="stable")
    out = out[list(COMPARE_COLUMNS)].reset_index(drop=True)
    out.attrs = {**df.attrs, "model_a": name_a, "model_b": name_b}
    return out


PAIR_BOUNDS: tuple[str, ...] = (
    "delta_lower",
    "delta_upper",
    "delta_style_lower",
    "delta_style_upper",
    "style_share_lower",
    "style_share_upper",
)


def _add_intervals(out: pd.DataFrame, df: pd.DataFrame, name_a: str, name_b: str) -> None:
    """The delta interval columns of :func:`compare_arena` (in place, ``out`` indexed by category)."""
    bounds = df.pivot_table(
        index="category", columns=["style_control", "model"], values=["ci_lower", "ci_upper"], aggfunc="first"
    ).reindex(out.index)

    def bound(kind: str, style: bool, model: str) -> pd.Series:
        column = (kind, style, model)
        return bounds[column] if column in bounds.columns else pd.Series(np.nan, index=out.index)

    for style, suffix in ((False, ""), (True, "_style")):  # combined from the two ratings' intervals
        out[f"delta{suffix}_lower"] = bound("ci_lower", style, name_b) - bound("ci_upper", style, name_a)
        out[f"delta{suffix}_upper"] = bound("ci_upper", style, name_b) - bound("ci_lower", style, name_a)
    out["style_share_lower"] = out["style_share_upper"] = np.nan
    bootstrapped = pd.Series(False, index=out.index)
    pairs = pd.DataFrame(df.attrs.get("pairwise") or {})
    if not pairs.empty:
        forward = pairs[(pairs["model_a"] == name_a) & (pairs["model_b"] == name_b)].set_index("category")
        backward = pairs[(pairs["model_a"] == name_b) & (pairs["model_b"] == name_a)].set_index("category")
        flipped = (
            backward.assign(  # B − A = −(A − B): negate and swap the bounds; the style share is symmetric
                delta=-backward["delta"],
                delta_lower=-backward["delta_upper"],
                delta_upper=-backward["delta_lower"],
                delta_style_lower=-backward["delta_style_upper"],
                delta_style_upper=-backward["delta_style_lower"],
            )
        )
        for_pair = pd.concat([forward, flipped])
        for_pair = for_pair[~for_pair.index.duplicated()].reindex(out.index)
        bootstrapped = for_pair["delta"].notna()
        for column in PAIR_BOUNDS:
            out[column] = out[column].where(~bootstrapped, for_pair[column])
    out["delta_interval"] = np.select(
        [out["delta_lower"].isna(), bootstrapped], [None, INTERVAL_BOOTSTRAP], INTERVAL_COMBINED
    )
