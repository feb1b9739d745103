"""Corpus settings: :class:`CorpusSource` (one local or Hugging Face source) and :class:`CorpusConfig` (the mix).

The formats they read are described in ``llmdiff_eval/corpus.py`` and docs/harvest.md."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdiff_eval.config.keys import reject_unknown_keys
from llmdiff_eval.errors import CorpusError

TEXT_SPLITS = ("file", "line", "paragraph")


@dataclass
class CorpusSource:
    """One source of documents.

    Attributes:
        path: local file or directory (JSONL / Parquet / .txt); exclusive with ``hf_dataset``.
        hf_dataset: Hugging Face dataset name (``"HuggingFaceFW/fineweb"``, ``"lmsys/lmsys-chat-1m"``) or a builder
            such as ``"json"`` / ``"parquet"`` with ``data_files``; always streamed (nothing downloaded up front).
        hf_config: dataset configuration name (``"sample-10BT"``); ``hf_split``: split to read.
        data_files: passed to ``datasets.load_dataset`` (for the ``"json"`` / ``"parquet"`` builders).
        text_field / messages_field: record keys holding plain text / a list of chat turns.
        text_split: how ``.txt`` files are cut into documents: ``"file"``, ``"line"`` or ``"paragraph"``.
        weight: relative sampling weight when several sources are mixed (> 0).
        name: label stored with each document (default: file or dataset name).
    """

    path: str | None = None
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    data_files: str | list[str] | None = None
    text_field: str = "text"
    messages_field: str = "messages"
    text_split: str = "file"
    weight: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.hf_dataset is None):
            raise CorpusError("a corpus source needs exactly one of 'path' (local files) or 'hf_dataset'")
        if not self.weight > 0:
            raise CorpusError(f"corpus source {self.label!r}: weight must be > 0, got {self.weight}")
        if self.text_split not in TEXT_SPLITS:
            raise CorpusError(f"text_split must be one of {TEXT_SPLITS}, got {self.text_split!r}")
        if self.path is not None:
            self.path = str(self.path)

    @property
    def label(self) -> str:
        """Name stored in ``Document.source``."""
        if self.name:
            return self.name
        if self.path is not None:
            return Path(self.path).name
        return self.hf_dataset + (f"/{self.hf_config}" if self.hf_config else "")


@dataclass
class CorpusConfig:
    """What to read, in which order. Token-level limits (``context_length``, ``max_tokens``) belong to the
    consumer (``HarvestConfig``), which passes ``context_length`` to :func:`encode`.

    Attributes:
        sources: documents come from these, mixed by weight.
        max_docs: stop after this many documents (None: until every source is exhausted).
        seed: seed of the weighted source choice (only matters with several sources).
        chat_template: chat template for chat documents: None (the harvested base model's tokenizer), a
            model directory / hub id / GGUF file whose tokenizer's template to use, or a literal Jinja template.
    """

    sources: list[CorpusSource] = field(default_factory=list)
    max_docs: int | None = None
    seed: int = 0
    chat_template: str | None = None

    def __post_init__(self) -> None:
        self.sources = [s if isinstance(s, CorpusSource) else CorpusSource(**s) for s in self.sources]
        if self.max_docs is not None and self.max_docs < 1:
            raise CorpusError(f"max_docs must be a positive number or null, got {self.max_docs}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusConfig:
        """Build from a YAML/JSON dict (``sources`` as a list of dicts); unknown keys are an error."""
        reject_unknown_keys(cls, data, "unknown corpus key(s)", CorpusError)
        for source in data.get("sources", []):
            if isinstance(source, dict):
                reject_unknown_keys(CorpusSource, source, "unknown corpus source key(s)", CorpusError)
        return cls(**data)
