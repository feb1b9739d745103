"""What a stage is: a name, the units of work it splits into, and how to run each.

A :class:`Unit` is one model (harvest) or one base–fine-tune pair (train, analyze, annotate; one per seed of a
crosscoder seed ensemble). Its ``key`` hashes
everything its output depends on — the stage's result-changing settings (``result_settings`` of its config
section) and the keys of its inputs — so the pipeline can tell a finished unit (same key) from a stale one. Its
``outputs`` are what a stale unit's redo clears. Reference: docs/architecture.md ("How to add a stage").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdiff_eval.config import RunConfig
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.utils import pair_name


@dataclass
class Unit:
    """One unit of work of a stage.

    ``key`` None means the unit is always rerun and leaves no marker (the scorecard: cheap, and its inputs include
    live Arena data). ``outputs``: the files or directories the unit writes; a stale unit's are set aside while it is
    redone (and put back if the redo fails), and their manifest (sizes, sha256) goes into the marker so that a
    skipped unit is checked first (``manifest=False``: the outputs have their own record, like the activation
    cache's index). ``verify`` adds the unit's own checks (a list of problems; empty when fine). ``repair_in_place``:
    a damaged output is repaired by running the unit again over it (the harvest re-creates missing or corrupt
    shards) instead of being rebuilt from nothing.
    """

    stage: str
    name: str
    key: str | None
    run: Callable[[], Any]
    outputs: list[Path] = field(default_factory=list)
    verify: Callable[[], list[str]] | None = None
    repair_in_place: bool = False
    manifest: bool = True


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    ``units(config, run_dir)`` lists the stage's units for a run config. ``check(config)`` validates the settings
    that can be validated without running (a layer the model has, a device that exists) before anything is written.
    ``all_ranks``: under torchrun every process takes part (harvest, train); otherwise rank 0 runs the stage alone.
    ``when_empty``: why a config can have no unit of this stage (logged when it is skipped).
    """

    name: str
    units: Callable[[RunConfig, RunDir], list[Unit]]
    all_ranks: bool = False
    summary: str = ""
    when_empty: str = "nothing to do for this config"
    check: Callable[[RunConfig], None] | None = None


def pairs(config: RunConfig) -> list[tuple[str, str]]:
    """The (base, fine-tune) name pairs of a run, in config order."""
    return [(config.base.name, ft.name) for ft in config.finetunes]


def replicas(config: RunConfig) -> list[tuple[str, str, int | None]]:
    """``(base, fine-tune, seed)`` per crosscoder of the run: each pair with seed None (the primary crosscoder),
    then, with a seed ensemble (``crosscoder.seeds``), each pair once per extra seed."""
    extra = config.crosscoder.extra_seeds
    return [(base, ft, None) for base, ft in pairs(config)] + [
        (base, ft, seed) for seed in extra for base, ft in pairs(config)
    ]


def pair_units(
    stage: str,
    config: RunConfig,
    key: Callable[[RunConfig, str, str, int | None], str],
    run: Callable[[str, str, int | None], Any],
    outputs: Callable[[str, str, int | None], list[Path]] = lambda base, ft, seed: [],
    with_seeds: bool = True,
) -> list[Unit]:
    """One unit per crosscoder (:func:`replicas`: each pair, and each extra seed of an ensemble; only each pair's
    primary crosscoder without ``with_seeds``), named ``pair_name(base, ft, seed)``: ``key(config, base, ft,
    seed)``, ``run(base, ft, seed)``, ``outputs(...)``."""
    return [
        Unit(
            stage,
            pair_name(base, ft, seed),
            key(config, base, ft, seed),
            lambda b=base, f=ft, s=seed: run(b, f, s),
            outputs(base, ft, seed),
        )
        for base, ft, seed in replicas(config)
        if with_seeds or seed is None
    ]
