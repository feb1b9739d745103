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

Each section is the config dataclass of its stage (``HarvestConfig``, ``CrosscoderConfig``, ...), one module each in
this package; unknown keys are an error that lists the valid ones. ``crosscoder.preset`` picks a named preset that
the other keys override. This package holds plain dataclasses only: importing it loads no torch, transformers,
sae_lens or anthropic. Reference: docs/config.md.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmdiff_eval.config.analyze import AnalyzeConfig
from llmdiff_eval.config.annotate import AnnotateConfig
from llmdiff_eval.config.arena import ArenaBattlesConfig
from llmdiff_eval.config.causal import CausalConfig
from llmdiff_eval.config.corpus import CorpusConfig, CorpusSource
from llmdiff_eval.config.crosscoder import PRESETS, CrosscoderConfig
from llmdiff_eval.config.harvest import HarvestConfig
from llmdiff_eval.config.keys import reject_unknown_keys
from llmdiff_eval.config.models import ModelSpec
from llmdiff_eval.errors import ConfigError, CrosscoderError

__all__ = [
    "PRESETS",
    "AnalyzeConfig",
    "AnnotateConfig",
    "ArenaBattlesConfig",
    "CausalConfig",
    "ConfigError",
    "CorpusConfig",
    "CorpusSource",
    "CrosscoderConfig",
    "HarvestConfig",
    "ModelSpec",
    "RunConfig",
    "ScorecardConfig",
    "apply_overrides",
    "dump_config",
    "from_dict",
    "load_config",
    "load_models_section",
    "load_seeds",
    "result_settings",
]


@dataclass
class ScorecardConfig:
    """Which two fine-tunes the scorecard compares, and the LMArena names to look up for each.

    ``a`` is the reference (the paper's ``it``), ``b`` the challenger (the paper's SimPO): diffs are ``b − a``.
    ``arena_models`` maps run model names to LMArena model names; ``arena_source`` is passed to ``fetch_arena``
    (``"bundled"`` uses the paper's Table 3 snapshot, ``"auto"`` fetches live data with fallbacks).
    ``arena_note`` is printed beside Arena columns (e.g. when they belong to other models than the run's).
    ``arena_own`` lists the run models whose ``arena_models`` entry is that model's *own* LMArena entry; only their
    ratings go into the ``model-index`` of a model card. The default (empty) treats every mapping as a stand-in:
    its ratings appear in the card's prose, with ``arena_note``, never as the model's results.
    ``arena_battles`` (:class:`ArenaBattlesConfig`): fit the ratings from LMArena battles instead of fetching them
    (``arena_source`` / ``arena_date`` are then unused unless a command passes ``--arena-source``).
    ``explained_margin`` (None: off): a latent whose detection score does not beat its random-label baseline by
    more than this many balanced-accuracy points counts as *unexplained*, not in its category.
    """

    a: str | None = None
    b: str | None = None
    arena_models: dict[str, str] = field(default_factory=dict)
    arena_source: str = "auto"
    arena_date: str | None = None
    arena_note: str | None = None
    arena_own: list[str] = field(default_factory=list)
    arena_battles: ArenaBattlesConfig | None = None
    lm_eval_results: list[str] = field(default_factory=list)
    explained_margin: float | None = None


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
    causal: CausalConfig = field(default_factory=CausalConfig)

    def __post_init__(self) -> None:
        names = [self.base.name] + [ft.name for ft in self.finetunes]
        if not self.finetunes:
            raise ConfigError("`finetunes` is empty: list at least one fine-tune to diff against the base")
        if len(set(names)) != len(names):
            raise ConfigError(
                f"model names must be unique, got {names}: set a distinct `name:` for each model"
            )
        strangers = sorted(set(self.scorecard.arena_own) - set(names[1:]))
        if strangers:
            raise ConfigError(
                f"scorecard.arena_own names {strangers}, which are not fine-tunes of this run ({names[1:]})"
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
    preset = data.get("preset") if cls is CrosscoderConfig else None
    fields = {key: value for key, value in data.items() if not (preset is not None and key == "preset")}
    reject_unknown_keys(cls, fields, f"{where}: unknown key(s)", ConfigError)
    hints = typing.get_type_hints(cls)
    kwargs = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in fields.items()}
    try:
        return CrosscoderConfig.preset(preset, **kwargs) if preset is not None else cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from error


