"""Save / load a fetched arena table with its provenance (a run's ``arena/`` directory or any folder)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd

from llmdiff_eval.arena.errors import ArenaError
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
    raw = pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")), dtype={"date": str})
    sources = raw["source"].astype(str)
    frame = make_frame(raw.drop(columns=["source"]), source="")
    frame["source"] = sources.to_numpy()
    provenance = directory / PROVENANCE_FILE
    frame.attrs["provenance"] = (
        json.loads(provenance.read_text(encoding="utf-8")) if provenance.exists() else {}
    )
    return frame
