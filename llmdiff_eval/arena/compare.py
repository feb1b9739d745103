"""Compare two models' Arena ratings per category, with and without style control (the paper's Tables 1 and 3)."""

from __future__ import annotations

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
)


def compare_arena(df: pd.DataFrame, model_a: str, model_b: str) -> pd.DataFrame:
    """Per-category Elo of ``model_b`` relative to ``model_a`` from a :func:`fetch_arena` table.

    Columns: ``category``, ``rating_a``, ``rating_b``, ``delta = rating_b − rating_a`` (without style control),
    the same three with style control (``rating_a_style``, ``rating_b_style``, ``delta_style``), and
    ``style_diff = delta_style − delta`` (negative: style accounts for part of B's gain). All in Elo points.
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
    out = out.reset_index()
    out = out.assign(
        _missing=out["style_diff"].isna(), _paper=out["category"].map(lambda c: paper_order_key(c)[0])
    )
    out = out.sort_values(["_missing", "style_diff", "_paper", "category"], kind="stable")
    out = out[list(COMPARE_COLUMNS)].reset_index(drop=True)
    out.attrs = {**df.attrs, "model_a": name_a, "model_b": name_b}
    return out
