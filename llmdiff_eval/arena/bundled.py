"""The bundled snapshot: the paper's Table 3 (gemma-2-9b-it vs gemma-2-9b-it-simpo), always available offline."""

from __future__ import annotations

import hashlib
import io
from importlib import resources

import pandas as pd

from llmdiff_eval.arena.records import make_frame

BUNDLED_SOURCE = "bundled"
BUNDLED_FILE = "paper_table3.csv"
BUNDLED_DATE = "2025-09-18"
BUNDLED_NOTE = (
    "paper Table 3, arXiv 2509.18792 (Boughorbel et al., 'Beyond the Leaderboard'): Elo per category of "
    "gemma-2-9b-it and gemma-2-9b-it-simpo with and without style control, read from the live LMArena "
    "leaderboard on 2025-09-18 and rounded to integers; no confidence intervals or vote counts. Known "
    "discrepancy: the Math row without style control has the two models swapped relative to later published "
    "snapshots (SimPO ~10 below it there)."
)


def bundled_snapshot() -> tuple[pd.DataFrame, dict]:
    """The bundled table in the normalized form, and its provenance fields (url, revision, snapshot_date, note)."""
    data = (resources.files("llmdiff_eval.arena") / BUNDLED_FILE).read_bytes()
    raw = pd.read_csv(io.BytesIO(data), dtype={"date": str})
    frame = make_frame(raw, BUNDLED_SOURCE)
    info = {
        "url": f"llmdiff_eval/arena/{BUNDLED_FILE}",
        "revision": "sha256:" + hashlib.sha256(data).hexdigest()[:16],
        "snapshot_date": BUNDLED_DATE,
        "note": BUNDLED_NOTE,
    }
    return frame, info
