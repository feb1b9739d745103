"""The official dataset ``lmarena-ai/leaderboard-dataset``: via the datasets-server JSON API, or its parquet files.

Dataset columns used: ``model_name, category, rating, rating_lower, rating_upper, vote_count,
leaderboard_publish_date``. Config ``text`` holds ratings without style control, ``text_style_control`` with it;
split ``latest`` the newest snapshot, ``full`` every daily snapshot.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pandas as pd

from llmdiff_eval.arena.categories import parse_category
from llmdiff_eval.arena.endpoints import DATASET, DATASET_CONFIGS, Endpoints, Snapshot, candidate_names
from llmdiff_eval.arena.errors import SourceUnavailable
from llmdiff_eval.arena.http import HttpClient, HttpError
from llmdiff_eval.arena.models import find_model, resolve_model
from llmdiff_eval.arena.records import (
    joint_date,
    latest_on_or_before,
    make_frame,
    normalize_date,
    restrict_to_models,
)

DATASETS_SERVER_SOURCE = "datasets-server"
PARQUET_SOURCE = "parquet"
PAGE_LENGTH = 100  # the datasets-server's maximum page length (more -> HTTP 422)
MAX_PAGES = 100  # guard against paging a whole history split by accident
DATE_COLUMN = "leaderboard_publish_date"
COLUMNS = ["model_name", "category", "rating", "rating_lower", "rating_upper", "vote_count", DATE_COLUMN]


def _normalize_rows(raw: pd.DataFrame, style_control: bool, source: str) -> pd.DataFrame:
    """Dataset rows (columns as in the dataset) -> normalized records."""
    missing = [c for c in ("model_name", "category", "rating", DATE_COLUMN) if c not in raw.columns]
    if missing:
        raise SourceUnavailable(f"dataset rows lack columns {missing}; got {list(raw.columns)}")
    categories = raw["category"].astype(str).map(parse_category)
    frame = pd.DataFrame(
        {
            "model": raw["model_name"].astype(str),
            "category": categories.map(lambda parsed: parsed[0]),
            "style_control": [style_control or bool(parsed[1]) for parsed in categories],
            "rating": raw["rating"],
            "ci_lower": raw.get("rating_lower"),
            "ci_upper": raw.get("rating_upper"),
            "votes": raw.get("vote_count"),
            "date": raw[DATE_COLUMN].map(normalize_date),
        }
    )
    return make_frame(frame, source)


def _split(date: str | None) -> str:
    return "latest" if date is None else "full"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _any_model(names: list[str]) -> str:
    return "(" + " OR ".join(f'"model_name"={_sql_string(n)}' for n in names) + ")"


class _DatasetsServer:
    """Queries of one config/split through ``/filter`` (paged) and ``/rows`` (paged)."""

    def __init__(self, client: HttpClient, base: str, config: str, split: str) -> None:
        self.client, self.base, self.config, self.split = client, base, config, split
        self.partial = False  # the service said its index covers only part of the split

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"dataset": DATASET, "config": self.config, "split": self.split, **extra}

    def _page(self, endpoint: str, **params: Any) -> dict[str, Any]:
        body = self.client.get_json(f"{self.base}/{endpoint}", self._params(**params))
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            raise SourceUnavailable(f"unexpected /{endpoint} response (no 'rows' list): {str(body)[:200]}")
        self.partial = self.partial or bool(body.get("partial"))
        return body

    def paged(self, endpoint: str, max_pages: int = MAX_PAGES, **params: Any) -> list[dict[str, Any]]:
        """All rows of a ``/filter`` or ``/rows`` query, ``PAGE_LENGTH`` at a time."""
        rows: list[dict[str, Any]] = []
        for page in range(max_pages):
            body = self._page(endpoint, offset=page * PAGE_LENGTH, length=PAGE_LENGTH, **params)
            rows += [item["row"] for item in body["rows"]]
            total = body.get("num_rows_total")
            if not body["rows"] or (isinstance(total, int) and len(rows) >= total):
                return rows
        raise SourceUnavailable(f"/{endpoint} has more than {max_pages * PAGE_LENGTH} rows for this query")

    def latest_date(self, date: str) -> str | None:
        """The newest publish date ``<= date`` in this split (one ``/filter`` call, ordered)."""
        body = self._page(
            "filter",
            where=f'"{DATE_COLUMN}"<={_sql_string(date)}',
            orderby=f'"{DATE_COLUMN}" DESC',
            offset=0,
            length=1,
        )
        return normalize_date(body["rows"][0]["row"][DATE_COLUMN]) if body["rows"] else None


def _filter_snapshot(server: _DatasetsServer, models: list[str], date: str | None) -> list[dict]:
    """Rows of the requested models in the snapshot chosen for ``date`` (newest when None), via ``/filter``."""
    where_date = ""
    snapshot_date = None
    if date is not None:
        snapshot_date = server.latest_date(date)
        if snapshot_date is None:
            raise SourceUnavailable(f"no snapshot on or before {date} in {server.config}/{server.split}")
        where_date = f' AND "{DATE_COLUMN}"={_sql_string(snapshot_date)}'
    names = candidate_names(models)
    rows = server.paged("filter", where=_any_model(names) + where_date)
    found = {row["model_name"] for row in rows}
    missing = [model for model in models if find_model(model, found) is None]
    if missing:  # not among the candidate names: match against every name in the snapshot
        listing = server.paged("filter", where=f"\"category\"='overall'{where_date}")
        snapshot_names = {row["model_name"] for row in listing}
        where = f"{server.config}/{server.split} snapshot {snapshot_date or 'latest'}"
        exact = [resolve_model(model, snapshot_names, where) for model in missing]  # or ArenaModelNotFound
        rows += server.paged("filter", where=_any_model(exact) + where_date)
    return rows


def _rows_snapshot(server: _DatasetsServer, date: str | None) -> list[dict]:
    """Fallback when ``/filter`` is unavailable: page ``/rows`` of the ``latest`` split (if it is on or before
    ``date``); matching happens afterwards."""
    latest = _DatasetsServer(server.client, server.base, server.config, "latest")
    first = latest._page("rows", offset=0, length=PAGE_LENGTH)
    if first["rows"] and date is not None:
        newest = normalize_date(first["rows"][0]["row"][DATE_COLUMN])
        if newest is not None and newest > date:
            raise SourceUnavailable(f"/filter unavailable and the 'latest' split ({newest}) is after {date}")
    return latest.paged("rows")


def fetch_datasets_server(
    client: HttpClient, endpoints: Endpoints, models: list[str], date: str | None
) -> Snapshot:
    """Ratings through the datasets-server JSON API: ``/filter`` on the model names (and the snapshot date), paged;
    ``/rows`` paging of the ``latest`` split when ``/filter`` fails."""
    frames, urls, dates, notes = [], [], {}, []
    for config, style_control in DATASET_CONFIGS.items():
        server = _DatasetsServer(client, endpoints.datasets_server, config, _split(date))
        try:
            rows = _filter_snapshot(server, models, date)
            urls.append(
                f"{endpoints.datasets_server}/filter?dataset={DATASET}&config={config}&split={server.split}"
            )
        except HttpError as error:
            notes.append(f"{config}: /filter failed ({error}); paged /rows of split 'latest' instead")
            try:
                rows = _rows_snapshot(server, date)
            except SourceUnavailable as rows_error:
                raise SourceUnavailable(
                    f"/filter failed ({error}); /rows fallback failed ({rows_error})"
                ) from error
            urls.append(f"{endpoints.datasets_server}/rows?dataset={DATASET}&config={config}&split=latest")
        if server.partial:
            notes.append(
                f"{config}: the datasets-server answered from a partial index of split '{server.split}'"
            )
        frame = _config_snapshot(
            pd.DataFrame(rows, columns=COLUMNS),
            style_control,
            DATASETS_SERVER_SOURCE,
            date,
            models,
            f"{config} via datasets-server",
        )
        frames.append(frame)
        dates[config] = frame["date"].iloc[0] if len(frame) else None
    return Snapshot(
        pd.concat(frames, ignore_index=True),
        {
            "url": " ; ".join(urls),
            "revision": None,
            "snapshot_date": joint_date(dates),
            "snapshot_dates": dates,
            "note": " ".join(notes) or "datasets-server does not report the dataset revision it serves",
        },
    )


def _config_snapshot(
    raw: pd.DataFrame, style_control: bool, source: str, date: str | None, models: list[str], where: str
) -> pd.DataFrame:
    """One config's raw rows -> normalized rows of the latest snapshot on or before ``date``, for ``models``."""
    frame = _one_snapshot(_normalize_rows(raw, style_control, source), date, where)
    return restrict_to_models(frame, models, where)


