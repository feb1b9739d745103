"""A local stand-in for the services the arena fetcher talks to, serving fixture data through the same URL shapes.

One ``ThreadingHTTPServer`` on 127.0.0.1 (random port) in a daemon thread answers:

* datasets-server: ``/filter`` (``where`` / ``orderby`` run as SQL over the fixture rows, like the real service's
  DuckDB index) and ``/rows``, both paged with ``offset`` / ``length`` (``length`` > 100 -> HTTP 422 with the real
  error body), JSON ``{features, rows: [{row_idx, row, truncated_cells}], num_rows_total, num_rows_per_page,
  partial}``;
* hub: ``/api/datasets/lmarena-ai/leaderboard-dataset`` and ``/api/spaces/lmarena-ai/arena-leaderboard``
  (``{id, sha, lastModified, siblings: [{rfilename}]}``), ``/datasets/.../resolve/<rev>/<file>`` and
  ``/spaces/.../resolve/<rev>/<file>`` answering 302 to ``/cdn/<token>``, which serves the bytes;
* GitHub: ``/repos/lmarena/arena-catalog/commits?path=&until=&per_page=`` and raw
  ``/lmarena/arena-catalog/<sha>/data/leaderboard-text[-style-control].json``.

Faults are queued per path prefix with :meth:`ArenaServer.add_fault` (429 + Retry-After, 503, the datasets-server's
"not ready" body, an "index is loading" body, truncated JSON, a slow answer, a persistent 500 / 404).
Every request is logged in :attr:`ArenaServer.requests` as ``(path, params)``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

FIXTURES = Path(__file__).parent / "fixtures" / "arena"
LEADERBOARD_CSV = FIXTURES / "leaderboard.csv"
DATASET = "lmarena-ai/leaderboard-dataset"
SPACE = "lmarena-ai/arena-leaderboard"
CATALOG = "lmarena/arena-catalog"
DATASET_SHA = "d5" * 20
SPACE_SHA = "5a" * 20
COLUMNS = [
    "model_name", "organization", "license", "rating", "rating_lower", "rating_upper", "variance", "vote_count",
    "rank", "category", "leaderboard_publish_date",
]  # fmt: skip
NUMERIC = {"rating", "rating_lower", "rating_upper", "variance", "vote_count", "rank"}
# catalog fixture: one commit per date (newest first when listed); category names as the legacy site spelled them
CATALOG_DATES = ["2025-09-10", "2025-09-18"]
LEGACY_KEYS = {"overall": "full", "instruction_following": "if", "hard_prompts": "hard_6", "multi_turn": "multiturn",
               "longer_query": "long_user"}  # fmt: skip
NOT_READY = "The server is busier than usual and the response is not ready yet. Please retry later."


def load_leaderboard() -> list[dict[str, Any]]:
    """The fixture rows (one dict per row, numbers parsed; ``config`` says text / text_style_control)."""
    with LEADERBOARD_CSV.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in NUMERIC:
            row[key] = int(row[key]) if key in ("vote_count", "rank") else float(row[key])
    return rows


def split_rows(rows: list[dict[str, Any]], config: str, split: str) -> list[dict[str, Any]]:
    """Rows of one dataset config and split (``latest`` = the newest date only)."""
    mine = [{k: r[k] for k in COLUMNS} for r in rows if r["config"] == config]
    if split == "latest":
        newest = max(r["leaderboard_publish_date"] for r in mine)
        mine = [r for r in mine if r["leaderboard_publish_date"] == newest]
    return mine


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    table = pa.Table.from_pylist(rows)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def catalog_json(rows: list[dict[str, Any]], config: str, date: str) -> bytes:
    """The arena-catalog document for one config as of ``date``: ``{legacy key: {model: {rating, q975, q025}}}``."""
    latest = max(r["leaderboard_publish_date"] for r in rows if r["leaderboard_publish_date"] <= date)
    document: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["config"] == config and r["leaderboard_publish_date"] == latest:
            key = LEGACY_KEYS.get(r["category"], r["category"])
            document.setdefault(key, {})[r["model_name"]] = {
                "rating": r["rating"], "rating_q975": r["rating_upper"], "rating_q025": r["rating_lower"]
            }  # fmt: skip
    return json.dumps(document, indent=1).encode()


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Fault:
    """A queued misbehaviour for requests whose path starts with ``prefix``; ``times=None`` = forever."""

    prefix: str
    kind: str
    times: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)


class ArenaServer:
    """The local server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, pickles: dict[str, bytes] | None = None) -> None:
        self.rows = load_leaderboard()
        self.pickles = dict(pickles or {})
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._tables: dict[tuple[str, str], str] = {}
        self.files: dict[str, bytes] = {}  # "datasets/<repo>/<path>" or "spaces/<repo>/<path>" -> bytes
        for config in ("text", "text_style_control"):
            for split in ("latest", "full"):
                rows = split_rows(self.rows, config, split)
                table = f"{config}__{split}"
                self._tables[(config, split)] = table
                self._db.execute(
                    f'CREATE TABLE "{table}" ('
                    + ", ".join(f'"{c}" {"REAL" if c in NUMERIC else "TEXT"}' for c in COLUMNS)
                    + ")"
                )
                self._db.executemany(
                    f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(COLUMNS))})',
                    [[r[c] for c in COLUMNS] for r in rows],
                )
                self.files[f"datasets/{DATASET}/{config}/{split}-00000-of-00001.parquet"] = parquet_bytes(
                    rows
                )
        for name, data in self.pickles.items():
            self.files[f"spaces/{SPACE}/{name}"] = data
        self.catalog: dict[str, bytes] = {}  # "<sha>/<path>" -> bytes
        self.catalog_commits: dict[str, list[tuple[str, str]]] = {}  # path -> [(sha, date)], oldest first
        for path, config in (("data/leaderboard-text.json", "text"),
                             ("data/leaderboard-text-style-control.json", "text_style_control")):  # fmt: skip
            for date in CATALOG_DATES:
                sha = _sha(f"{path}@{date}")
                self.catalog[f"{sha}/{path}"] = catalog_json(self.rows, config, date)
                self.catalog_commits.setdefault(path, []).append((sha, date))
        self._httpd: ThreadingHTTPServer | None = None
        self._url: str | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> ArenaServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self._url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ArenaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL (kept after :meth:`stop`, so clients can be pointed at a server that is down)."""
        assert self._url is not None, "server not started"
        return self._url

    def urls(self) -> dict[str, str]:
        """Keyword arguments for ``fetch_arena`` pointing every source at this server."""
        return {
            "hub_url": self.url,
            "datasets_server_url": self.url,
            "github_raw_url": self.url,
            "github_api_url": self.url,
        }

    # -- faults and logs ---------------------------------------------------------------------------------------
    def add_fault(self, prefix: str, kind: str, times: int | None = 1, **params: Any) -> None:
        with self._lock:
            self.faults.append(Fault(prefix, kind, times, params))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.prefix):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    # -- datasets-server -----------------------------------------------------------------------------------------
    def query(
        self, config: str, split: str, where: str | None, orderby: str | None, offset: int, length: int
    ):
        table = self._tables[(config, split)]
        clause = f" WHERE {where}" if where else ""
        order = f" ORDER BY {orderby}" if orderby else " ORDER BY rowid"
        with self._lock:
            total = self._db.execute(f'SELECT COUNT(*) FROM "{table}"{clause}').fetchone()[0]
            cursor = self._db.execute(
                f'SELECT rowid - 1, * FROM "{table}"{clause}{order} LIMIT ? OFFSET ?', (length, offset)
            )
            found = cursor.fetchall()
        rows = []
        for row_idx, *values in found:
            row = dict(zip(COLUMNS, values, strict=True))
            for key in ("vote_count", "rank"):
                row[key] = int(row[key])
            rows.append({"row_idx": row_idx, "row": row, "truncated_cells": []})
        return rows, total


FEATURES = [
    {
        "feature_idx": i,
        "name": c,
        "type": {"dtype": "float64" if c in NUMERIC else "string", "_type": "Value"},
    }
    for i, c in enumerate(COLUMNS)
]


def _handler_for(server: ArenaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(
            self, status: int, body: bytes, content_type: str = "application/json", headers=None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any, headers=None) -> None:
            self._send(status, json.dumps(obj).encode(), headers=headers)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            with server._lock:
                server.requests.append((path, params))
            fault = server._take_fault(path)
            if fault is not None and self._fault(fault):
                return
            try:
                self._route(path, params, truncate=fault is not None and fault.kind == "truncated")
            except BrokenPipeError:
                pass

        def _fault(self, fault: Fault) -> bool:
            """Serve the fault; True if the request is answered, False to continue normally (slow / truncated)."""
            kind = fault.kind
            if kind == "429":
                self._json(
                    429,
                    {"error": "Too Many Requests"},
                    {"Retry-After": str(fault.params.get("retry_after", 1))},
                )
            elif kind == "503":
                self._send(503, b"<html><body>503 Service Temporarily Unavailable</body></html>", "text/html")
            elif kind == "500":
                self._json(500, {"error": "Unexpected error."}, {"X-Error-Code": "UnexpectedError"})
            elif kind == "404":
                self._json(404, {"error": "Not found."}, {"X-Error-Code": "ResponseNotFound"})
            elif kind == "not_ready":
                self._json(500, {"error": NOT_READY}, {"X-Error-Code": "ResponseNotReady"})
            elif kind == "loading":
                self._json(200, {"error": "The index is loading, please retry later."})
            elif kind == "slow":
                time.sleep(float(fault.params.get("delay", 2.0)))
                return False
            elif kind == "truncated":
                return False
            else:
                raise ValueError(f"unknown fault kind {kind!r}")
            return True

        def _route(self, path: str, params: dict[str, str], truncate: bool) -> None:
            if path in ("/filter", "/rows"):
                status, body = self._datasets_server(path, params)
                payload = json.dumps(body).encode()
                if truncate and status == 200:
                    payload = payload[: len(payload) // 2]
                self._send(status, payload)
            elif path == f"/api/datasets/{DATASET}":
                self._repo_info(DATASET, DATASET_SHA, "datasets/")
            elif path == f"/api/spaces/{SPACE}":
                self._repo_info(SPACE, SPACE_SHA, "spaces/")
            elif path.startswith((f"/datasets/{DATASET}/resolve/", f"/spaces/{SPACE}/resolve/")):
                self._resolve(path)
            elif path.startswith("/cdn/"):
                key = path[len("/cdn/") :]
                if key in server.files:
                    self._send(200, server.files[key], "application/octet-stream")
                else:
                    self._json(404, {"error": "Entry not found"})
            elif path == f"/repos/{CATALOG}/commits":
                self._commits(params)
            elif path.startswith(f"/{CATALOG}/"):
                key = path[len(f"/{CATALOG}/") :]
                data = server.catalog.get(key)
                if data is None:
                    self._send(404, b"404: Not Found", "text/plain")
                else:
                    self._send(200, data[: len(data) // 2] if truncate else data, "text/plain; charset=utf-8")
            else:
                self._json(404, {"error": "Not found."})

        def _datasets_server(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
            for name in ("dataset", "config", "split"):
                if not params.get(name):
                    return 422, {"error": f"Parameter '{name}' is required"}
            if params["dataset"] != DATASET or (params["config"], params["split"]) not in server._tables:
                return 404, {"error": "Not found."}
            try:
                offset = int(params.get("offset", 0))
                length = int(params.get("length", 100))
            except ValueError:
                return 422, {"error": "Parameter 'offset' and 'length' must be integers"}
            if length > 100:
                return 422, {"error": "Parameter 'length' must not be greater than 100"}
            if offset < 0 or length < 0:
                return 422, {"error": "Parameter 'offset' must be positive"}
            where = params.get("where") if path == "/filter" else None
            orderby = params.get("orderby") if path == "/filter" else None
            try:
                rows, total = server.query(params["config"], params["split"], where, orderby, offset, length)
            except sqlite3.Error:
                return 422, {"error": "Parameter 'where' or 'orderby' is invalid"}
            return 200, {
                "features": FEATURES,
                "rows": rows,
                "num_rows_total": total,
                "num_rows_per_page": 100,
                "partial": False,
            }

        def _repo_info(self, repo: str, sha: str, kind: str) -> None:
            prefix = f"{kind}{repo}/"
            siblings = [{"rfilename": key[len(prefix) :]} for key in server.files if key.startswith(prefix)]
            self._json(
                200,
                {
                    "_id": _sha(repo)[:24],
                    "id": repo,
                    "sha": sha,
                    "lastModified": "2025-10-01T12:00:00.000Z",
                    "private": False,
                    "siblings": [{"rfilename": ".gitattributes"}, {"rfilename": "README.md"}, *siblings],
                },
            )

        def _resolve(self, path: str) -> None:
            kind, rest = path[1:].split("/", 1)  # "datasets" | "spaces", "<org>/<name>/resolve/<rev>/<file>"
            org, name, _resolve, revision, file = rest.split("/", 4)
            sha = DATASET_SHA if kind == "datasets" else SPACE_SHA
            key = f"{kind}/{org}/{name}/{file}"
            if revision not in (sha, "main"):
                self._json(404, {"error": "Revision Not Found"}, {"X-Error-Code": "RevisionNotFound"})
            elif key not in server.files:
                self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            else:
                self._send(302, b"", "text/plain", {"Location": f"/cdn/{key}", "X-Repo-Commit": sha})

        def _commits(self, params: dict[str, str]) -> None:
            history = server.catalog_commits.get(params.get("path", ""), [])
            until = params.get("until", "9999")[:10]
            found = [(sha, date) for sha, date in reversed(history) if date <= until]
            per_page = int(params.get("per_page", 30))
            self._json(
                200,
                [
                    {
                        "sha": sha,
                        "commit": {"committer": {"date": f"{date}T18:00:00Z"}, "message": "update data"},
                    }
                    for sha, date in found[:per_page]
                ],
            )

    return Handler


class FakeFigure:
    """Stands in for the plotly figures inside the real pickles: importable, harmless, and still not allowed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


