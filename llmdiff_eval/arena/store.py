"""Save / load arena tables with their provenance: a fetched table in a directory (a run's ``arena/`` or any
folder), a table fitted from battles as a CSV file with side files."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd

from llmdiff_eval.arena.errors import ArenaError
from llmdiff_eval.arena.ratings import PAIRWISE_COLUMNS, STYLE_COLUMNS, pairwise_table
from llmdiff_eval.arena.records import COLUMNS, make_frame
from llmdiff_eval.utils import atomic_write_json, atomic_write_text

RATINGS_FILE = "ratings.csv"
PROVENANCE_FILE = "provenance.json"


def save_arena(df: pd.DataFrame, directory: str | os.PathLike) -> Path:
    """Write ``ratings.csv`` (the :func:`fetch_arena` columns) and ``provenance.json`` into ``directory``."""
    directory = Path(directory)
    atomic_write_text(directory / RATINGS_FILE, df[list(COLUMNS)].to_csv(index=False))
    atomic_write_json(directory / PROVENANCE_FILE, df.attrs.get("provenance", {}))
    return directory


def load_arena(directory: str | os.PathLike) -> pd.DataFrame:
    """Read what :func:`save_arena` wrote; ``attrs["provenance"]`` restored."""
    directory = Path(directory)
    path = directory / RATINGS_FILE
    if not path.exists():
        raise ArenaError(f"{path} not found; run `llmdiff-eval arena fetch --out {directory}` first")
    frame = _read_ratings(path)
    frame.attrs["provenance"] = _read_json(directory / PROVENANCE_FILE)
    return frame


def _read_ratings(path: Path) -> pd.DataFrame:
    """A ratings CSV in the normalized form (``source`` kept as written; style coefficient columns kept)."""
    raw = pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")), dtype={"date": str})
    frame = make_frame(raw.drop(columns=["source"]), source="")
    frame["source"] = raw["source"].astype(str).to_numpy()
    for column in STYLE_COLUMNS:
        if column in raw.columns:
            frame[column] = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
    return frame


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def fit_side_files(path: str | os.PathLike) -> tuple[Path, Path]:
    """Where :func:`save_ratings` puts the pairwise deltas and the provenance of ``path``: ``<stem>.pairwise.csv``
    and ``<stem>.provenance.json`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.pairwise.csv"), path.with_name(f"{path.stem}.provenance.json")


def save_ratings(df: pd.DataFrame, path: str | os.PathLike) -> list[Path]:
    """Write a :func:`~llmdiff_eval.arena.fit_arena` table to the CSV ``path`` (the :func:`fetch_arena` columns
    plus the style coefficient columns), its pairwise deltas and its provenance beside it
    (:func:`fit_side_files`). Returns the three paths."""
    path = Path(path)
    pairwise_path, provenance_path = fit_side_files(path)
    columns = [*COLUMNS, *(column for column in STYLE_COLUMNS if column in df.columns)]
    atomic_write_text(pairwise_path, pairwise_table(df).to_csv(index=False))
    atomic_write_json(provenance_path, df.attrs.get("provenance", {}))
    atomic_write_text(path, df[columns].to_csv(index=False))  # last: a complete CSV means complete side files
    return [path, pairwise_path, provenance_path]


def load_ratings(path: str | os.PathLike) -> pd.DataFrame:
    """Read what :func:`save_ratings` wrote (a ``fetch_arena``-style CSV alone works too); ``attrs["pairwise"]``
    and ``attrs["provenance"]`` restored from the side files when they exist."""
    path = Path(path)
    if not path.is_file():
        raise ArenaError(f"{path} not found; write it with `llmdiff-eval arena fit BATTLES --out {path}`")
    frame = _read_ratings(path)
    pairwise_path, provenance_path = fit_side_files(path)
    if pairwise_path.exists():
        pairs = pd.read_csv(pairwise_path)
        frame.attrs["pairwise"] = {column: pairs[column].tolist() for column in PAIRWISE_COLUMNS}
    frame.attrs["provenance"] = _read_json(provenance_path)
    return frame
