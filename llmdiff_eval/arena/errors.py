"""Exceptions raised by the arena package; each message says what to do next."""

from __future__ import annotations

from llmdiff_eval.errors import LlmdiffError


class ArenaError(LlmdiffError, RuntimeError):
    """Arena ratings could not be fetched or interpreted."""


class ArenaModelNotFound(ArenaError, LookupError):
    """A requested model is not on the leaderboard snapshot (neither exactly nor through the alias table).

    ``model`` is the name as requested, ``nearest`` the closest leaderboard names (best first).
    """

    def __init__(self, model: str, nearest: list[str], where: str) -> None:
        self.model = model
        self.nearest = list(nearest)
        hint = ", ".join(repr(name) for name in self.nearest) if self.nearest else "(no similar names)"
        super().__init__(
            f"model {model!r} is not on the LMArena leaderboard ({where}). Nearest leaderboard names: {hint}. "
            "Pass one of them, or add an alias to llmdiff_eval/arena/aliases.yaml."
        )


class ArenaCategoryNotFound(ArenaError, LookupError):
    """A requested category is not in the leaderboard snapshot."""

    def __init__(self, categories: list[str], available: list[str], where: str) -> None:
        self.categories = list(categories)
        self.available = list(available)
        super().__init__(
            f"categories {self.categories} are not in the LMArena snapshot ({where}); "
            f"available: {', '.join(self.available)}"
        )


class SourceUnavailable(ArenaError):
    """One source could not answer (network error, HTTP error, bad payload, no snapshot on or before the date)."""
