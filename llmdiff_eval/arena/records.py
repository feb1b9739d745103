"""The normalized arena record table every source is converted to, and selection from it.

One row per (model, category, style_control) of one leaderboard snapshot:

* ``model`` — the leaderboard's model name (``gemma-2-9b-it-simpo``),
* ``category`` — canonical category name (see :mod:`llmdiff_eval.arena.categories`),
* ``style_control`` — True for the style-controlled ratings (dataset config ``text_style_control``),
* ``rating`` — Arena Elo (higher is better), ``ci_lower`` / ``ci_upper`` — its 95 % interval bounds in Elo
  (NaN when the source has none), ``votes`` — battles counted (nullable integer),
* ``date`` — the snapshot's publish date, ISO ``YYYY-MM-DD``, ``source`` — which source answered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import pandas as pd

from llmdiff_eval.arena.categories import CANONICAL_CATEGORIES, canonical_category
from llmdiff_eval.arena.errors import ArenaCategoryNotFound, ArenaError
from llmdiff_eval.arena.models import resolve_model

COLUMNS: tuple[str, ...] = (
    "model",
    "category",
    "style_control",
    "rating",
    "ci_lower",
    "ci_upper",
    "votes",
    "date",
    "source",
)


def make_frame(rows: Iterable[dict] | pd.DataFrame, source: str) -> pd.DataFrame:
    """Build the normalized table from dicts (or a frame) with the record fields; ``source`` fills that column."""
    frame = pd.DataFrame(rows).copy() if not isinstance(rows, pd.DataFrame) else rows.copy()
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame["source"] = source
    frame = frame[list(COLUMNS)]
    frame["model"] = frame["model"].astype(str)
    frame["category"] = frame["category"].astype(str)
    frame["style_control"] = frame["style_control"].map(_to_bool).astype(bool)
    for column in ("rating", "ci_lower", "ci_upper"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["votes"] = pd.to_numeric(frame["votes"], errors="coerce").round().astype("Int64")
    frame["date"] = frame["date"].map(normalize_date)
    frame["source"] = frame["source"].astype(str)
    return frame.reset_index(drop=True)


def _to_bool(value: object) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ArenaError(f"style_control must be true/false, got {value!r}")
        return text in ("true", "1", "yes")
    return bool(value)


def normalize_date(value: object) -> str | None:
    """``2025-09-18`` / ``20250918`` / date / Timestamp -> ``"2025-09-18"``; None and ``"latest"`` -> None."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    if text.lower() in ("", "latest", "none"):
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text[:10] if fmt == "%Y-%m-%d" else text, fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    raise ArenaError(f"cannot read {value!r} as a date; use YYYY-MM-DD (or 'latest')")


def latest_on_or_before(dates: Iterable[str], date: str | None) -> str | None:
    """The newest ISO date in ``dates`` that is ``<= date`` (any date when ``date`` is None); None if there is none."""
    eligible = [d for d in set(dates) if d is not None and (date is None or d <= date)]
    return max(eligible) if eligible else None


def _category_sort_key(category: str) -> tuple[int, str]:
    if category in CANONICAL_CATEGORIES:
        return CANONICAL_CATEGORIES.index(category), category
    return len(CANONICAL_CATEGORIES), category


def select_records(
    snapshot: pd.DataFrame, models: Sequence[str], categories: Sequence[str] | None, where: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows of one snapshot for ``models`` (matched with :func:`resolve_model`) and ``categories``.

    Returns the rows (ordered by requested model, category, style_control) and ``{requested name: leaderboard
    name}``. ``where`` names the snapshot in error messages. Unknown models / categories raise.
    """
    matched = {name: resolve_model(name, snapshot["model"].unique(), where) for name in models}
    rows = snapshot[snapshot["model"].isin(set(matched.values()))]
    if categories is not None:
        wanted = [canonical_category(c) for c in categories]
        missing = [c for c in wanted if c not in set(rows["category"])]
        if missing:
            available = sorted(set(snapshot["category"]), key=_category_sort_key)
            raise ArenaCategoryNotFound(missing, available, where)
        rows = rows[rows["category"].isin(wanted)]
    model_rank = {name: i for i, name in enumerate(dict.fromkeys(matched.values()))}
    rows = rows.assign(
        _m=rows["model"].map(model_rank), _c=rows["category"].map(lambda c: _category_sort_key(c)[0])
    )
    rows = rows.sort_values(["_m", "_c", "category", "style_control"], kind="stable").drop(
        columns=["_m", "_c"]
    )
    return rows.reset_index(drop=True), matched


def restrict_to_models(frame: pd.DataFrame, models: Sequence[str], where: str) -> pd.DataFrame:
    """Rows of one snapshot for ``models``; raises ArenaModelNotFound (nearest names of that snapshot)."""
    label = f"{where} snapshot {frame['date'].iloc[0] if len(frame) else '?'}"
    matched = {resolve_model(model, frame["model"].unique(), label) for model in models}
    return frame[frame["model"].isin(matched)].reset_index(drop=True)


def joint_date(dates: dict[str, str | None]) -> str | None:
    """One snapshot date for a provenance record: the shared date, else the earliest (rows keep their own)."""
    known = sorted({d for d in dates.values() if d})
    return known[0] if known else None
