"""Exceptions raised by the arena package; each message says what to do next."""

from __future__ import annotations

from llmdiff_eval.errors import LlmdiffError


class ArenaError(LlmdiffError, RuntimeError):
    """Arena ratings could not be fetched or interpreted."""


def nearest_hint(nearest: list[str]) -> str:
    """``'a', 'b'`` for the names an error suggests instead, or ``(no similar names)``."""
    return ", ".join(repr(name) for name in nearest) if nearest else "(no similar names)"


class ArenaModelNotFound(ArenaError, LookupError):
    """A requested model is not on the leaderboard snapshot (neither exactly nor through the alias table).

    ``model`` is the name as requested, ``nearest`` the closest leaderboard names (best first).
    """

    def __init__(self, model: str, nearest: list[str], where: str) -> None:
        self.model = model
        self.nearest = list(nearest)
        hint = nearest_hint(self.nearest)
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


# --------------------------------------------------------------------------------------------------------------
# Ratings recomputed from battles (battles.py, ratings.py)
# --------------------------------------------------------------------------------------------------------------


class BattleSourceError(ArenaError):
    """The battle file, directory or Hugging Face dataset could not be read."""


class BattleColumnMissing(ArenaError, KeyError):
    """The battles lack a column that the requested fit needs (``column``), e.g. ``language`` for ``german``."""

    def __init__(self, column: str, needed_for: str, found: list[str], hint: str = "") -> None:
        self.column, self.needed_for, self.found = column, needed_for, list(found)
        super().__init__(
            f"the battles have no {column!r} column, which {needed_for} needs; columns found: "
            f"{', '.join(self.found) or '(none)'}.{(' ' + hint) if hint else ''}"
        )

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class MalformedBattles(ArenaError, ValueError):
    """``strict=True`` and some rows could not be used (``counts``: reason -> rows)."""

    def __init__(self, message: str, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        super().__init__(message)


class MalformedBattlesWarning(UserWarning):
    """Rows of the battle table were left out (unreadable winner, model names, style metadata, timestamp); the
    message and the provenance say how many and why."""


class EmptyBattleSelection(ArenaError, LookupError):
    """A category or filter selects no battles."""


class BattleFilterError(ArenaError, ValueError):
    """A ``where`` expression or a date window cannot be evaluated on the battles."""


class ModelWithoutBattles(ArenaError, LookupError):
    """A requested model has no battles (after the filters); ``nearest`` are the closest model names that have."""

    def __init__(self, model: str, nearest: list[str], where: str) -> None:
        self.model = model
        self.nearest = list(nearest)
        hint = nearest_hint(self.nearest)
        super().__init__(
            f"model {model!r} has no battles in {where}. Models with similar names that have battles: {hint}. "
            "Pass one of them (or an alias from llmdiff_eval/arena/aliases.yaml), or widen the filters."
        )


class DisconnectedBattles(ArenaError, ValueError):
    """The battles split the models into groups that never met: ratings across groups are not comparable."""


class BattleSelectionWarning(UserWarning):
    """With ``categories="all"`` a category was skipped (no battles, or the input lacks its field), or a requested
    model has no battles in one category (it gets no row there)."""
