"""Hand-built run directories for the scorecard / report tests (no tests in this module).

``make_run(tmp_path)`` writes the contract files of a finished run by hand: ``config.yaml``,
``latents/base__<ft>.parquet``, ``annotations/base__<ft>.parquet``, ``examples.sqlite`` and one analyze plot, for a
base and three fine-tunes ``a`` (10 annotated latents, 2 uncategorized), ``b`` (8) and ``c`` (4, 1 uncategorized).

Expected class shares (percent of the model's annotated latents), computed by hand:

=================================  ======  ======  ======
class                              a       b       c
=================================  ======  ======  ======
Safety & Content Moderation        30      50      0
Linguistic Capabilities            10      25      25
Information Processing             0       0       0
User Interaction Management        10      0       0
Format & Structure Control         0       12.5    0
Error Handling & Quality Control   0       0       0
Specialized Capabilities           30      12.5    50
=================================  ======  ======  ======
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import yaml

# name, code or None, class name or None per latent
CATEGORY_NAMES = {
    "A.2": ("Request Refusal Mechanisms", "Safety & Content Moderation"),
    "A.4": ("Sexual Content Filtering", "Safety & Content Moderation"),
    "A.5": ("Minor Protection", "Safety & Content Moderation"),
    "B.7": ("Multilingual Processing", "Linguistic Capabilities"),
    "D.16": ("Instruction Following", "User Interaction Management"),
    "E.20": ("Template Following", "Format & Structure Control"),
    "G.24": ("Code Generation & Analysis", "Specialized Capabilities"),
}
CODES = {
    "a": ["A.4", "A.4", "A.2", "B.7", "G.24", "G.24", "G.24", "D.16", None, None],
    "b": ["A.4", "A.4", "A.4", "A.5", "B.7", "B.7", "G.24", "E.20"],
    "c": ["G.24", "G.24", "B.7", None],
}
PLANTED = "<script>document.title='PWNED';var e=document.createElement('div');e.id='pwned';document.body.appendChild(e);</script>"
PLANTED_IMG = "<img src=x id=pwned-img onerror=\"document.title='PWNED-IMG'\">"


def annotations_frame(
    model: str, first_id: int, label_overrides: dict[int, str] | None = None
) -> pd.DataFrame:
    """The contract's annotation columns for one fine-tune, one row per latent (index ``latent_id``)."""
    rows = []
    for offset, code in enumerate(CODES[model]):
        latent_id = first_id + offset
        name, class_name = CATEGORY_NAMES[code] if code else (None, None)
        rows.append(
            {
                "latent_id": latent_id,
                "label": (label_overrides or {}).get(
                    latent_id, f"{model} latent {latent_id} ({name or 'none'})"
                ),
                "description": f"Fires on {name or 'nothing in the taxonomy'}.",
                "confidence": "high",
                "category": code,
                "category_name": name,
                "class_name": class_name,
                "annotator": "test",
                "model_id": "hand-written",
                "detection_score": 0.5 + offset / 100,
                "random_baseline_score": 0.5,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
            }
        )
    return pd.DataFrame(rows).set_index("latent_id")


def latents_frame(annotated: pd.DataFrame, extra_shared: int = 3) -> pd.DataFrame:
    """The analyze contract's columns: the annotated latents tagged ft_only plus a few shared ones."""
    ids = list(annotated.index) + [10_000 + i for i in range(extra_shared)]
    tags = ["ft_only"] * len(annotated) + ["shared"] * extra_shared
    return pd.DataFrame(
        {
            "latent_id": ids,
            "delta_norm": [0.95] * len(annotated) + [0.5] * extra_shared,
            "cos_sim": 0.1,
            "nu_eps": 0.05,
            "nu_r": 0.1,
            "freq": 0.01,
            "max_act": 3.0,
            "tag": tags,
        }
    ).set_index("latent_id")


