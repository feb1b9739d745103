"""Small shared helpers: atomic writes, stable hashing, slugs.

Every stage writes its outputs through these so that a crash never leaves a half-written file behind:
data goes to a temporary file in the same directory, is flushed and fsync'ed, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it over ``target``.

    Use for writers that want a filename (``df.to_parquet(tmp)``, ``fig.savefig(tmp)``). On an exception the
    temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (temp file + fsync + rename)."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``target`` atomically (keys kept in insertion order)."""
    atomic_write_text(target, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy / torch scalars and arrays
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Root of llmdiff-eval's caches: ``cache_dir``, else ``$LLMDIFF_EVAL_CACHE``, else ``~/.cache/llmdiff-eval``."""
    return Path(cache_dir or os.environ.get("LLMDIFF_EVAL_CACHE") or Path.home() / ".cache" / "llmdiff-eval")


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex SHA-256 of ``obj``'s canonical JSON (sorted keys): equal configs give equal hashes."""
    canonical = json.dumps(obj, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def slugify(name: str) -> str:
    """Filesystem-safe name: ``google/gemma-2-9b-it`` -> ``google--gemma-2-9b-it``."""
    slug = name.strip().replace("/", "--")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", slug)
    return slug.strip("-") or "model"


SEED_MARK = "@seed"
"""Separates a pair's name from an extra crosscoder seed in file and directory names (``base__a@seed1``)."""


def pair_name(base: str, finetune: str, seed: int | None = None) -> str:
    """Directory / file stem of one base–fine-tune pair in a run directory: ``<base>__<ft>``; for an extra
    crosscoder seed of a seed ensemble (``crosscoder.seeds`` after the first): ``<base>__<ft>@seed<k>``."""
    name = f"{slugify(base)}__{slugify(finetune)}"
    return name if seed is None else f"{name}{SEED_MARK}{seed}"


def local_fingerprint(path: str | os.PathLike | None, hash_limit_bytes: int = 64 << 20) -> str | None:
    """Fingerprint of a local file or directory's contents, or None for a hub id / missing path.

    Files up to ``hash_limit_bytes`` (adapters, configs, tokenizers) are hashed by content; larger ones (full model
    weights) by size and modification time, so checking a 20 GB checkpoint stays instant. Used to notice that a
    model or adapter changed in place (same path, new weights).
    """
    if path is None:
        return None
    root = Path(path)
    if not root.exists():
        return None
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    parts = []
    for file in files:
        stat = file.stat()
        if stat.st_size <= hash_limit_bytes:
            parts.append((file.name if root.is_file() else str(file.relative_to(root)), file_sha256(file)))
        else:
            parts.append((file.name, stat.st_size, stat.st_mtime_ns))
    return stable_hash(parts)
