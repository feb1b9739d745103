"""Forward passes with an edited residual stream after decoder block L (0-based, the harvest's layer).

Two ways to run a causal LM with block L's output replaced, both exact:

* :func:`edited_layer_output` — a forward hook on block L that returns ``edit(output)``; the model runs every block as
  usual. Used for generation (where block L has to run anyway to give the crosscoder its input) and as the
  reference the fast path is tested against.
* :func:`logits_from_layer` — *only the blocks above L*: blocks ``0..L-1`` are bypassed for the call (their
  ``forward`` returns its input unchanged) and block L returns the given states, so the model's own forward still
  embeds the tokens, builds the attention masks, rotary embeddings and position ids exactly as in a full forward,
  and blocks ``L+1..`` see exactly what a full forward with the hook would give them. Nothing is re-implemented per
  architecture. The residual after block L at position t depends only on positions ≤ t, so states computed once
  (:func:`~llmdiff_eval.harvest.residual_at_layer`, which stops after block L) and then edited give the same logits
  as a full forward with the edit hooked in. :func:`check_logits_from_layer` verifies it on each loaded model
  before it is used (a decoder loop that post-processed block outputs would fail it, and the stage stops).

Reference: docs/causal.md.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator

import torch

from llmdiff_eval.errors import CausalError
from llmdiff_eval.harvest import residual_at_layer
from llmdiff_eval.models import decoder_layers

Edit = Callable[[torch.Tensor], torch.Tensor]
"""Maps block L's output ``(batch, seq, d_model)`` to the states the blocks above L receive."""


def _block_output(output):
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def edited_layer_output(model, layer: int, edit: Edit | None) -> Iterator[None]:
    """Within the block, every forward of ``model`` passes block ``layer``'s output through ``edit`` (None: no
    hook at all, the model is untouched)."""
    if edit is None:
        yield
        return

    def hook(_module, _args, output):
        edited = edit(_block_output(output))
        return (edited, *output[1:]) if isinstance(output, tuple) else edited

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def _entered_above(model, layer: int, states: torch.Tensor) -> Iterator[None]:
    """Bypass blocks ``0..layer-1`` and make block ``layer`` return ``states`` for the calls inside the block.

    Instance attributes shadow the class's ``forward`` (``nn.Module.__call__`` looks ``self.forward`` up); any
    instance-level ``forward`` already there (e.g. an offloading wrapper) is put back afterwards."""
    blocks = list(decoder_layers(model))[: layer + 1]
    saved = [block.__dict__.get("forward") for block in blocks]

    def passthrough(hidden_states, *_args, **_kwargs):
        return hidden_states

    def inject(*_args, **_kwargs):
        return states

    for block in blocks[:-1]:
        block.forward = passthrough
    blocks[-1].forward = inject
    try:
        yield
    finally:
        for block, previous in zip(blocks, saved, strict=True):
            del block.forward
            if previous is not None:
                block.forward = previous


def logits_from_layer(
    model,
    layer: int,
    states: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    keep_from: int = 0,
) -> torch.Tensor:
    """Next-token logits ``(batch, seq − keep_from, vocab)`` of ``model`` at positions ``keep_from..`` when the
    residual after block ``layer`` is ``states`` ``(batch, seq, d_model)``: only the blocks above ``layer``, the final
    norm and the LM head run (the head only at the kept positions, when the model's forward takes
    ``logits_to_keep``; otherwise at all of them, and the first ``keep_from`` are dropped).

    ``input_ids`` and ``attention_mask`` are those the states were computed from (they give the masks and
    positions; the token embeddings are computed but unused)."""
    if states.shape[:2] != input_ids.shape:
        raise ValueError(f"states {tuple(states.shape)} do not match input_ids {tuple(input_ids.shape)}")
    width = input_ids.shape[1]
    trimmed = keep_from > 0 and "logits_to_keep" in inspect.signature(model.forward).parameters
    kwargs = {"logits_to_keep": width - keep_from} if trimmed else {}
    with _entered_above(model, layer, states), torch.inference_mode():
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs).logits
    return logits if trimmed else logits[:, keep_from:]


def full_logits(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, layer: int, edit: Edit | None = None
) -> torch.Tensor:
    """Logits of a full forward of ``model`` with ``edit`` hooked in after block ``layer`` (the reference path)."""
    with edited_layer_output(model, layer, edit), torch.inference_mode():
        return model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def check_logits_from_layer(model, layer: int, input_ids: torch.Tensor, name: str = "model") -> None:
    """Raise :class:`CausalError` unless :func:`logits_from_layer` from the states of
    :func:`~llmdiff_eval.harvest.residual_at_layer` reproduces a full forward's logits on ``input_ids`` (1, n).

    Tolerance: 1e-4 of the logits' scale (the same computation, so in practice the two are equal)."""
    mask = torch.ones_like(input_ids)
    states = residual_at_layer(model, layer, input_ids, mask)
    fast = logits_from_layer(model, layer, states, input_ids, mask).float()
    full = full_logits(model, input_ids, mask, layer).float()
    scale = full.abs().max().clamp_min(1.0)
    if not torch.allclose(fast, full, rtol=0.0, atol=1e-4 * float(scale)):
        worst = float((fast - full).abs().max())
        raise CausalError(
            f"{name}: running only the blocks above layer {layer} does not reproduce its full forward (largest "
            f"logit difference {worst:.3g}); this architecture's decoder loop changes block outputs between blocks, "
            "so the causal stage cannot start it at layer L+1. Please report it with the model's architecture."
        )
