"""Harvest settings: :class:`HarvestConfig` (layer, device, dtype, shards, context length, corpus)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from llmdiff_eval.config.corpus import CorpusConfig
from llmdiff_eval.config.keys import reject_unknown_keys
from llmdiff_eval.errors import HarvestError


@dataclass
class HarvestConfig:
    """How to harvest.

    Attributes:
        layer: 0-based decoder block whose output is cached (the paper: 20).
        batch_size: documents per forward pass.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"``.
        dtype: compute dtype of the model: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"``.
            Activations are always *stored* as bfloat16.
        autocast: bf16 autocast of the forward pass: true, false, or null (default: on for a CUDA device that
            supports bf16, off elsewhere). Left out of the unit key like ``device`` (the rows are stored in bf16
            either way); recorded in the cache index as ``compute_dtype`` (e.g. ``float32+bf16-autocast``), which a
            resume must match.
        shard_tokens: target rows per shard; a shard closes at the first document boundary at or past it. Its
            documents are forwarded in length-sorted batches and their rows written in corpus order.
        context_length: tokens per document fed to the model (longer documents truncated; BOS counts).
        max_tokens: stop after this many cached rows per model (None: the whole corpus).
        drop_bos: do not store position 0 (BOS, or the first token if the tokenizer adds no BOS); it is still
            fed to the model.
        verify_shards: on a rerun, check every finished shard's sha256 (``False``: only that it exists with the
            recorded size — for very large caches).
        progress: show a tqdm progress bar.
        corpus: the documents (:class:`llmdiff_eval.corpus.CorpusConfig`).
    """

    RESULT_NEUTRAL: ClassVar[tuple[str, ...]] = (
        "device",
        "batch_size",
        "progress",
        "verify_shards",
        "autocast",
    )
    """Settings that do not change the stage's results (left out of its unit keys)."""

    layer: int = 20
    batch_size: int = 8
    device: str = "cpu"
    dtype: str = "float32"
    autocast: bool | None = None
    shard_tokens: int = 1_000_000
    context_length: int = 1024
    max_tokens: int | None = None
    drop_bos: bool = True
    verify_shards: bool = True
    progress: bool = True
    corpus: CorpusConfig = field(default_factory=CorpusConfig)

    def __post_init__(self) -> None:
        if isinstance(self.corpus, dict):
            self.corpus = CorpusConfig.from_dict(self.corpus)
        for key in ("batch_size", "shard_tokens"):
            if getattr(self, key) < 1:
                raise HarvestError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.context_length < 2:
            raise HarvestError(f"context_length must be >= 2 tokens, got {self.context_length}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise HarvestError(f"max_tokens must be >= 1 or null, got {self.max_tokens}")
        if self.autocast not in (None, True, False):
            raise HarvestError(f"autocast must be true, false or null (auto), got {self.autocast!r}")
        if self.layer < 0:
            raise HarvestError(f"layer must be a 0-based decoder layer index (>= 0), got {self.layer}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HarvestConfig:
        """Build from a YAML/JSON dict (``corpus`` as a dict); unknown keys are an error naming the valid ones."""
        reject_unknown_keys(cls, data, "unknown harvest key(s)", HarvestError)
        data = dict(data)
        if isinstance(data.get("corpus"), dict):
            data["corpus"] = CorpusConfig.from_dict(data["corpus"])
        return cls(**data)
