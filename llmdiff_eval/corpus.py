"""The text the models are run on: local files or streamed Hugging Face datasets, mixed by weight.

:func:`iter_documents` yields the :class:`Document` s of a :class:`CorpusConfig` in a deterministic order (same
config → same documents with the same ``doc_id``), which makes harvesting resumable and lets every model of a run see
the same stream. A record is a *text* document (``text_field``) or a *chat* document (``messages_field``: a list of
``{"role", "content"}`` turns, or ShareGPT's ``{"from", "value"}``), rendered with a chat template by :func:`render`.

Reference: docs/harvest.md.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdiff_eval.config.corpus import CorpusConfig, CorpusSource
from llmdiff_eval.config.models import ModelSpec
from llmdiff_eval.errors import CorpusError
from llmdiff_eval.models import load_tokenizer
from llmdiff_eval.utils import stable_hash

_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet", ".txt")
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


@dataclass
class Document:
    """One document: exactly one of ``text`` (plain text) or ``messages`` (chat turns) is set.

    ``doc_id`` is the document's 0-based position in the corpus stream; ``source`` the label of its source.
    """

    doc_id: int
    text: str | None = None
    messages: list[dict[str, str]] | None = None
    source: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Reading


def iter_documents(cfg: CorpusConfig) -> Iterator[Document]:
    """Yield the corpus's documents with consecutive ``doc_id`` s from 0, mixing sources by weight.

    Deterministic: the same config gives the same documents in the same order. Raises :class:`CorpusError` if
    the corpus is empty (no sources, or no non-empty documents).
    """
    if not cfg.sources:
        raise CorpusError(
            "the corpus has no sources; add at least one (a JSONL/Parquet/.txt path or an hf_dataset)"
        )
    streams = [(source, _iter_records(source)) for source in cfg.sources]
    rng = random.Random(cfg.seed)
    doc_id = 0
    while streams and (cfg.max_docs is None or doc_id < cfg.max_docs):
        index = (
            rng.choices(range(len(streams)), weights=[s.weight for s, _ in streams])[0]
            if len(streams) > 1
            else 0
        )
        source, records = streams[index]
        record = next(records, None)
        if record is None:
            streams.pop(index)
            continue
        yield Document(doc_id=doc_id, source=source.label, **record)
        doc_id += 1
    if doc_id == 0:
        labels = ", ".join(s.label for s in cfg.sources)
        raise CorpusError(
            f"the corpus is empty: no non-empty documents in {labels}. Check the paths and the field names "
            f"(text_field / messages_field)."
        )


def _iter_records(source: CorpusSource) -> Iterator[dict[str, Any]]:
    """``{"text": ...}`` or ``{"messages": [...]}`` per non-empty document of ``source``."""
    if source.hf_dataset is not None:
        yield from _records_from_rows(source, _iter_hf_rows(source), source.label)
        return
    for file in _list_files(source):
        if file.name.endswith(".txt"):
            for text in _split_text(file.read_text(encoding="utf-8"), source.text_split):
                yield {"text": text}
        else:
            yield from _records_from_rows(source, _iter_file_rows(file, source), str(file))


def _list_files(source: CorpusSource) -> list[Path]:
    root = Path(source.path).expanduser()
    if not root.exists():
        raise CorpusError(f"corpus path {root} does not exist")
    if root.is_file():
        if not root.name.endswith(_SUFFIXES):
            raise CorpusError(f"corpus file {root} has an unsupported format; use one of {_SUFFIXES}")
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES))
    if not files:
        raise CorpusError(f"corpus directory {root} holds no {'/'.join(_SUFFIXES)} files")
    return files


def _split_text(text: str, mode: str) -> list[str]:
    if mode == "file":
        parts = [text]
    elif mode == "line":
        parts = text.splitlines()
    else:
        parts = [p for p in text.replace("\r\n", "\n").split("\n\n")]
    return [p.strip("\n") for p in parts if p.strip()]


def _iter_file_rows(file: Path, source: CorpusSource) -> Iterator[dict[str, Any]]:
    if file.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(file)
        columns = [c for c in (source.text_field, source.messages_field) if c in parquet.schema_arrow.names]
        if not columns:
            raise CorpusError(
                f"{file} has neither column {source.text_field!r} nor {source.messages_field!r} "
                f"(columns: {parquet.schema_arrow.names}); set text_field / messages_field"
            )
        for batch in parquet.iter_batches(columns=columns, batch_size=1024):
            yield from batch.to_pylist()
        return
    opener = gzip.open if file.name.endswith(".gz") else open
    line_number = 0
    try:
        with opener(file, "rt", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(
                        f"{file}:{line_number} is not valid JSON ({exc.msg}); fix or remove it"
                    ) from exc
                if not isinstance(record, dict):
                    raise CorpusError(
                        f"{file}:{line_number} is a JSON {type(record).__name__}, not an object; each line of a "
                        'JSONL corpus must be one object such as {"text": "..."}'
                    )
                yield record
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{file} is not UTF-8 text (undecodable bytes after line {line_number}): a JSONL corpus must be UTF-8, "
            "one JSON object per line; fix or remove the file"
        ) from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise CorpusError(f"{file} is not a complete gzip file ({exc}); fix or remove it") from exc


def _iter_hf_rows(source: CorpusSource) -> Iterator[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a declared dependency
        raise CorpusError("hf_dataset sources need the 'datasets' package: pip install datasets") from exc
    try:
        dataset = datasets.load_dataset(
            source.hf_dataset,
            source.hf_config,
            split=source.hf_split,
            data_files=source.data_files,
            streaming=True,
        )
    except Exception as exc:  # datasets raises many types (network, missing config, ...)
        raise CorpusError(
            f"could not open Hugging Face dataset {source.label!r} (split {source.hf_split!r}): {exc}. "
            "Check the name/config/split, your network access, and for gated datasets `huggingface-cli login`."
        ) from exc
    yield from dataset


def _records_from_rows(source: CorpusSource, rows, where: str) -> Iterator[dict[str, Any]]:
    for number, row in enumerate(rows):
        messages = row.get(source.messages_field) if isinstance(row, dict) else None
        text = row.get(source.text_field) if isinstance(row, dict) else None
        if messages is not None:
            turns = [_normalise_turn(turn, where, number) for turn in messages]
            if turns:
                yield {"messages": turns}
        elif text is not None:
            if not isinstance(text, str):
                raise CorpusError(f"record {number} of {where}: field {source.text_field!r} is not a string")
            if text.strip():
                yield {"text": text}
        else:
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise CorpusError(
                f"record {number} of {where} has neither {source.text_field!r} nor {source.messages_field!r} "
                f"(it has {keys}); set text_field / messages_field of this source"
            )


def _normalise_turn(turn: Any, where: str, number: int) -> dict[str, str]:
    if isinstance(turn, dict) and "role" in turn and "content" in turn:
        return {"role": str(turn["role"]), "content": str(turn["content"])}
    if isinstance(turn, dict) and "from" in turn and "value" in turn:  # ShareGPT
        return {
            "role": _SHAREGPT_ROLES.get(str(turn["from"]), str(turn["from"])),
            "content": str(turn["value"]),
        }
    raise CorpusError(
        f"record {number} of {where}: chat turns must be {{'role', 'content'}} dicts, got {turn!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# Rendering and tokenizing


def resolve_chat_template(spec: str | None, tokenizer) -> str | None:
    """The Jinja chat template to use: ``spec`` if it is a template, the template of the tokenizer at ``spec`` (a
    model directory, hub id or ``.gguf`` file) if it is a path, else ``tokenizer.chat_template``."""
    if spec is None:
        return getattr(tokenizer, "chat_template", None)
    if "{%" in spec or "{{" in spec:
        return spec

    other = load_tokenizer(ModelSpec(name="chat-template", path=spec))
    if not getattr(other, "chat_template", None):
        raise CorpusError(
            f"the tokenizer at {spec!r} has no chat template; name another model or give a template"
        )
    return other.chat_template


def render(document: Document, tokenizer, chat_template: str | None = None) -> str:
    """The text fed to the model: ``document.text`` as is, or the chat ``messages`` rendered through
    ``chat_template`` (default: the tokenizer's own template), without a generation prompt."""
    if document.messages is None:
        return document.text or ""
    template = chat_template or getattr(tokenizer, "chat_template", None)
    if not template:
        raise CorpusError(
            f"document {document.doc_id} ({document.source}) is a chat record but the tokenizer has no chat "
            "template; set corpus.chat_template to a model whose template to use (e.g. the instruct model's "
            "directory) or to a Jinja template"
        )
    return tokenizer.apply_chat_template(
        document.messages, chat_template=template, tokenize=False, add_generation_prompt=False
    )


def encode(document: Document, tokenizer, context_length: int, chat_template: str | None = None) -> list[int]:
    """Token ids of one document, truncated to ``context_length``.

    Plain text is tokenized with the tokenizer's special tokens (so BOS is prepended if the tokenizer does so).
    Rendered chats are tokenized *without* adding special tokens when the template already emitted the BOS
    token, so BOS never appears twice.
    """
    text = render(document, tokenizer, chat_template)
    bos = getattr(tokenizer, "bos_token", None)
    add_special = not (document.messages is not None and bos and text.startswith(bos))
    ids = tokenizer(text, add_special_tokens=add_special)["input_ids"]
    return list(ids[:context_length])


def corpus_fingerprint(cfg: CorpusConfig) -> str:
    """Hash of everything that decides the order and content of the document stream: the sources, seed and chat
    template plus, for local files, each file's path and size. ``max_docs`` is left out: it only decides where the
    stream stops, so a cache can be extended by raising it."""
    files: list[list[Any]] = []
    for source in cfg.sources:
        if source.path is not None and Path(source.path).exists():
            files.extend([str(p), p.stat().st_size] for p in _list_files(source))
    settings = {k: v for k, v in cfg.to_dict().items() if k != "max_docs"}
    return stable_hash({"config": settings, "files": files})
