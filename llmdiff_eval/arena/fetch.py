"""``fetch_arena``: per-category LMArena Elo for named models, with and without style control."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from llmdiff_eval.arena.bundled import BUNDLED_SOURCE, bundled_snapshot
from llmdiff_eval.arena.errors import ArenaError, SourceUnavailable
from llmdiff_eval.arena.records import normalize_date, select_records


def _split_names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    names = [v.strip() for v in value if v and v.strip()]
    return names or None


def fetch_arena(
    models: str | Sequence[str],
    date: str | dt.date | None = None,
    categories: str | Sequence[str] | None = None,
    source: str = "bundled",
) -> pd.DataFrame:
    """LMArena ratings of ``models`` per category, with (``style_control=True``) and without style control.

    ``date``: the newest snapshot on or before it (ISO ``YYYY-MM-DD``; None = newest). ``categories``: canonical or
    source names (None = all). Returns the table described in :mod:`llmdiff_eval.arena.records`;
    ``df.attrs["provenance"]`` says which source answered (url, revision, snapshot date).
    """
    names = _split_names(models)
    if not names:
        raise ArenaError("no models given; pass e.g. models=['gemma-2-9b-it', 'gemma-2-9b-it-simpo']")
    wanted_categories = _split_names(categories)
    requested_date = normalize_date(date)
    if source != BUNDLED_SOURCE:
        raise ArenaError(f"unknown source {source!r}")
    frame, info = bundled_snapshot()
    if requested_date is not None and info["snapshot_date"] > requested_date:
        raise SourceUnavailable(
            f"the bundled snapshot is from {info['snapshot_date']}, after the requested date {requested_date}"
        )
    where = f"{BUNDLED_SOURCE} snapshot {info['snapshot_date']}"
    rows, matched = select_records(frame, names, wanted_categories, where)
    rows.attrs["provenance"] = {
        "source": BUNDLED_SOURCE,
        **info,
        "requested_date": requested_date,
        "models": matched,
        "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fallback": False,
        "attempts": [{"source": BUNDLED_SOURCE, "url": info["url"], "status": "ok"}],
    }
    return rows
