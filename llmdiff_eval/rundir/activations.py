"""The activation cache of one model (``activations/<model>/``): its file format and its reader.

Format (version :data:`FORMAT`): ``index.json`` (shards, row counts, sha256 and byte size per shard, layer, model spec,
``complete``), ``stats.json`` (Welford mean / std and mean norm), ``shard_XXXXX.safetensors`` (``acts`` bf16
(n, d), ``token_ids``, ``doc_ids``, ``positions``), ``tokenizer/``. Written by ``llmdiff_eval/harvest.py``; read here.
Reference: docs/run-directory.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from llmdiff_eval.errors import CacheError
from llmdiff_eval.rundir import INDEX_FILE, STATS_FILE, TOKENIZER_DIR
from llmdiff_eval.utils import atomic_write_json, file_sha256

FORMAT = 1
STORAGE_DTYPE = "bfloat16"


# ---------------------------------------------------------------------------------------------------------------
# Reading


def open_shard(cache_dir: Path, entry: dict):
    path = cache_dir / entry["file"]
    if not path.exists():
        raise _missing(cache_dir, entry)
    try:
        return safe_open(str(path), framework="pt")
    except (SafetensorError, OSError, ValueError) as exc:
        raise _corrupt(cache_dir, entry, f"unreadable: {exc}") from exc


def _missing(cache_dir: Path, entry: dict) -> CacheError:
    return CacheError(
        f"shard {entry['file']} of activation cache {cache_dir} is missing; rerun harvest on this run directory "
        "to re-create it (the other shards are kept)"
    )


def _corrupt(cache_dir: Path, entry: dict, why: str) -> CacheError:
    return CacheError(
        f"shard {entry['file']} of activation cache {cache_dir} is corrupt ({why}); rerun harvest on this run "
        "directory: it re-creates that shard from its recorded documents (the other shards are kept)"
    )


def verify_shard(cache_dir: Path, entry: dict, full: bool = True) -> None:
    path = cache_dir / entry["file"]
    if not path.exists():
        raise _missing(cache_dir, entry)
    if "bytes" in entry and path.stat().st_size != entry["bytes"]:
        raise _corrupt(cache_dir, entry, f"size {path.stat().st_size} bytes, expected {entry['bytes']}")
    if full and file_sha256(path) != entry["sha256"]:
        raise _corrupt(cache_dir, entry, "sha256 mismatch")


def shard_problems(cache_dir: Path, entries: list[dict], full: bool = True) -> list[str]:
    """One line per shard of ``entries`` that is missing, of another size or (``full``) of other contents."""
    found = []
    for entry in entries:
        try:
            verify_shard(cache_dir, entry, full=full)
        except CacheError as problem:
            found.append(str(problem).split(";")[0])
    return found


class ActivationCache:
    """Read side of one model's harvest cache (``activations/<name>/``).

    Attributes: ``index`` (the parsed ``index.json``), ``n_tokens``, ``d_model``, ``layer``, ``model`` (spec dict).
    Integer tensors ``token_ids`` / ``doc_ids`` / ``positions`` cover all rows in cache order.
    """

    def __init__(self, path: str | Path, require_complete: bool = True):
        self.path = Path(path)
        index_path = self.path / INDEX_FILE
        if not index_path.exists():
            raise CacheError(f"no activation cache in {self.path} (index.json missing); run harvest first")
        self.index = read_index(index_path)
        if require_complete and not self.index.get("complete"):
            raise CacheError(
                f"the activation cache in {self.path} is incomplete ({len(self.index['shards'])} shards so far); "
                "rerun harvest on this run directory to finish it"
            )
        self.n_tokens: int = self.index["n_tokens"]
        self.d_model: int = self.index["d_model"]
        self.layer: int = self.index["layer"]
        self.model: dict = self.index["model"]
        self._columns: dict[str, torch.Tensor] = {}
        self._stats: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"ActivationCache({str(self.path)!r}, n_tokens={self.n_tokens}, d_model={self.d_model}, layer={self.layer})"

    @property
    def stats(self) -> dict[str, Any]:
        """``{"mean": (d,) float32, "std": (d,) float32, "count": int, "mean_norm": float}`` from stats.json."""
        if self._stats is None:
            path = self.path / STATS_FILE
            if not path.exists():
                raise CacheError(
                    f"{path} is missing; rerun harvest on this run directory to finish the cache"
                )
            raw = json.loads(path.read_text())
            self._stats = {
                "mean": torch.tensor(raw["mean"], dtype=torch.float32),
                "std": torch.tensor(raw["std"], dtype=torch.float32),
                "count": int(raw["count"]),
                "mean_norm": float(raw["mean_norm"]),
            }
        return self._stats

    def _column(self, key: str) -> torch.Tensor:
        if key not in self._columns:
            parts = []
            for entry in self.index["shards"]:
                with open_shard(self.path, entry) as handle:
                    parts.append(self._get(handle, entry, key))
            self._columns[key] = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int32)
        return self._columns[key]

    def _get(self, handle, entry: dict, key: str) -> torch.Tensor:
        try:
            tensor = handle.get_tensor(key)
        except (SafetensorError, KeyError, OSError, ValueError) as exc:
            raise _corrupt(self.path, entry, f"cannot read {key!r}: {exc}") from exc
        if tensor.shape[0] != entry["n_tokens"]:
            raise _corrupt(
                self.path, entry, f"{key} has {tensor.shape[0]} rows, index says {entry['n_tokens']}"
            )
        return tensor

    @property
    def token_ids(self) -> torch.Tensor:
        return self._column("token_ids")

    @property
    def doc_ids(self) -> torch.Tensor:
        return self._column("doc_ids")

    @property
    def positions(self) -> torch.Tensor:
        return self._column("positions")

    def shard_acts(self, shard: int) -> torch.Tensor:
        """Activations of shard number ``shard`` as stored, ``(n, d)`` bfloat16 (row count checked)."""
        entry = self.index["shards"][shard]
        with open_shard(self.path, entry) as handle:
            return self._get(handle, entry, "acts")

    def iter_shards(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Yield ``(acts float32 (n, d), token_ids (n,), doc_ids (n,))`` shard by shard, in cache order."""
        for entry in self.index["shards"]:
            with open_shard(self.path, entry) as handle:
                acts = self._get(handle, entry, "acts").float()
                yield acts, self._get(handle, entry, "token_ids"), self._get(handle, entry, "doc_ids")

    def load(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """All activations as one ``(n_tokens, d_model)`` tensor of ``dtype``."""
        out = torch.empty(self.n_tokens, self.d_model, dtype=dtype)
        start = 0
        for acts, _, _ in self.iter_shards():
            out[start : start + len(acts)] = acts
            start += len(acts)
        return out

    def problems(self, full: bool = True) -> list[str]:
        """Why the cache cannot be used as it is: incomplete, a shard missing, of another size, or (``full``) of
        other contents than its recorded sha256. Empty when it is fine."""
        if not self.index.get("complete"):
            return [f"the activation cache in {self.path} is incomplete"]
        missing = [
            f"{name} is missing" for name in (STATS_FILE, TOKENIZER_DIR) if not (self.path / name).exists()
        ]
        return missing + shard_problems(self.path, self.index["shards"], full)

    def verify(self) -> None:
        """Check that every shard exists and matches its recorded sha256; :class:`CacheError` names the first bad
        shard and the fix."""
        for entry in self.index["shards"]:
            verify_shard(self.path, entry, full=True)

    def tokenizer(self):
        """The tokenizer saved with the cache (decode ``token_ids`` without loading the model)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.path / TOKENIZER_DIR)


def check_aligned(a: ActivationCache, b: ActivationCache) -> None:
    for key in ("token_ids", "doc_ids", "positions"):
        if a.n_tokens != b.n_tokens or not torch.equal(getattr(a, key), getattr(b, key)):
            raise CacheError(
                f"activation caches {a.path} and {b.path} do not hold the same token stream ({key} differ; "
                f"{a.n_tokens} vs {b.n_tokens} rows): harvest both with the same corpus, context_length, "
                "max_tokens and tokenizer (llmdiff_eval.harvest.harvest does this for all models of a run)"
            )


def load_paired(base_dir: str | Path, ft_dir: str | Path) -> torch.Tensor:
    """Paired activations ``(N, 2, d)`` float32: index 0 = base, 1 = fine-tune, row i = the same token in both.

    Raises :class:`CacheError` if the caches are incomplete, corrupt, of different widths or token streams.
    """
    base, ft = ActivationCache(base_dir), ActivationCache(ft_dir)
    check_aligned(base, ft)
    if base.d_model != ft.d_model:
        raise CacheError(f"{base.path} has d_model {base.d_model} but {ft.path} has {ft.d_model}")
    out = torch.empty(base.n_tokens, 2, base.d_model, dtype=torch.float32)
    for slot, cache in enumerate((base, ft)):
        start = 0
        for acts, _, _ in cache.iter_shards():
            out[start : start + len(acts), slot] = acts
            start += len(acts)
    return out


def read_rows(cache: ActivationCache, shard_ids: list[int], rows: torch.Tensor) -> torch.Tensor:
    """Activations ``(len(rows), d)`` float32 of ``cache`` at ``rows`` — indices into the concatenation of shards
    ``shard_ids`` (in that order) — read through a memory map of each shard, so only those rows' pages are read."""
    entries = [cache.index["shards"][i] for i in shard_ids]
    bounds = torch.tensor([0] + [e["n_tokens"] for e in entries]).cumsum(0)
    rows = rows.long()
    which = torch.searchsorted(bounds[1:], rows, right=True)
    out = torch.empty(len(rows), cache.d_model, dtype=torch.float32)
    for j, entry in enumerate(entries):
        positions = (which == j).nonzero().squeeze(1)
        if positions.numel() == 0:
            continue
        local = rows[positions] - bounds[j]
        order = local.argsort()  # ascending offsets: sequential reads
        acts = _acts_memmap(cache.path, entry)
        picked = np.ascontiguousarray(acts[local[order].numpy()])
        out[positions[order]] = torch.from_numpy(picked).view(torch.bfloat16).float()
    return out


def _acts_memmap(cache_dir: Path, entry: dict) -> np.ndarray:
    """The ``acts`` tensor of one safetensors shard as a read-only ``(n, d)`` uint16 memmap (bf16 bit patterns)."""
    path = cache_dir / entry["file"]
    if not path.exists():
        raise CacheError(f"shard {entry['file']} of activation cache {cache_dir} is missing; rerun harvest")
    with open(path, "rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_size))
    info = header.get("acts", {})
    if (
        info.get("dtype") != "BF16"
        or len(info.get("shape", ())) != 2
        or info["shape"][0] != entry["n_tokens"]
    ):
        raise CacheError(
            f"shard {entry['file']} of activation cache {cache_dir} is corrupt (acts header {info}); delete it and "
            "rerun harvest"
        )
    begin = info["data_offsets"][0]
    return np.memmap(path, dtype="<u2", mode="r", offset=8 + header_size + begin, shape=tuple(info["shape"]))


# Caches harvested rank by rank (torchrun)


def read_index(path: Path) -> dict | None:
    """A cache index (``index.json`` or a rank's ``index.rank<r>.json``); None if missing, :class:`CacheError` if
    it does not parse."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CacheError(f"{path} is not valid JSON ({exc}); delete {path.parent} and harvest again") from exc


def ranked_world_size(out_dir: str | Path) -> int | None:
    """The number of processes that harvest (or harvested) ``out_dir`` rank by rank (``index.rank*.json``), or
    None for a single-process cache."""
    for path in sorted(Path(out_dir).glob("index.rank*.json")):
        index = read_index(path)
        if index is not None:
            return int(index["world_size"])
    return None


def finished_by_other_process_count(out_dir: str | Path, world_size: int) -> bool:
    """True when ``out_dir`` holds a cache that a run with another number of processes finished (any run may use
    it as it is); False when this run of ``world_size`` processes should harvest or resume it. A cache still
    *being* harvested by ``W'`` processes must be finished by ``W'`` (documents are split by ``doc_id % W'``):
    :class:`CacheError` says so."""
    out_dir = Path(out_dir)
    merged = read_index(out_dir / INDEX_FILE)
    ranked = ranked_world_size(out_dir)
    if merged is not None and ranked is None:  # a single-process cache
        if world_size == 1:
            return False
        if merged.get("complete"):
            return True
        raise CacheError(
            f"the activation cache {out_dir} was started by a single process: finish it with `llmdiff-eval "
            f"harvest` without torchrun, or delete the directory to harvest it with {world_size} processes"
        )
    if ranked is not None and ranked != world_size:
        if merged is not None and merged.get("complete"):
            return True
        raise CacheError(
            f"the activation cache {out_dir} is being harvested by {ranked} processes (index.rank*.json): finish "
            f"it with `torchrun --nproc_per_node {ranked} ...` (documents are split by doc_id % {ranked}), or "
            "delete the directory to start over"
        )
    return False


def finished_elsewhere(out_dir: str | Path, world_size: int, full: bool = True) -> bool:
    """:func:`finished_by_other_process_count`, with the finished cache's shards checked: a damaged one can only be
    re-created by as many processes as harvested it (documents are split by ``doc_id % W``), so it is an error that
    says how."""
    if not finished_by_other_process_count(out_dir, world_size):
        return False
    problems = ActivationCache(out_dir).problems(full=full)
    if problems:
        ranked = ranked_world_size(out_dir) or 1
        how = (
            f"`torchrun --nproc_per_node {ranked} -m llmdiff_eval harvest ...`"
            if ranked > 1
            else "`llmdiff-eval harvest ...` without torchrun"
        )
        raise CacheError(
            f"{problems[0]}; the cache was harvested by {ranked} process(es), and only that many can re-create its "
            f"shards: rerun with {how}"
        )
    return True


# ---------------------------------------------------------------------------------------------------------------
# Statistics (written by the harvest)


@dataclass
class Moments:
    """Exact running count, mean, sum of squared deviations (M2) and norm sum, float64 (Chan et al. merge)."""

    count: int
    mean: torch.Tensor
    m2: torch.Tensor
    norm_sum: float

    @classmethod
    def of(cls, acts: torch.Tensor) -> Moments:
        x = acts.to(torch.float64)
        mean = x.mean(0)
        return cls(x.shape[0], mean, ((x - mean) ** 2).sum(0), float(x.norm(dim=1).sum()))

    def merge(self, other: Moments) -> Moments:
        n = self.count + other.count
        if n == 0:
            return self
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / n)
        return Moments(n, mean, m2, self.norm_sum + other.norm_sum)


def write_stats(moments: Moments, layer: int, path: Path) -> None:
    """Write ``stats.json``: row count, layer, per-coordinate mean and std, mean row norm (raw units)."""
    atomic_write_json(
        path,
        {
            "count": moments.count,
            "layer": layer,
            "mean": moments.mean.tolist(),
            "std": (moments.m2 / max(moments.count, 1)).sqrt().tolist(),
            "mean_norm": moments.norm_sum / max(moments.count, 1),
        },
    )


def merge_shard_moments(out_dir: Path, shards: list[dict]) -> Moments:
    """The cache's moments from the per-shard Welford fields of ``shards`` (index entries)."""
    total: Moments | None = None
    for entry in shards:
        with open_shard(out_dir, entry) as handle:
            part = Moments(
                entry["n_tokens"],
                handle.get_tensor("welford_mean"),
                handle.get_tensor("welford_m2"),
                float(handle.get_tensor("welford_norm_sum")[0]),
            )
        total = part if total is None else total.merge(part)
    if total is None:
        raise CacheError(
            f"no activations were harvested into {out_dir}; is the corpus empty or max_tokens 0?"
        )
    return total