def _convert(hint: Any, value: Any, where: str) -> Any:
    """``value`` checked against the type ``hint`` of its field (recursing into dataclasses and lists), so that a
    wrong type is a :class:`ConfigError` naming the key before any model is loaded."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        if len(options) != 1:
            return value  # e.g. ``str | list[str]``: the section's own check decides
        hint = options[0]
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a section (a mapping of settings), got {value!r}")
        return from_dict(hint, value or {}, where)
    if origin is tuple and value is not None:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        return tuple(_convert(item_hint, item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is list and value is not None:
        (item_hint,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_convert(item_hint, item, f"{where}[{i}]") for i, item in enumerate(value)]
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    if value is None and hint in (int, float, bool, str):
        raise ConfigError(f"{where}: a value is required here, got null")
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(
            f"{where}: expected a whole number, got {value!r} (e.g. `{where.rsplit('.', 1)[-1]}: 20`)"
        )
    if hint is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        try:  # YAML 1.1 reads 1e-4 (no dot) as a string
            return float(value) if isinstance(value, str) else _bad_number(value, where)
        except ValueError:
            return _bad_number(value, where)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f'{where}: expected a string, got {value!r} (quote it in YAML: "{value}")')
    return value


def _bad_number(value: Any, where: str) -> Any:
    raise ConfigError(f"{where}: expected a number, got {value!r}")


def result_settings(section: Any) -> dict[str, Any]:
    """A stage config as a plain dict without its ``RESULT_NEUTRAL`` settings (device, batch size, progress, ...):
    what a unit key hashes, so that changing only those settings never makes a finished unit stale."""
    neutral = getattr(section, "RESULT_NEUTRAL", ())
    return {key: value for key, value in dataclasses.asdict(section).items() if key not in neutral}


DEVICE_SECTIONS = ("harvest", "crosscoder", "analyze", "causal")
"""The sections whose ``device`` setting ``load_config(..., device=)`` overrides."""


def apply_overrides(
    data: dict[str, Any], overrides: Sequence[str] = (), device: str | None = None
) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides (dotted keys, YAML values: ``harvest.layer=12``) and a device for every
    section that has one, to a config mapping (in place; returned)."""
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. harvest.layer=12), got {override!r}")
        dotted, raw_value = override.split("=", 1)
        target = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if target.get(part) is None:  # an empty section in the YAML
                target[part] = {}
            target = target[part]
            if not isinstance(target, dict):
                raise ConfigError(f"--set {dotted}: {part} is not a section")
        try:
            target[leaf] = yaml.safe_load(raw_value)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {override!r}: the value is not valid YAML ({error})") from error
    if device:
        for section in DEVICE_SECTIONS:
            if data.get(section) is None:  # absent, or an empty section in the YAML
                data[section] = {}
            if isinstance(data[section], dict):  # anything else is reported by from_dict
                data[section]["device"] = device
    return data


def load_config(path: str | Path, overrides: Sequence[str] = (), device: str | None = None) -> RunConfig:
    """Read a run config YAML file (see the module docstring for the format), with ``--set``-style ``overrides``
    and a ``device`` for every stage applied (:func:`apply_overrides`)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (name, base, finetunes, harvest, ...)")
    data = apply_overrides(data, overrides, device)
    for required in ("name", "base", "finetunes", "harvest"):
        if required not in data:
            raise ConfigError(f"{path}: missing required key `{required}`")
    return from_dict(RunConfig, data, where=path.name)


def load_models_section(path: str | Path) -> tuple[ModelSpec, list[ModelSpec], ScorecardConfig]:
    """The ``base``, ``finetunes`` and ``scorecard`` sections of a run config file, validated as in
    :func:`load_config`, without requiring the stage sections (what the report commands need of a run)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, dict) or "base" not in data or not data.get("finetunes"):
        raise ConfigError(f"{path}: expected `base` (with a name) and a list of `finetunes`")
    base = from_dict(ModelSpec, data["base"], f"{path.name}.base")
    finetunes = _convert(list[ModelSpec], data["finetunes"], f"{path.name}.finetunes")
    scorecard = from_dict(ScorecardConfig, data.get("scorecard") or {}, f"{path.name}.scorecard")
    return base, finetunes, scorecard


def load_seeds(path: str | Path) -> list[int] | None:
    """``crosscoder.seeds`` of a run config file (validated), or None when the run trains one crosscoder per pair."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    section = data.get("crosscoder") if isinstance(data, dict) else None
    seeds = section.get("seeds") if isinstance(section, dict) else None
    if seeds is None:
        return None
    try:
        return CrosscoderConfig(seeds=seeds).seeds
    except CrosscoderError as error:
        raise ConfigError(f"{path}: {error}") from error


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML (what ``config.yaml`` in the run directory holds)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
