"""The lm-evaluation-harness task ``mechdiff``: the mechanistic diff of the evaluated model as one more task.

``tasks/mechdiff/mechdiff.yaml`` (directory :data:`TASKS_DIR`, pass it to ``--include_path``) builds
:class:`MechdiffTask` through ``class: !function llmdiff_eval.lm_eval_task.MechdiffTask``. The documents are the probe
corpus shipped in the package (``llmdiff_eval/data/probe_corpus/``; chats rendered with a chat template, see
``chat_template`` below). lm-eval scores each document with ``loglikelihood_rolling``, which gives
``word_perplexity``, ``byte_perplexity`` and ``bits_per_byte`` of the evaluated model for free. Once per evaluation,
the task also diffs the evaluated model against its base with the pipeline's own stages (harvest → train → analyze →
annotate, :func:`llmdiff_eval.pipeline.run_pipeline`) on the same probe documents and reports, per taxonomy class:

* ``n_model_specific`` — latents tagged ``ft_only`` by the analyze stage (present in the evaluated model only).
* ``n_base_specific`` — latents tagged ``base_only`` (present in the base only: what the fine-tune lost).
* ``share_<class>`` — percent (0–100) of the evaluated model's annotated model-specific latents that fall in the
  class (the scorecard's ``share_pct``; 0 when there are none). ``share_uncategorized`` is the rest, so the shares
  add up to 100 whenever there is at least one model-specific latent.
* ``firing_<class>`` — percentage points of probe tokens: the mean, over the class's model-specific latents, of the
  share of probe tokens on which the latent fires with the evaluated model's activations, minus the same share when
  the evaluated model's activations are replaced by the base model's on the same tokens (the crosscoder sees
  ``(base, base)`` instead of ``(base, evaluated)``: what it would see if the evaluated model were the base).
  Positive = these latents fire more because of the fine-tuning; 0 when the class has no model-specific latents or
  the two models are identical. ``firing_model_specific`` is the same over all model-specific latents.

``<class>`` is the class name in lower case with runs of other characters replaced by ``_`` (:func:`class_slug`);
for the paper's taxonomy: ``safety_content_moderation``, ``linguistic_capabilities``, ``information_processing``,
``user_interaction_management``, ``format_structure_control``, ``error_handling_quality_control``,
``specialized_capabilities``. ``higher_is_better`` is unset (``None``) for the mechanistic metrics: a shift is neither
good nor bad by itself; the perplexities keep lm-eval's ``False``.

**Settings.** The evaluated model is ``pretrained`` (the lm_eval CLI merges ``--model_args`` into every task's
metadata; the model arguments ``peft``, ``revision``, ``gguf_file``, ``tokenizer`` and ``trust_remote_code`` carry
over too). Everything else comes from ``--metadata`` (JSON) or ``simple_evaluate(metadata=...)``:

=====================  ======================================================================================
key                    meaning (default)
=====================  ======================================================================================
``base_model``         **required**: hub id, local directory, ``.gguf`` file or ``packaged:<name>`` of the base
                       model, or a dict of :class:`~llmdiff_eval.models.ModelSpec` fields (``path``, ``adapter``…)
``evaluated_model``    overrides ``pretrained`` (same forms as ``base_model``), e.g. for ``simple_evaluate`` with
                       an already loaded model object
``layer``              0-based decoder layer (default: the crosscoder's layer if one is given, else
                       ``num_hidden_layers // 2`` of the evaluated model)
``crosscoder``         a trained crosscoder directory (``cfg.json``), or a run directory (with ``pair``); default:
                       train one on the probe corpus (preset ``crosscoder_preset``)
``pair``               the pair inside a run directory given as ``crosscoder`` (default: its only pair)
``crosscoder_preset``  preset of the crosscoder trained here (``"cpu-small"``); ``crosscoder_config``: a dict
                       of :class:`~llmdiff_eval.crosscoder.CrosscoderConfig` overrides
``device``             device of the task's own work, not lm-eval's (``"auto"``: CUDA when available)
``dtype``              compute dtype of the harvest (``"auto"``: the checkpoint's; ``--model_args dtype=`` sets it)
``annotator``          ``"offline"`` (sentence embeddings, no API key), ``"claude"`` or ``"auto"``
``taxonomy``           shipped taxonomy name or YAML path (``"paper"``)
``max_tokens``         cap on harvested probe tokens per model (no cap); ``context_length`` (harvest default)
``harvest_batch_size`` documents per harvest forward pass (8)
``corpus``             a local JSONL/Parquet/text file or directory to probe instead of the shipped corpus
``chat_template``      chat template for chat records (default: the base tokenizer's, else the evaluated
                       model's, else :data:`PLAIN_CHAT_TEMPLATE`)
``cache_dir``          where run directories are kept (``$LLMDIFF_EVAL_CACHE/lm_eval`` or
                       ``~/.cache/llmdiff-eval/lm_eval``)
=====================  ======================================================================================

Missing or wrong settings stop the task when lm-eval builds it (before any model is evaluated) with a
:class:`MechdiffConfigError` naming the key to set: no ``base_model``; a tokenizer that differs from the evaluated
model's; a ``layer`` the model does not have; a crosscoder trained for another model pair, layer or width.

**When the heavy work runs.** At the first aggregation of a mechanistic metric — after lm-eval has run every request,
once per evaluation (on rank 0 only), never per document; :meth:`MechdiffTask.mechdiff_results` memoises it, and its
run directory under ``cache_dir`` (keyed by every input that changes the result) makes a rerun free. lm-eval gives a
task no access to its LM object, so the task loads both models itself through :mod:`llmdiff_eval.models` (one at a
time, stopping the forward pass at ``layer``) while lm-eval's own copy of the evaluated model is still loaded. The
probe documents are the ones lm-eval evaluates: ``--limit N`` restricts both to the first N documents. The run
directory is an ordinary llmdiff-eval run (``activations/``, ``crosscoders/base__model/``, ``latents/``,
``annotations/``; models ``base`` and ``model``) and its path is recorded in the results under
``configs.mechdiff.metadata.mechdiff_run``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import logging
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import numpy as np
from lm_eval.api.task import ConfigurableTask

from llmdiff_eval import TASKS_DIR
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import atomic_write_json, pair_name, slugify, stable_hash

if TYPE_CHECKING:  # torch and transformers are imported when the task is built, not with this module
    from llmdiff_eval.models import ModelSpec

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


class MechdiffConfigError(ValueError):
    """Missing or wrong task metadata; the message names the ``--metadata`` key to set."""


def _hint(key: str) -> str:
    return METADATA_HINT.replace("KEY", key)


def class_slug(name: str) -> str:
    """Metric-name form of a taxonomy class: ``"Format & Structure Control"`` → ``"format_structure_control"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def metric_names(taxonomy: Taxonomy) -> list[str]:
    """The mechanistic metrics the task reports for ``taxonomy``, in table order."""
    slugs = [class_slug(name) for name in taxonomy.class_names]
    return [
        "n_model_specific",
        "n_base_specific",
        *(f"share_{slug}" for slug in slugs),
        "share_uncategorized",
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
    """Validated settings of one evaluation (see the module docstring for every key and its default)."""

    base: ModelSpec
    model: ModelSpec
    layer: int
    crosscoder: CrosscoderSource | None
    crosscoder_preset: str
    crosscoder_config: dict[str, Any]
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
            crosscoder_config=_dict(metadata.get("crosscoder_config"), "crosscoder_config"),
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
        from llmdiff_eval.corpus import CorpusConfig, CorpusSource

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
        from llmdiff_eval.analyze import AnalyzeConfig
        from llmdiff_eval.annotate import AnnotateConfig
        from llmdiff_eval.config import RunConfig
        from llmdiff_eval.crosscoder import CrosscoderConfig, CrosscoderError
        from llmdiff_eval.harvest import HarvestConfig
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
            analyze=AnalyzeConfig(device=device),
            annotate=AnnotateConfig(annotator=self.annotator, taxonomy=self.taxonomy, score=False),
        )

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
            }
        )
        name = f"{slugify(Path(self.model.path).name)}__vs__{slugify(Path(self.base.path).name)}-L{self.layer}-{key}"
        return self.cache_dir / name


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
    from llmdiff_eval.models import ModelSpec

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
    from transformers import AutoConfig

    from llmdiff_eval.models import ModelLoadError, resolve_source

    try:
        source, gguf_file = resolve_source(spec)
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        config = AutoConfig.from_pretrained(
            source, revision=spec.revision, trust_remote_code=spec.trust_remote_code, **kwargs
        )
    except (ModelLoadError, OSError, ValueError) as error:
        raise MechdiffConfigError(
            f'cannot read the model config of {spec.path!r}: {error}. Check --metadata "{key}".'
        ) from error
    text = getattr(config, "text_config", None) or config
    return int(text.num_hidden_layers), int(text.hidden_size)


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
    root = os.environ.get("LLMDIFF_EVAL_CACHE") or Path.home() / ".cache" / "llmdiff-eval"
    return Path(root) / "lm_eval"


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
        run_dir = path.parent.parent if path.parent.name == "crosscoders" else None
    elif (path / "crosscoders").is_dir():
        run_dir = path
        pairs = sorted(p.name for p in (path / "crosscoders").iterdir() if (p / "cfg.json").is_file())
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
        cc_dir = path / "crosscoders" / str(pair)
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
            index = run_dir / "activations" / names[role] / "index.json"
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


