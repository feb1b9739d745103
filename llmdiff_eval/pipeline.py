"""Run the stages of a ``RunConfig`` in one run directory, skipping what is already finished.

Each finished unit of work (one model's harvest, one pair's crosscoder, ...) leaves a marker
``<run_dir>/.stages/<stage>__<item>.json`` holding the hash of everything that produced it: its own config and the
hashes of its inputs. A rerun skips a unit whose marker matches; a unit whose config (or any upstream unit) changed is
*stale* and is redone; a unit without a marker (never run, or interrupted) is run, and the stage itself resumes from
what it had written. Stage outputs are written atomically by the stages, so an interrupted run loses at most the
unit it was working on.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from llmdiff_eval.config import RunConfig, dump_config
from llmdiff_eval.utils import (
    atomic_write_json,
    atomic_write_text,
    local_fingerprint,
    pair_name,
    stable_hash,
)

STAGES = ("harvest", "train", "analyze", "annotate", "scorecard")

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _marker(run_dir: Path, stage: str, item: str) -> Path:
    return run_dir / ".stages" / f"{stage}__{item}.json"


def stage_state(run_dir: Path, stage: str, item: str, key: str) -> str:
    """``"done"`` if the unit finished with this key, ``"stale"`` if it finished with another, else ``"todo"``."""
    marker = _marker(run_dir, stage, item)
    if not marker.exists():
        return "todo"
    import json

    try:
        recorded = json.loads(marker.read_text())["key"]
    except (ValueError, KeyError):
        return "todo"
    return "done" if recorded == key else "stale"


def mark_done(run_dir: Path, stage: str, item: str, key: str, seconds: float) -> None:
    """Record that one unit of a stage finished (atomically), with the key of its inputs and its wall time."""
    atomic_write_json(
        _marker(run_dir, stage, item),
        {"stage": stage, "item": item, "key": key, "seconds": round(seconds, 3), "finished": time.time()},
    )


def _config_key(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def _without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Drop settings that don't change results (device, batch size, progress) from a hashed config."""
    return {key: value for key, value in mapping.items() if key not in keys}


@dataclasses.dataclass
class UnitResult:
    """What happened to one unit of work in a run: ``ran``, ``skipped`` (already done) or ``redone`` (stale)."""

    stage: str
    item: str
    status: str
    seconds: float


