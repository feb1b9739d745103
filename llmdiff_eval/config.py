"""The run configuration: one YAML file describes a whole run (models, layer, corpus, every stage's settings).

```yaml
name: my-run
base: {name: base, path: google/gemma-2-9b}
finetunes:
  - {name: it, path: google/gemma-2-9b-it}
  - {name: simpo, path: princeton-nlp/gemma-2-9b-it-SimPO}
harvest: {layer: 20, device: cuda, dtype: bfloat16, corpus: {sources: [{hf_dataset: HuggingFaceFW/fineweb}]}}
crosscoder: {preset: paper}
analyze: {}
annotate: {annotator: auto}
scorecard: {a: it, b: simpo, arena_models: {it: gemma-2-9b-it, simpo: gemma-2-9b-it-simpo}}
```

Each section is the config dataclass of its stage (``HarvestConfig``, ``CrosscoderConfig``, ...); unknown keys are an
error that lists the valid ones. ``crosscoder.preset`` picks a named preset that the other keys override.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmdiff_eval.analyze import AnalyzeConfig
from llmdiff_eval.annotate import AnnotateConfig
from llmdiff_eval.crosscoder import CrosscoderConfig
from llmdiff_eval.harvest import HarvestConfig
from llmdiff_eval.models import ModelSpec


class ConfigError(ValueError):
    """The run configuration is invalid; the message says which key to fix."""


@dataclass
class ScorecardConfig:
    """Which two fine-tunes the scorecard compares, and the LMArena names to look up for each.

    ``a`` is the reference (the paper's ``it``), ``b`` the challenger (the paper's SimPO): diffs are ``b − a``.
    ``arena_models`` maps run model names to LMArena model names; ``arena_source`` is passed to ``fetch_arena``
    (``"bundled"`` uses the paper's Table 3 snapshot, ``"auto"`` fetches live data with fallbacks).
    ``arena_note`` is printed beside Arena columns (e.g. when they belong to other models than the run's).
    """

    a: str | None = None
    b: str | None = None
    arena_models: dict[str, str] = field(default_factory=dict)
    arena_source: str = "auto"
    arena_date: str | None = None
    arena_note: str | None = None
    lm_eval_results: list[str] = field(default_factory=list)


@dataclass
class RunConfig:
    """A whole run: the base model, its fine-tunes, and every stage's settings."""

    name: str
    base: ModelSpec
    finetunes: list[ModelSpec]
    harvest: HarvestConfig
    crosscoder: CrosscoderConfig = field(default_factory=CrosscoderConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    scorecard: ScorecardConfig = field(default_factory=ScorecardConfig)

    def __post_init__(self) -> None:
        names = [self.base.name] + [ft.name for ft in self.finetunes]
        if not self.finetunes:
            raise ConfigError("`finetunes` is empty: list at least one fine-tune to diff against the base")
        if len(set(names)) != len(names):
            raise ConfigError(
                f"model names must be unique, got {names}: set a distinct `name:` for each model"
            )

    @property
    def models(self) -> list[ModelSpec]:
        """Base first, then the fine-tunes."""
        return [self.base, *self.finetunes]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a plain dict, recursing into nested dataclasses and lists of them.

    ``CrosscoderConfig`` accepts ``preset: NAME`` (other keys override the preset).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    if cls is CrosscoderConfig and "preset" in data:
        overrides = {key: value for key, value in data.items() if key != "preset"}
        _check_keys(cls, overrides, where)
        return CrosscoderConfig.preset(data["preset"], **overrides)
    _check_keys(cls, data, where)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _convert(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from error


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(valid)}")


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        hint = options[0] if len(options) == 1 else hint
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)
    if origin is list and value is not None:
        (item_hint,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_convert(item_hint, item, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def load_config(path: str | Path) -> RunConfig:
    """Read a run config YAML file (see the module docstring for the format)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    for required in ("name", "base", "finetunes", "harvest"):
        if required not in (data or {}):
            raise ConfigError(f"{path}: missing required key `{required}`")
    return from_dict(RunConfig, data, where=path.name)


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML (what ``config.yaml`` in the run directory holds)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
