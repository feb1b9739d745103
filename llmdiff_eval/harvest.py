"""Harvest: the residual stream after one decoder layer of each model, on one shared token stream, cached on disk.

:func:`harvest` writes ``activations/<model name>/`` (``shard_*.safetensors``, ``index.json``, ``stats.json``,
``tokenizer/``) for every model of a run; :func:`stream_activations` yields the same rows without writing anything.
Layer ``L`` is 0-based: the cache holds the output of decoder block ``L`` (``hidden_states[L + 1]``, the raw residual
even for the last block), read by a forward hook that raises a private exception (:class:`_StopForward`), so the
later blocks and the LM head never run. Every model is fed the base tokenizer's ids, so row ``i`` of every cache is
the same token. Each shard is one window of documents forwarded in length-sorted batches (~3 % padding, not ~34 %)
and written back in corpus order. ``harvest_model(..., rank=r, world_size=w)`` harvests documents with
``doc_id % w == r`` into ``shard_r<r>_XXXXX.safetensors`` + ``index.rank<r>.json``; :func:`merge_ranks` joins them
(the seam ``llmdiff_eval/distributed/harvest.py`` uses). Reference: docs/harvest.md.
"""

from __future__ import annotations

import errno
import itertools
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from llmdiff_eval.config.harvest import HarvestConfig
from llmdiff_eval.corpus import corpus_fingerprint as _corpus_fingerprint
from llmdiff_eval.corpus import encode, iter_documents, resolve_chat_template
from llmdiff_eval.errors import CacheError, HarvestError
from llmdiff_eval.models import (
    ModelSpec,
    TokenizerMismatchError,
    check_same_tokenizer,
    decoder_layers,
    load_tokenizer,
    load_weights,
    resolve_device,
    tokenizer_fingerprint,
)
from llmdiff_eval.precision import autocast_enabled, bf16_autocast, precision_label
from llmdiff_eval.rundir import INDEX_FILE, STATS_FILE, TOKENIZER_DIR, RunDir
from llmdiff_eval.rundir.activations import (
    FORMAT,
    STORAGE_DTYPE,
    ActivationCache,
    Moments,
    check_aligned,
    finished_elsewhere,
    load_paired,
    merge_shard_moments,
    read_index,
    shard_problems,
    verify_shard,
    write_stats,
)
from llmdiff_eval.utils import atomic_path, atomic_write_json, file_sha256, stable_hash

__all__ = [
    "ActivationCache",
    "CacheError",
    "HarvestConfig",
    "HarvestError",
    "TokenizerMismatchError",
    "harvest",
    "harvest_model",
    "load_paired",
    "merge_ranks",
    "residual_at_layer",
    "stream_activations",
]

log = logging.getLogger(__name__)

# Streaming mode sorts documents by length within windows of this many full batches' worth of rows.
STREAM_WINDOW_BATCHES = 8

