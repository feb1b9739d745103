"""``latents/<pair>.parquet``: one row per latent (Δnorm, decoder cosine, ν^ε / ν^r, frequency, max activation,
tag), with the tag thresholds and the analyze config in the Parquet metadata (``df.attrs``); and
``logit_lens/<pair>.parquet``: per tagged latent, the tokens its decoder difference promotes and suppresses
(``llmdiff_eval/analyze/logit_lens.py``). Reference: docs/run-directory.md and docs/concepts.md.
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


def write_logit_lens(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a logit-lens frame (``latent_id, direction, rank, token_id, token, logit``) atomically as Parquet;
    its ``attrs`` (definition, final norm, top_k) go into the file metadata."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_logit_lens(path: str | os.PathLike) -> dict[int, dict[str, list[tuple[str, float]]]]:
    """``{latent_id: {"promoted": [(token, logit), ...], "suppressed": [...]}}`` in rank order; ``{}`` when the
    file does not exist (a run analyzed before the logit lens, or with ``analyze.logit_lens_top_k: 0``)."""
    path = Path(path)
    if not path.is_file():
        return {}
    lens: dict[int, dict[str, list[tuple[str, float]]]] = {}
    for row in pd.read_parquet(path).sort_values(["latent_id", "direction", "rank"]).itertuples(index=False):
        entry = lens.setdefault(int(row.latent_id), {"promoted": [], "suppressed": []})
        entry[row.direction].append((str(row.token), float(row.logit)))
    return lens
