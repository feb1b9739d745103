"""The task's settings from lm-eval metadata (:class:`MechdiffSettings`), validated when lm-eval builds the task;
the crosscoder a run may reuse (:func:`resolve_crosscoder`, :func:`check_crosscoder`). Keys: docs/lm-eval.md.

Models, corpus and config modules are imported inside the functions that need them, so that importing the task
module (which lm-eval does for every task it lists) does not load torch or transformers."""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdiff_eval import TASKS_DIR
from llmdiff_eval.config import (
    AnalyzeConfig,
    AnnotateConfig,
    ConfigError,
    CorpusConfig,
    CorpusSource,
    CrosscoderConfig,
    HarvestConfig,
    ModelSpec,
    RunConfig,
    from_dict,
)
from llmdiff_eval.errors import CrosscoderError, LlmdiffError
from llmdiff_eval.rundir import INDEX_FILE, RunDir
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import cache_root, slugify, stable_hash

TASK_YAML: str = str(Path(TASKS_DIR) / "mechdiff" / "mechdiff.yaml")
PROBE_CORPUS: str = str(importlib.resources.files("llmdiff_eval.data") / "probe_corpus")
PLAIN_CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n\n{% endfor %}"
BASE_NAME, MODEL_NAME = "base", "model"
RESULTS_FILE = "lm_eval_mechdiff.json"
# model_args of lm-eval's hf model that mean the same as a ModelSpec field
MODEL_ARG_FIELDS = {
    "peft": "adapter",
    "revision": "revision",
    "gguf_file": "gguf_file",
    "tokenizer": "tokenizer",
    "trust_remote_code": "trust_remote_code",
}
METADATA_HINT = (
    "set it with lm_eval --metadata '{\"KEY\": ...}' (JSON), or simple_evaluate(..., metadata={'KEY': ...}) "
    "together with TaskManager(include_path=[TASKS_DIR], metadata=...)"
)

log = logging.getLogger(__name__)


class MechdiffConfigError(LlmdiffError, ValueError):
    """Missing or wrong task metadata; the message names the ``--metadata`` key to set."""


def _hint(key: str) -> str:
    return METADATA_HINT.replace("KEY", key)


def class_slug(name: str) -> str:
    """Metric-name form of a taxonomy class: ``"Format & Structure Control"`` → ``"format_structure_control"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


STDERR_SUFFIX = "_stderr"


def metric_names(taxonomy: Taxonomy) -> list[str]:
    """The mechanistic metrics the task reports for ``taxonomy``, in table order.

    Each ``share_*`` is followed by its ``share_*_stderr``: lm-eval writes ``<metric>_stderr`` as "N/A" for an
    aggregation it cannot bootstrap, right after aggregating the metric, and the companion metric of that name,
    aggregated next, replaces it with the value — so lm-eval's own table prints ``share ± stderr``."""
    slugs = [class_slug(name) for name in taxonomy.class_names]
    shares = [*(f"share_{slug}" for slug in slugs), "share_uncategorized"]
    return [
        "n_model_specific",
        "n_base_specific",
        *(name for share in shares for name in (share, share + STDERR_SUFFIX)),
        *(f"firing_{slug}" for slug in slugs),
        "firing_model_specific",
    ]


# ---------------------------------------------------------------------------------------------------------------
# Settings from the task metadata


@dataclass
class CrosscoderSource:
    """A crosscoder given with ``--metadata crosscoder``: its directory and what is known about its training data.

    ``recorded`` holds ``layer`` / ``base`` / ``ft`` (model spec dicts) when they could be read from the harvest
    caches beside it (a run directory); ``verified`` says whether they were.
    """

    path: Path
    identity: str
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return {"layer", "base", "ft"} <= set(self.recorded)


