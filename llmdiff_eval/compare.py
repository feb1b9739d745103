"""The due-diligence comparison of N fine-tunes, from one run directory or several (fine-tunes of different bases,
each diffed against its own): the library behind ``llmdiff-eval compare``. Shares, intervals and the lead's test come
from :func:`llmdiff_eval.scorecard.compare_shares`; counts, run descriptions and Arena ratings from
:mod:`llmdiff_eval.reports`. Reference: docs/scorecard.md.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llmdiff_eval.analyze import STABILITY_COSINE, shared_fraction
from llmdiff_eval.causal.report import read_causal
from llmdiff_eval.crosscoder import load_crosscoder
from llmdiff_eval.errors import ScorecardError
from llmdiff_eval.lm_eval_results import BenchmarkResults, benchmark_rows, parse_results_option
from llmdiff_eval.reports import RunModels, fetch_arena_for_run, load_counts, run_models
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.scorecard import UNITS, compare_arena_ratings, compare_shares
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import pair_name


@dataclass(frozen=True)
class CompareEntry:
    """One fine-tune in a due-diligence comparison: its ``label`` in the report (the model name, or
    ``<run directory name>/<model>`` when several run directories are compared), where it was diffed, and that run's
    description (``run``: its base, fine-tunes and scorecard settings)."""

    label: str
    run_dir: Path
    model: str
    run: RunModels

    @property
    def base(self) -> str:
        """The run's base model name."""
        return self.run.base

    @property
    def base_source(self) -> str:
        """Where the base's weights come from (the base name for a run without a config)."""
        return self.run.base_source or self.run.base

    @property
    def pair(self) -> str:
        return pair_name(self.base, self.model)


COMPARABILITY_SAME_BASE = (
    "All models are fine-tunes of one base, each diffed against it: shares are fractions of each model's own "
    "model-specific latents. Latent ids are not shared between pairs (one crosscoder per pair); --latents matches "
    "decoder directions instead."
)
COMPARABILITY_CROSS_BASE = (
    "The models are fine-tunes of different bases, each diffed against its own: what is compared is the share of "
    "each model's own model-specific latents per capability class, and the causal fraction of its own divergence "
    "from its base; both are relative to the model's base. Latent ids, decoder directions and delta-norm values "
    "live in different residual spaces and are not compared."
)


def compare_entries(run_dirs: Sequence[str | os.PathLike], models: Sequence[str] = ()) -> list[CompareEntry]:
    """The fine-tunes to compare: every fine-tune of every run directory, or those named in ``models`` (labels, or
    plain model names when they are unambiguous across the runs), in the order given."""
    if not run_dirs:
        raise ScorecardError("compare needs at least one run directory")
    described = [(Path(run_dir), run_models(run_dir)) for run_dir in run_dirs]
    names = [run_dir.resolve().name for run_dir, _ in described]
    prefixes = [name if names.count(name) == 1 else f"{name}#{index + 1}" for index, name in enumerate(names)]
    everything = [
        CompareEntry(
            label=model if len(described) == 1 else f"{prefix}/{model}", run_dir=run_dir, model=model, run=run
        )
        for prefix, (run_dir, run) in zip(prefixes, described, strict=True)
        for model in run.finetunes
    ]
    if not models:
        chosen = everything
    else:
        chosen = []
        for wanted in models:
            matches = [e for e in everything if wanted in (e.label, e.model)]
            exact = [e for e in matches if e.label == wanted]
            if not matches:
                raise ScorecardError(
                    f"{wanted!r} is not a fine-tune of the compared runs; choose from {[e.label for e in everything]}"
                )
            if len(matches) > 1 and not exact:
                raise ScorecardError(
                    f"{wanted!r} is a fine-tune of several compared runs; name one of {[e.label for e in matches]}"
                )
            chosen.append((exact or matches)[0])
    if len({e.label for e in chosen}) < 2:
        raise ScorecardError(f"compare needs at least two fine-tunes; got {[e.label for e in chosen]}")
    return chosen


