"""Max-activating examples of the tagged latents: top-N contexts, samples from activation quantiles (held out for
scoring) and non-activating windows, with the activating tokens marked and every token's activation kept (for the
report's shaded contexts), plus a histogram of each latent's non-zero activations. Stored by
``llmdiff_eval/rundir/examples.py``."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from llmdiff_eval.analyze.latent_table import (
    encode_batch,
    is_cache_pair,
    iter_batches,
    iter_rows,
    prepare_crosscoder,
)
from llmdiff_eval.config.analyze import AnalyzeConfig
from llmdiff_eval.rundir.activations import ActivationCache

log = logging.getLogger(__name__)

HISTOGRAM_BINS = 20
"""Equal-width bins of a latent's activation histogram over ``(0, max_act]``."""

EXAMPLE_COLUMNS = [
    "latent_id",
    "kind",
    "rank",
    "activation",
    "doc_id",
    "token_index",
    "text",
    "marked_text",
    "tokens",
    "token_acts",
    "focus",
]
"""Columns of :func:`collect_examples`' frame (the ``examples`` table of ``examples.sqlite`` without ``pair``)."""


@dataclass
class TokenInfo:
    """Per-row token metadata aligned with the activation rows (from a harvest cache) and its tokenizer.

    Rows of one document must be contiguous and in position order (as the harvest writes them).
    """

    token_ids: torch.Tensor
    doc_ids: torch.Tensor
    positions: torch.Tensor
    tokenizer: Any

    def __post_init__(self) -> None:
        self.token_ids, self.doc_ids, self.positions = (
            torch.as_tensor(t).to(torch.int64).cpu() for t in (self.token_ids, self.doc_ids, self.positions)
        )
        if not len(self.token_ids) == len(self.doc_ids) == len(self.positions):
            raise ValueError("token_ids, doc_ids and positions must have one entry per activation row")
        doc = self.doc_ids.numpy()
        starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]]) if len(doc) else np.zeros(0, dtype=np.int64)
        if len(np.unique(doc[starts])) != len(starts):
            raise ValueError("activation rows of a document must be contiguous (harvest writes them so)")
        run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(doc)]))
        self._doc_start = starts[run]
        self._doc_end = np.r_[starts[1:], len(doc)][run]  # exclusive

    @classmethod
    def from_cache(cls, cache_dir: str | os.PathLike) -> TokenInfo:
        cache = ActivationCache(cache_dir)
        return cls(cache.token_ids, cache.doc_ids, cache.positions, cache.tokenizer())

    def __len__(self) -> int:
        return len(self.token_ids)

    def window(self, row: int, before: int, after: int) -> range:
        """Rows of the window around ``row``, clipped to its document."""
        return range(max(row - before, self._doc_start[row]), min(row + after + 1, self._doc_end[row]))


class _Pieces:
    """Text of each token in context, so that joining the pieces of a window reproduces its text.

    A token's piece is ``decode([prev, tok])`` minus ``decode([prev])``: this keeps the leading space that
    SentencePiece-style decoders drop from a lone token. Falls back to ``decode([tok])``; cached per pair.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[tuple[int, int], str] = {}

    def __call__(self, prev: int, tok: int) -> str:
        key = (prev, tok)
        if key not in self.cache:
            alone = self.tokenizer.decode([tok])
            if prev < 0:
                self.cache[key] = alone
            else:
                head = self.tokenizer.decode([prev])
                both = self.tokenizer.decode([prev, tok])
                self.cache[key] = both[len(head) :] if both.startswith(head) else alone
        return self.cache[key]


def _merge_running(
    keys: torch.Tensor,
    new_keys: torch.Tensor,
    payloads: list[torch.Tensor],
    new_payloads: list[torch.Tensor],
    largest: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Per column, keep the ``len(keys)`` largest (or smallest) of the old and new keys; payloads follow their key."""
    kept, order = torch.cat([keys, new_keys]).topk(keys.shape[0], dim=0, largest=largest)
    return kept, [
        torch.cat([old, new]).gather(0, order) for old, new in zip(payloads, new_payloads, strict=True)
    ]


