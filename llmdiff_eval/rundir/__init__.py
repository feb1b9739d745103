"""The run-directory contract: the one place that names the paths inside a run directory and its stage markers.

```
runs/<name>/
  config.yaml                      the resolved run config
  .stages/<stage>__<unit>.json     one marker per finished unit of work (its key and wall time)
  activations/<model>/             harvested cache (index.json, stats.json, shard_*.safetensors, tokenizer/)
  crosscoders/<base>__<ft>/        SAE-Lens files (cfg.json, sae_weights.safetensors, training_log.jsonl)
  latents/<base>__<ft>.parquet     one row per latent
  logit_lens/<base>__<ft>.parquet  tokens each tagged latent's decoder difference promotes / suppresses
  examples.sqlite                  max-activating / quantile / negative contexts per latent
  annotations/<base>__<ft>.parquet one row per annotated latent
  annotations.sqlite               annotation cache
  causal/<base>__<ft>.json         causal effects of the pair's latent sets (ablation, steering, controls)
  arena/                           fetched LMArena records
  plots/<pair>_<plot>.png
  scorecard.{json,md,csv}, report.html, model_card.md
```

:class:`RunDir` builds these paths; the readers and writers of the files with a schema live beside it
(``activations.py``: the activation cache; ``latents.py``: latent tables; ``examples.py``: ``examples.sqlite``).
This module imports no torch. Reference: docs/run-directory.md.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from llmdiff_eval.utils import SEED_MARK, atomic_write_json, file_sha256, pair_name

__all__ = [
    "HASH_LIMIT_BYTES",
    "INDEX_FILE",
    "STATS_FILE",
    "TOKENIZER_DIR",
    "RunDir",
    "UnitState",
    "manifest",
    "manifest_problems",
    "pair_name",
]

INDEX_FILE = "index.json"
STATS_FILE = "stats.json"
TOKENIZER_DIR = "tokenizer"
"""Files of an activation cache (``activations/<model>/``); the format and its reader: ``rundir/activations.py``."""

HASH_LIMIT_BYTES = 1 << 30
"""Files up to this size are recorded (and checked) by sha256; larger ones by size only (checking a multi-GB
crosscoder on every skip would cost seconds per GB)."""


def manifest(paths: list[Path], root: Path) -> dict[str, list]:
    """``{relative path: [size, sha256 or None]}`` of every file under ``paths`` (files or directories).

    Checkpoints and temporary files are left out: they are resumable state, not outputs."""
    entries: dict[str, list] = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(root)
            if not file.exists() or any(
                part.startswith(".") or part == "checkpoints" for part in relative.parts
            ):
                continue
            size = file.stat().st_size
            entries[str(relative)] = [size, file_sha256(file) if size <= HASH_LIMIT_BYTES else None]
    return entries


def manifest_problems(recorded: dict[str, list], root: Path) -> list[str]:
    """What no longer matches a :func:`manifest`: missing files, other sizes, other contents."""
    problems = []
    for relative, (size, sha256) in recorded.items():
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{relative} has {path.stat().st_size} bytes, {size} when it was written")
        elif sha256 is not None and file_sha256(path) != sha256:
            problems.append(f"{relative} was changed after it was written (sha256 differs)")
    return problems


UnitState = str
"""``"done"`` (finished with the same key), ``"stale"`` (finished with another key) or ``"todo"``."""


def _pair_stems(folder: Path, include_seeds: bool = False) -> list[str]:
    return sorted(
        path.stem for path in folder.glob("*.parquet") if include_seeds or SEED_MARK not in path.stem
    )


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory (nothing is created until a stage writes)."""

    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    def __fspath__(self) -> str:
        return str(self.root)

    # -- files of the whole run ------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def examples_db(self) -> Path:
        return self.root / "examples.sqlite"

    @property
    def annotation_cache(self) -> Path:
        return self.root / "annotations.sqlite"

    @property
    def arena_cache(self) -> Path:
        return self.root / "arena"

    @property
    def markers(self) -> Path:
        return self.root / ".stages"

    def output(self, name: str) -> Path:
        """A top-level report file: ``scorecard.json``, ``scorecard.md``, ``report.html``, ``model_card.md``, ..."""
        return self.root / name

    # -- per model / per pair --------------------------------------------------------------------------------
    @property
    def activations_root(self) -> Path:
        return self.root / "activations"

    def activations(self, model: str) -> Path:
        return self.activations_root / model

    @property
    def crosscoders_root(self) -> Path:
        return self.root / "crosscoders"

    def crosscoder(self, base: str, ft: str, seed: int | None = None) -> Path:
        """``crosscoders/<pair>/``; ``seed`` names an extra seed of an ensemble (``<pair>@seed<k>/``)."""
        return self.crosscoders_root / pair_name(base, ft, seed)

    def pair_crosscoder(self, pair: str) -> Path:
        """``crosscoders/<pair>/`` by pair name, as the other per-pair paths take it (``base__a``, ``base__a@seed1``)."""
        return self.crosscoders_root / pair

    def trained_pairs(self) -> list[str]:
        """Pairs with a finished crosscoder (``crosscoders/<pair>/cfg.json``), sorted, extra seeds included."""
        return sorted(path.parent.name for path in self.crosscoders_root.glob("*/cfg.json"))

    @property
    def latents_root(self) -> Path:
        return self.root / "latents"

    def latents(self, pair: str) -> Path:
        return self.latents_root / f"{pair}.parquet"

    def logit_lens(self, pair: str) -> Path:
        """``logit_lens/<pair>.parquet``: the analyze stage's logit lens of the pair's tagged latents."""
        return self.root / "logit_lens" / f"{pair}.parquet"

    @property
    def annotations_root(self) -> Path:
        return self.root / "annotations"

    def annotations(self, pair: str) -> Path:
        return self.annotations_root / f"{pair}.parquet"

    @property
    def causal_root(self) -> Path:
        return self.root / "causal"

    def causal(self, pair: str) -> Path:
        """``causal/<pair>.json``: the causal stage's effects of one pair (docs/causal.md)."""
        return self.causal_root / f"{pair}.json"

    def plot(self, pair: str, kind: str) -> Path:
        """``plots/<pair>_<kind>.png`` (``kind``: ``delta_norm``, ``nu_scatter``)."""
        return self.root / "plots" / f"{pair}_{kind}.png"

    def annotated_pairs(self) -> list[str]:
        """Pairs with an annotation table, sorted (extra seeds of an ensemble not included)."""
        return _pair_stems(self.annotations_root)

    def analyzed_pairs(self, include_seeds: bool = False) -> list[str]:
        """Pairs with a latent table, sorted; extra seeds of an ensemble (``<pair>@seed<k>``) only with
        ``include_seeds``."""
        return _pair_stems(self.latents_root, include_seeds)

    def seed_replicas(self, pair: str) -> dict[int, str]:
        """The extra crosscoder seeds of ``pair`` that have an annotation table: seed -> replica name."""
        replicas = {}
        for path in self.annotations_root.glob(f"{pair}{SEED_MARK}*.parquet"):
            seed = path.stem[len(pair) + len(SEED_MARK) :]
            if seed.lstrip("-").isdigit():
                replicas[int(seed)] = path.stem
        return dict(sorted(replicas.items()))

    # -- stage markers ---------------------------------------------------------------------------------------
    def marker(self, stage: str, unit: str) -> Path:
        return self.markers / f"{stage}__{unit}.json"

    def unit_state(self, stage: str, unit: str, key: str) -> UnitState:
        """``"done"`` if the unit finished with this key, ``"stale"`` if it finished with another, else ``"todo"``."""
        marker = self.marker(stage, unit)
        if not marker.exists():
            return "todo"
        try:
            recorded = json.loads(marker.read_text())["key"]
        except (ValueError, KeyError):
            return "todo"
        return "done" if recorded == key else "stale"

    def mark_done(
        self, stage: str, unit: str, key: str, seconds: float, outputs: dict[str, list] | None = None
    ) -> None:
        """Record that one unit of a stage finished (atomically): the key of its inputs, its wall time and the
        :func:`manifest` of its outputs (checked when the unit is skipped later)."""
        atomic_write_json(
            self.marker(stage, unit),
            {
                "stage": stage,
                "item": unit,
                "key": key,
                "seconds": round(seconds, 3),
                "finished": time.time(),
                "outputs": outputs or {},
            },
        )

    def recorded_outputs(self, stage: str, unit: str) -> dict[str, list]:
        """The output manifest a finished unit's marker holds (empty for markers written before manifests)."""
        try:
            return dict(json.loads(self.marker(stage, unit).read_text()).get("outputs") or {})
        except (OSError, ValueError):
            return {}

    def clear_marker(self, stage: str, unit: str) -> None:
        self.marker(stage, unit).unlink(missing_ok=True)
