"""Older places the leaderboard was published: the arena-leaderboard Space's pickles and the arena-catalog JSON.

* ``elo_results_YYYYMMDD.pkl`` (Space ``lmarena-ai/arena-leaderboard``, up to 2025-08-29): a dict
  ``{"text": {key: {"leaderboard_table_df": DataFrame, <plotly figures>, ...}}}`` whose DataFrames are indexed by
  model with columns ``rating, rating_q025, rating_q975, num_battles``; keys ``full, if, hard_6, ...`` with a
  ``_style_control`` suffix for style-controlled ratings. Loaded with the restricted unpickler only.
* ``lmarena/arena-catalog`` ``data/leaderboard-text[-style-control].json``: ``{category: {model: {rating,
  rating_q025, rating_q975}}}``, no vote counts; versions found through the GitHub commits API (``until=`` date).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from llmdiff_eval.arena.categories import parse_category
from llmdiff_eval.arena.endpoints import CATALOG_FILES, CATALOG_REPO, LEGACY_SPACE, Endpoints, Snapshot
from llmdiff_eval.arena.errors import SourceUnavailable
from llmdiff_eval.arena.http import HttpClient, HttpError
from llmdiff_eval.arena.records import (
    joint_date,
    latest_on_or_before,
    make_frame,
    normalize_date,
    restrict_to_models,
)
from llmdiff_eval.arena.unpickle import restricted_loads

PICKLE_SOURCE = "pickle"
CATALOG_SOURCE = "catalog"
_PICKLE_NAME = re.compile(r"elo_results_(\d{8})\.pkl")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def pickle_records(elo_results: Any, date: str) -> list[dict[str, Any]]:
    """Normalized records from an unpickled ``elo_results`` object (see the module docstring)."""
    if isinstance(elo_results, dict) and isinstance(elo_results.get("text"), dict):
        elo_results = elo_results["text"]
    if not isinstance(elo_results, dict):
        raise SourceUnavailable(f"pickle holds a {type(elo_results).__name__}, expected a dict of categories")
    records = []
    for key, result in elo_results.items():
        table = result.get("leaderboard_table_df") if isinstance(result, dict) else None
        if not isinstance(table, pd.DataFrame) or "rating" not in table.columns:
            continue
        category, style = parse_category(str(key))
        for model, row in table.iterrows():
            records.append(
                {
                    "model": str(model),
                    "category": category,
                    "style_control": bool(style),
                    "rating": _number(row.get("rating")),
                    "ci_lower": _number(row.get("rating_q025")),
                    "ci_upper": _number(row.get("rating_q975")),
                    "votes": _number(row.get("num_battles")),
                    "date": date,
                }
            )
    if not records:
        raise SourceUnavailable("pickle has no category with a 'leaderboard_table_df' DataFrame")
    return records


def fetch_pickle(client: HttpClient, endpoints: Endpoints, models: list[str], date: str | None) -> Snapshot:
    """Ratings from the newest ``elo_results_YYYYMMDD.pkl`` on or before ``date`` in the legacy Space."""
    api_url = f"{endpoints.hub}/api/spaces/{LEGACY_SPACE}"
    info = client.get_json(api_url)
    if not isinstance(info, dict) or not info.get("sha"):
        raise SourceUnavailable(f"{api_url} did not report a revision ('sha')")
    revision = str(info["sha"])
    by_date = {}
    for sibling in info.get("siblings") or []:
        match = (
            _PICKLE_NAME.fullmatch(str(sibling.get("rfilename", ""))) if isinstance(sibling, dict) else None
        )
        if match:
            by_date[normalize_date(match.group(1))] = match.group(0)
    chosen = latest_on_or_before(by_date, date)
    if chosen is None:
        raise SourceUnavailable(f"no elo_results_*.pkl on or before {date or 'today'} at revision {revision}")
    url = f"{endpoints.hub}/spaces/{LEGACY_SPACE}/resolve/{revision}/{by_date[chosen]}"
    body, _final_url = client.get_bytes(url)
    elo_results, refused = restricted_loads(body)
    frame = make_frame(pickle_records(elo_results, chosen), PICKLE_SOURCE)
    frame = restrict_to_models(frame, models, f"legacy pickle {by_date[chosen]}")
    return Snapshot(
        frame,
        {
            "url": url,
            "revision": revision,
            "snapshot_date": chosen,
            "refused_globals": refused,
            "note": "legacy leaderboard pickle loaded with a restricted unpickler; "
            f"{len(refused)} disallowed object type(s) replaced by inert placeholders",
        },
    )


def catalog_records(data: Any, style_control: bool, date: str | None) -> list[dict[str, Any]]:
    """Normalized records from one arena-catalog JSON document."""
    if not isinstance(data, dict):
        raise SourceUnavailable(
            f"catalog JSON is a {type(data).__name__}, expected {{category: {{model: ...}}}}"
        )
    records = []
    for key, models in data.items():
        if not isinstance(models, dict):
            continue
        category, style = parse_category(str(key))
        for model, values in models.items():
            if not isinstance(values, dict) or _number(values.get("rating")) is None:
                continue
            records.append(
                {
                    "model": str(model),
                    "category": category,
                    "style_control": style_control or bool(style),
                    "rating": _number(values.get("rating")),
                    "ci_lower": _number(values.get("rating_q025")),
                    "ci_upper": _number(values.get("rating_q975")),
                    "votes": None,
                    "date": date,
                }
            )
    return records


def _catalog_version(
    client: HttpClient, endpoints: Endpoints, path: str, date: str | None
) -> tuple[str, str]:
    """``(commit sha, commit date)`` of the newest version of ``path`` on or before ``date`` (GitHub commits API)."""
    params: dict[str, Any] = {"path": path, "per_page": 1}
    if date is not None:
        params["until"] = f"{date}T23:59:59Z"
    commits = client.get_json(f"{endpoints.github_api}/repos/{CATALOG_REPO}/commits", params)
    if not isinstance(commits, list) or not commits:
        raise SourceUnavailable(f"no version of {CATALOG_REPO}/{path} on or before {date or 'today'}")
    commit = commits[0]
    committed = (
        commit.get("commit", {}).get("committer") or commit.get("commit", {}).get("author") or {}
    ).get("date")
    return str(commit["sha"]), normalize_date(committed)


def fetch_catalog(client: HttpClient, endpoints: Endpoints, models: list[str], date: str | None) -> Snapshot:
    """Ratings from the arena-catalog JSON files, at the newest commit on or before ``date``.

    If the GitHub API cannot be reached and no date was asked for, the files are read at ``main`` and the snapshot
    date is unknown (None) — said so in the note.
    """
    frames, urls, revisions, dates, notes = [], [], {}, {}, []
    for path, style_control in CATALOG_FILES.items():
        try:
            revision, committed = _catalog_version(client, endpoints, path, date)
        except HttpError as error:
            if date is not None:
                raise
            revision, committed = "main", None
            notes.append(f"GitHub API unavailable ({error}); read {path} at main, snapshot date unknown")
        url = f"{endpoints.github_raw}/{CATALOG_REPO}/{revision}/{path}"
        records = catalog_records(client.get_json(url), style_control, committed)
        frame = make_frame(records, CATALOG_SOURCE)
        frames.append(restrict_to_models(frame, models, f"arena-catalog {path}@{revision[:12]}"))
        urls.append(url)
        revisions[path], dates[path] = revision, committed
    return Snapshot(
        pd.concat(frames, ignore_index=True),
        {
            "url": " ; ".join(urls),
            "revision": " ; ".join(dict.fromkeys(revisions.values())),
            "snapshot_date": joint_date(dates),
            "snapshot_dates": dates,
            "note": " ".join(notes) or "arena-catalog has no vote counts; snapshot date = commit date",
        },
    )