def make_run(
    root: Path,
    finetunes: tuple[str, ...] = ("a", "b", "c"),
    plant_script: bool = False,
    scorecard: dict | None = None,
    base_path: str = "org/base-model",
    directory: str = "run",
) -> Path:
    """Write a finished run directory under ``root/<directory>`` (base weights from ``base_path``); returns its
    path.

    With ``plant_script``, latent 100 of ``a`` gets a label holding a ``<script>`` and its top context holds
    another one plus an ``<img onerror>``, to check the HTML report escapes them.
    """
    run = root / directory
    (run / "annotations").mkdir(parents=True)
    (run / "latents").mkdir()
    (run / "plots").mkdir()
    config = {
        "name": "test-run",
        "base": {"name": "base", "path": base_path},
        "finetunes": [{"name": name, "path": f"org/model-{name}"} for name in finetunes],
        "scorecard": scorecard or {},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    connection = sqlite3.connect(run / "examples.sqlite")
    connection.execute(
        "CREATE TABLE examples(pair TEXT, latent_id INT, kind TEXT, rank INT, activation REAL, doc_id INT, "
        "token_index INT, text TEXT, marked_text TEXT)"
    )
    for index, model in enumerate(finetunes):
        first_id = 100 * (index + 1)
        labels = {first_id: f"Planted {PLANTED} label"} if plant_script and model == "a" else None
        annotations = annotations_frame(model, first_id, labels)
        annotations.to_parquet(run / "annotations" / f"base__{model}.parquet")
        latents_frame(annotations).to_parquet(run / "latents" / f"base__{model}.parquet")
        for latent_id in annotations.index:
            marked = f"the <<zebra>> crossing {latent_id} & more"
            if plant_script and latent_id == first_id:
                marked = f"before {PLANTED} <<tok{PLANTED_IMG}>> after"
            connection.execute(
                "INSERT INTO examples VALUES (?, ?, 'top', 0, 2.5, 1, 3, ?, ?)",
                (f"base__{model}", int(latent_id), marked.replace("<<", "").replace(">>", ""), marked),
            )
    connection.execute(
        "CREATE TABLE examples_complete(pair TEXT PRIMARY KEY, n_latents INT, n_rows INT, thresholds TEXT, "
        "config TEXT, finished_at TEXT)"
    )
    connection.executemany(
        "INSERT INTO examples_complete VALUES (?, 0, 0, '{}', '{}', '')", [(f"base__{m}",) for m in finetunes]
    )
    connection.commit()
    connection.close()
    (run / "plots" / "base__a_delta_norm.png").write_bytes(_tiny_png())
    return run


def _tiny_png() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1.5), dpi=50)
    axes.hist([0.1, 0.5, 0.5, 0.95])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def arena_frame(ci_half_width: float | None = None) -> pd.DataFrame:
    """A hand-made fetch_arena-style table for LMArena models ``model-a-arena`` (A) and ``model-b-arena`` (B).

    Deltas B − A (without / with style control): overall +10 / +6, coding −10 / −5, chinese +20 / +10,
    instruction_following +5 / −3, creative_writing +8 / +8, math 0 / +4. Each rating's interval is
    ``rating ± ci_half_width`` (none when None, like the bundled paper snapshot).
    """
    ratings = {  # category: (a, b, a_style, b_style)
        "overall": (1200, 1210, 1250, 1256),
        "coding": (1200, 1190, 1250, 1245),
        "chinese": (1180, 1200, 1230, 1240),
        "instruction_following": (1190, 1195, 1240, 1237),
        "creative_writing": (1170, 1178, 1220, 1228),
        "math": (1100, 1100, 1150, 1154),
    }
    rows = []
    for category, (a, b, a_style, b_style) in ratings.items():
        for model, rating, style in (
            ("model-a-arena", a, False),
            ("model-b-arena", b, False),
            ("model-a-arena", a_style, True),
            ("model-b-arena", b_style, True),
        ):
            rows.append(
                {
                    "model": model,
                    "category": category,
                    "style_control": style,
                    "rating": float(rating),
                    "ci_lower": float("nan") if ci_half_width is None else rating - ci_half_width,
                    "ci_upper": float("nan") if ci_half_width is None else rating + ci_half_width,
                    "votes": pd.NA,
                    "date": "2025-01-01",
                    "source": "test",
                }
            )
    frame = pd.DataFrame(rows)
    frame.attrs["provenance"] = {"source": "test", "snapshot_date": "2025-01-01"}
    return frame