# ---------------------------------------------------------------------------------------------------------------
# The heavy work: once per evaluation


def probe_documents(settings: MechdiffSettings) -> list[dict[str, Any]]:
    """The probe corpus as lm-eval documents ``{"doc_id", "source", "text"}``, in the harvest's order; chats are
    rendered with the chat template the harvest uses (a leading BOS string is dropped: lm-eval adds its own)."""
    from llmdiff_eval.corpus import iter_documents, render, resolve_chat_template
    from llmdiff_eval.models import load_tokenizer

    tokenizer = load_tokenizer(settings.base)
    corpus = settings.corpus_config()
    template = resolve_chat_template(corpus.chat_template, tokenizer)
    bos = tokenizer.bos_token or ""
    docs = []
    for document in iter_documents(corpus):
        text = render(document, tokenizer, template)
        if bos and text.startswith(bos):
            text = text[len(bos) :]
        docs.append({"doc_id": document.doc_id, "source": document.source, "text": text})
    return docs


def firing_rates(
    crosscoder, acts, latent_ids: np.ndarray, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Per latent of ``latent_ids``: the fraction of tokens on which it fires (``encode(normalize(x)) > 0``) with the
    real pair ``(base, evaluated)``, and with the evaluated model's activations replaced by the base's ``(base,
    base)``. Both in [0, 1], shape ``(len(latent_ids),)``. ``acts``: a ``(base_cache_dir, model_cache_dir)`` pair of
    harvest caches or a raw ``(N, 2, d)`` tensor (index 0 = base), read once."""
    import torch

    from llmdiff_eval.analyze import iter_batches

    device, dtype = crosscoder.W_dec.device, crosscoder.W_dec.dtype
    ids = torch.as_tensor(latent_ids, dtype=torch.long, device=device)
    fired = torch.zeros(2, len(ids), dtype=torch.float64)
    n_tokens = 0
    with torch.no_grad():
        for raw in iter_batches(acts, batch_size):
            raw = raw.to(device=device, dtype=dtype)
            substituted = torch.stack([raw[:, 0], raw[:, 0]], dim=1)
            for row, pair in enumerate((raw, substituted)):
                f = crosscoder.encode(crosscoder.normalize(pair))[:, ids]
                fired[row] += (f > 0).sum(dim=0).double().cpu()
            n_tokens += raw.shape[0]
    rates = (fired / max(n_tokens, 1)).numpy()
    return rates[0], rates[1]


@dataclass
class MechdiffResult:
    """The mechanistic metrics of one evaluation (``metrics``) and where they came from (``provenance``)."""

    metrics: dict[str, float]
    provenance: dict[str, Any]


def compute_metrics(
    latents, annotations, taxonomy: Taxonomy, rates: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """The metrics (module docstring) from the latent table, the annotations of its model-specific latents and
    ``rates(latent_ids) -> (fraction fired with the evaluated model, with the base substituted)``."""
    from llmdiff_eval.scorecard import counts_from_annotations, share_pct

    counts = counts_from_annotations(annotations, taxonomy, where="mechdiff annotations")
    metrics: dict[str, float] = {
        "n_model_specific": float((latents["tag"] == "ft_only").sum()),
        "n_base_specific": float((latents["tag"] == "base_only").sum()),
    }
    for name in taxonomy.class_names:
        metrics[f"share_{class_slug(name)}"] = share_pct(counts.classes.get(name, 0), counts.total) or 0.0
    metrics["share_uncategorized"] = share_pct(counts.uncategorized, counts.total) or 0.0

    specific = latents.index[latents["tag"] == "ft_only"].to_numpy()
    class_of = {int(latent): _class_name(row, taxonomy) for latent, row in annotations.iterrows()}
    with_model, with_base = rates(specific) if len(specific) else (np.zeros(0), np.zeros(0))
    shift = dict(zip((int(i) for i in specific), (with_model - with_base) * 100.0, strict=True))
    for name in taxonomy.class_names:
        members = [shift[i] for i in specific if class_of.get(int(i)) == name]
        metrics[f"firing_{class_slug(name)}"] = float(np.mean(members)) if members else 0.0
    metrics["firing_model_specific"] = float(np.mean(list(shift.values()))) if shift else 0.0
    return metrics


def _class_name(row, taxonomy: Taxonomy) -> str | None:
    code = row.get("category")
    if isinstance(code, str) and code:
        return taxonomy.class_of(code).name
    name = row.get("class_name")
    return name if isinstance(name, str) and name else None


_MEMO: dict[Path, MechdiffResult] = {}


def run_mechdiff(settings: MechdiffSettings, max_docs: int | None = None) -> MechdiffResult:
    """Diff the evaluated model against the base on the first ``max_docs`` probe documents (all if None) and return
    the metrics; memoised in memory and in ``<run dir>/lm_eval_mechdiff.json``."""
    import json

    run_dir = settings.run_dir(max_docs)
    if run_dir in _MEMO:
        return _MEMO[run_dir]
    results_path = run_dir / RESULTS_FILE
    if results_path.is_file():
        stored = json.loads(results_path.read_text(encoding="utf-8"))
        _MEMO[run_dir] = MechdiffResult(stored["metrics"], stored["provenance"])
        return _MEMO[run_dir]

    from llmdiff_eval.crosscoder import load_crosscoder
    from llmdiff_eval.harvest import ActivationCache
    from llmdiff_eval.pipeline import run_pipeline

    start = time.perf_counter()
    config = settings.run_config(max_docs)
    pair = pair_name(BASE_NAME, MODEL_NAME)
    run_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "mechdiff: diffing %s against %s at layer %d in %s",
        settings.model.path,
        settings.base.path,
        settings.layer,
        run_dir,
    )
    run_pipeline(config, run_dir, stages=["harvest"], log=log.info)
    n_tokens = ActivationCache(run_dir / "activations" / BASE_NAME).n_tokens
    if settings.crosscoder is None:
        if n_tokens < config.crosscoder.batch_size:
            raise MechdiffConfigError(
                f"the probe harvest holds only {n_tokens} tokens per model, fewer than one crosscoder batch "
                f'({config.crosscoder.batch_size}): raise --limit / --metadata "max_tokens", or lower the batch '
                'with --metadata \'{"crosscoder_config": {"batch_size": ...}}\''
            )
        stages = ["train", "analyze", "annotate"]
    else:
        link = run_dir / "crosscoders" / pair
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(settings.crosscoder.path, target_is_directory=True)
        stages = ["analyze", "annotate"]
    run_pipeline(config, run_dir, stages=stages, log=log.info)

    import pandas as pd

    latents = pd.read_parquet(run_dir / "latents" / f"{pair}.parquet")
    annotations = pd.read_parquet(run_dir / "annotations" / f"{pair}.parquet")
    crosscoder = load_crosscoder(run_dir / "crosscoders" / pair, device=config.analyze.device or "cpu")
    caches = (run_dir / "activations" / BASE_NAME, run_dir / "activations" / MODEL_NAME)
    metrics = compute_metrics(
        latents,
        annotations,
        load_taxonomy(settings.taxonomy),
        lambda ids: firing_rates(crosscoder, caches, ids),
    )
    provenance = {
        "run_dir": str(run_dir),
        "pair": pair,
        "base_model": settings.base.to_dict(),
        "evaluated_model": settings.model.to_dict(),
        "layer": settings.layer,
        "probe_corpus": settings.corpus,
        "max_docs": max_docs,
        "n_tokens_per_model": n_tokens,
        "chat_template": settings.chat_template_source,
        "crosscoder": str(settings.crosscoder.path)
        if settings.crosscoder
        else f"trained here ({settings.crosscoder_preset})",
        "crosscoder_verified": settings.crosscoder.verified if settings.crosscoder else True,
        "annotator": settings.annotator,
        "taxonomy": settings.taxonomy,
        "seconds": round(time.perf_counter() - start, 2),
    }
    metrics = {k: (v if math.isfinite(v) else 0.0) for k, v in metrics.items()}
    atomic_write_json(results_path, {"metrics": metrics, "provenance": provenance})
    _MEMO[run_dir] = MechdiffResult(metrics, provenance)
    return _MEMO[run_dir]


# ---------------------------------------------------------------------------------------------------------------
# The task


class MechdiffTask(ConfigurableTask):
    """lm-eval task ``mechdiff`` (see the module docstring): probe-corpus perplexity from ``loglikelihood_rolling``
    plus the mechanistic metrics of :func:`run_mechdiff`, computed once and reported through their aggregations."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        config.pop("class", None)
        self.settings = MechdiffSettings.from_metadata(config.get("metadata") or {})
        self.taxonomy = load_taxonomy(self.settings.taxonomy)
        self._max_docs: int | None = None
        self._result: MechdiffResult | None = None
        super().__init__(config=config)
        for name in metric_names(self.taxonomy):
            self._metric_fn_list[name] = None
            self._aggregation_list[name] = functools.partial(self._aggregate, name)
            self._higher_is_better[name] = None

    def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """The packaged probe corpus as the ``test`` split (no ``datasets.load_dataset``, no network)."""
        self.dataset = datasets.DatasetDict(
            {"test": datasets.Dataset.from_list(probe_documents(self.settings))}
        )

    def build_all_requests(
        self, *, limit: int | None = None, samples: list[int] | None = None, **kwargs: Any
    ) -> None:
        """Remember how many documents lm-eval evaluates (``--limit`` / ``--samples``): the heavy work harvests the
        same first documents."""
        if samples:
            self._max_docs = max(samples) + 1
        elif limit is not None:
            self._max_docs = int(limit)
        super().build_all_requests(limit=limit, samples=samples, **kwargs)

    def process_results(self, doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
        """lm-eval's perplexity entries of the document, plus a placeholder for each mechanistic metric (their
        aggregation ignores the per-document values and returns the once-computed value)."""
        return {**super().process_results(doc, results), **dict.fromkeys(metric_names(self.taxonomy))}

    def mechdiff_results(self) -> MechdiffResult:
        """Run (once) the diff of this evaluation; records its provenance in the task metadata, which lm-eval
        copies into ``results["configs"]["mechdiff"]["metadata"]["mechdiff_run"]``."""
        if self._result is None:
            self._result = run_mechdiff(self.settings, self._max_docs)
            self.config.metadata["mechdiff_run"] = self._result.provenance
        return self._result

    def _aggregate(self, name: str, items: list[Any]) -> float:
        return self.mechdiff_results().metrics[name]
