"""Arena-from-battles settings: :class:`ArenaBattlesConfig` (``scorecard.arena_battles``), the battle data the
scorecard fits LMArena ratings from instead of fetching the published ones."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmdiff_eval.errors import ConfigError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class ArenaBattlesConfig:
    """Where the battles are and which slice to fit (``llmdiff_eval.arena.fit_arena``'s arguments).

    path: a battle file or directory (relative to the working directory) or a Hugging Face dataset id.
    categories: public category names, or ``["all"]`` (every category the data can compute). where / name: one
    more category from a pandas expression over the battle columns, and its name. since / until: UTC date window
    (``YYYY-MM-DD``, inclusive). exclude_refusals: leave out battles flagged ``is_refusal``. style_control: also
    fit the style-controlled ratings (needed for Δ_style and the style share). bootstrap: rounds for the
    intervals (0: none, so every agreement is inconclusive). seed: of the bootstrap.
    """

    path: str
    categories: list[str] = field(default_factory=lambda: ["all"])
    where: str | None = None
    name: str | None = None
    since: str | None = None
    until: str | None = None
    exclude_refusals: bool = False
    style_control: bool = True
    bootstrap: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.path.strip():
            raise ConfigError(
                "scorecard.arena_battles.path is empty: give a battle file, directory or dataset id"
            )
        if self.bootstrap < 0:
            raise ConfigError(f"scorecard.arena_battles.bootstrap must be >= 0 rounds, got {self.bootstrap}")
        for key in ("since", "until"):
            value = getattr(self, key)
            if value is not None and not _DATE.match(value):
                raise ConfigError(f"scorecard.arena_battles.{key} must be a date YYYY-MM-DD, got {value!r}")
        if not self.categories and not self.where:
            raise ConfigError("scorecard.arena_battles: list categories, or give a where expression")
