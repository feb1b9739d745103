"""The heavy part of the task, run once per evaluation: the pipeline's stages on the probe documents and the
mechanistic metrics computed from their outputs (:func:`run_mechdiff`). Reference: docs/lm-eval.md."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmdiff_eval.integrations.lm_eval.settings import (
    BASE_NAME,
    MODEL_NAME,
    RESULTS_FILE,
    STDERR_SUFFIX,
    MechdiffConfigError,
    MechdiffSettings,
    class_slug,
)
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import atomic_write_json, pair_name

log = logging.getLogger(__name__)


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


def share_stderr(count: int, total: int, n_seeds: int = 1) -> float:
    """Binomial standard error of the share ``count / total`` in percentage points, ``√(p(1 − p)/n) × 100`` with
    ``n`` the latents of one crosscoder (``total / n_seeds`` for a seed ensemble); 0 when ``total`` is 0."""
    if total <= 0:
        return 0.0
    p, n = count / total, total / n_seeds
    return math.sqrt(p * (1.0 - p) / n) * 100.0


def compute_metrics(
    latents,
    annotations,
    taxonomy: Taxonomy,
    rates: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    counts=None,
) -> dict[str, float]:
    """The metrics (module docstring) from the latent table, the annotations of its model-specific latents and
    ``rates(latent_ids) -> (fraction fired with the evaluated model, with the base substituted)``. ``counts`` (a
    :class:`~llmdiff_eval.counts.LatentCounts`, e.g. pooled over a seed ensemble) replaces the counts of
    ``annotations`` for the shares; the firing metrics are those of ``latents`` (the primary crosscoder)."""
    from llmdiff_eval.counts import counts_from_annotations, share_pct

    if counts is None:
        counts = counts_from_annotations(annotations, taxonomy, where="mechdiff annotations")
    metrics: dict[str, float] = {
        "n_model_specific": float((latents["tag"] == "ft_only").sum()),
        "n_base_specific": float((latents["tag"] == "base_only").sum()),
    }
    shares = {f"share_{class_slug(name)}": counts.classes.get(name, 0) for name in taxonomy.class_names}
    shares["share_uncategorized"] = counts.uncategorized
    for metric, count in shares.items():
        metrics[metric] = share_pct(count, counts.total) or 0.0
        metrics[metric + STDERR_SUFFIX] = share_stderr(count, counts.total, counts.n_seeds)

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


NO_LATENTS_NOTE = (
    "no latent passed the paper's absolute rule (Δnorm >= 0.9 with latent scaling), so every share is 0: a fine-tune "
    "close to its base (a LoRA or preference tuning) has no latent exclusive to one model. Tag the pair's outliers "
    'instead with --metadata \'{"analyze_config": {"selection": "relative"}}\' (docs/lm-eval.md)'
)
FALLBACK_NOTE = (
    "no latent passed the paper's absolute rule (Δnorm >= 0.9 with latent scaling), as for most fine-tunes close to "
    "their base (LoRA, preference tuning); the metrics use the relative rule (the pair's Δnorm outliers, z = {z:g}) "
    'instead. Pass --metadata \'{{"analyze_config": {{"selection": "absolute"}}}}\' to keep the absolute rule'
)


def run_mechdiff(
    settings: MechdiffSettings,
    max_docs: int | None = None,
    evaluated_model: Any | None = None,
    model_note: str | None = None,
) -> MechdiffResult:
    """Diff the evaluated model against the base on the first ``max_docs`` probe documents (all if None) and return
    the metrics; memoised in memory and in ``<run dir>/lm_eval_mechdiff.json``.

    ``evaluated_model``: the evaluated model already loaded (lm-eval's copy, :mod:`.reuse`), harvested as it is
    instead of loading another copy; it must be in ``settings.dtype`` on ``settings.device``. ``model_note`` says
    where the harvested model came from (recorded in the provenance)."""
    import contextlib
    import json

    from llmdiff_eval.models import provided_model

    run_dir = settings.run_dir(max_docs)
    if run_dir in _MEMO:
        return _MEMO[run_dir]
    results_path = run_dir / RESULTS_FILE
    if results_path.is_file():
        stored = json.loads(results_path.read_text(encoding="utf-8"))
        _MEMO[run_dir] = MechdiffResult(stored["metrics"], stored["provenance"])
        return _MEMO[run_dir]

    from llmdiff_eval.crosscoder import load_crosscoder
    from llmdiff_eval.pipeline import run_pipeline
    from llmdiff_eval.rundir.activations import ActivationCache

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
    provided = (
        provided_model(settings.model, evaluated_model)
        if evaluated_model is not None
        else contextlib.nullcontext()
    )
    with provided:
        run_pipeline(config, run_dir, stages=["harvest"], log=log.info)
    run = RunDir(run_dir)
    n_tokens = ActivationCache(run.activations(BASE_NAME)).n_tokens
    if settings.crosscoder is None:
        if n_tokens < config.crosscoder.batch_size:
            raise MechdiffConfigError(
                f"the probe harvest holds only {n_tokens} tokens per model, fewer than one crosscoder batch "
                f'({config.crosscoder.batch_size}): raise --limit / --metadata "max_tokens", or lower the batch '
                'with --metadata \'{"crosscoder_config": {"batch_size": ...}}\''
            )
        stages = ["train", "analyze", "annotate"]
    else:
        link = run.crosscoder(BASE_NAME, MODEL_NAME)
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(settings.crosscoder.path, target_is_directory=True)
        stages = ["analyze", "annotate"]
    run_pipeline(config, run_dir, stages=stages, log=log.info)

    import dataclasses

    import pandas as pd

    from llmdiff_eval.reports import load_counts, run_models

    latents = pd.read_parquet(run.latents(pair))
    fallback = None
    if not (latents["tag"] == "ft_only").any() and "selection" not in settings.analyze_config:
        # The default rule tagged nothing: never report silent zeros, take the pair's outliers instead.
        config.analyze = dataclasses.replace(config.analyze, selection="relative")
        fallback = FALLBACK_NOTE.format(z=config.analyze.delta_norm_z)
        log.warning(fallback)
        run_pipeline(config, run_dir, stages=["analyze", "annotate"], log=log.info)
        latents = pd.read_parquet(run.latents(pair))
    annotations = pd.read_parquet(run.annotations(pair))
    taxonomy = load_taxonomy(settings.taxonomy)
    counts, _ = load_counts(run_dir, run_models(run_dir), MODEL_NAME, taxonomy)
    crosscoder = load_crosscoder(run.crosscoder(BASE_NAME, MODEL_NAME), device=config.analyze.device or "cpu")
    caches = (run.activations(BASE_NAME), run.activations(MODEL_NAME))
    metrics = compute_metrics(
        latents, annotations, taxonomy, lambda ids: firing_rates(crosscoder, caches, ids), counts=counts
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
        "selection": latents.attrs.get("thresholds", {}).get("selection"),
        "seeds": config.crosscoder.seeds,
        "n_seeds": counts.n_seeds,
        "stderr": "share_*_stderr: binomial standard error of the share, sqrt(p(1-p)/n) x 100 pp, n = the "
        "model-specific latents of one crosscoder",
        "seconds": round(time.perf_counter() - start, 2),
        "evaluated_model_source": model_note or "loaded by the task",
    }
    if fallback:
        provenance["note"] = fallback
    elif not metrics["n_model_specific"] and config.analyze.selection == "absolute":
        provenance["note"] = NO_LATENTS_NOTE
        log.warning(NO_LATENTS_NOTE)
    metrics = {k: (v if math.isfinite(v) else 0.0) for k, v in metrics.items()}
    atomic_write_json(results_path, {"metrics": metrics, "provenance": provenance})
    _MEMO[run_dir] = MechdiffResult(metrics, provenance)
    return _MEMO[run_dir]
