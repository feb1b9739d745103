"""Sparse kernels of the crosscoder's training step: batch top-k selection, and autograd functions that run the
decoder and the encoder's backward pass on the kept (row, latent, value) triples only. Cost model: docs/train.md."""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F

# torch warns once that CSR tensors (used for sampled_addmm in the backward pass) are "beta"; they are tested here.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


# Sparse training kernels: batch top-k selection, gathered encoder values, sparse decoding
# ----------------------------------------------------------------------------------------------------------------


class SparseIndex(NamedTuple):
    """Positions of the kept entries of a (B, F) latent matrix, row-major sorted, with CSR/CSC helpers."""

    rows: torch.Tensor  # (n,) int64
    cols: torch.Tensor  # (n,) int64
    row_ptr: torch.Tensor  # (B + 1,) CSR row pointers
    by_col: torch.Tensor  # (n,) permutation sorting the entries by column (stable)
    col_ptr: torch.Tensor  # (F + 1,) pointers into the column-sorted order
    n_rows: int
    n_cols: int

    @classmethod
    def from_flat(cls, flat: torch.Tensor, n_rows: int, n_cols: int) -> SparseIndex:
        flat = flat.sort().values
        rows, cols = flat // n_cols, flat % n_cols
        by_col = torch.argsort(cols, stable=True)
        return cls(rows, cols, _pointers(rows, n_rows), by_col, _pointers(cols, n_cols), n_rows, n_cols)


def _pointers(sorted_or_any: torch.Tensor, n: int) -> torch.Tensor:
    pointers = torch.zeros(n + 1, dtype=torch.long, device=sorted_or_any.device)
    pointers[1:] = torch.bincount(sorted_or_any, minlength=n).cumsum(0)
    return pointers


@torch.no_grad()
def batch_topk_flat(scores: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Flat indices (into ``scores.flatten()``) of the ``n_keep`` largest entries of a (B, F) matrix.

    Exact, without a top-k over all B·F entries: a threshold is estimated from a strided sample (aiming at 2× the
    entries needed), the entries above it are the candidates, and the top-k runs on those. If fewer than ``n_keep``
    entries clear the threshold it is lowered (×4 the fraction) and, at worst, the full top-k runs. Whenever enough
    candidates clear it, every entry of the true top ``n_keep`` is among them.
    """
    flat = scores.reshape(-1)
    n_keep = min(n_keep, flat.numel())
    if 8 * n_keep >= flat.numel():
        return flat.topk(n_keep, sorted=False).indices
    stride = max(1, flat.numel() // 16384) | 1
    while math.gcd(stride, scores.shape[-1]) != 1:  # sample every latent column, not a fixed subset
        stride += 2
    sample = flat[::stride]
    fraction = 2.0 * n_keep / flat.numel()
    while fraction < 0.25:
        threshold = sample.kthvalue(max(1, int(sample.numel() * (1 - fraction)))).values
        candidates = (flat >= threshold).nonzero().squeeze(1)
        if candidates.numel() >= n_keep:
            return candidates[flat[candidates].topk(n_keep, sorted=False).indices]
        fraction *= 4
    return flat.topk(n_keep, sorted=False).indices


def _sampled_dot(index: SparseIndex, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """out[e] = ⟨left[rows[e]], right[cols[e]]⟩ for every kept entry, without a dense (B, F) product."""
    if left.dtype in (torch.float32, torch.float64):
        pattern = torch.sparse_csr_tensor(
            index.row_ptr,
            index.cols,
            torch.ones_like(index.rows, dtype=left.dtype),
            (index.n_rows, index.n_cols),
            check_invariants=False,
        )
        return torch.sparse.sampled_addmm(pattern, left, right.t(), beta=0.0).values()
    out = torch.empty(index.rows.numel(), dtype=left.dtype, device=left.device)
    for start in range(0, out.numel(), 8192):
        part = slice(start, start + 8192)
        out[part] = (left[index.rows[part]] * right[index.cols[part]]).sum(-1)
    return out


def _column_sums(index: SparseIndex, weights: torch.Tensor, rows_matrix: torch.Tensor) -> torch.Tensor:
    """(F, D) matrix whose row j is Σ_{e in column j} weights[e] · rows_matrix[rows[e]] (a sparse Aᵀ·X)."""
    perm = index.by_col
    return F.embedding_bag(
        index.rows[perm],
        rows_matrix,
        index.col_ptr,
        mode="sum",
        per_sample_weights=weights[perm],
        include_last_offset=True,
    )


class _GatherPreacts(torch.autograd.Function):
    """values[e] = ReLU(x W + b)[rows[e], cols[e]], given those values computed without grad; sparse backward."""

    @staticmethod
    def forward(ctx, values, x_flat, w_enc_flat, b_enc, *index):  # noqa: ANN001, ANN205
        ctx.index = SparseIndex(*index)
        ctx.save_for_backward(values, x_flat)
        return values.clone()

    @staticmethod
    def backward(ctx, grad_values):  # noqa: ANN001, ANN205
        values, x_flat = ctx.saved_tensors
        grad = grad_values * (values > 0)
        grad_w = _column_sums(ctx.index, grad.to(x_flat.dtype), x_flat).t()
        grad_b = torch.zeros(ctx.index.n_cols, dtype=grad.dtype, device=grad.device).index_add_(
            0, ctx.index.cols, grad
        )
        return (None, None, grad_w, grad_b, *([None] * len(SparseIndex._fields)))


class _SparseDecode(torch.autograd.Function):
    """out[b] = Σ_{e in row b} values[e] · W[cols[e]] (no bias), with sparse forward and backward."""

    @staticmethod
    def forward(ctx, values, w_flat, *index):  # noqa: ANN001, ANN205
        index = SparseIndex(*index)
        ctx.index = index
        ctx.save_for_backward(values, w_flat)
        return F.embedding_bag(
            index.cols, w_flat, index.row_ptr, mode="sum", per_sample_weights=values, include_last_offset=True
        )

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001, ANN205
        values, w_flat = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_values = _sampled_dot(ctx.index, grad_out, w_flat) if ctx.needs_input_grad[0] else None
        grad_w = _column_sums(ctx.index, values, grad_out) if ctx.needs_input_grad[1] else None
        return (grad_values, grad_w, *([None] * len(SparseIndex._fields)))


def sparse_decode(values: torch.Tensor, w_dec_flat: torch.Tensor, index: SparseIndex) -> torch.Tensor:
    """(B, M·d) reconstruction without bias from kept entries; differentiable in values and W_dec."""
    return _SparseDecode.apply(values, w_dec_flat, *index)


def gather_preacts(
    values: torch.Tensor,
    x_flat: torch.Tensor,
    w_enc_flat: torch.Tensor,
    b_enc: torch.Tensor,
    index: SparseIndex,
) -> torch.Tensor:
    """Attach the encoder's (sparse) gradient to pre-activation values gathered at ``index``."""
    return _GatherPreacts.apply(values, x_flat, w_enc_flat, b_enc, *index)
