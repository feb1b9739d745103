"""The causal stage's work on one pair of a run directory: load the pair, pick the probe tokens, measure every set,
write ``causal/<pair>.json``. Reference: docs/causal.md.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from llmdiff_eval.causal.forward import check_logits_from_layer
from llmdiff_eval.causal.intervention import Intervention
from llmdiff_eval.causal.measure import measure_effects, probe_batches
from llmdiff_eval.causal.sets import pair_sets, read_model_specific
from llmdiff_eval.config import RunConfig, result_settings
from llmdiff_eval.config.models import ModelSpec
from llmdiff_eval.corpus import encode, iter_documents, resolve_chat_template
from llmdiff_eval.crosscoder import BatchTopKCrosscoder, load_crosscoder
from llmdiff_eval.errors import CausalError
from llmdiff_eval.models import load_models, load_tokenizer, resolve_device
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.activations import ActivationCache
from llmdiff_eval.utils import atomic_write_json, pair_name

log = logging.getLogger(__name__)

FORMAT = 1
"""Version of ``causal/<pair>.json``."""

ModelSource = Callable[[list[ModelSpec]], Mapping[str, Any]]
"""Gives loaded models by name for specs (the stage keeps the base loaded from one pair to the next)."""


def pair_specs(config: RunConfig, ft: str) -> tuple[ModelSpec, ModelSpec]:
    """The base's and fine-tune ``ft``'s specs; :class:`CausalError` naming the run's fine-tunes otherwise."""
    finetunes = {spec.name: spec for spec in config.finetunes}
    if ft not in finetunes:
        raise CausalError(
            f"fine-tune {ft!r} is not in this run; its fine-tunes are {sorted(finetunes)} (diffed against "
            f"{config.base.name!r})"
        )
    return config.base, finetunes[ft]


def pair_crosscoder(
    run_dir: str | os.PathLike, base: str, ft: str, layer: int, device: str
) -> BatchTopKCrosscoder:
    """The pair's trained crosscoder; :class:`CausalError` when there is none or it was trained at another layer."""
    path = RunDir(run_dir).crosscoder(base, ft)
    if not (path / "cfg.json").is_file():
        raise CausalError(
            f"no trained crosscoder for pair {pair_name(base, ft)!r} at {path}: run the train stage first "
            "(`llmdiff-eval train RUN_DIR`, or `llmdiff-eval run CONFIG`)"
        )
    crosscoder = load_crosscoder(path, device=device)
    trained = (crosscoder.cfg.metadata.get("llmdiff_eval") or {}).get("layer")
    if trained is not None and int(trained) != layer:
        raise CausalError(
            f"the crosscoder of {pair_name(base, ft)!r} was trained on layer {trained}, but the run's harvest.layer "
            f"is {layer}; retrain it (`llmdiff-eval train RUN_DIR --force`) or set harvest.layer back"
        )
    return crosscoder


def last_harvested_document(run_dir: str | os.PathLike, model: str) -> int:
    """The largest document id in ``activations/<model>/`` (every later document is held out)."""
    cache = ActivationCache(RunDir(run_dir).activations(model))
    return max((int(entry["last_doc"]) for entry in cache.index["shards"]), default=-1)