def collect_examples(
    cc: Any,
    acts: torch.Tensor | tuple[str | os.PathLike, str | os.PathLike],
    tokens: TokenInfo,
    latent_ids: Sequence[int],
    max_act: np.ndarray | torch.Tensor,
    cfg: AnalyzeConfig | None = None,
) -> pd.DataFrame:
    """Top, quantile (held-out) and negative contexts for ``latent_ids``, one pass plus a short re-encode.

    ``max_act`` is the per-latent maximum activation over the same data (``latent_table``'s column, indexed by
    latent id); it sets the quantile bins. The pass keeps, per latent, a running top-N (``torch.topk`` per batch,
    merged), the rows with the smallest random keys in every bin (a uniform sample without replacement per bin), and
    whether the latent fires anywhere in each window of a random pool. Afterwards the window rows of the chosen
    top/held-out examples are encoded again to mark every activating token.

    Returns a DataFrame with the ``examples`` table columns except ``pair`` (:data:`EXAMPLE_COLUMNS`):
    ``latent_id, kind ("top" | "quantile" | "negative"), rank, activation (f at the example token; 0 for
    negatives), doc_id, token_index (position of the token in its document), text, marked_text, tokens`` (JSON list
    of the window's token texts, joining to ``text``), ``token_acts`` (JSON list of f per token, in ``max_act``
    units; None for negatives, where f = 0 on every token) and ``focus`` (index of the example token in ``tokens``).

    ``attrs["activation_histogram"]`` holds, per latent, how many tokens fell in each of :data:`HISTOGRAM_BINS`
    equal-width bins of ``(0, max_act]`` (tokens with f = 0 are not counted): ``{"bins": n, "max_act": {id:
    value}, "counts": {id: [n per bin]}}``.
    """
    cfg = cfg or AnalyzeConfig()
    if not (isinstance(acts, torch.Tensor) or is_cache_pair(acts)):
        raise ValueError("collect_examples needs a (N, 2, d) tensor or a (base_cache_dir, ft_cache_dir) pair")
    cc, dev, dtype = prepare_crosscoder(cc, cfg.device)
    ids = torch.as_tensor(list(latent_ids), dtype=torch.long)
    n_latents, n_rows = len(ids), len(tokens)
    if n_latents == 0 or n_rows == 0:
        return pd.DataFrame(columns=EXAMPLE_COLUMNS)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_top, n_bins = cfg.n_top_examples, len(cfg.quantile_edges)
    # per bin, keep spare samples: those inside the windows of top examples are dropped at the end
    per_bin = 4 * cfg.n_per_quantile + n_top
    inner_edges = torch.tensor(cfg.quantile_edges[:-1], dtype=torch.float64)
    max_values = torch.tensor(np.asarray(max_act, dtype=np.float64))[ids]
    scale = torch.where(max_values > 0, max_values, torch.ones_like(max_values))
    histogram = torch.zeros(n_latents, HISTOGRAM_BINS, dtype=torch.float64)
    latent_column = torch.arange(n_latents)

    # Negative pool: random windows; we record whether each latent fires anywhere inside each of them.
    pool_size = min(n_rows, max(8 * cfg.n_negative, 64)) if cfg.n_negative else 0
    pool_centres = torch.randperm(n_rows, generator=gen)[:pool_size]
    pool_windows = [tokens.window(int(r), cfg.window_before, cfg.window_after) for r in pool_centres]
    member_rows = torch.tensor([r for w in pool_windows for r in w], dtype=torch.long)
    member_window = torch.tensor([i for i, w in enumerate(pool_windows) for _ in w], dtype=torch.long)
    order = member_rows.argsort()
    member_rows, member_window = member_rows[order], member_window[order]
    pool_fired = torch.zeros(pool_size, n_latents)

    top_vals = torch.zeros(n_top, n_latents)
    top_rows = torch.full((n_top, n_latents), -1, dtype=torch.long)
    bin_keys = torch.full((n_bins, per_bin, n_latents), math.inf)
    bin_rows = torch.full((n_bins, per_bin, n_latents), -1, dtype=torch.long)
    bin_vals = torch.zeros(n_bins, per_bin, n_latents)

    offset = 0
    with torch.inference_mode():
        progress = tqdm(total=n_rows, unit="tok", desc="examples", disable=None)
        for raw in iter_batches(acts, cfg.batch_size):
            f = encode_batch(cc, raw, dev, dtype)[1][:, ids.to(dev)].float().cpu()  # (B, J)
            size = f.shape[0]
            rows = torch.arange(offset, offset + size).unsqueeze(1).expand(size, n_latents)
            fired = f > 0
            if fired.any():
                upper_edge = (
                    (f.to(torch.float64) / scale * HISTOGRAM_BINS).ceil().long().clamp(1, HISTOGRAM_BINS)
                )
                flat = latent_column.expand(size, n_latents)[fired] * HISTOGRAM_BINS + upper_edge[fired] - 1
                histogram.view(-1).index_add_(0, flat, torch.ones(len(flat), dtype=torch.float64))
            if n_top:
                vals, at = f.topk(min(n_top, size), dim=0)
                top_vals, (top_rows,) = _merge_running(top_vals, vals, [top_rows], [rows.gather(0, at)], True)
            if cfg.n_per_quantile:
                bins = torch.bucketize(f.to(torch.float64) / scale, inner_edges).clamp_max(n_bins - 1)
                keys = torch.rand(f.shape, generator=gen)
                for b in range(n_bins):
                    masked = torch.where((f > 0) & (bins == b), keys, math.inf)
                    new_keys, at = masked.topk(min(per_bin, size), dim=0, largest=False)
                    bin_keys[b], (bin_rows[b], bin_vals[b]) = _merge_running(
                        bin_keys[b],
                        new_keys,
                        [bin_rows[b], bin_vals[b]],
                        [rows.gather(0, at), f.gather(0, at)],
                        False,
                    )
            lo, hi = torch.searchsorted(member_rows, torch.tensor([offset, offset + size]))
            if hi > lo:
                local = member_rows[lo:hi] - offset
                pool_fired.index_add_(0, member_window[lo:hi], (f[local] > 0).float())
            offset += size
            progress.update(size)
        progress.close()
    if offset != n_rows:
        raise ValueError(
            f"activations have {offset} rows but the token metadata has {n_rows}: they must match"
        )

    picks = _pick_examples(
        cfg, tokens, (top_vals, top_rows), (bin_keys, bin_rows, bin_vals), pool_centres, pool_fired, gen
    )
    window_acts = _window_activations(cc, acts, tokens, ids, picks, cfg, dev, dtype)
    pieces = _Pieces(tokens.tokenizer)
    records = []
    for (j, kind, rank, row, value), acts_in_window in zip(picks, window_acts, strict=True):
        window = tokens.window(row, cfg.window_before, cfg.window_after)
        token_ids = tokens.token_ids[window.start : window.stop].tolist()
        texts = [pieces(token_ids[i - 1] if i else -1, t) for i, t in enumerate(token_ids)]
        marked = [
            f"<<{t}>>"
            if (acts_in_window is not None and (acts_in_window[i] > 0 or window.start + i == row))
            else t
            for i, t in enumerate(texts)
        ]
        records.append(
            (
                int(ids[j]),
                kind,
                rank,
                float(value),
                int(tokens.doc_ids[row]),
                int(tokens.positions[row]),
                "".join(texts),
                "".join(marked),
                json.dumps(texts, ensure_ascii=False),
                None if acts_in_window is None else json.dumps([_short(v) for v in acts_in_window.tolist()]),
                row - window.start,
            )
        )
    frame = pd.DataFrame.from_records(records, columns=EXAMPLE_COLUMNS)
    frame.attrs["activation_histogram"] = {
        "bins": HISTOGRAM_BINS,
        "max_act": {int(i): float(m) for i, m in zip(ids, max_values, strict=True)},
        "counts": {int(i): [int(c) for c in counts] for i, counts in zip(ids, histogram, strict=True)},
    }
    return frame


