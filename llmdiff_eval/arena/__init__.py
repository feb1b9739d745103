"""LMArena ratings per category, with and without style control, from the official dataset (with fallbacks).

``fetch_arena(models, date=None, categories=None, source="auto")`` returns one row per
(model, category, style_control); ``compare_arena(df, a, b)`` lays two models side by side like the paper's Table 1.
"""

from llmdiff_eval.arena.categories import CANONICAL_CATEGORIES, canonical_category, display_name
from llmdiff_eval.arena.compare import COMPARE_COLUMNS, compare_arena
from llmdiff_eval.arena.errors import ArenaCategoryNotFound, ArenaError, ArenaModelNotFound, SourceUnavailable
from llmdiff_eval.arena.fetch import SOURCES, ArenaFallbackWarning, fetch_arena
from llmdiff_eval.arena.http import RetryPolicy
from llmdiff_eval.arena.models import normalize_model_name, resolve_model
from llmdiff_eval.arena.records import COLUMNS
from llmdiff_eval.arena.store import load_arena, save_arena

__all__ = [
    "CANONICAL_CATEGORIES",
    "COLUMNS",
    "COMPARE_COLUMNS",
    "SOURCES",
    "ArenaCategoryNotFound",
    "ArenaError",
    "ArenaFallbackWarning",
    "ArenaModelNotFound",
    "RetryPolicy",
    "SourceUnavailable",
    "canonical_category",
    "compare_arena",
    "display_name",
    "fetch_arena",
    "load_arena",
    "normalize_model_name",
    "resolve_model",
    "save_arena",
]
