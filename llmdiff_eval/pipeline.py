"""Run the stages of a ``RunConfig`` in one run directory, skipping what is already finished.

The pipeline knows no stage by name: it walks the registry (``llmdiff_eval/stages/``) and, for each unit of work a
stage declares, compares the unit's key with the marker ``.stages/<stage>__<unit>.json`` that the unit left when it
finished. A matching marker whose output manifest still matches the files means done (skipped); damaged outputs are
repaired or redone; another key means stale (its outputs are set aside, the unit redone, and the old outputs put back
if the redo fails); no marker means it never ran or was interrupted (the stage resumes from what it had written).
Settings are checked before anything is written (docs/troubleshooting.md).

Under torchrun, :func:`run_pipeline_distributed` runs the stages that use every process (``Stage.all_ranks``) in a
process group and the rest on rank 0. Reference: docs/run-directory.md, docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import yaml

from llmdiff_eval.config import ConfigError, RunConfig, dump_config, load_config
from llmdiff_eval.distributed import process_group
from llmdiff_eval.errors import RunDirError
from llmdiff_eval.rundir import RunDir, manifest, manifest_problems
from llmdiff_eval.stages import STAGE_NAMES, STAGES, Unit, get_stage
from llmdiff_eval.utils import atomic_write_text

Log = Callable[[str], None]

__all__ = ["STAGE_NAMES", "UnitResult", "clear_stale", "load_run", "run_pipeline", "run_pipeline_distributed"]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(_message: str) -> None:
    pass


@dataclasses.dataclass
class UnitResult:
    """What happened to one unit of work in a run: ``ran``, ``skipped`` (already done) or ``redone`` (stale)."""

    stage: str
    item: str
    status: str
    seconds: float


def _check_stages(stages: Iterable[str]) -> list[str]:
    stages = list(stages)
    for name in stages:
        get_stage(name)  # ValueError naming the valid stages
    return stages


def clear_stale(run_dir: RunDir, unit: Unit) -> None:
    """Remove a stale unit's declared outputs and its marker, so that it is redone from scratch (the torchrun
    variant, where rank 0 clears before the other processes start)."""
    for path in unit.outputs:
        _remove(path)
    run_dir.clear_marker(unit.stage, unit.name)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def _replacing(outputs: Iterable[Path]) -> Iterator[None]:
    """Set ``outputs`` aside while the block rebuilds them; put them back if it fails, drop them if it succeeds.

    So a redo that fails (a bad setting found late, a full disk, Ctrl-C) leaves the finished outputs exactly as
    they were, and their marker still describes them."""
    aside = []
    for path in outputs:
        if path.exists():
            spare = _spare(path)
            _remove(spare)
            path.rename(spare)
            aside.append((path, spare))
    try:
        yield
    except BaseException:
        for path, spare in aside:
            _remove(path)
            spare.rename(path)
        raise
    for _, spare in aside:
        _remove(spare)


@dataclasses.dataclass
class _Planned:
    unit: Unit
    state: str  # todo, done, stale, damaged, forced
    problems: list[str]


def _spare(path: Path) -> Path:
    return path.with_name(f".{path.name}.replaced")


def _recover_spares(run: RunDir, unit: Unit) -> None:
    """After a hard kill during a redo, outputs set aside by :func:`_replacing` are still there: when the unit's
    marker matches the current config again (e.g. the change was reverted), they are its finished outputs."""
    spares = [(path, _spare(path)) for path in unit.outputs if _spare(path).exists()]
    if spares and run.unit_state(unit.stage, unit.name, unit.key) == "done":
        for path, spare in spares:
            _remove(path)
            spare.rename(path)


def _plan(run: RunDir, unit: Unit, force: bool) -> _Planned:
    """What to do with ``unit``: a finished unit is only "done" when its outputs still match what it wrote."""
    if unit.key is None:
        return _Planned(unit, "todo", [])
    _recover_spares(run, unit)
    if force:  # rebuilt from nothing, also over an interrupted unit's partial outputs
        return _Planned(unit, "forced", [])
    state = run.unit_state(unit.stage, unit.name, unit.key)
    if state != "done":
        return _Planned(unit, state, [])
    problems = (
        manifest_problems(run.recorded_outputs(unit.stage, unit.name), run.root) if unit.manifest else []
    )
    problems += unit.verify() if unit.verify else []
    return _Planned(unit, "damaged" if problems else "done", problems)


def _run_unit(run: RunDir, planned: _Planned, log: Log) -> UnitResult:
    unit, state = planned.unit, planned.state
    tag = f"[{unit.stage}] {unit.name}"
    if state == "done":
        log(f"{tag}: done already, skipping")
        return UnitResult(unit.stage, unit.name, "skipped", 0.0)
    rebuild = state in ("stale", "forced") or (state == "damaged" and not unit.repair_in_place)
    if state == "stale":
        log(f"{tag}: config changed since it ran; redoing it")
    elif state == "forced":
        log(f"{tag}: --force: redoing it")
    elif state == "damaged":
        action = "repairing" if unit.repair_in_place else "redoing"
        log(f"{tag}: its finished output is damaged ({'; '.join(planned.problems[:3])}); {action} it")
    elif unit.key is not None:
        log(f"{tag}: running")
    start = time.perf_counter()
    with _replacing(unit.outputs if rebuild else []):
        unit.run()
        seconds = time.perf_counter() - start
        if unit.key is not None:
            outputs = manifest(unit.outputs, run.root) if unit.manifest else {}
            run.mark_done(unit.stage, unit.name, unit.key, seconds, outputs)
    if unit.key is not None:
        log(f"{tag}: finished in {seconds:.1f} s")
    return UnitResult(unit.stage, unit.name, "ran" if state == "todo" else "redone", seconds)


def _claim(run: RunDir, config: RunConfig, force: bool) -> str | None:
    """Refuse a run directory that holds another run (its ``config.yaml`` names another run) unless ``force``;
    returns the previous ``config.yaml`` text (None if there was none)."""
    if not run.config.is_file():
        return None
    previous = run.config.read_text(encoding="utf-8")
    try:
        name = (yaml.safe_load(previous) or {}).get("name")
    except yaml.YAMLError:
        name = None
    if name != config.name and not force:
        raise RunDirError(
            f"{run.root} holds the run {name!r} (its config.yaml), not {config.name!r}: pass another run directory "
            "(--run-dir / --out), or --force to replace that run's outputs with this one's"
        )
    return previous


def load_run(
    target: str | Path,
    overrides: Sequence[str] = (),
    device: str | None = None,
    run_dir: str | Path | None = None,
) -> tuple[RunConfig, Path]:
    """The config and run directory a stage command names: ``target`` is a run config YAML (run directory
    ``run_dir`` or ``runs/<name>``) or a run directory (its ``config.yaml``; run directory ``run_dir`` or itself)."""
    target = Path(target)
    if target.is_dir():
        config_path = RunDir(target).config
        if not config_path.is_file():
            raise ConfigError(
                f"{target} is a directory without config.yaml: pass a run config YAML, or a run directory that a "
                "run created"
            )
        config = load_config(config_path, overrides, device)
        return config, Path(run_dir) if run_dir else target
    config = load_config(target, overrides, device)
    return config, Path(run_dir) if run_dir else Path("runs") / config.name


def run_pipeline(
    config: RunConfig,
    run_dir: str | Path,
    stages: Iterable[str] = STAGE_NAMES,
    force: bool = False,
    log: Log = _stderr,
) -> list[UnitResult]:
    """Run ``stages`` of ``config`` in ``run_dir``; finished, unchanged units are skipped (``force`` redoes them).

    Returns one :class:`UnitResult` per unit of work (model or pair) with its status and wall time in seconds.
    """
    wanted = set(_check_stages(stages))
    run = RunDir(run_dir)
    previous = _claim(run, config, force)
    plans = {
        stage.name: [_plan(run, unit, force) for unit in stage.units(config, run)]
        for stage in STAGES
        if stage.name in wanted
    }
    for stage in STAGES:  # validate what can be validated before anything is written
        if stage.name in plans and stage.check and any(p.state != "done" for p in plans[stage.name]):
            stage.check(config)
    run.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.config, dump_config(config))
    results: list[UnitResult] = []
    try:
        for stage in STAGES:
            if stage.name not in wanted:
                continue
            if not plans[stage.name]:
                log(f"[{stage.name}] {stage.when_empty}; skipping")
            results += [_run_unit(run, planned, log) for planned in plans[stage.name]]
    except BaseException:
        if previous is not None and all(result.status == "skipped" for result in results):
            atomic_write_text(run.config, previous)  # nothing ran: the directory is as it was
        raise
    return results


def run_pipeline_distributed(
    config: RunConfig, run_dir: str | Path, stages: Iterable[str], force: bool = False, log: Log = print
) -> list[UnitResult] | None:
    """Run ``stages`` of a run config as one process of a torchrun job.

        Stages with ``all_ranks`` (harvest, train) use every process; the others (analyze, annotate, scorecard) run on
        rank 0 alone after the process group is closed, while the other processes exit. Before the shared stages start,
        rank 0 clears the outputs of stale, forced and damaged units (their redo starts from nothing; set-aside and
    restore are for single-process runs), so no two processes move or delete files at once. Returns
        rank 0's list of :class:`UnitResult` and None on the other processes; only rank 0 logs.
    """
    stages = _check_stages(stages)
    shared = [name for name in stages if get_stage(name).all_ranks]
    rest = [name for name in stages if not get_stage(name).all_ranks]
    run = RunDir(run_dir)
    results: list[UnitResult] = []
    with process_group() as world:
        writer = world is None or world.is_writer
        if (
            writer
        ):  # rank 0 alone clears what is rebuilt from nothing; the others wait, then all run "todo" units
            for name in shared:
                for unit in get_stage(name).units(config, run):
                    planned = _plan(run, unit, force)
                    if planned.state in ("stale", "forced") or (
                        planned.state == "damaged" and not unit.repair_in_place
                    ):
                        log(f"[{unit.stage}] {unit.name}: {planned.state}; clearing it for a redo")
                        clear_stale(run, unit)
        if world is not None:
            world.barrier()
        if shared:
            results = run_pipeline(config, run_dir, shared, force=False, log=log if writer else _quiet)
    if not writer:
        return None
    if rest:
        results += run_pipeline(config, run_dir, rest, force=force, log=log)
    return results