def _short(value: float) -> float:
    """``value`` to float32's 7 significant digits (what the activations carry; keeps the JSON short)."""
    return float(f"{value:.7g}")


def _pick_examples(
    cfg, tokens, top, bins, pool_centres, pool_fired, gen
) -> list[tuple[int, str, int, int, float]]:
    """Final examples ``(latent column, kind, rank, row, activation)`` from the pass's running state.

    A held-out (quantile) sample whose window overlaps the window of a top example or of an earlier held-out sample
    is skipped, so scoring texts differ from the explainer's and from each other; negatives are pool windows where
    the latent fired on no token.
    """
    top_vals, top_rows = top
    bin_keys, bin_rows, bin_vals = bins
    negative_order = torch.rand(pool_fired.shape, generator=gen).argsort(dim=0)
    picks = []
    for j in range(top_vals.shape[1]):
        best = [(int(r), float(v)) for v, r in zip(top_vals[:, j], top_rows[:, j], strict=True) if v > 0]
        picks += [(j, "top", rank, row, value) for rank, (row, value) in enumerate(best)]
        covered = {r for row, _ in best for r in tokens.window(row, cfg.window_before, cfg.window_after)}
        heldout = []
        for b in range(bin_keys.shape[0]):
            taken = 0
            for k, r, v in zip(bin_keys[b, :, j], bin_rows[b, :, j], bin_vals[b, :, j], strict=True):
                if taken == cfg.n_per_quantile or not math.isfinite(k):
                    break
                window = tokens.window(int(r), cfg.window_before, cfg.window_after)
                if covered.isdisjoint(window):
                    heldout.append((int(r), float(v)))
                    covered.update(window)
                    taken += 1
        heldout.sort(key=lambda item: -item[1])
        picks += [(j, "quantile", rank, row, value) for rank, (row, value) in enumerate(heldout)]
        clean = [int(pool_centres[w]) for w in negative_order[:, j] if pool_fired[w, j] == 0]
        picks += [(j, "negative", rank, row, 0.0) for rank, row in enumerate(clean[: cfg.n_negative])]
    return picks


