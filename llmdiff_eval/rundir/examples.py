"""``examples.sqlite``: the contexts of each latent (top-activating, quantile-sampled held-out, negative).

Schema (the run contract): ``examples(pair, latent_id, kind, rank, activation, doc_id, token_index, text,
marked_text, tokens, token_acts, focus)`` with ``kind`` in ``top`` / ``quantile`` / ``negative``, the activating
tokens of ``marked_text`` as ``<<tok>>``, ``tokens`` / ``token_acts`` the JSON lists of the window's token texts and
their activations and ``focus`` the index of the example token among them (these three are NULL in databases
written before they existed); ``activation_histograms(pair, latent_id, max_act, counts)`` (``counts``: JSON list,
tokens per equal-width bin of ``(0, max_act]``); and ``examples_complete(pair, n_latents, n_rows, thresholds,
config, finished_at)``. Written by the analyze stage, read by annotate and the report. All SQL on this file is
here. Reference: docs/run-directory.md.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from llmdiff_eval.config.analyze import AnalyzeConfig
from llmdiff_eval.errors import RunDirError

TOKEN_COLUMNS = ("tokens", "token_acts", "focus")
"""Per-token columns of ``examples`` added after the first schema; added to older databases on write."""


@dataclass
class LatentExamples:
    """Contexts of one latent: ``top`` and ``heldout`` are marked texts (activating tokens as ``<<tok>>``),
    ``negative`` are plain texts of windows where the latent never fires."""

    top: list[str] = field(default_factory=list)
    heldout: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


def write_examples(
    db_path: str | os.PathLike,
    pair: str,
    examples: pd.DataFrame,
    cfg: AnalyzeConfig,
    thresholds: dict[str, Any] | None = None,
) -> None:
    """Replace ``pair``'s rows of ``examples.sqlite`` in one transaction and mark the pair complete.

    Tables (module docstring): ``examples`` from ``examples`` (``tokens`` / ``token_acts`` / ``focus`` may be
    missing: stored as NULL), ``activation_histograms`` from ``examples.attrs["activation_histogram"]`` when
    present, and ``examples_complete``; a crash before the commit leaves the previous content untouched, and readers
    only trust pairs listed as complete.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        (
            pair,
            int(r.latent_id),
            r.kind,
            int(r.rank),
            float(r.activation),
            int(r.doc_id),
            int(r.token_index),
            r.text,
            r.marked_text,
            *(_optional(getattr(r, column, None)) for column in TOKEN_COLUMNS),
        )
        for r in examples.itertuples(index=False)
    ]
    histogram = examples.attrs.get("activation_histogram") or {"max_act": {}, "counts": {}}
    histogram_rows = [
        (pair, int(latent_id), float(histogram["max_act"][latent_id]), json.dumps(counts))
        for latent_id, counts in histogram["counts"].items()
    ]
    con = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "CREATE TABLE IF NOT EXISTS examples(pair TEXT, latent_id INT, kind TEXT, rank INT, activation REAL, "
            "doc_id INT, token_index INT, text TEXT, marked_text TEXT, tokens TEXT, token_acts TEXT, focus INT)"
        )
        present = {row[1] for row in con.execute("PRAGMA table_info(examples)")}
        for column, kind in zip(TOKEN_COLUMNS, ("TEXT", "TEXT", "INT"), strict=True):
            if column not in present:  # a database written before the per-token columns
                con.execute(f"ALTER TABLE examples ADD COLUMN {column} {kind}")
        con.execute("CREATE INDEX IF NOT EXISTS examples_by_latent ON examples(pair, latent_id, kind, rank)")
        con.execute(
            "CREATE TABLE IF NOT EXISTS activation_histograms(pair TEXT, latent_id INT, max_act REAL, counts TEXT)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS examples_complete(pair TEXT PRIMARY KEY, n_latents INT, n_rows INT, "
            "thresholds TEXT, config TEXT, finished_at TEXT)"
        )
        con.execute("DELETE FROM examples WHERE pair = ?", (pair,))
        con.execute("DELETE FROM examples_complete WHERE pair = ?", (pair,))
        con.execute("DELETE FROM activation_histograms WHERE pair = ?", (pair,))
        con.executemany(
            "INSERT INTO examples(pair, latent_id, kind, rank, activation, doc_id, token_index, text, marked_text, "
            "tokens, token_acts, focus) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.executemany("INSERT INTO activation_histograms VALUES (?, ?, ?, ?)", histogram_rows)
        con.execute(
            "INSERT INTO examples_complete VALUES (?, ?, ?, ?, ?, ?)",
            (
                pair,
                int(examples["latent_id"].nunique()),
                len(rows),
                json.dumps(thresholds or cfg.thresholds()),
                json.dumps(dataclasses.asdict(cfg)),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def examples_problems(db_path: str | os.PathLike, pair: str) -> list[str]:
    """Why ``pair``'s examples cannot be read (file missing, corrupt, or the pair not finished); empty when fine."""
    db_path = Path(db_path)
    if not db_path.is_file():
        return [f"{db_path.name} is missing"]
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
        try:
            done = con.execute("SELECT 1 FROM examples_complete WHERE pair = ?", (pair,)).fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as error:
        return [f"{db_path.name} is unreadable ({error})"]
    return [] if done else [f"{db_path.name} has no finished examples for {pair}"]


def load_examples(
    db_path: str | os.PathLike, pair: str, latent_ids: Iterable[int] | None = None
) -> dict[int, LatentExamples]:
    """Examples of ``pair`` per latent id: ``top``/``heldout`` marked texts in rank order, ``negative`` plain texts.

    With ``latent_ids`` every requested id gets an entry (empty lists if it has no examples); without, every latent
    that has examples. Raises ``FileNotFoundError`` if the pair's examples were never completely written.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(
            f"{db_path} does not exist: run the analyze stage (`llmdiff-eval analyze`) first"
        )
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
    try:
        try:
            tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            raise RunDirError(
                f"{db_path} is corrupt or not an SQLite database ({error}): rebuild it with "
                "`llmdiff-eval analyze RUN_DIR --force` (it re-reads the crosscoders and activation caches)"
            ) from error
        complete = (
            "examples_complete" in tables
            and con.execute("SELECT 1 FROM examples_complete WHERE pair = ?", (pair,)).fetchone()
        )
        if not complete:
            raise FileNotFoundError(
                f"{db_path} has no finished examples for pair {pair!r}: run the analyze stage (`llmdiff-eval analyze`)"
            )
        query = "SELECT latent_id, kind, text, marked_text FROM examples WHERE pair = ?"
        params: list[Any] = [pair]
        wanted = None if latent_ids is None else [int(i) for i in latent_ids]
        if wanted is not None:
            con.execute("CREATE TEMP TABLE wanted(latent_id INT PRIMARY KEY)")
            con.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(i,) for i in wanted])
            query += " AND latent_id IN (SELECT latent_id FROM wanted)"
        result: dict[int, LatentExamples] = {i: LatentExamples() for i in wanted or []}
        for latent_id, kind, text, marked in con.execute(query + " ORDER BY latent_id, kind, rank", params):
            entry = result.setdefault(latent_id, LatentExamples())
            if kind == "top":
                entry.top.append(marked)
            elif kind == "quantile":
                entry.heldout.append(marked)
            else:
                entry.negative.append(text)
        return result
    finally:
        con.close()


@dataclass(frozen=True)
class ShadedContext:
    """One top or quantile example window of a latent, for display.

    ``kind`` is ``"top"`` or ``"quantile"``; ``activation`` is f at the example token (the crosscoder's activation
    units, those of ``max_act``); ``tokens`` are the window's token texts (joining to the text) and ``token_acts``
    the latent's f on each, ``focus`` the index of the example token in ``tokens``. The three are None for a
    database written before per-token activations were stored: then only ``marked_text`` (activating tokens as
    ``<<tok>>``) is known.
    """

    kind: str
    rank: int
    activation: float
    marked_text: str
    tokens: list[str] | None = None
    token_acts: list[float] | None = None
    focus: int | None = None


def display_contexts(db_path: str | os.PathLike, pair: str) -> dict[int, list[ShadedContext]]:
    """Every top and quantile example of ``pair`` per latent id (top first, each kind in rank order); ``{}`` when
    the database is missing, unreadable or has no finished examples for the pair (the report then shows latents
    without contexts)."""
    if examples_problems(db_path, pair):
        return {}
    con = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=60)
    try:
        present = {row[1] for row in con.execute("PRAGMA table_info(examples)")}
        token_columns = ", ".join(column if column in present else "NULL" for column in TOKEN_COLUMNS)
        rows = con.execute(
            f"SELECT latent_id, kind, rank, activation, marked_text, {token_columns} FROM examples "
            "WHERE pair = ? AND kind IN ('top', 'quantile') ORDER BY latent_id, kind = 'quantile', rank",
            (pair,),
        ).fetchall()
    except sqlite3.DatabaseError:
        return {}
    finally:
        con.close()
    contexts: dict[int, list[ShadedContext]] = {}
    for latent_id, kind, rank, activation, marked, tokens, token_acts, focus in rows:
        contexts.setdefault(int(latent_id), []).append(
            ShadedContext(
                kind,
                int(rank),
                float(activation),
                str(marked or ""),
                json.loads(tokens) if tokens else None,
                json.loads(token_acts) if token_acts else None,
                None if focus is None else int(focus),
            )
        )
    return contexts


def activation_histograms(db_path: str | os.PathLike, pair: str) -> dict[int, tuple[float, list[int]]]:
    """``{latent_id: (max_act, counts)}`` of ``pair``: tokens per equal-width bin of ``(0, max_act]`` (bin i covers
    ``(i/n · max_act, (i+1)/n · max_act]``); ``{}`` when the database is missing, unreadable or older than the
    histograms."""
    if examples_problems(db_path, pair):
        return {}
    con = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=60)
    try:
        rows = con.execute(
            "SELECT latent_id, max_act, counts FROM activation_histograms WHERE pair = ?", (pair,)
        ).fetchall()
    except sqlite3.DatabaseError:  # no such table: written before the histograms
        return {}
    finally:
        con.close()
    return {int(latent_id): (float(max_act), json.loads(counts)) for latent_id, max_act, counts in rows}


def _optional(value: Any) -> Any:
    """A per-token column value for SQLite: None for missing (None / NaN), plain ints for numpy integers."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return int(value) if isinstance(value, numbers.Integral) else value