def compare_from_runs(
    entries: Sequence[CompareEntry],
    arena: pd.DataFrame | None = None,
    arena_models: Mapping[str, str] | None = None,
    benchmarks: Sequence[BenchmarkResults] = (),
    taxonomy: str | Taxonomy = "paper",
    arena_note: str | None = None,
    latents: bool = False,
) -> dict[str, Any]:
    """Due-diligence report for N ≥ 2 fine-tunes (:func:`compare_entries`), of one base or of several: shares and
    ranks per class with intervals and the lead's significance, causal effects where measured, Arena and benchmark
    columns, and a plain-language summary per model.

    JSON shape: ``base`` (the common base name, or None), ``bases {label: base}``, ``same_base``, ``comparability``
    (what may be compared), ``models [labels]``, ``runs {label: {run_dir, model, base, base_source}}``,
    ``totals {label: n}``, ``classes [{name, counts, shares, share_ci, ranks, leaders, lead_p_value, lead_q_value,
    lead_significant, causal {label: {kl_removed, causal}}}]``, ``categories`` (same, by code), ``summary {label:
    text}``, ``shared_directions`` (with ``latents``; see :func:`shared_directions`), ``arena [{category, ratings,
    ratings_style}]``, ``arena_models {label: LMArena name}``, ``benchmarks``, ``provenance``.

    ``latents=True`` adds latent-level matching, which only fine-tunes of one base allow: across bases it raises
    :class:`ScorecardError`.
    """
    taxonomy = load_taxonomy(taxonomy)
    labels = [entry.label for entry in entries]
    same_base = len({entry.base_source for entry in entries}) == 1
    if latents and not same_base:
        bases = sorted({entry.base_source for entry in entries})
        raise ScorecardError(
            f"latent-level comparison (--latents) needs fine-tunes of one base, but these have {len(bases)}: {bases}. "
            "Crosscoders of different bases live in different residual spaces, so their latents and decoder "
            "directions cannot be matched; compare the per-class shares (the report without --latents) instead."
        )
    loaded = {entry.label: load_counts(entry.run_dir, entry.run, entry.model, taxonomy) for entry in entries}
    counts = {label: value[0] for label, value in loaded.items()}
    provenance: dict[str, Any] = {"taxonomy": taxonomy.name}
    provenance.update({label: value[1] for label, value in loaded.items()})
    arena_rows: list[dict[str, Any]] = []
    arena_models = {m: n for m, n in (arena_models or {}).items() if m in labels}
    if arena is not None and arena_models:
        arena_rows = compare_arena_ratings(arena, arena_models)
        provenance["arena"] = dict(arena.attrs.get("provenance", {}))
    if arena_note:
        provenance["arena_note"] = arena_note
    if benchmarks:
        provenance["lm_eval_results"] = {result.label: result.path for result in benchmarks}
    provenance["created_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    shares = compare_shares(counts, taxonomy)
    _add_causal(shares["classes"], entries)
    return {
        "base": entries[0].base if same_base else None,
        "bases": {entry.label: entry.base for entry in entries},
        "same_base": same_base,
        "comparability": COMPARABILITY_SAME_BASE if same_base else COMPARABILITY_CROSS_BASE,
        "models": labels,
        "runs": {
            entry.label: {
                "run_dir": str(entry.run_dir),
                "model": entry.model,
                "base": entry.base,
                "base_source": entry.base_source,
            }
            for entry in entries
        },
        "totals": {label: c.total for label, c in counts.items()},
        **shares,
        "summary": compare_summary(shares["classes"], labels),
        "shared_directions": shared_directions(entries) if latents else None,
        "arena": arena_rows,
        "arena_models": arena_models,
        "benchmarks": benchmark_rows(benchmarks),
        "units": {
            "share": UNITS["share"],
            "rank": "1 = largest share among the compared models; ties share a rank",
            "kl_removed": "fraction of the model's KL divergence from its own base that ablating the class's "
            "latents removes (1 = all of it)",
        },
        "provenance": provenance,
    }


def _add_causal(classes: list[dict[str, Any]], entries: Sequence[CompareEntry]) -> None:
    """Give each class row ``causal {label: {kl_removed, causal}}`` for the models whose causal stage ran."""
    measured = {entry.label: read_causal(entry.run_dir, entry.pair) for entry in entries}
    for row in classes:
        row["causal"] = {}
        for label, data in measured.items():
            found = next(
                (
                    s
                    for s in (data or {}).get("sets", [])
                    if s["kind"] == "class" and s["class"] == row["name"]
                ),
                None,
            )
            if found is not None:
                row["causal"][label] = {"kl_removed": found.get("kl_removed"), "causal": found.get("causal")}


def compare_summary(classes: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> dict[str, str]:
    """One sentence per model: the classes it leads (largest share among the compared models), with its share, the
    runner-up's, and whether the lead is significant; or that it leads none."""
    summary = {}
    for label in labels:
        led = [row for row in classes if row["leaders"] == [label]]
        led.sort(key=lambda row: -(row["shares"][label] or 0.0))
        parts = []
        for row in led:
            others = [row["shares"][m] for m in labels if m != label and row["shares"][m] is not None]
            runner_up = max(others) if others else None
            sure = "significant" if row.get("lead_significant") else "not significant"
            against = f" vs {runner_up:.1f}% for the next" if runner_up is not None else ""
            q = row.get("lead_q_value")
            parts.append(
                f"{row['name']} ({row['shares'][label]:.1f}% of its model-specific latents{against}; "
                f"lead {sure}{f', q {q:.3g}' if q is not None else ''})"
            )
        shared = [row["name"] for row in classes if label in row["leaders"] and len(row["leaders"]) > 1]
        text = f"{label} leads on " + "; ".join(parts) if parts else f"{label} leads on no class alone"
        if shared:
            text += f"; ties for the lead on {', '.join(shared)}"
        summary[label] = text + "."
    return summary


def shared_directions(entries: Sequence[CompareEntry], threshold: float = STABILITY_COSINE) -> dict[str, Any]:
    """For fine-tunes of one base: per ordered pair (X, Y), the fraction of X's annotated model-specific latents
    whose decoder direction (base and fine-tune decoders concatenated, unit norm) has cosine ≥ ``threshold`` with
    one of Y's — do the two fine-tunes change the same things? Latent ids themselves are never compared."""
    decoders, selected = {}, {}
    for entry in entries:
        run = RunDir(entry.run_dir)
        decoders[entry.label] = load_crosscoder(run.crosscoder(entry.base, entry.model)).W_dec
        selected[entry.label] = [
            int(i) for i in pd.read_parquet(run.annotations(entry.pair), columns=[]).index
        ]
    pairs = [
        {
            "from": x,
            "to": y,
            "n_latents": len(selected[x]),
            "fraction": shared_fraction(decoders[x], selected[x], decoders[y], selected[y], threshold),
        }
        for x in decoders
        for y in decoders
        if x != y
    ]
    return {"threshold": threshold, "pairs": pairs}


def run_compare(
    run_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    models: Sequence[str] = (),
    arena_names: Sequence[str] = (),
    arena_source: str | None = None,
    arena_note: str | None = None,
    offline: bool = False,
    lm_eval_results: Sequence[str] = (),
    taxonomy: str | Taxonomy = "paper",
    latents: bool = False,
) -> dict[str, Any]:
    """The due-diligence report of ``models`` (default: every fine-tune of every run) from one or several run
    directories, see :func:`compare_entries` and :func:`compare_from_runs`.

    ``arena_names``: one LMArena name per compared model, in their order (default: each run's
    ``scorecard.arena_models``). Ratings are fetched (or fitted) with the first run's ``scorecard`` settings and
    Arena cache. An Arena failure is recorded as ``provenance.arena_error``.
    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    entries = compare_entries(run_dirs, models)
    labels = [entry.label for entry in entries]
    if arena_names and len(arena_names) != len(labels):
        raise ScorecardError(
            f"give one LMArena name per model ({len(labels)}: {labels}) with --arena-models; got {list(arena_names)}"
        )
    if arena_names:
        mapping = dict(zip(labels, arena_names, strict=True))
    else:
        configured = {
            entry.label: (entry.run.scorecard.get("arena_models") or {}).get(entry.model) for entry in entries
        }
        mapping = {label: name for label, name in configured.items() if name}
    first = run_models(run_dirs[0]).scorecard  # the first run's settings, whichever fine-tunes are compared
    arena = error = None
    if mapping:
        arena, error = fetch_arena_for_run(run_dirs[0], list(mapping.values()), first, arena_source, offline)
    report = compare_from_runs(
        entries,
        arena=arena,
        arena_models=mapping if arena is not None else None,
        benchmarks=parse_results_option(lm_eval_results),
        taxonomy=taxonomy,
        arena_note=arena_note or first.get("arena_note"),
        latents=latents,
    )
    if error:
        report["provenance"]["arena_error"] = error
    return report
