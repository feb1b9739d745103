"""``latents/<pair>.parquet``: one row per latent (Δnorm, decoder cosine, ν^ε / ν^r, frequency, max activation,
tag), with the tag thresholds and the analyze config in the Parquet metadata (``df.attrs``). Reference:
docs/run-directory.md and docs/concepts.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from llmdiff_eval.utils import atomic_path


def write_latent_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the table atomically as Parquet; ``df.attrs`` (thresholds, config) go into the file metadata."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp)


def read_latent_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a latent table written by the analyze stage; a clear error when it is missing or not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `llmdiff-eval analyze` for this pair first")
    table = pd.read_parquet(path)
    if "tag" not in table.columns:
        raise ValueError(f"{path} has no 'tag' column; it was not written by the analyze stage")
    return table