def _one_snapshot(frame: pd.DataFrame, date: str | None, where: str) -> pd.DataFrame:
    """Keep the latest snapshot on or before ``date`` (rows from several dates -> one date)."""
    chosen = latest_on_or_before(frame["date"].dropna(), date)
    if chosen is None:
        raise SourceUnavailable(f"{where}: no snapshot on or before {date or 'today'}")
    return frame[frame["date"] == chosen].reset_index(drop=True)


def fetch_parquet(client: HttpClient, endpoints: Endpoints, models: list[str], date: str | None) -> Snapshot:
    """Ratings from the dataset's parquet files at the hub's current revision (``/resolve/<sha>/...``)."""
    import pyarrow.parquet as pq

    api_url = f"{endpoints.hub}/api/datasets/{DATASET}"
    info = client.get_json(api_url)
    if not isinstance(info, dict) or not info.get("sha"):
        raise SourceUnavailable(f"{api_url} did not report a revision ('sha')")
    revision = str(info["sha"])
    files = [s.get("rfilename", "") for s in info.get("siblings") or [] if isinstance(s, dict)]
    frames, urls, dates = [], [], {}
    for config, style_control in DATASET_CONFIGS.items():
        split = _split(date)
        pattern = re.compile(rf"{re.escape(config)}/{split}-\d+-of-\d+\.parquet")
        shards = sorted(f for f in files if pattern.fullmatch(f))
        if not shards:
            raise SourceUnavailable(f"no parquet files {config}/{split}-*.parquet at revision {revision}")
        tables = []
        for shard in shards:
            url = f"{endpoints.hub}/datasets/{DATASET}/resolve/{revision}/{shard}"
            body, _final_url = client.get_bytes(url)
            table = pq.read_table(io.BytesIO(body))
            tables.append(table.select([c for c in COLUMNS if c in table.column_names]).to_pandas())
            urls.append(url)
        frame = _config_snapshot(
            pd.concat(tables, ignore_index=True),
            style_control,
            PARQUET_SOURCE,
            date,
            models,
            f"{config}/{split} parquet",
        )
        frames.append(frame)
        dates[config] = frame["date"].iloc[0] if len(frame) else None
    return Snapshot(
        pd.concat(frames, ignore_index=True),
        {
            "url": " ; ".join(urls),
            "revision": revision,
            "snapshot_date": joint_date(dates),
            "snapshot_dates": dates,
        },
    )
