"""Sparse kernels of the crosscoder's training step: batch top-k selection, and autograd functions that run the
decoder and the encoder's backward pass on the kept (row, latent, value) triples only. Cost model: docs/train.md."""

from __future__ import annotations

import math
import time
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
        grad = (grad_values * (values > 0)).to(x_flat.dtype)  # under autocast the values are bf16
        grad_w = _column_sums(ctx.index, grad, x_flat).t()
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


def compute_dtype(weight: torch.Tensor) -> torch.dtype:
    """The dtype a product with ``weight`` runs in: autocast's (bf16) when autocast is on for its device, else
    its own."""
    device_type = weight.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return weight.dtype


def sparse_decode(values: torch.Tensor, w_dec_flat: torch.Tensor, index: SparseIndex) -> torch.Tensor:
    """(B, M·d) reconstruction without bias from kept entries; differentiable in values and W_dec. Under
    autocast both are cast to its dtype first (the casts carry the gradients back to the parameters' dtype), as
    autocast does for a matmul."""
    dtype = compute_dtype(w_dec_flat)
    return _SparseDecode.apply(values.to(dtype), w_dec_flat.to(dtype), *index)


def dense_decode(values: torch.Tensor, w_dec_flat: torch.Tensor, index: SparseIndex) -> torch.Tensor:
    """The same reconstruction as :func:`sparse_decode` through a dense (B, F) activation matrix and one matmul:
    2·B·F·M·d FLOPs instead of 2·k·B·M·d, but a single large kernel (faster on some GPUs; see :func:`choose_decode`)."""
    acts = values.new_zeros(index.n_rows, index.n_cols).index_put((index.rows, index.cols), values)
    return acts @ w_dec_flat


DECODES = {"sparse": sparse_decode, "dense": dense_decode}
"""The training step's decoders by name (``crosscoder.decode``); both compute the same loss and gradients."""


def time_decodes(
    n_rows: int, n_latents: int, width: int, k: float, device: str | torch.device, repeats: int = 3
) -> dict[str, float]:
    """Seconds per decode forward + backward of each of :data:`DECODES` at the given shapes (B rows, F latents,
    M·d width, k kept per row on average) on ``device``, float32, under autocast when it is on: the fastest of
    ``repeats`` after a warm-up, synchronizing CUDA. Random inputs, seeded."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    n_keep = min(int(k * n_rows), n_rows * n_latents)
    flat = torch.randperm(n_rows * n_latents, generator=generator)[:n_keep].to(device)
    index = SparseIndex.from_flat(flat, n_rows, n_latents)
    weight = torch.randn(n_latents, width, generator=generator).to(device).requires_grad_()
    values = torch.rand(n_keep, generator=generator).to(device).requires_grad_()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    seconds: dict[str, float] = {}
    for name, decode in DECODES.items():
        best = math.inf
        for attempt in range(repeats + 1):
            synchronize()
            started = time.perf_counter()
            decode(values, weight, index).square().sum().backward()
            synchronize()
            if attempt:  # the first is the warm-up
                best = min(best, time.perf_counter() - started)
            weight.grad = values.grad = None
        seconds[name] = best
    return seconds


def choose_decode(
    requested: str, n_rows: int, n_latents: int, width: int, k: float, device: str | torch.device
) -> tuple[str, dict[str, float] | None]:
    """The decoder the training step uses, and the micro-benchmark behind the choice (None when not measured).

    ``"sparse"`` or ``"dense"`` are taken as given. ``"auto"``: the sparse decode on the CPU (measured 2.4–4.8×
    faster per step at the presets' shapes, benchmarks/README.md "Crosscoder training"); on any other device the
    faster of the two by :func:`time_decodes` at the run's shapes.
    """
    if requested in DECODES:
        return requested, None
    if requested != "auto":
        raise ValueError(f"decode must be 'auto', 'sparse' or 'dense', got {requested!r}")
    if torch.device(device).type == "cpu":
        return "sparse", None
    seconds = time_decodes(n_rows, n_latents, width, k, device)
    return min(seconds, key=seconds.__getitem__), seconds


def gather_preacts(
    values: torch.Tensor,
    x_flat: torch.Tensor,
    w_enc_flat: torch.Tensor,
    b_enc: torch.Tensor,
    index: SparseIndex,
) -> torch.Tensor:
    """Attach the encoder's (sparse) gradient to pre-activation values gathered at ``index``."""
    return _GatherPreacts.apply(values, x_flat, w_enc_flat, b_enc, *index)