@dataclass
class MechdiffSettings:
    """Validated settings of one evaluation (every ``--metadata`` key and its default: docs/lm-eval.md)."""

    base: ModelSpec
    model: ModelSpec
    layer: int
    crosscoder: CrosscoderSource | None
    crosscoder_preset: str
    crosscoder_config: dict[str, Any]
    analyze_config: dict[str, Any]
    device: str
    dtype: str
    annotator: str
    taxonomy: str
    max_tokens: int | None
    context_length: int | None
    harvest_batch_size: int
    corpus: str
    chat_template: str | None
    chat_template_source: str
    cache_dir: Path
    reuse_model: bool = True

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> MechdiffSettings:
        """Check ``metadata`` (lm-eval's merged ``model_args | --metadata``) and load what the checks need (the two
        tokenizers and model configs, not the weights). Raises :class:`MechdiffConfigError` naming the key."""
        from llmdiff_eval.models import TokenizerMismatchError, check_same_tokenizer

        metadata = dict(metadata or {})
        if metadata.get("base_model") in (None, ""):
            given = sorted(k for k in metadata if k not in ("version", "config_source"))
            raise MechdiffConfigError(
                "the mechdiff task needs the base model to diff the evaluated model against: "
                + _hint("base_model")
                + f', e.g. {{"base_model": "google/gemma-2-9b"}}. Metadata received: {given}'
            )
        base = _model_spec(metadata["base_model"], BASE_NAME, "base_model")
        model = _evaluated_spec(metadata)
        base_tokenizer, model_tokenizer = (
            _tokenizer(base, "base_model"),
            _tokenizer(model, "pretrained / evaluated_model"),
        )
        try:
            check_same_tokenizer(
                f"base_model={base.path}", base_tokenizer, f"evaluated model={model.path}", model_tokenizer
            )
        except TokenizerMismatchError as error:
            raise MechdiffConfigError(
                f'{error} Set --metadata "base_model" to the model the evaluated model was fine-tuned from '
                "(the two must share a tokenizer)."
            ) from error
        n_layers, d_model = model_shape(model, "pretrained / evaluated_model")
        crosscoder = (
            resolve_crosscoder(metadata["crosscoder"], metadata.get("pair"))
            if metadata.get("crosscoder")
            else None
        )
        layer = _layer(metadata.get("layer"), n_layers, crosscoder)
        if crosscoder is not None:
            check_crosscoder(crosscoder, base, model, layer, d_model)
        chat_template, template_source = _chat_template(
            metadata.get("chat_template"), base_tokenizer, model_tokenizer
        )
        device = str(metadata.get("device") or "auto")
        settings = cls(
            base=base,
            model=model,
            layer=layer,
            crosscoder=crosscoder,
            crosscoder_preset=str(metadata.get("crosscoder_preset") or "cpu-small"),
            crosscoder_config=_crosscoder_config(metadata, crosscoder),
            analyze_config=_dict(metadata.get("analyze_config"), "analyze_config"),
            device=device,
            dtype=str(metadata.get("dtype") or "auto"),
            annotator=str(metadata.get("annotator") or "offline"),
            taxonomy=str(metadata.get("taxonomy") or "paper"),
            max_tokens=_positive_int(metadata.get("max_tokens"), "max_tokens"),
            context_length=_positive_int(metadata.get("context_length"), "context_length"),
            harvest_batch_size=_positive_int(metadata.get("harvest_batch_size"), "harvest_batch_size") or 8,
            corpus=_corpus_path(metadata.get("corpus")),
            chat_template=chat_template,
            chat_template_source=template_source,
            cache_dir=_cache_dir(metadata.get("cache_dir")),
            reuse_model=_flag(metadata.get("reuse_model", True), "reuse_model"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Check the settings that are only used by the heavy work, so that a bad value stops the task when lm-eval
        builds it rather than after every request has run."""
        from llmdiff_eval.annotate.core import resolve_annotator_kind
        from llmdiff_eval.models import resolve_device, resolve_dtype

        checks = (
            ("dtype", lambda: resolve_dtype(self.dtype)),
            ("device", lambda: resolve_device(self.device)),
            ("annotator", lambda: resolve_annotator_kind(self.annotator)),
            ("taxonomy", lambda: load_taxonomy(self.taxonomy)),
        )
        for key, check in checks:
            try:
                check()
            except (ValueError, RuntimeError, OSError) as error:
                raise MechdiffConfigError(f'--metadata "{key}": {error}') from error
        if resolve_annotator_kind(self.annotator) == "claude" and not os.environ.get("ANTHROPIC_API_KEY"):
            raise MechdiffConfigError(
                '--metadata "annotator" is "claude" but ANTHROPIC_API_KEY is not set: set it, or use '
                '"annotator": "offline"'
            )
        self.run_config(None)  # the crosscoder preset and overrides

    def corpus_config(self, max_docs: int | None = None):
        """The probe corpus: one source per JSONL/Parquet/text file, mixed with equal weights (seeded), so that the
        first documents (``--limit``) already mix web text and chats."""

        root = Path(self.corpus)
        files = (
            [root]
            if root.is_file()
            else sorted(
                p for p in root.rglob("*") if p.suffix in (".jsonl", ".parquet", ".txt") and p.is_file()
            )
        )
        if not files:
            raise MechdiffConfigError(
                f"probe corpus {root} holds no .jsonl/.parquet/.txt files: {_hint('corpus')}"
            )
        return CorpusConfig(
            sources=[CorpusSource(path=str(p), name=p.name) for p in files],
            max_docs=max_docs,
            chat_template=self.chat_template,
        )

    def run_config(self, max_docs: int | None):
        """The :class:`~llmdiff_eval.config.RunConfig` of this evaluation (base ``base``, fine-tune ``model``)."""
        from llmdiff_eval.models import resolve_device

        device = str(resolve_device(self.device))
        harvest = HarvestConfig(
            layer=self.layer,
            batch_size=self.harvest_batch_size,
            device=device,
            dtype=self.dtype,
            max_tokens=self.max_tokens,
            corpus=self.corpus_config(max_docs),
            **({"context_length": self.context_length} if self.context_length else {}),
        )
        try:
            crosscoder = CrosscoderConfig.preset(
                self.crosscoder_preset, device=device, **self.crosscoder_config
            )
        except (CrosscoderError, TypeError) as error:
            raise MechdiffConfigError(
                f'bad crosscoder settings: {error}. Fix --metadata "crosscoder_preset" / "crosscoder_config"'
            ) from error
        return RunConfig(
            name="lm-eval-mechdiff",
            base=self.base,
            finetunes=[self.model],
            harvest=harvest,
            crosscoder=crosscoder,
            analyze=self.analyze_settings(device),
            annotate=AnnotateConfig(annotator=self.annotator, taxonomy=self.taxonomy, score=False),
        )

    def analyze_settings(self, device: str) -> AnalyzeConfig:
        """The analyze stage's settings: the paper's absolute rule unless ``analyze_config`` says otherwise (e.g.
        ``{"selection": "relative", "delta_norm_z": 5}`` for a fine-tune close to its base)."""
        try:
            return from_dict(AnalyzeConfig, {"device": device, **self.analyze_config}, "analyze_config")
        except (ConfigError, ValueError) as error:
            raise MechdiffConfigError(
                f'bad analyze settings: {error}. Fix --metadata "analyze_config"'
            ) from error

    def run_dir(self, max_docs: int | None) -> Path:
        """The cached run directory of this evaluation: ``<cache_dir>/<model>__vs__<base>-L<layer>-<key>``."""
        from llmdiff_eval.corpus import corpus_fingerprint

        config = self.run_config(max_docs)
        key = stable_hash(
            {
                "format": 1,
                "models": [self.base.to_dict(), self.model.to_dict()],
                "model_files": [
                    _files_fingerprint(path)
                    for spec in (self.base, self.model)
                    for path in (spec.path, spec.adapter)
                ],
                "harvest": {
                    k: v
                    for k, v in dataclasses.asdict(config.harvest).items()
                    if k not in ("device", "batch_size", "progress")
                },
                "corpus": corpus_fingerprint(config.harvest.corpus),
                "crosscoder": self.crosscoder.identity
                if self.crosscoder
                else {k: v for k, v in dataclasses.asdict(config.crosscoder).items() if k != "device"},
                "annotate": dataclasses.asdict(config.annotate),
                # only when set, so that runs with the default analyze settings keep their cached results
                **({"analyze": self.analyze_config} if self.analyze_config else {}),
            }
        )
        name = f"{slugify(Path(self.model.path).name)}__vs__{slugify(Path(self.base.path).name)}-L{self.layer}-{key}"
        return self.cache_dir / name


def _crosscoder_config(metadata: dict[str, Any], crosscoder: CrosscoderSource | None) -> dict[str, Any]:
    """``crosscoder_config`` with ``seeds`` (a seed ensemble, e.g. ``[0, 1, 2]``) folded in."""
    config = _dict(metadata.get("crosscoder_config"), "crosscoder_config")
    seeds = metadata.get("seeds")
    if seeds is None:
        return config
    if crosscoder is not None:
        raise MechdiffConfigError(
            '--metadata "seeds" trains one crosscoder per seed, but "crosscoder" gives a trained one: drop one of them'
        )
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise MechdiffConfigError(
            f'--metadata "seeds" must be a list of integers such as [0, 1, 2], got {seeds!r}'
        )
    return {**config, "seeds": seeds}


def _files_fingerprint(path: str | None) -> list[list[Any]] | None:
    """Name, size and modification time of a local model file or of the files of a local model directory (None
    for hub ids), so that a model re-saved at the same path gets a new run directory."""
    if path is None or not Path(path).exists():
        return None
    root = Path(path)
    files = [root] if root.is_file() else sorted(f for f in root.iterdir() if f.is_file())
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _model_spec(value: Any, name: str, key: str) -> ModelSpec:
    """A :class:`ModelSpec` from a metadata value (a path string or a dict of spec fields); local paths made
    absolute so that the cache key does not depend on the working directory."""

    if isinstance(value, dict):
        try:
            spec = ModelSpec.from_dict({**value, "name": name})
        except (TypeError, ValueError) as error:
            raise MechdiffConfigError(f'--metadata "{key}": {error}') from error
    elif isinstance(value, (str, os.PathLike)):
        spec = ModelSpec(name=name, path=str(value))
    else:
        raise MechdiffConfigError(
            f'--metadata "{key}" must be a model path / hub id or a dict of ModelSpec fields, got '
            f"{type(value).__name__}: {_hint(key)}"
        )
    for attribute in ("path", "adapter"):
        value = getattr(spec, attribute)
        if value is not None and Path(value).expanduser().exists():
            setattr(spec, attribute, str(Path(value).expanduser().resolve()))
    return spec


def _evaluated_spec(metadata: dict[str, Any]) -> ModelSpec:
    if metadata.get("evaluated_model"):
        return _model_spec(metadata["evaluated_model"], MODEL_NAME, "evaluated_model")
    pretrained = metadata.get("pretrained")
    if not isinstance(pretrained, (str, os.PathLike)) or not str(pretrained):
        raise MechdiffConfigError(
            "the mechdiff task needs the path of the evaluated model: run lm_eval with --model_args "
            "pretrained=<hub id or dir> (merged into the task metadata by the lm_eval CLI), or "
            + _hint("evaluated_model")
            + f" (got pretrained={type(pretrained).__name__})"
        )
    fields = {MODEL_ARG_FIELDS[k]: v for k, v in metadata.items() if k in MODEL_ARG_FIELDS and v is not None}
    if fields.get("revision") == "main":
        fields.pop("revision")
    return _model_spec({"path": str(pretrained), **fields}, MODEL_NAME, "evaluated_model")


def _tokenizer(spec: ModelSpec, key: str):
    from llmdiff_eval.models import ModelLoadError, load_tokenizer

    try:
        return load_tokenizer(spec)
    except ModelLoadError as error:
        raise MechdiffConfigError(f'{error} Check --metadata "{key}".') from error


def model_shape(spec: ModelSpec, key: str) -> tuple[int, int]:
    """``(number of decoder layers, hidden size)`` of ``spec`` from its config (weights are not loaded)."""
    from llmdiff_eval.models import ModelLoadError
    from llmdiff_eval.models import model_shape as read_shape

    try:
        return read_shape(spec)
    except ModelLoadError as error:
        raise MechdiffConfigError(
            f'cannot read the model config of {spec.path!r}: {error}. Check --metadata "{key}".'
        ) from error


def _layer(value: Any, n_layers: int, crosscoder: CrosscoderSource | None) -> int:
    if value is None:
        if crosscoder is not None and "layer" in crosscoder.recorded:
            return int(crosscoder.recorded["layer"])
        return n_layers // 2
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        and not (isinstance(value, str) and value.isdigit())
    ):
        raise MechdiffConfigError(f'--metadata "layer" must be a 0-based layer index, got {value!r}')
    layer = int(value)
    if not 0 <= layer < n_layers:
        raise MechdiffConfigError(
            f'--metadata "layer" is {layer}, but the evaluated model has {n_layers} decoder layers: set "layer" '
            f"to 0..{n_layers - 1} (0-based; the residual stream after that block is diffed)"
        )
    return layer


def _positive_int(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MechdiffConfigError(f'--metadata "{key}" must be a positive integer, got {value!r}')
    return value


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MechdiffConfigError(f'--metadata "{key}" must be true or false, got {value!r}')


def _dict(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MechdiffConfigError(f'--metadata "{key}" must be a JSON object, got {value!r}')
    return dict(value)


def _corpus_path(value: Any) -> str:
    path = Path(value).expanduser().resolve() if value else Path(PROBE_CORPUS)
    if not path.exists():
        raise MechdiffConfigError(f"probe corpus {path} does not exist: {_hint('corpus')}")
    return str(path)


def _cache_dir(value: Any) -> Path:
    if value:
        return Path(value).expanduser().resolve()
    return cache_root() / "lm_eval"


def _chat_template(value: Any, base_tokenizer, model_tokenizer) -> tuple[str | None, str]:
    """``(chat_template for CorpusConfig, where it came from)``."""
    if value:
        return str(value), "metadata chat_template"
    if getattr(base_tokenizer, "chat_template", None):
        return None, "base tokenizer"
    if getattr(model_tokenizer, "chat_template", None):
        return model_tokenizer.chat_template, "evaluated model's tokenizer (the base tokenizer has none)"
    return PLAIN_CHAT_TEMPLATE, "plain 'role: content' template (neither tokenizer has one)"


# ---------------------------------------------------------------------------------------------------------------
# A crosscoder given in the metadata


def resolve_crosscoder(value: Any, pair: Any = None) -> CrosscoderSource:
    """Find the crosscoder of ``--metadata crosscoder`` (a crosscoder directory, or a run directory + ``pair``) and
    read what its run directory recorded about the models and layer it was trained on."""
    import json

    path = Path(str(value)).expanduser().resolve()
    if (path / "cfg.json").is_file():
        cc_dir = path
        run_dir = path.parent.parent if path.parent == RunDir(path.parent.parent).crosscoders_root else None
    elif RunDir(path).crosscoders_root.is_dir():
        run_dir = path
        pairs = sorted(p.name for p in RunDir(path).crosscoders_root.iterdir() if (p / "cfg.json").is_file())
        if pair is None:
            if len(pairs) != 1:
                raise MechdiffConfigError(
                    f"run directory {path} holds {len(pairs)} trained crosscoders {pairs}: choose one with "
                    + _hint("pair")
                )
            pair = pairs[0]
        if str(pair) not in pairs:
            raise MechdiffConfigError(
                f"no crosscoder for pair {pair!r} in {path}/crosscoders (found {pairs}): {_hint('pair')}"
            )
        cc_dir = RunDir(path).crosscoders_root / str(pair)
    else:
        raise MechdiffConfigError(
            f'--metadata "crosscoder" = {path} is neither a crosscoder directory (with cfg.json) nor a run '
            'directory (with crosscoders/): give one, or leave "crosscoder" out to train one on the probe corpus'
        )
    cfg = json.loads((cc_dir / "cfg.json").read_text(encoding="utf-8"))
    facts = (cfg.get("metadata") or {}).get("llmdiff_eval") or {}
    weights = cc_dir / "sae_weights.safetensors"
    identity = stable_hash(
        {
            "cfg": cfg,
            "weights": [weights.stat().st_size, weights.stat().st_mtime_ns] if weights.exists() else None,
        }
    )
    source = CrosscoderSource(path=cc_dir, identity=identity, recorded={"d_model": cfg.get("d_in")})
    names = facts.get("pair") or {}
    if run_dir is not None and names.get("base") and names.get("ft"):
        for role in ("base", "ft"):
            index = RunDir(run_dir).activations(names[role]) / INDEX_FILE
            if index.is_file():
                recorded = json.loads(index.read_text(encoding="utf-8"))
                source.recorded[role] = recorded.get("model")
                source.recorded["layer"] = recorded.get("layer")
    # facts the train stage records in cfg.json itself, when it does (they travel with a copied crosscoder)
    if facts.get("layer") is not None:
        source.recorded["layer"] = facts["layer"]
    for role, spec in (facts.get("model_specs") or {}).items():
        if role in ("base", "ft"):
            source.recorded[role] = spec
    return source


def _same_model(recorded: dict[str, Any] | None, spec: ModelSpec) -> bool:
    if not recorded:
        return False
    keys = ("path", "adapter", "gguf_file", "revision")
    return all(_same_location(recorded.get(k), getattr(spec, k)) for k in keys)


def _same_location(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    paths = [Path(str(x)).expanduser() for x in (a, b)]
    if all(p.exists() for p in paths):
        return paths[0].resolve() == paths[1].resolve()
    return str(a) == str(b)


def check_crosscoder(
    source: CrosscoderSource, base: ModelSpec, model: ModelSpec, layer: int, d_model: int
) -> None:
    """Raise :class:`MechdiffConfigError` if the crosscoder was trained for another width, layer or model pair."""
    recorded = source.recorded
    if recorded.get("d_model") not in (None, d_model):
        raise MechdiffConfigError(
            f"crosscoder {source.path} reads {recorded['d_model']}-dimensional activations but the evaluated model's "
            f'width is {d_model}: set --metadata "crosscoder" to a crosscoder of this model pair'
        )
    if recorded.get("layer") is not None and int(recorded["layer"]) != layer:
        raise MechdiffConfigError(
            f"crosscoder {source.path} was trained on layer {recorded['layer']} activations, but --metadata "
            f'"layer" is {layer}: set "layer": {recorded["layer"]} (or leave it out), or give a crosscoder '
            f"trained on layer {layer}"
        )
    for role, spec, key in (("base", base, "base_model"), ("ft", model, "pretrained / evaluated_model")):
        if role in recorded and not _same_model(recorded[role], spec):
            trained = (recorded[role] or {}).get("path")
            raise MechdiffConfigError(
                f"crosscoder {source.path} was trained for the {'base' if role == 'base' else 'fine-tuned'} model "
                f'{trained!r}, but {key} is {spec.path!r}: set --metadata "crosscoder" to a crosscoder of this '
                f'model pair (or leave it out to train one), or "{key.split(" ")[0]}" to {trained!r}'
            )
    if not source.verified:
        log.warning(
            "mechdiff: cannot verify which models and layer crosscoder %s was trained on (no harvest caches beside "
            "it); trusting --metadata. Only its width (%s) was checked.",
            source.path,
            recorded.get("d_model"),
        )