# Settings that must match for a rerun to continue an existing cache.
_RESUME_KEYS = (
    "format", "model", "layer", "compute_dtype", "context_length", "bos", "tokenizer_fingerprint",
    "corpus_fingerprint", "rank", "world_size",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Early-exit forward


class _StopForward(Exception):
    """Raised by the capture hook to abandon the forward pass after the wanted layer."""


def residual_at_layer(
    model, layer: int, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, cache: Any = None
) -> torch.Tensor:
    """Output of decoder block ``layer`` (0-based), shape ``(batch, seq, d_model)``, in the model's dtype.

    Runs the embedding and blocks ``0..layer`` only: a forward hook on block ``layer`` stores its output and raises,
    so later blocks, the final norm and the LM head are never executed. With ``cache`` (a transformers ``Cache``),
    ``input_ids`` continue the cached tokens and blocks ``0..layer`` append theirs to it (token-by-token decoding).
    """
    blocks = decoder_layers(model)
    check_layer(layer, len(blocks), getattr(model, "name_or_path", type(model).__name__))
    captured: list[torch.Tensor] = []

    def capture(_module, _args, output):
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _StopForward

    handle = blocks[layer].register_forward_hook(capture)
    try:
        with torch.inference_mode():
            cached = {"cache": cache, "use_cache": True} if cache is not None else {"use_cache": False}
            model(input_ids=input_ids, attention_mask=attention_mask, **cached)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not captured:
        raise HarvestError(f"decoder layer {layer} never ran; cannot read its output")
    return captured[0]


def check_layer(layer: int, n_layers: int, model_name: str) -> None:
    if not 0 <= layer < n_layers:
        raise HarvestError(
            f"layer {layer} is out of range for model {model_name!r}: it has {n_layers} decoder layers, so valid "
            f"layers are 0..{n_layers - 1} (0-based; the output of that block is cached)"
        )


Batch = list[tuple[int, list[int]]]  # (doc_id, token ids) per document


def kept_rows(n_ids: int, drop_bos: bool) -> int:
    """Rows a document of ``n_ids`` tokens adds to the cache: all of them, or all but position 0 with ``drop_bos``."""
    return max(n_ids - 1, 0) if drop_bos else n_ids


def _token_windows(
    cfg: HarvestConfig,
    tokenizer,
    chat_template,
    documents,
    window_rows: int | None,
    first_doc: int = 0,
    last_doc: int | None = None,
    budget: int | None = None,
) -> Iterator[Batch]:
    """Encode documents ``first_doc..last_doc`` once each into windows of consecutive documents, each closed at the
    first document reaching ``window_rows`` rows (None: one window), stopping once ``budget`` rows are reached."""
    window: Batch = []
    rows = total = 0
    for doc in documents:
        if doc.doc_id < first_doc:
            continue
        if last_doc is not None and doc.doc_id > last_doc:
            break
        ids = encode(doc, tokenizer, cfg.context_length, chat_template)
        if not ids:
            continue
        window.append((doc.doc_id, ids))
        rows += kept_rows(len(ids), cfg.drop_bos)
        done = budget is not None and total + rows >= budget
        if done or (window_rows is not None and rows >= window_rows):
            yield window
            window, total, rows = [], total + rows, 0
        if done:
            return
    if window:
        yield window


@dataclass
class WindowRows:
    """One window's cached rows in corpus order, and ``forward_tokens`` real tokens in ``forward_slots`` batch slots."""

    rows: dict[str, torch.Tensor]
    forward_tokens: int
    forward_slots: int


def _window_rows(
    model, cfg: HarvestConfig, window: Batch, pad_id: int, on_batch: Callable[[int], None] | None = None
) -> WindowRows:
    """Forward a window in length-sorted batches of ``cfg.batch_size`` (longest first, ties in corpus order) and put
    the rows back in corpus order; equal to corpus-order batches up to float summation order (padding is masked)."""
    order = sorted(range(len(window)), key=lambda i: -len(window[i][1]))
    pieces: list[dict[str, torch.Tensor]] = [{}] * len(window)
    tokens = slots = 0
    for start in range(0, len(order), cfg.batch_size):
        members = order[start : start + cfg.batch_size]
        batch = [window[i] for i in members]
        lengths = [len(ids) for _, ids in batch]
        rows = _layer_rows(model, cfg, batch, pad_id)
        counts = [kept_rows(n, cfg.drop_bos) for n in lengths]
        parts = {key: value.split(counts) for key, value in rows.items()}
        for j, i in enumerate(members):
            pieces[i] = {key: value[j] for key, value in parts.items()}
        tokens += sum(lengths)
        slots += len(batch) * max(lengths)
        if on_batch is not None:
            on_batch(sum(counts))
    rows = {key: torch.cat([piece[key] for piece in pieces]) for key in pieces[0]}
    return WindowRows(rows, tokens, slots)


def _layer_rows(model, cfg: HarvestConfig, batch: Batch, pad_id: int) -> dict[str, torch.Tensor]:
    """Forward one right-padded batch to ``cfg.layer``; return the kept rows (no pad; no position 0 if
    ``cfg.drop_bos``), document-major: ``acts`` float32 (n, d) on CPU, ``token_ids`` / ``doc_ids`` /
    ``positions`` int32 (n,)."""
    lengths = torch.tensor([len(ids) for _, ids in batch])
    width = int(lengths.max())
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    for row, (_, ids) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
    positions = torch.arange(width).expand(len(batch), width)
    attention_mask = (positions < lengths[:, None]).long()
    keep = attention_mask.bool()
    if cfg.drop_bos:
        keep &= positions != 0
    device = next(model.parameters()).device
    with bf16_autocast(autocast_enabled(cfg.autocast, device), device):
        hidden = residual_at_layer(model, cfg.layer, input_ids.to(device), attention_mask.to(device))
    doc_ids = torch.tensor([doc_id for doc_id, _ in batch])[:, None].expand(len(batch), width)
    return {
        "acts": hidden[keep.to(hidden.device)].float().cpu(),
        "token_ids": input_ids[keep].to(torch.int32),
        "doc_ids": doc_ids[keep].to(torch.int32),
        "positions": positions[keep].to(torch.int32),
    }


# ---------------------------------------------------------------------------------------------------------------
# Statistics


# ---------------------------------------------------------------------------------------------------------------
# Writing


def harvest(
    cfg: HarvestConfig,
    run_dir: str | Path,
    models: list[ModelSpec],
    harvest_one: Callable[..., Path] | None = None,
    only: str | None = None,
) -> dict[str, Path]:
    """Harvest every model of ``models`` (or only the one named ``only``) into ``run_dir/activations/<name>/``.

    The first model is the reference (the base): all tokenizers must equal its tokenizer
    (:class:`TokenizerMismatchError` otherwise, before anything is computed), documents are tokenized with it,
    and after harvesting the caches are checked to hold the same token stream. Finished caches are skipped;
    interrupted ones are resumed. Returns ``{name: cache directory}``.

    ``harvest_one(spec, cfg, out_dir, tokenizer=...)`` harvests one model (default :func:`harvest_model`, this
    process alone); the harvest stage passes the torchrun-aware one of ``llmdiff_eval/distributed/``. With ``only``
    (the harvest stage: one unit per model), every tokenizer is still checked, and that model's cache is checked
    against the reference's, which must then be finished.
    """
    if not models:
        raise HarvestError("harvest needs at least one model")
    names = [spec.name for spec in models]
    if len(set(names)) != len(names):
        raise HarvestError(f"model names must be unique within a run, got {names}")
    tokenizers = {spec.name: load_tokenizer(spec) for spec in models}
    reference = models[0].name
    for spec in models[1:]:
        check_same_tokenizer(reference, tokenizers[reference], spec.name, tokenizers[spec.name])
    harvest_one = harvest_one or harvest_model
    run = RunDir(run_dir)
    if only is not None and only not in names:
        raise HarvestError(f"no model named {only!r} in {names}")
    out = {
        spec.name: harvest_one(spec, cfg, run.activations(spec.name), tokenizer=tokenizers[reference])
        for spec in models
        if only in (None, spec.name)
    }
    first = ActivationCache(run.activations(reference))
    for name in out:
        if name != reference:
            check_aligned(first, ActivationCache(out[name]))
    return out


def stream_activations(
    cfg: HarvestConfig,
    models: list[ModelSpec],
    *,
    loaded_models: list | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Streaming mode (no disk): yield ``(acts (n, M, d) float32, token_ids (n,), doc_ids (n,))`` batch by batch,
    where ``acts[:, m]`` is model ``m`` of ``models`` (0 = base) on the same rows :func:`harvest` would cache,
    stopping after ``cfg.max_tokens`` rows. Each batch is tokenized once and fed to every model, so all ``M``
    models are held in memory at once (pass ``loaded_models`` to reuse loaded ones). No statistics are kept: a
    consumer that normalizes must estimate them itself (e.g. from the first batches). With ``world_size`` > 1
    only documents with ``doc_id % world_size == rank`` are streamed (``max_tokens`` then counts this process's rows).
    """
    tokenizers = [load_tokenizer(spec) for spec in models]
    for spec, tokenizer in zip(models[1:], tokenizers[1:], strict=True):
        check_same_tokenizer(models[0].name, tokenizers[0], spec.name, tokenizer)
    tokenizer = tokenizers[0]
    chat_template = resolve_chat_template(cfg.corpus.chat_template, tokenizer)
    loaded = loaded_models or [load_weights(spec, cfg.device, cfg.dtype) for spec in models]
    for spec, model in zip(models, loaded, strict=True):
        check_layer(cfg.layer, len(decoder_layers(model)), spec.name)
    remaining = cfg.max_tokens
    documents = (d for d in iter_documents(cfg.corpus) if d.doc_id % world_size == rank)
    window_rows = cfg.batch_size * cfg.context_length * STREAM_WINDOW_BATCHES
    for window in _token_windows(cfg, tokenizer, chat_template, documents, window_rows, budget=remaining):
        rows = [_window_rows(model, cfg, window, tokenizer.pad_token_id).rows for model in loaded]
        n = len(rows[0]["token_ids"]) if remaining is None else min(remaining, len(rows[0]["token_ids"]))
        yield (
            torch.stack([r["acts"][:n] for r in rows], dim=1),
            rows[0]["token_ids"][:n],
            rows[0]["doc_ids"][:n],
        )
        remaining = None if remaining is None else remaining - n
        if remaining == 0:
            return


def harvest_model(
    spec: ModelSpec,
    cfg: HarvestConfig,
    out_dir: str | Path,
    *,
    tokenizer=None,
    model=None,
    rank: int = 0,
    world_size: int = 1,
) -> Path:
    """Harvest one model into ``out_dir`` (resuming / repairing an existing cache there). Returns ``out_dir``.

    Args:
        tokenizer: tokenizer used to encode the corpus (default: the model's own). Pass the base model's
            tokenizer when harvesting a fine-tune so both see identical ids.
        model: an already loaded model (default: loaded from ``spec`` with ``cfg.device`` / ``cfg.dtype``).
        rank, world_size: harvest only documents with ``doc_id % world_size == rank`` (see module docstring).
    """
    if not 0 <= rank < world_size:
        raise HarvestError(f"rank must be in 0..{world_size - 1}, got {rank}")
    if finished_elsewhere(out_dir, world_size, full=cfg.verify_shards):
        return Path(out_dir)
    writer = _CacheWriter(spec, cfg, Path(out_dir), tokenizer or load_tokenizer(spec), rank, world_size)
    return writer.run(model)


class _CacheWriter:
    """State of one model's harvest: settings, the index being built, and the shard buffer."""

    def __init__(
        self, spec: ModelSpec, cfg: HarvestConfig, out_dir: Path, tokenizer, rank: int, world_size: int
    ):
        self.spec, self.cfg, self.out_dir, self.tokenizer = spec, cfg, out_dir, tokenizer
        self.rank, self.world_size = rank, world_size
        suffix = "" if world_size == 1 else f".rank{rank}"
        self.index_path = out_dir / f"index{suffix}.json"
        self.shard_prefix = "shard_" if world_size == 1 else f"shard_r{rank}_"
        self.chat_template = resolve_chat_template(cfg.corpus.chat_template, tokenizer)
        self.bos_id = tokenizer.bos_token_id
        self.settings: dict[str, Any] = {
            "format": FORMAT,
            "model": spec.to_dict(),
            "layer": cfg.layer,
            "compute_dtype": precision_label(
                cfg.dtype, autocast_enabled(cfg.autocast, resolve_device(cfg.device))
            ),
            "context_length": cfg.context_length,
            "bos": {
                "token": tokenizer.bos_token,
                "id": self.bos_id,
                "in_input": bool(
                    self.bos_id is not None and tokenizer("x")["input_ids"][:1] == [self.bos_id]
                ),
                "dropped": cfg.drop_bos,
            },
            "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
            "corpus_fingerprint": stable_hash(
                [_corpus_fingerprint(cfg.corpus), self.chat_template, cfg.context_length]
            ),
            "rank": rank,
            "world_size": world_size,
        }
        self.limits = {"max_docs": cfg.corpus.max_docs, "max_tokens": cfg.max_tokens}

    # -- orchestration ---------------------------------------------------------------------------------------

    def run(self, model) -> Path:
        index = self._read_existing_index()
        finished = [self.out_dir / TOKENIZER_DIR] + (
            [self.out_dir / STATS_FILE] if self.world_size == 1 else []
        )
        if (
            index is not None
            and index["complete"]
            and all(path.exists() for path in finished)
            and not shard_problems(self.out_dir, index["shards"], self.cfg.verify_shards)
        ):
            return self.out_dir
        documents = self._documents()  # raises CorpusError on an empty corpus, before anything is written
        model = model if model is not None else load_weights(self.spec, self.cfg.device, self.cfg.dtype)
        blocks = decoder_layers(model)
        check_layer(self.cfg.layer, len(blocks), self.spec.name)
        self.model = model
        d_model = _hidden_size(model)
        if index is None:
            index = self._new_index(d_model)
        elif index["d_model"] != d_model:
            raise CacheError(
                f"cache {self.out_dir} has d_model {index['d_model']}, model has {d_model}; delete it"
            )
        self.index = index
        self._save_tokenizer()
        self._repair_shards(index)
        if not index["complete"]:
            self._harvest(documents)
        self._finish()
        return self.out_dir

    def _read_existing_index(self) -> dict | None:
        index = read_index(self.index_path)
        if index is None:
            return None
        changed = [k for k in _RESUME_KEYS if index.get(k) != self.settings[k]]
        if changed:
            raise CacheError(
                f"the cache in {self.out_dir} was made with different settings ({', '.join(changed)} differ), so "
                "it cannot be resumed; delete that directory (or use another run directory) and rerun"
            )
        if index["complete"] and index.get("limits") != self.limits:
            raise CacheError(
                f"the cache in {self.out_dir} is complete for limits {index.get('limits')}, not {self.limits}; "
                "delete it to harvest again with the new limits"
            )
        return index

    def _new_index(self, d_model: int) -> dict:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._save_tokenizer()
        index = {
            **{k: v for k, v in self.settings.items() if k != "bos"},
            "d_model": d_model,
            "dtype": STORAGE_DTYPE,
            "n_tokens": 0,
            "n_docs": 0,
            "bos": self.settings["bos"],
            "limits": self.limits,
            "complete": False,
            "shards": [],
        }
        atomic_write_json(self.index_path, index)
        return index

    def _save_tokenizer(self) -> None:
        target = self.out_dir / TOKENIZER_DIR
        if target.exists():
            return
        tmp = self.out_dir / f".tokenizer.rank{self.rank}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another rank got there first
            shutil.rmtree(tmp, ignore_errors=True)

    def _repair_shards(self, index: dict) -> None:
        """Re-create every finished shard that is missing or corrupt; its documents are recorded, and the rebuilt
        shard is byte-identical to the original."""
        for entry in list(index["shards"]):
            try:
                verify_shard(self.out_dir, entry, full=self.cfg.verify_shards)
            except CacheError as problem:
                log.warning("%s; re-creating it", str(problem).split(";")[0])
                self._recreate(entry)

    # -- the token stream ----------------------------------------------------------------------------------------

    def _documents(self):
        """This rank's documents, lazily; the first is read now so an empty corpus fails early."""
        docs = (d for d in iter_documents(self.cfg.corpus) if d.doc_id % self.world_size == self.rank)
        first = next(docs, None)
        return itertools.chain([first] if first is not None else [], docs)

    def _windows(self, documents, first_doc: int, last_doc: int | None = None, budget: int | None = None):
        """One window per shard (``cfg.shard_tokens`` rows), or all of ``first_doc..last_doc`` as one."""
        window_rows = self.cfg.shard_tokens if last_doc is None else None
        return _token_windows(
            self.cfg, self.tokenizer, self.chat_template, documents, window_rows, first_doc, last_doc, budget
        )

    def _rows(self, window: Batch, on_batch: Callable[[int], None] | None = None) -> WindowRows:
        return _window_rows(self.model, self.cfg, window, self.tokenizer.pad_token_id, on_batch)

    # -- writing ---------------------------------------------------------------------------------------------------

    def _harvest(self, documents) -> None:
        from tqdm.auto import tqdm

        shards = self.index["shards"]
        first_doc = shards[-1]["last_doc"] + 1 if shards else 0
        budget = (
            None
            if self.cfg.max_tokens is None
            else _rank_share(self.cfg.max_tokens, self.rank, self.world_size)
        )
        done = self.index["n_tokens"]
        bar = tqdm(
            total=budget,
            initial=done,
            unit="tok",
            unit_scale=True,
            desc=f"harvest {self.spec.name} L{self.cfg.layer}",
            disable=not self.cfg.progress,
        )
        left = None if budget is None else budget - done
        try:
            for window in self._windows(documents, first_doc, budget=left):
                harvested = self._rows(window, on_batch=bar.update)
                rows = harvested.rows
                if left is not None:
                    rows = {k: v[:left] for k, v in rows.items()}
                    left -= len(rows["token_ids"])
                # (a window can yield no rows: one-token texts once position 0 is dropped)
                if len(rows["token_ids"]):
                    self._flush(rows, harvested)
        finally:
            bar.close()

    def _flush(self, rows: dict[str, torch.Tensor], harvested: WindowRows) -> None:
        """Write one window's rows as the next shard and record it in the index."""
        number = len(self.index["shards"])
        entry = self._write_shard(f"{self.shard_prefix}{number:05d}.safetensors", rows, harvested)
        self.index["shards"].append(entry)
        self.index["n_tokens"] += entry["n_tokens"]
        self.index["n_docs"] += entry["n_docs"]
        atomic_write_json(self.index_path, self.index)

    def _write_shard(self, name: str, rows: dict[str, torch.Tensor], harvested: WindowRows) -> dict[str, Any]:
        moments = Moments.of(rows["acts"])
        tensors = {
            "acts": rows["acts"].to(torch.bfloat16).contiguous(),
            "token_ids": rows["token_ids"].contiguous(),
            "doc_ids": rows["doc_ids"].contiguous(),
            "positions": rows["positions"].contiguous(),
            "welford_mean": moments.mean,
            "welford_m2": moments.m2,
            "welford_norm_sum": torch.tensor([moments.norm_sum], dtype=torch.float64),
        }
        path = self.out_dir / name
        # One metadata key: safetensors orders several keys non-deterministically.
        with atomic_path(path) as tmp:
            try:
                save_file(tensors, str(tmp), metadata={"llmdiff_eval_format": str(FORMAT)})
            except SafetensorError as error:  # an OSError inside the Rust writer arrives as this
                if "os error 28" in str(error) or "No space left" in str(error):
                    raise OSError(errno.ENOSPC, "No space left on device", str(path)) from error
                raise
        doc_ids = rows["doc_ids"]
        return {
            "file": name,
            "n_tokens": int(doc_ids.numel()),
            "n_docs": int(doc_ids.unique().numel()),
            "sha256": file_sha256(path),
            "bytes": path.stat().st_size,
            "first_doc": int(doc_ids[0]),
            "last_doc": int(doc_ids[-1]),
            "forward_tokens": harvested.forward_tokens,
            "forward_slots": harvested.forward_slots,
        }

    def _recreate(self, entry: dict) -> None:
        """Re-harvest the documents of a missing or corrupt shard and write it again under the same name."""
        docs = (d for d in iter_documents(self.cfg.corpus) if d.doc_id % self.world_size == self.rank)
        window = next(self._windows(docs, entry["first_doc"], entry["last_doc"]), None)
        harvested = self._rows(window) if window else None
        rows = {k: v[: entry["n_tokens"]] for k, v in harvested.rows.items()} if harvested else None
        if rows is None or len(rows["token_ids"]) != entry["n_tokens"]:
            raise CacheError(
                f"cannot re-create shard {entry['file']} of {self.out_dir}: the corpus no longer yields the "
                "same documents; delete the directory and harvest again"
            )
        position = self.index["shards"].index(entry)
        self.index["shards"][position] = self._write_shard(entry["file"], rows, harvested)
        atomic_write_json(self.index_path, self.index)

    def _finish(self) -> None:
        """Write stats.json (single-process harvests; :func:`merge_ranks` does it for ranks), then mark complete."""
        shards = self.index["shards"]
        slots, tokens = (
            sum(entry.get(key, 0) for entry in shards) for key in ("forward_slots", "forward_tokens")
        )
        if slots:
            log.info(
                "harvest %s: padding is %.1f%% of the batch slots", self.spec.name, 100 * (1 - tokens / slots)
            )
        if self.world_size == 1:
            moments = merge_shard_moments(self.out_dir, shards)
            write_stats(moments, self.cfg.layer, self.out_dir / STATS_FILE)
        self.index["complete"] = True
        atomic_write_json(self.index_path, self.index)


def _rank_share(total: int, rank: int, world_size: int) -> int:
    return total // world_size + (1 if rank < total % world_size else 0)


def _hidden_size(model) -> int:
    config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    config = getattr(config, "text_config", None) or config
    return int(config.hidden_size)


def merge_ranks(out_dir: str | Path, world_size: int) -> Path:
    """Join the per-rank indexes of a ``world_size``-way harvest into ``index.json`` and ``stats.json``.

    Every rank must be complete with the same settings. Shards are listed rank by rank, so row order is
    (rank, document, position) — the same in every model harvested with the same ``world_size``.
    """
    out_dir = Path(out_dir)
    indexes = []
    for rank in range(world_size):
        path = out_dir / f"index.rank{rank}.json"
        if not path.exists():
            raise CacheError(f"{path} is missing: rank {rank} has not harvested into {out_dir}; run it first")
        index = read_index(path)
        if not index["complete"]:
            raise CacheError(f"rank {rank} of {out_dir} is incomplete; rerun it before merging")
        indexes.append(index)
    shards = [entry for index in indexes for entry in index["shards"]]
    merged = {
        **{k: v for k, v in indexes[0].items() if k not in ("rank", "shards", "n_tokens", "n_docs")},
        "rank": None,
        "n_tokens": sum(i["n_tokens"] for i in indexes),
        "n_docs": sum(i["n_docs"] for i in indexes),
        "shards": shards,
    }
    for key in ("model", "layer", "tokenizer_fingerprint", "corpus_fingerprint", "bos"):
        if any(index[key] != merged[key] for index in indexes):
            raise CacheError(
                f"ranks of {out_dir} disagree on {key!r}; they were not harvested with one config"
            )
    write_stats(merge_shard_moments(out_dir, shards), merged["layer"], out_dir / STATS_FILE)
    atomic_write_json(out_dir / INDEX_FILE, merged)
    return out_dir
