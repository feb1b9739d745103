"""LMArena ratings per category, with and without style control: fetched from the official dataset (with
fallbacks), or recomputed from the public battle data for any slice, with bootstrap intervals.

``fetch_arena(models, date=None, categories=None, source="auto")`` returns one row per
(model, category, style_control); ``fit_arena(battles, models, categories, where=..., style_control=True)`` returns
the same columns plus the style coefficients, fitted from battles (``load_battles``); ``compare_arena(df, a, b)``
lays two models side by side like the paper's Table 1, with the interval of each delta.
"""

from llmdiff_eval.arena.battles import (
    STYLE_FEATURES,
    BattleFilter,
    BattleTable,
    battles_from_frame,
    load_battles,
)
from llmdiff_eval.arena.bradley_terry import DEFAULT_ANCHOR, DEFAULT_RIDGE
from llmdiff_eval.arena.categories import CANONICAL_CATEGORIES, canonical_category, display_name
from llmdiff_eval.arena.compare import COMPARE_COLUMNS, compare_arena
from llmdiff_eval.arena.errors import (
    ArenaCategoryNotFound,
    ArenaError,
    ArenaModelNotFound,
    BattleColumnMissing,
    BattleFilterError,
    BattleSelectionWarning,
    BattleSourceError,
    DisconnectedBattles,
    EmptyBattleSelection,
    MalformedBattles,
    MalformedBattlesWarning,
    ModelWithoutBattles,
    SourceUnavailable,
)
from llmdiff_eval.arena.fetch import SOURCES, ArenaFallbackWarning, fetch_arena
from llmdiff_eval.arena.http import RetryPolicy
from llmdiff_eval.arena.models import normalize_model_name, resolve_model
from llmdiff_eval.arena.ratings import (
    PAIRWISE_COLUMNS,
    STYLE_COLUMNS,
    fit_arena,
    pairwise_table,
    style_coefficient_table,
)
from llmdiff_eval.arena.records import COLUMNS
from llmdiff_eval.arena.store import load_arena, load_ratings, save_arena, save_ratings

__all__ = [
    "CANONICAL_CATEGORIES",
    "COLUMNS",
    "COMPARE_COLUMNS",
    "DEFAULT_ANCHOR",
    "DEFAULT_RIDGE",
    "PAIRWISE_COLUMNS",
    "SOURCES",
    "STYLE_COLUMNS",
    "STYLE_FEATURES",
    "ArenaCategoryNotFound",
    "ArenaError",
    "ArenaFallbackWarning",
    "ArenaModelNotFound",
    "BattleColumnMissing",
    "BattleFilter",
    "BattleFilterError",
    "BattleSelectionWarning",
    "BattleSourceError",
    "BattleTable",
    "DisconnectedBattles",
    "EmptyBattleSelection",
    "MalformedBattles",
    "MalformedBattlesWarning",
    "ModelWithoutBattles",
    "RetryPolicy",
    "SourceUnavailable",
    "battles_from_frame",
    "canonical_category",
    "compare_arena",
    "display_name",
    "fetch_arena",
    "fit_arena",
    "load_arena",
    "load_battles",
    "load_ratings",
    "normalize_model_name",
    "pairwise_table",
    "resolve_model",
    "save_arena",
    "save_ratings",
    "style_coefficient_table",
]
