"""Mixed precision: whether bf16 autocast is on for a device, shared by the harvest and the crosscoder's training.

``autocast`` settings are ``True`` (on, on any device: CPU autocast exists too, and the tests use it to check the
same code that runs on a GPU), ``False`` (off) or ``None`` (auto: on for a CUDA device that supports bf16, off
everywhere else; on this project's CPU bf16 products are slower than float32). Reference: docs/config.md.
"""

from __future__ import annotations

import contextlib

import torch


def autocast_enabled(setting: bool | None, device: str | torch.device) -> bool:
    """Whether bf16 autocast runs on ``device`` for the setting ``True`` / ``False`` / ``None`` (auto)."""
    if setting is not None:
        return bool(setting)
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def bf16_autocast(enabled: bool, device: str | torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bf16 on ``device``'s type when ``enabled``, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def precision_label(dtype: str, autocast: bool) -> str:
    """How a forward pass computed, as recorded in a cache index: the weights' dtype, with ``+bf16-autocast`` when
    autocast was on (so that a resume never mixes the two)."""
    return f"{dtype}+bf16-autocast" if autocast else dtype
