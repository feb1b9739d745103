"""On-disk cache of fetched arena snapshots, keyed by source and query.

One JSON file per (source, query) under ``<cache_dir>/<source>/<hash>.json`` holding the normalized records and the
source's provenance. A query pinned to a past date never expires (published snapshots do not change); a "latest"
query (or one dated today or later) expires after ``LATEST_TTL_S``. Writes are atomic.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from llmdiff_eval.arena.records import make_frame
from llmdiff_eval.utils import atomic_write_json, stable_hash

LATEST_TTL_S = 24 * 3600
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$LLMDIFF_CACHE_DIR/arena``, else ``$XDG_CACHE_HOME/llmdiff-eval/arena`` (``~/.cache`` by default)."""
    root = os.environ.get("LLMDIFF_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "arena"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "llmdiff-eval" / "arena"


def is_pinned(date: str | None, today: dt.date | None = None) -> bool:
    """True when ``date`` (ISO) names a day before today (UTC): its answer can no longer change."""
    if date is None:
        return False
    today = today or dt.datetime.now(dt.UTC).date()
    return date < today.isoformat()


class SnapshotCache:
    """Get / put normalized snapshots (a record frame + provenance dict) by (source, query)."""

    def __init__(self, directory: str | os.PathLike, ttl_s: float = LATEST_TTL_S) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s

    def path(self, source: str, query: dict[str, Any]) -> Path:
        return self.directory / source / f"{stable_hash({'source': source, 'query': query}, length=24)}.json"

    def get(
        self, source: str, query: dict[str, Any], allow_stale: bool = False
    ) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The cached snapshot, or None if absent, unreadable, or expired (unless ``allow_stale``).

        The returned info gets ``from_cache`` (path), ``cached_at`` and ``stale`` fields.
        """
        path = self.path(source, query)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if entry.get("format") != CACHE_FORMAT or entry.get("query") != query:
            return None
        age = time.time() - float(entry.get("stored_at", 0))
        stale = not entry.get("pinned", False) and age > self.ttl_s
        if stale and not allow_stale:
            return None
        frame = make_frame(entry["records"], source)
        info = dict(entry["info"])
        info.update(from_cache=str(path), cached_at=entry.get("stored_at_iso"), stale=stale)
        return frame, info

    def put(
        self, source: str, query: dict[str, Any], frame: pd.DataFrame, info: dict[str, Any], pinned: bool
    ) -> Path:
        """Store a snapshot atomically; returns the file written."""
        now = time.time()
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        entry = {
            "format": CACHE_FORMAT,
            "source": source,
            "query": query,
            "pinned": pinned,
            "stored_at": now,
            "stored_at_iso": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
            "info": info,
            "records": records,
        }
        path = self.path(source, query)
        atomic_write_json(path, entry)
        return path
