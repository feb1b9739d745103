"""The causal block of a scorecard, from a run directory's ``causal/<pair>.json`` files (no torch import).

``causal_block(run_dir, base, a, b)`` gives::

    {"a": [{"class", "n_latents", "kl_removed", "kl_closed", "control_p95", "causal", ...}, ...],
     "b": [...],                                    # rows also hold every control's value (control_kl_removed, ...)
     "categories": {"a": [...], "b": [...]},        # categories measured on their own (same fields + "category")
     "model_specific": {"a": {...} | None, "b": ...},  # all model-specific latents together
     "probe": {"a": {"n_tokens", "kl", "source"}, "b": ...}}

Orientation: ``kl_removed`` = 1 − KL(P_ft,ablated ‖ P_base) / KL(P_ft ‖ P_base) over all probe tokens (1 = ablating
the class's latents removes the fine-tune's whole divergence from the base); ``kl_closed`` the same for the base
steered with them; ``control_p95`` the 95th percentile of ``kl_removed`` over matched random latent sets, and
``causal`` = ``kl_removed > control_p95``. Reference: docs/causal.md.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pandas as pd

from llmdiff_eval.rundir import RunDir
from llmdiff_eval.utils import pair_name

log = logging.getLogger(__name__)

ROW_FIELDS = (
    "n_latents",
    "kl_removed",
    "kl_closed",
    "control_p95",
    "causal",
    "control_p95_closed",
    "causal_closed",
    "kl_removed_firing",
    "kl_closed_firing",
    "control_p95_firing",
    "causal_firing",
    "percentile",
    "percentile_closed",
    "n_firing_tokens",
)
"""Fields of a set's row copied into the scorecard (besides ``class`` / ``category``)."""


def read_causal(run_dir: str | os.PathLike, pair: str) -> dict[str, Any] | None:
    """The causal stage's output for ``pair`` if it exists and still matches the pair's annotation table (the same
    model-specific latents); None otherwise (a stale file is logged and left out)."""
    run = RunDir(run_dir)
    path = run.causal(pair)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    annotations = run.annotations(pair)
    if annotations.is_file():
        current = sorted(int(latent) for latent in pd.read_parquet(annotations, columns=[]).index)
        measured = next((row["latents"] for row in data["sets"] if row["kind"] == "model-specific"), [])
        if measured != current:
            log.warning(
                "%s was measured on other model-specific latents than %s; left out", path, annotations
            )
            return None
    return data


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out = {"class": row["class"] if row["kind"] != "model-specific" else "model-specific"}
    if row["kind"] == "category":
        out["category"] = row["category"]
        out["name"] = row["name"]
    out.update({key: row.get(key) for key in ROW_FIELDS})
    out["n_controls"] = row["controls"]["n"]
    out["control_kl_removed"] = row["controls"]["kl_removed"]
    out["control_kl_closed"] = row["controls"]["kl_closed"]
    out["kl_before"] = row["kl"]["all"]["before"]
    return out


def causal_block(run_dir: str | os.PathLike, base: str, a: str, b: str) -> dict[str, Any] | None:
    """The scorecard's ``"causal"`` block for fine-tunes ``a`` and ``b`` (see the module docstring); None when
    neither pair has a current causal output."""
    found = {key: read_causal(run_dir, pair_name(base, ft)) for key, ft in (("a", a), ("b", b))}
    if not any(found.values()):
        return None
    block: dict[str, Any] = {"categories": {}, "model_specific": {}, "probe": {}}
    for key, data in found.items():
        rows = data["sets"] if data else []
        block[key] = [_row(row) for row in rows if row["kind"] == "class"]
        block["categories"][key] = [_row(row) for row in rows if row["kind"] == "category"]
        block["model_specific"][key] = next(
            (_row(row) for row in rows if row["kind"] == "model-specific"), None
        )
        block["probe"][key] = (
            {
                "n_tokens": data["probe"]["n_tokens"],
                "kl": data["probe"]["kl"],
                "source": data["probe"]["source"],
                "layer": data["layer"],
                "control_match": data["settings"]["control_match"],
            }
            if data
            else None
        )
    return {"a": block.pop("a"), "b": block.pop("b"), **block}
