"""SQLite cache of annotations and detection scores (``annotations.sqlite`` in a run directory).

* ``annotations`` rows are keyed by (latent fingerprint = hash of the contexts shown to the explainer, annotator
  name, model id, prompt version, taxonomy fingerprint); change any of them and the latent is annotated again.
* ``scores`` rows are keyed by (judge name, judge model id, judge prompt version, hash of the description, hash of
  the shuffled detection set), so a description is never scored twice on the same contexts.

Each row is committed as soon as its latent finishes, so an interrupted run resumes where it stopped. Only
successful results are stored (failures are retried on the next run); no API key or request header is ever stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from llmdiff_eval.annotate.base import AnnotationError, AnnotationResult, Explanation, Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    latent_fingerprint TEXT NOT NULL, annotator TEXT NOT NULL, model_id TEXT NOT NULL,
    prompt_version TEXT NOT NULL, taxonomy_fingerprint TEXT NOT NULL,
    label TEXT NOT NULL, description TEXT NOT NULL, confidence TEXT NOT NULL, confidence_reason TEXT NOT NULL,
    patterns TEXT NOT NULL, category TEXT,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, requests INTEGER NOT NULL, cost_usd REAL NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (latent_fingerprint, annotator, model_id, prompt_version, taxonomy_fingerprint)
);
CREATE TABLE IF NOT EXISTS scores (
    judge TEXT NOT NULL, model_id TEXT NOT NULL, prompt_version TEXT NOT NULL,
    description_hash TEXT NOT NULL, set_fingerprint TEXT NOT NULL,
    score REAL, n_active INTEGER NOT NULL, n_negative INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, requests INTEGER NOT NULL, cost_usd REAL NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (judge, model_id, prompt_version, description_hash, set_fingerprint)
);
"""
_USAGE_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "requests",
    "cost_usd",
)


@dataclass(frozen=True)
class AnnotationKey:
    latent_fingerprint: str
    annotator: str
    model_id: str
    prompt_version: str
    taxonomy_fingerprint: str


@dataclass(frozen=True)
class ScoreKey:
    judge: str
    model_id: str
    prompt_version: str
    description_hash: str
    set_fingerprint: str


class AnnotationCache:
    """The cache at ``path`` (created if missing); ``path=None`` keeps it in memory for this process only."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path) if self.path else ":memory:", check_same_thread=False, timeout=30
        )
        try:
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise AnnotationError(
                f"{self.path} is corrupt or not an SQLite database ({error}). It is only the cache of finished "
                f"annotations: move it aside (`mv {self.path} {self.path}.corrupt`) and rerun; the tables in "
                "annotations/*.parquet are not affected, and latents not in them are annotated again"
            ) from error

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AnnotationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_annotation(self, key: AnnotationKey) -> tuple[AnnotationResult, Usage] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT label, description, confidence, confidence_reason, patterns, category, "
                + ", ".join(_USAGE_COLUMNS)
                + " FROM annotations WHERE latent_fingerprint=? AND annotator=? AND model_id=? AND prompt_version=?"
                " AND taxonomy_fingerprint=?",
                (
                    key.latent_fingerprint,
                    key.annotator,
                    key.model_id,
                    key.prompt_version,
                    key.taxonomy_fingerprint,
                ),
            ).fetchone()
        if row is None:
            return None
        label, description, confidence, reason, patterns, category, *usage = row
        explanation = Explanation(json.loads(patterns), label, description, confidence, reason)
        return AnnotationResult(explanation=explanation, category=category), _usage(usage)

    def put_annotation(self, key: AnnotationKey, result: AnnotationResult, usage: Usage) -> None:
        e = result.explanation
        values = (
            key.latent_fingerprint, key.annotator, key.model_id, key.prompt_version, key.taxonomy_fingerprint,
            e.label, e.description, e.confidence, e.confidence_reason, json.dumps(e.patterns), result.category,
            *(getattr(usage, column) for column in _USAGE_COLUMNS), time.time(),
        )  # fmt: skip
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO annotations VALUES ({', '.join('?' * len(values))})", values
            )
            self._db.commit()

    def get_score(self, key: ScoreKey) -> tuple[float, Usage] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT score, "
                + ", ".join(_USAGE_COLUMNS)
                + " FROM scores WHERE judge=? AND model_id=? AND "
                "prompt_version=? AND description_hash=? AND set_fingerprint=?",
                (key.judge, key.model_id, key.prompt_version, key.description_hash, key.set_fingerprint),
            ).fetchone()
        if row is None:
            return None
        score, *usage = row
        return (float("nan") if score is None else score), _usage(usage)

    def put_score(self, key: ScoreKey, score: float, n_active: int, n_negative: int, usage: Usage) -> None:
        values = (
            key.judge, key.model_id, key.prompt_version, key.description_hash, key.set_fingerprint,
            None if score != score else score, n_active, n_negative,
            *(getattr(usage, column) for column in _USAGE_COLUMNS), time.time(),
        )  # fmt: skip
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO scores VALUES ({', '.join('?' * len(values))})", values)
            self._db.commit()


def _usage(values: list) -> Usage:
    return Usage(**dict(zip(_USAGE_COLUMNS, values, strict=True)))