def _window_activations(cc, acts, tokens, ids, picks, cfg, dev, dtype) -> list[torch.Tensor | None]:
    """For each top/quantile pick, its latent's activation on every row of its window (None for negatives).

    Only the distinct window rows are read and encoded, in row order, ``batch_size`` at a time.
    """
    windows = [
        tokens.window(row, cfg.window_before, cfg.window_after) if kind != "negative" else range(0)
        for _, kind, _, row, _ in picks
    ]
    need_rows = torch.tensor([r for w in windows for r in w], dtype=torch.long)
    need_latent = torch.tensor(
        [j for (j, *_), w in zip(picks, windows, strict=True) for _ in w], dtype=torch.long
    )
    values = torch.zeros(len(need_rows))
    unique_rows, position = torch.unique(need_rows, return_inverse=True)
    dev_ids = ids.to(dev)
    with torch.inference_mode():
        first = 0
        for chunk, raw in iter_rows(acts, unique_rows, cfg.batch_size):
            f = encode_batch(cc, raw, dev, dtype)[1][:, dev_ids].float().cpu()
            inside = (position >= first) & (position < first + len(chunk))
            values[inside] = f[position[inside] - first, need_latent[inside]]
            first += len(chunk)
    per_pick = values.split([len(w) for w in windows])
    return [v if len(w) else None for v, w in zip(per_pick, windows, strict=True)]