class Runner:
    """Runs the stages of one config in one run directory. Use :func:`run_pipeline`."""

    def __init__(self, config: RunConfig, run_dir: Path, log: Log = _stderr, force: bool = False) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.log = log
        self.force = force
        self.results: list[UnitResult] = []

    # -- keys: the hash of everything a unit's output depends on (its config and its inputs' keys) -------------
    def harvest_key(self, model: str) -> str:
        spec = next(spec for spec in self.config.models if spec.name == model)
        harvest = _without(
            _config_key(self.config.harvest), "device", "batch_size", "progress", "verify_shards"
        )
        # Weights or an adapter replaced in place (same path) make the cache stale too.
        contents = {"path": local_fingerprint(spec.path), "adapter": local_fingerprint(spec.adapter)}
        return stable_hash({"model": _config_key(spec), "contents": contents, "harvest": harvest})

    def train_key(self, base: str, ft: str) -> str:
        crosscoder = _without(
            _config_key(self.config.crosscoder),
            "device",
            "log_every_steps",
            "checkpoint_every_steps",
            "keep_checkpoints",
        )
        return stable_hash(
            {"inputs": [self.harvest_key(base), self.harvest_key(ft)], "crosscoder": crosscoder}
        )

    def analyze_key(self, base: str, ft: str) -> str:
        analyze = _without(
            _config_key(self.config.analyze), "device", "batch_size", "scaling_memory_limit_gb"
        )
        return stable_hash({"inputs": self.train_key(base, ft), "analyze": analyze})

    def annotate_key(self, base: str, ft: str) -> str:
        annotate = _without(_config_key(self.config.annotate), "max_concurrency", "max_cost")
        return stable_hash({"inputs": self.analyze_key(base, ft), "annotate": annotate})

    def pairs(self) -> list[tuple[str, str]]:
        return [(self.config.base.name, ft.name) for ft in self.config.finetunes]

    # -- one unit of work --------------------------------------------------------------------------------------
    def _unit(
        self, stage: str, item: str, key: str, work: Callable[[], Any], stale_paths: Iterable[Path] = ()
    ):
        state = "todo" if self.force else stage_state(self.run_dir, stage, item, key)
        if state == "done":
            self.log(f"[{stage}] {item}: done already, skipping")
            self.results.append(UnitResult(stage, item, "skipped", 0.0))
            return
        if state == "stale":
            self.log(f"[{stage}] {item}: config changed since it ran; redoing it")
            for path in stale_paths:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        self.log(f"[{stage}] {item}: running")
        start = time.perf_counter()
        work()
        seconds = time.perf_counter() - start
        mark_done(self.run_dir, stage, item, key, seconds)
        self.log(f"[{stage}] {item}: finished in {seconds:.1f} s")
        self.results.append(UnitResult(stage, item, "redone" if state == "stale" else "ran", seconds))

    # -- stages ------------------------------------------------------------------------------------------------
    def harvest(self) -> None:
        from llmdiff_eval.harvest import harvest

        # All models go to the stage function together so it can check that they tokenize identically; it skips
        # caches that are already complete and resumes partial ones, so each model is one unit here.
        for spec in self.config.models:
            self._unit(
                "harvest",
                spec.name,
                self.harvest_key(spec.name),
                lambda: harvest(self.config.harvest, self.run_dir, self.config.models),
                stale_paths=[self.run_dir / "activations" / spec.name],
            )

    def train(self) -> None:
        from llmdiff_eval.crosscoder import train

        for base, ft in self.pairs():
            pair = pair_name(base, ft)
            self._unit(
                "train",
                pair,
                self.train_key(base, ft),
                lambda b=base, f=ft: train(self.config.crosscoder, self.run_dir, b, f),
                stale_paths=[self.run_dir / "crosscoders" / pair],
            )

    def analyze(self) -> None:
        from llmdiff_eval.analyze import analyze

        for base, ft in self.pairs():
            pair = pair_name(base, ft)
            self._unit(
                "analyze",
                pair,
                self.analyze_key(base, ft),
                lambda b=base, f=ft: analyze(self.config.analyze, self.run_dir, b, f),
                stale_paths=[self.run_dir / "latents" / f"{pair}.parquet"],
            )

    def annotate(self) -> None:
        from llmdiff_eval.annotate import annotate

        # The annotation cache (annotations.sqlite) makes a redo cheap: unchanged latents cost no API calls.
        for base, ft in self.pairs():
            self._unit(
                "annotate",
                pair_name(base, ft),
                self.annotate_key(base, ft),
                lambda b=base, f=ft: annotate(self.config.annotate, self.run_dir, b, f),
            )

    def scorecard(self) -> None:
        from llmdiff_eval.scorecard import write_scorecard

        if len(self.config.finetunes) < 2 and not (self.config.scorecard.a and self.config.scorecard.b):
            self.log("[scorecard] needs two fine-tunes (scorecard.a and scorecard.b); skipping")
            return
        start = time.perf_counter()
        write_scorecard(self.config, self.run_dir)
        self.results.append(UnitResult("scorecard", "scorecard", "ran", time.perf_counter() - start))

    def run(self, stages: Iterable[str] = STAGES) -> list[UnitResult]:
        stages = list(stages)
        unknown = [stage for stage in stages if stage not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / "config.yaml", dump_config(self.config))
        for stage in STAGES:
            if stage in stages:
                getattr(self, stage)()
        return self.results


def run_pipeline(
    config: RunConfig,
    run_dir: str | Path,
    stages: Iterable[str] = STAGES,
    force: bool = False,
    log: Log = _stderr,
) -> list[UnitResult]:
    """Run ``stages`` of ``config`` in ``run_dir``; finished, unchanged units are skipped (``force`` redoes them).

    Returns one :class:`UnitResult` per unit of work (model or pair) with its status and wall time in seconds.
    """
    return Runner(config, Path(run_dir), log=log, force=force).run(stages)
