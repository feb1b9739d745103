"""Where a model comes from: :class:`ModelSpec` (hub id, local dir, GGUF file, packaged weights, base + LoRA)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdiff_eval.config.keys import reject_unknown_keys
from llmdiff_eval.errors import ConfigError

PACKAGED_PREFIX = "packaged:"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
"""A Hugging Face repo id, ``org/name``."""


@dataclass
class ModelSpec:
    """Where one model comes from.

    Attributes:
        name: short slug used in the run directory (``activations/<name>/``), e.g. ``"base"``, ``"a"``.
        path: hub id, local directory, path to a ``.gguf`` file, or ``"packaged:smollm2"`` /
            ``"packaged:gemma3-270m"``.
        gguf_file: GGUF file name inside ``path`` (a directory or hub id); not needed when ``path`` is the file.
        adapter: peft LoRA adapter directory (or hub id) applied on top of ``path``.
        merge_adapter: merge the adapter into the weights (default) or keep the ``PeftModel`` wrapper.
        revision: hub revision (branch, tag or commit) of ``path``.
        tokenizer: where to load the tokenizer from, if not from the model itself (default: the adapter
            directory when it holds a tokenizer, else ``path``).
        trust_remote_code: allow custom modelling code from the hub. Off by default: only turn on for
            sources you trust.
    """

    name: str
    path: str
    gguf_file: str | None = None
    adapter: str | None = None
    merge_adapter: bool = True
    revision: str | None = None
    tokenizer: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if not self.name or not str(self.name).strip():
            raise ValueError("ModelSpec.name must be a non-empty slug such as 'base' or 'ft'")
        if not self.path or not str(self.path).strip():
            raise ValueError(
                f"ModelSpec {self.name!r}: path is empty; give a hub id, local dir or .gguf file"
            )
        self.path = str(self.path)

    @property
    def hub_id(self) -> str | None:
        """The Hugging Face repo id this model *is* — ``path`` when it is one (``org/name``, not an existing local
        path) and no adapter changes it — else None (for model-card metadata)."""
        if self.adapter or not HUB_ID.match(self.path) or Path(self.path).exists():
            return None
        return self.path

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-serialisable dict (all fields)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the valid ones."""
        reject_unknown_keys(cls, data, "unknown ModelSpec key(s)", ConfigError)
        return cls(**data)