def legacy_pickle(rows: list[dict[str, Any]], date: str, extra: dict[str, Any] | None = None) -> bytes:
    """An ``elo_results`` pickle like the legacy Space's, built from plain pandas objects for one fixture date.

    ``{"text": {legacy key (+ "_style_control"): {"leaderboard_table_df": DataFrame indexed by model with rating,
    variance, rating_q975, rating_q025, num_battles, final_ranking; "win_fraction_heatmap": FakeFigure; ...}},
    "vision": {}}``; ``extra`` entries are added to every category dict (e.g. a disallowed object).
    Index and column labels are object dtype, as in pickles written by pandas 2.
    """
    import pickle

    import pandas as pd

    categories: dict[str, Any] = {}
    for config, suffix in (("text", ""), ("text_style_control", "_style_control")):
        mine = [r for r in rows if r["config"] == config and r["leaderboard_publish_date"] == date]
        for category in dict.fromkeys(r["category"] for r in mine):
            cat_rows = [r for r in mine if r["category"] == category]
            table = pd.DataFrame(
                {
                    "rating": [r["rating"] for r in cat_rows],
                    "variance": [r["variance"] for r in cat_rows],
                    "rating_q975": [r["rating_upper"] for r in cat_rows],
                    "rating_q025": [r["rating_lower"] for r in cat_rows],
                    "num_battles": [r["vote_count"] for r in cat_rows],
                    "final_ranking": [r["rank"] for r in cat_rows],
                },
                index=pd.Index([r["model_name"] for r in cat_rows], dtype=object),
            )
            table.columns = pd.Index(list(table.columns), dtype=object)
            key = LEGACY_KEYS.get(category, category) + suffix
            categories[key] = {
                "rating_system": "bt",
                "leaderboard_table_df": table,
                "win_fraction_heatmap": FakeFigure({"type": "heatmap"}),
                "last_updated_datetime": f"{date} 12:00:00 PDT",
                **(extra or {}),
            }
    return pickle.dumps({"text": categories, "vision": {}}, protocol=4)
