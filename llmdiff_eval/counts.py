"""Counting one fine-tune's model-specific latents per taxonomy class and category, and the shares built on them.

:class:`LatentCounts` holds the counts (and, when the latent table was at hand, the difference energies) of one
fine-tune vs its base; :func:`counts_from_annotations` builds it from an annotation table, :func:`pool_counts` pools
the seeds of a crosscoder seed ensemble, :func:`compare_counts` / :func:`share_pct` / :func:`change_pct` /
:func:`weighted_shares` turn counts into shares. Units: ``share = count / total × 100`` (percent of the model's
model-specific latents, ``total`` including uncategorized ones), ``diff = share_b − share_a`` (percentage points).
Used by :mod:`llmdiff_eval.scorecard`, which re-exports these names. Reference: docs/scorecard.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from llmdiff_eval.errors import ScorecardError
from llmdiff_eval.taxonomy import Taxonomy

SHARE_COLUMNS: tuple[str, ...] = ("count_a", "count_b", "share_a", "share_b", "diff", "change_pct")


@dataclass(frozen=True)
class LatentCounts:
    """The model-specific latents of one fine-tune (vs its base), counted per taxonomy class and category.

    ``total`` is every counted latent, including uncategorized ones; ``classes`` maps class name -> count and
    ``categories`` maps category code -> count (only the categories that are known: a real run knows all of them,
    the paper publishes some).
    """

    total: int
    classes: dict[str, int]
    categories: dict[str, int] = field(default_factory=dict)
    unexplained: int = 0
    """Latents counted in ``total`` but in no class because their explanation did not beat its random-label
    baseline (only with ``explained_margin``)."""
    detection: dict[str, float] = field(default_factory=dict)
    """Mean detection score (balanced accuracy, 0.5 = chance) of the scored latents per class name and per
    category code."""
    energy_total: float | None = None
    """Σ ``diff_energy`` of the counted latents (normalized units squared, see ``llmdiff_eval.analyze``); None when
    the latent table was not available."""
    energy: dict[str, float] = field(default_factory=dict)
    """Σ ``diff_energy`` per class name and per category code (the latents counted in that row)."""
    explained: int | None = None
    """Latents whose detection score beats their random-label baseline (by more than ``explained_margin`` when
    one is set, else by anything); None when unknown (counts not built from scored annotations)."""
    per_seed: tuple[LatentCounts, ...] = ()
    """With a crosscoder seed ensemble: the counts of each seed (same order for A and B); these counts are then
    their sums (:func:`pool_counts`)."""

    @property
    def n_seeds(self) -> int:
        """Crosscoder seeds pooled in these counts (1 for a single crosscoder)."""
        return max(1, len(self.per_seed))

    @property
    def uncategorized(self) -> int:
        """Latents counted in ``total`` that belong to no class (and were not set apart as unexplained)."""
        return self.total - sum(self.classes.values()) - self.unexplained


def pool_counts(per_seed: Sequence[LatentCounts]) -> LatentCounts:
    """The counts of several crosscoder seeds of one pair, summed; ``per_seed`` keeps the parts.

    Detection means are averaged over the seeds weighted by the row's count; energies are summed (the weighted
    shares of an ensemble are the mean of the seeds' weighted shares, see :func:`weighted_shares`).
    """
    parts = tuple(per_seed)
    if not parts:
        raise ScorecardError("pool_counts needs the counts of at least one seed")
    if len(parts) == 1:
        return parts[0]

    def summed(get: Callable[[LatentCounts], Mapping[str, int]]) -> dict[str, int]:
        keys = dict.fromkeys(key for part in parts for key in get(part))
        return {key: sum(int(get(part).get(key, 0)) for part in parts) for key in keys}

    classes, categories = summed(lambda c: c.classes), summed(lambda c: c.categories)
    detection = {}
    for key in dict.fromkeys(key for part in parts for key in part.detection):
        scored = [
            (part.detection[key], {**part.classes, **part.categories}.get(key, 0) or 1)
            for part in parts
            if part.detection.get(key) is not None  # a seed may have no scored latent in this row
        ]
        detection[key] = sum(s * w for s, w in scored) / sum(w for _, w in scored)
    energies = [part.energy_total for part in parts]
    return LatentCounts(
        total=sum(part.total for part in parts),
        classes=classes,
        categories=categories,
        unexplained=sum(part.unexplained for part in parts),
        explained=None
        if any(part.explained is None for part in parts)
        else sum(part.explained or 0 for part in parts),
        detection=detection,
        energy_total=None if any(e is None for e in energies) else float(sum(energies)),  # type: ignore[arg-type]
        energy={
            key: sum(part.energy.get(key, 0.0) for part in parts)
            for key in dict.fromkeys(k for part in parts for k in part.energy)
        },
        per_seed=parts,
    )


def weighted_shares(counts: LatentCounts, key: str) -> float | None:
    """Percent of the model-specific latents' difference energy carried by the row ``key`` (a class name or a
    category code): ``Σ_row diff_energy / Σ_all diff_energy × 100``; for a seed ensemble the mean over the seeds.
    None without energies (or with zero total energy)."""
    parts = counts.per_seed or (counts,)
    values = []
    for part in parts:
        if not part.energy_total:
            return None
        values.append(part.energy.get(key, 0.0) / part.energy_total * 100.0)
    return sum(values) / len(values)


def share_pct(count: int, total: int) -> float | None:
    """``count / total × 100`` (percent); ``None`` when ``total`` is 0 (no model-specific latents at all)."""
    if total < 0 or count < 0 or count > total:
        raise ScorecardError(f"invalid latent count {count} of total {total}")
    return None if total == 0 else count / total * 100.0


def change_pct(share_a: float | None, share_b: float | None) -> float | None:
    """``(share_b − share_a) / share_a × 100``; ``None`` when either share is unknown or ``share_a`` is 0."""
    if share_a is None or share_b is None or share_a == 0:
        return None
    return (share_b - share_a) / share_a * 100.0


def compare_counts(
    keys: Sequence[str], counts_a: Mapping[str, int], counts_b: Mapping[str, int], total_a: int, total_b: int
) -> pd.DataFrame:
    """One row per key (class name or category code) with :data:`SHARE_COLUMNS`, in ``keys`` order.

    A key missing from ``counts_a``/``counts_b`` counts 0. See the module docstring for units.
    """
    rows = []
    for key in keys:
        count_a, count_b = int(counts_a.get(key, 0)), int(counts_b.get(key, 0))
        share_a, share_b = share_pct(count_a, total_a), share_pct(count_b, total_b)
        diff = None if share_a is None or share_b is None else share_b - share_a
        rows.append(
            {
                "key": key,
                "count_a": count_a,
                "count_b": count_b,
                "share_a": share_a,
                "share_b": share_b,
                "diff": diff,
                "change_pct": change_pct(share_a, share_b),
            }
        )
    return pd.DataFrame(rows, columns=["key", *SHARE_COLUMNS]).set_index("key")


def counts_from_annotations(
    annotations: pd.DataFrame,
    taxonomy: Taxonomy,
    where: str = "annotations",
    explained_margin: float | None = None,
) -> LatentCounts:
    """Count one model's annotated model-specific latents per class and category.

    ``annotations`` has the contract's columns (``category``: a taxonomy code, or None when uncategorized; and
    ``class_name``). A latent with a category counts in that category and its class; one with only a
    ``class_name`` counts in the class; one with neither is uncategorized (in ``total`` only). With
    ``explained_margin`` (balanced-accuracy points), a latent whose ``detection_score`` does not beat its
    ``random_baseline_score`` by more than the margin (or that was not scored) counts as *unexplained* instead of
    in its category. The mean detection score of each class and category is recorded either way. With a
    ``diff_energy`` column (joined from the latent table), each row's summed difference energy is recorded for the
    activation-weighted shares.
    """
    if "category" not in annotations.columns:
        raise ScorecardError(
            f"{where}: no 'category' column; was this file written by `llmdiff-eval annotate`?"
        )
    class_names = set(taxonomy.class_names)
    classes = dict.fromkeys(taxonomy.class_names, 0)
    categories = dict.fromkeys(taxonomy.codes, 0)
    class_column = (
        annotations["class_name"] if "class_name" in annotations.columns else [None] * len(annotations)
    )
    scores = _column(annotations, "detection_score")
    baselines = _column(annotations, "random_baseline_score")
    has_energy = "diff_energy" in annotations.columns
    energies = [float(e) if _present(e) else 0.0 for e in _column(annotations, "diff_energy")]
    energy: dict[str, float] = {}
    unexplained = explained = 0
    scored: dict[str, list[float]] = {}
    rows = zip(annotations["category"], class_column, scores, baselines, energies, strict=True)
    for code, class_name, score, baseline, latent_energy in rows:
        beats = (
            _present(score)
            and _present(baseline)
            and float(score) - float(baseline) > (explained_margin or 0.0)
        )
        explained += bool(beats)
        if _present(score):
            keys = (
                [code, taxonomy.class_of(code).name]
                if _present(code) and code in categories
                else [class_name]
            )
            for key in keys:
                if _present(key):
                    scored.setdefault(key, []).append(float(score))
        if explained_margin is not None and not beats:
            unexplained += 1
            continue
        if _present(code):
            if code not in categories:
                raise ScorecardError(
                    f"{where}: category {code!r} is not in taxonomy {taxonomy.name!r} (codes {taxonomy.codes[0]}"
                    f"…{taxonomy.codes[-1]}); pass the taxonomy the latents were annotated with (--taxonomy)"
                )
            categories[code] += 1
            classes[taxonomy.class_of(code).name] += 1
            for key in (code, taxonomy.class_of(code).name):
                energy[key] = energy.get(key, 0.0) + latent_energy
        elif _present(class_name):
            if class_name not in class_names:
                raise ScorecardError(f"{where}: class {class_name!r} is not in taxonomy {taxonomy.name!r}")
            classes[class_name] += 1
            energy[class_name] = energy.get(class_name, 0.0) + latent_energy
    detection = {key: sum(values) / len(values) for key, values in scored.items()}
    return LatentCounts(
        len(annotations),
        classes,
        categories,
        unexplained,
        detection,
        energy_total=float(sum(energies)) if has_energy else None,
        energy=energy if has_energy else {},
        explained=explained,
    )


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    return list(frame[name]) if name in frame.columns else [None] * len(frame)


def _present(value: Any) -> bool:
    """False for None, NaN, pandas NA and blank strings (an uncategorized latent)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return False
    return str(value).strip() != ""
