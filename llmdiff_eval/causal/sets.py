"""Which latents to intervene on: a pair's model-specific latents by class and category, hand-picked ids, and
random controls matched to a set in size and firing mass.

The model-specific latents of a pair are the rows of its annotation table (``annotations/<pair>.parquet``: the
latents the analyze stage tagged, with the taxonomy ``category`` and ``class_name`` the annotate stage gave them).
Controls come from the crosscoder's other latents. Reference: docs/causal.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from llmdiff_eval.causal.intervention import LatentSet
from llmdiff_eval.errors import CausalError
from llmdiff_eval.rundir import RunDir

MODEL_SPECIFIC = "model-specific"


def read_model_specific(run_dir: str | os.PathLike, pair: str) -> pd.DataFrame:
    """The pair's annotation table (index ``latent_id``; ``category``, ``class_name``); a :class:`CausalError`
    naming the stage to run when it is missing."""
    path = RunDir(run_dir).annotations(pair)
    if not path.is_file():
        raise CausalError(
            f"{path} not found: the causal stage intervenes on the annotated model-specific latents of each pair; "
            "run the annotate stage first (`llmdiff-eval annotate RUN_DIR`), or select latents by id"
        )
    table = pd.read_parquet(path)
    missing = {"category", "class_name"} - set(table.columns)
    if missing:
        raise CausalError(
            f"{path} has no {sorted(missing)} column(s); it was not written by `llmdiff-eval annotate`"
        )
    return table


def _ids(index: Sequence) -> tuple[int, ...]:
    return tuple(sorted(int(latent) for latent in index))


def pair_sets(annotations: pd.DataFrame, min_category_latents: int) -> list[LatentSet]:
    """The sets the causal stage measures for one pair: all model-specific latents, each class with at least one,
    and each category with at least ``min_category_latents`` that is not its whole class (that one is measured as
    the class); classes and categories in taxonomy-code order."""
    sets = [LatentSet(MODEL_SPECIFIC, MODEL_SPECIFIC, _ids(annotations.index))] if len(annotations) else []
    codes = annotations["category"].where(annotations["category"].notna(), None)
    classes = annotations["class_name"].where(annotations["class_name"].notna(), None)
    first_code = {
        name: min((str(code) for code in codes[classes == name] if code is not None), default="~")
        for name in classes.dropna().unique()
    }
    for name in sorted(first_code, key=lambda name: (first_code[name], name)):
        sets.append(LatentSet("class", name, _ids(annotations.index[classes == name]), class_name=name))
    class_sets = {latent_set.latents for latent_set in sets if latent_set.kind == "class"}
    for code in sorted(codes.dropna().unique()):
        members = annotations.index[codes == code]
        if len(members) >= min_category_latents and _ids(members) not in class_sets:
            class_name = classes[codes == code].dropna()
            sets.append(
                LatentSet(
                    "category",
                    str(annotations.loc[members[0]].get("category_name") or code),
                    _ids(members),
                    class_name=str(class_name.iloc[0]) if len(class_name) else None,
                    category=str(code),
                )
            )
    return sets


def resolve_selector(selector: str, annotations: pd.DataFrame | None, n_latents: int) -> LatentSet:
    """A ``steer`` SELECTOR as a latent set: a class name (case-insensitive), a category code (``B.7``),
    ``model-specific``, or a comma list of latent ids (``12,407``). Classes, categories and ``model-specific``
    mean the fine-tune's annotated model-specific latents of that class or category."""
    text = selector.strip()
    if not text:
        raise CausalError(
            "the latent selector is empty: give a class name, a category code, model-specific or ids"
        )
    parts = [part.strip() for part in text.split(",")]
    if all(part.isdigit() for part in parts):
        latents = tuple(sorted({int(part) for part in parts}))
        bad = [latent for latent in latents if latent >= n_latents]
        if bad:
            raise CausalError(
                f"latent id(s) {bad} do not exist: this crosscoder has latents 0..{n_latents - 1}"
            )
        return LatentSet("latents", text, latents)
    if annotations is None:
        raise CausalError(
            f"selector {text!r} names model-specific latents, but this pair has no annotation table: run "
            "`llmdiff-eval annotate RUN_DIR` first, or give latent ids (e.g. 12,407)"
        )
    if text.lower() == MODEL_SPECIFIC:
        return LatentSet(MODEL_SPECIFIC, MODEL_SPECIFIC, _ids(annotations.index))
    classes = {str(name).lower(): str(name) for name in annotations["class_name"].dropna().unique()}
    codes = {str(code).lower(): str(code) for code in annotations["category"].dropna().unique()}
    if text.lower() in classes:
        name = classes[text.lower()]
        return LatentSet(
            "class", name, _ids(annotations.index[annotations["class_name"] == name]), class_name=name
        )
    if text.lower() in codes:
        code = codes[text.lower()]
        members = annotations.index[annotations["category"] == code]
        class_name = annotations.loc[members, "class_name"].dropna()
        return LatentSet(
            "category",
            str(annotations.loc[members[0]].get("category_name") or code),
            _ids(members),
            class_name=str(class_name.iloc[0]) if len(class_name) else None,
            category=code,
        )
    raise CausalError(
        f"unknown latent selector {text!r}: this fine-tune's model-specific latents have the classes "
        f"{sorted(classes.values()) or 'none'} and the categories {sorted(codes.values()) or 'none'}; or give "
        f"{MODEL_SPECIFIC!r} or latent ids 0..{n_latents - 1} (comma-separated)"
    )


def matched_controls(
    target: LatentSet,
    masses: np.ndarray,
    excluded: set[int],
    n_controls: int,
    window: int,
    rng: np.random.Generator,
) -> list[LatentSet]:
    """``n_controls`` random latent sets of ``len(target)`` latents from outside ``excluded`` (the model-specific
    latents and the target), matched to the target latent by latent: each latent j of the target is replaced by a
    latent drawn uniformly from the ``2 · window`` pool latents nearest to ``masses[j]`` (ranked by mass), without
    repeats within one control set. ``masses`` (F,) is the firing (or intervention) mass of every latent."""
    if n_controls == 0:
        return []
    excluded = set(excluded) | set(target.latents)
    pool = np.array([latent for latent in range(len(masses)) if latent not in excluded], dtype=np.int64)
    if len(pool) < len(target):
        raise CausalError(
            f"cannot draw controls for {target.name!r}: it has {len(target)} latents but only {len(pool)} latents "
            "lie outside the model-specific set"
        )
    pool = pool[np.argsort(masses[pool], kind="stable")]
    pool_masses = masses[pool]
    controls = []
    for number in range(n_controls):
        used: set[int] = set()
        for latent in target.latents:
            rank = int(np.searchsorted(pool_masses, masses[latent]))
            half = window
            while True:
                lo, hi = max(0, rank - half), min(len(pool), rank + half)
                candidates = [int(pool[i]) for i in range(lo, hi) if int(pool[i]) not in used]
                if candidates:
                    break
                half *= 2
            used.add(candidates[int(rng.integers(len(candidates)))])
        controls.append(
            LatentSet(
                "control",
                f"{target.name} control {number}",
                tuple(sorted(used)),
                target.class_name,
                target.category,
            )
        )
    return controls