def probe_sequences(config: RunConfig, run_dir: str | os.PathLike, tokenizer) -> tuple[list[list[int]], dict]:
    """Token ids of the probe documents and where they came from.

    ``causal.corpus`` if set (read from its start), else the documents of the harvest corpus after the last one the
    base's activation cache holds. Documents are taken in corpus order, rendered and truncated as the harvest does
    them (``harvest.context_length``, its chat template), until ``causal.probe_tokens`` counted tokens are reached
    (the last document is cut there)."""
    cfg = config.causal
    drop_first = int(config.harvest.drop_bos)
    if cfg.corpus is not None:
        corpus, first, source = cfg.corpus, 0, "causal.corpus"
    else:
        if config.crosscoder.stream_tokens is not None:
            raise CausalError(
                "crosscoder.stream_tokens is set, so no activation cache records which documents trained the "
                "crosscoder: set causal.corpus to held-out probe documents"
            )
        corpus = dataclasses.replace(config.harvest.corpus, max_docs=None)
        first = last_harvested_document(run_dir, config.base.name) + 1
        source = "held-out documents of the harvest corpus"
    template = resolve_chat_template(corpus.chat_template, tokenizer)
    sequences: list[list[int]] = []
    doc_ids: list[int] = []
    counted = 0
    for document in iter_documents(corpus):
        if document.doc_id < first:
            continue
        ids = encode(document, tokenizer, config.harvest.context_length, template)
        take = min(len(ids) - drop_first, cfg.probe_tokens - counted)
        if take <= 0:
            continue
        sequences.append(ids[: take + drop_first])
        doc_ids.append(document.doc_id)
        counted += take
        if counted >= cfg.probe_tokens:
            break
    if not sequences:
        raise CausalError(
            f"no probe documents: the harvest used every document of its corpus (up to document {first - 1}), so "
            "none is held out; set causal.corpus to held-out documents (same format as harvest.corpus), or lower "
            "harvest.max_tokens"
            if cfg.corpus is None
            else "no probe documents: causal.corpus yields no document with tokens to compare"
        )
    provenance = {
        "source": source,
        "first_document": first,
        "document_ids": doc_ids,
        "counted_tokens": counted,
    }
    if counted < cfg.probe_tokens:
        provenance["short"] = (
            f"only {counted} of causal.probe_tokens = {cfg.probe_tokens} tokens were available"
        )
        log.warning("causal probe: %s", provenance["short"])
    return sequences, provenance


def causal_pair(
    config: RunConfig, run_dir: str | os.PathLike, base: str, ft: str, models: ModelSource | None = None
) -> dict[str, Any]:
    """Measure the causal effects of pair (``base``, ``ft``)'s latent sets and write ``causal/<pair>.json``.

    Sets: all annotated model-specific latents, each class, each category with ``causal.min_category_latents``;
    each against ``causal.n_controls`` matched controls. ``models`` gives loaded models (default: loaded here on
    ``causal.device`` in ``harvest.dtype``). Returns what was written."""
    started = time.perf_counter()
    cfg, layer, pair = config.causal, config.harvest.layer, pair_name(base, ft)
    base_spec, ft_spec = pair_specs(config, ft)
    device = resolve_device(cfg.device)
    crosscoder = pair_crosscoder(run_dir, base, ft, layer, str(device))
    annotations = read_model_specific(run_dir, pair)
    sets = pair_sets(annotations, cfg.min_category_latents)
    tokenizer = load_tokenizer(base_spec)
    sequences, probe = probe_sequences(config, run_dir, tokenizer)
    loaded = (models or (lambda specs: load_models(specs, device, config.harvest.dtype)))(
        [base_spec, ft_spec]
    )
    base_model, ft_model = loaded[base], loaded[ft]
    sample = torch.tensor([sequences[0][:16]], device=device)
    for name, model in ((base, base_model), (ft, ft_model)):
        check_logits_from_layer(model, layer, sample, name)
    batches = probe_batches(
        base_model,
        ft_model,
        layer,
        sequences,
        cfg.batch_size,
        tokenizer.pad_token_id,
        config.harvest.drop_bos,
        device,
    )
    effects = measure_effects(
        base_model,
        ft_model,
        Intervention(crosscoder, device),
        layer,
        batches,
        sets,
        set(annotations.index),
        cfg,
    )
    result = {
        "format": FORMAT,
        "pair": pair,
        "base": base,
        "ft": ft,
        "layer": layer,
        "settings": result_settings(cfg),
        "n_model_specific": len(annotations),
        "probe": probe | effects["probe"],
        "sets": effects["sets"],
        "cost": effects["cost"] | {"stage_seconds": round(time.perf_counter() - started, 2)},
    }
    atomic_write_json(RunDir(run_dir).causal(pair), result)
    log.info("causal %s: %d sets, %.1f s", pair, len(sets), result["cost"]["stage_seconds"])
    return result
