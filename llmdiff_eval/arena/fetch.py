"""``fetch_arena``: per-category LMArena Elo for named models, with and without style control, from the first
source that answers — datasets-server, parquet files, legacy pickles, arena-catalog, bundled paper snapshot.

A source that fails is recorded (what was tried, the HTTP attempts, why it failed) and the next one is asked; when a
later source answers, a :class:`ArenaFallbackWarning` is issued and ``provenance["fallback"]`` is True. A model or
category missing from an answering source's snapshot is an error, not a reason to fall back.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from llmdiff_eval.arena.bundled import BUNDLED_SOURCE, bundled_snapshot
from llmdiff_eval.arena.cache import SnapshotCache, default_cache_dir, is_pinned
from llmdiff_eval.arena.endpoints import Endpoints, Snapshot
from llmdiff_eval.arena.errors import ArenaCategoryNotFound, ArenaError, ArenaModelNotFound, SourceUnavailable
from llmdiff_eval.arena.hf_sources import (
    DATASETS_SERVER_SOURCE,
    PARQUET_SOURCE,
    fetch_datasets_server,
    fetch_parquet,
)
from llmdiff_eval.arena.http import HttpClient, RetryPolicy
from llmdiff_eval.arena.legacy_sources import CATALOG_SOURCE, PICKLE_SOURCE, fetch_catalog, fetch_pickle
from llmdiff_eval.arena.records import normalize_date, select_records

logger = logging.getLogger(__name__)

Fetcher = Callable[[HttpClient, Endpoints, list[str], str | None], Snapshot]

# Network sources in the order "auto" asks them; the bundled snapshot comes last.
NETWORK_SOURCES: dict[str, Fetcher] = {
    DATASETS_SERVER_SOURCE: fetch_datasets_server,
    PARQUET_SOURCE: fetch_parquet,
    PICKLE_SOURCE: fetch_pickle,
    CATALOG_SOURCE: fetch_catalog,
}
SOURCES: tuple[str, ...] = (*NETWORK_SOURCES, BUNDLED_SOURCE)


class ArenaFallbackWarning(UserWarning):
    """A source other than the first one asked answered; the provenance lists why the others failed."""


def _split_names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    names = [v.strip() for v in value if v and v.strip()]
    return names or None


def source_order(source: str | Sequence[str]) -> list[str]:
    """``"auto"`` -> every source in order; a name or comma-separated names -> those, in the given order."""
    names = SOURCES if source == "auto" else _split_names(source) or []
    unknown = [name for name in names if name not in SOURCES]
    if unknown or not names:
        raise ArenaError(
            f"unknown arena source(s) {unknown or source!r}; choose 'auto' or from {', '.join(SOURCES)}"
        )
    return list(names)


def _base_url(endpoints: Endpoints, source: str) -> str:
    return {
        DATASETS_SERVER_SOURCE: endpoints.datasets_server,
        PARQUET_SOURCE: endpoints.hub,
        PICKLE_SOURCE: endpoints.hub,
        CATALOG_SOURCE: f"{endpoints.github_api} {endpoints.github_raw}",
    }[source]


def _bundled(date: str | None) -> Snapshot:
    frame, info = bundled_snapshot()
    if date is not None and info["snapshot_date"] > date:
        raise SourceUnavailable(
            f"the bundled snapshot is from {info['snapshot_date']}, after the requested {date}"
        )
    return Snapshot(frame, info)


def fetch_arena(
    models: str | Sequence[str],
    date: str | dt.date | None = None,
    categories: str | Sequence[str] | None = None,
    source: str | Sequence[str] = "auto",
    *,
    hub_url: str | None = None,
    datasets_server_url: str | None = None,
    github_raw_url: str | None = None,
    github_api_url: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    offline: bool = False,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
) -> pd.DataFrame:
    """LMArena ratings of ``models`` per category, with (``style_control=True``) and without style control.

    ``models``: leaderboard names or hub ids (list or comma-separated); matched exactly (case-insensitive, ``org/``
    stripped), then through ``aliases.yaml``; an unknown model raises :class:`ArenaModelNotFound`.
    ``date``: ISO ``YYYY-MM-DD``; the newest snapshot on or before it (None = newest). ``categories``: canonical or
    source names (None = all). ``source``: ``"auto"`` (datasets-server, parquet, pickle, catalog, bundled) or names.
    Base URLs come from the arguments, else ``HF_ENDPOINT``, ``LLMDIFF_DATASETS_SERVER_URL``,
    ``LLMDIFF_GITHUB_RAW_URL``, ``LLMDIFF_GITHUB_API_URL``. ``cache_dir`` defaults to
    :func:`~llmdiff_eval.arena.cache.default_cache_dir`; ``offline`` uses only the cache (even if stale) and the
    bundled snapshot. ``timeout`` is per HTTP request, in seconds.

    Returns one row per (model, category, style_control) with columns ``model, category, style_control, rating,
    ci_lower, ci_upper, votes, date, source`` (ratings and CI bounds in Elo points); ``df.attrs["provenance"]``
    records the answering source, its URL, revision, snapshot date, and every source tried before it.
    """
    names = _split_names(models)
    if not names:
        raise ArenaError("no models given; pass e.g. models=['gemma-2-9b-it', 'gemma-2-9b-it-simpo']")
    run = _FetchRun(
        models=names,
        date=normalize_date(date),
        endpoints=Endpoints.resolve(hub_url, datasets_server_url, github_raw_url, github_api_url),
        cache=SnapshotCache(cache_dir or default_cache_dir()) if use_cache else None,
        offline=offline,
        timeout=timeout,
        retry=retry,
    )
    try:
        for name in source_order(source):
            snapshot = run.ask(name)
            if snapshot is not None:
                return run.finish(snapshot, name, _split_names(categories))
    finally:
        run.close()
    summary = "; ".join(f"{a['source']}: {a.get('reason', a['status'])}" for a in run.attempts)
    raise SourceUnavailable(
        f"no LMArena source could answer for {names} (date {run.date or 'latest'}): {summary}"
    )


class _FetchRun:
    """State of one fetch_arena call: the query, the HTTP client (made on first use), the attempts so far."""

    def __init__(
        self,
        models: list[str],
        date: str | None,
        endpoints: Endpoints,
        cache: SnapshotCache | None,
        offline: bool,
        timeout: float,
        retry: RetryPolicy | None,
    ) -> None:
        self.models, self.date, self.endpoints, self.cache = models, date, endpoints, cache
        self.offline, self.timeout, self.retry = offline, timeout, retry
        self.client: HttpClient | None = None
        self.attempts: list[dict[str, Any]] = []

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def _query(self, name: str) -> dict[str, Any]:
        return {
            "models": sorted(m.strip().lower() for m in self.models),
            "date": self.date or "latest",
            "base_url": _base_url(self.endpoints, name),
        }

    def ask(self, name: str) -> Snapshot | None:
        """One source's snapshot (from the cache when fresh), or None after recording why it failed."""
        attempt: dict[str, Any] = {"source": name}
        self.attempts.append(attempt)
        if name == BUNDLED_SOURCE:
            try:
                snapshot = _bundled(self.date)
            except SourceUnavailable as error:
                attempt.update(status="failed", reason=str(error))
                return None
            attempt.update(status="ok", url=snapshot.info["url"])
            return snapshot
        query = self._query(name)
        if self.cache is not None:
            cached = self.cache.get(name, query, allow_stale=self.offline)
            if cached is not None:
                attempt.update(status="ok", cache=cached[1]["from_cache"], stale=cached[1]["stale"])
                return Snapshot(*cached)
        if self.offline:
            attempt.update(status="skipped", reason="offline and not in the cache")
            return None
        if self.client is None:
            self.client = HttpClient(timeout=self.timeout, policy=self.retry)
        first_request = len(self.client.log)
        try:
            snapshot = NETWORK_SOURCES[name](self.client, self.endpoints, self.models, self.date)
        except (ArenaModelNotFound, ArenaCategoryNotFound):
            raise
        except Exception as error:  # any failure of this source (HTTP, payload, parsing) -> try the next one
            attempt.update(status="failed", reason=f"{type(error).__name__}: {error}")
            attempt["http"] = self.client.log[first_request:]
            logger.info("arena source %s failed: %s", name, attempt["reason"])
            stale = self.cache.get(name, query, allow_stale=True) if self.cache is not None else None
            if stale is None:
                return None
            # an expired "latest" answer of this source beats the next source: used, and reported as a fallback
            attempt.update(status="ok", cache=stale[1]["from_cache"], stale=True)
            return Snapshot(*stale)
        attempt.update(status="ok", url=snapshot.info.get("url"), http=self.client.log[first_request:])
        if self.cache is not None:
            path = self.cache.put(name, query, snapshot.frame, snapshot.info, pinned=is_pinned(self.date))
            attempt["cached_to"] = str(path)
        return snapshot

    def finish(self, snapshot: Snapshot, name: str, categories: list[str] | None) -> pd.DataFrame:
        """Select models/categories, attach the provenance, and report a fallback."""
        failed = [a for a in self.attempts if a.get("reason")]
        reasons = "; ".join(f"{a['source']}: {a['reason']}" for a in failed)
        if failed:
            stale = " (an expired cached copy)" if self.attempts[-1].get("stale") else ""
            message = (
                f"LMArena ratings came from the '{name}' source{stale} (snapshot "
                f"{snapshot.info.get('snapshot_date')}) because sources failed — {reasons}"
            )
            warnings.warn(message, ArenaFallbackWarning, stacklevel=3)
            logger.info(message)
        where = f"{name} snapshot {snapshot.info.get('snapshot_date')}"
        try:
            rows, matched = select_records(snapshot.frame, self.models, categories, where)
        except (ArenaModelNotFound, ArenaCategoryNotFound) as error:
            if name != BUNDLED_SOURCE or not failed:
                raise
            covered = ", ".join(sorted(snapshot.frame["model"].unique()))
            raise SourceUnavailable(
                f"no network source answered ({reasons}) and the bundled paper snapshot only covers {covered} "
                f"and the paper's categories: {error}"
            ) from error
        rows.attrs["provenance"] = {
            "source": name,
            "url": snapshot.info.get("url"),
            "revision": snapshot.info.get("revision"),
            "snapshot_date": snapshot.info.get("snapshot_date"),
            **{k: v for k, v in snapshot.info.items() if k not in ("url", "revision", "snapshot_date")},
            "requested_date": self.date,
            "models": matched,
            "categories": sorted(set(rows["category"])),
            "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "fallback": bool(failed),
            "attempts": self.attempts,
        }
        return rows
