"""Arena category names: one canonical spelling whatever the source calls a category.

The official dataset uses ``overall, instruction_following, hard_prompts, ...``; the legacy leaderboard pickles use
``full, if, hard_6, multiturn, long_user, ...`` and mark style control with a ``_style_control`` suffix; the
arena-catalog JSON and the web page use display names (``Hard Prompts``, ``Multi-Turn``). All map to the canonical
snake_case names below.
"""

from __future__ import annotations

import re

# Canonical names of the main text-arena categories, in the order the dataset lists them.
CANONICAL_CATEGORIES: tuple[str, ...] = (
    "overall",
    "math",
    "instruction_following",
    "coding",
    "hard_prompts",
    "hard_prompts_english",
    "multi_turn",
    "creative_writing",
    "longer_query",
    "english",
    "chinese",
    "german",
    "russian",
    "french",
    "spanish",
    "japanese",
    "korean",
)

# Source spelling (already lower-cased, non-alphanumerics folded to "_") -> canonical name.
_SYNONYMS: dict[str, str] = {
    "full": "overall",
    "text": "overall",
    "default": "overall",
    "if": "instruction_following",
    "instruction_following": "instruction_following",
    "hard_6": "hard_prompts",
    "hard": "hard_prompts",
    "hard_prompts_6": "hard_prompts",
    "hard_english_6": "hard_prompts_english",
    "hard_prompts_english_6": "hard_prompts_english",
    "multiturn": "multi_turn",
    "is_multiturn": "multi_turn",
    "multi_turn": "multi_turn",
    "long_user": "longer_query",
    "longer_query": "longer_query",
    "long_query": "longer_query",
    "creative_writing_v0_1": "creative_writing",
    "math_v0_1": "math",
}

_STYLE_SUFFIX = "_style_control"

# How the paper (and the leaderboard page) print category names.
_DISPLAY: dict[str, str] = {
    "overall": "Overall",
    "instruction_following": "Instruction Following",
    "hard_prompts": "Hard Prompts",
    "hard_prompts_english": "Hard Prompts (English)",
    "multi_turn": "Multi-Turn",
    "creative_writing": "Creative Writing",
    "longer_query": "Longer Query",
}

# Row order of the paper's Table 1. Table 1 is sorted by Diff (Δ_style − Δ) ascending; rows with equal Diff keep
# this order, which is how the paper lists its ties (Chinese before Coding, Multi-Turn before German before Creative
# Writing). Categories not in the table sort after these, alphabetically.
PAPER_TABLE1_ORDER: tuple[str, ...] = (
    "math",
    "chinese",
    "coding",
    "russian",
    "hard_prompts",
    "multi_turn",
    "german",
    "creative_writing",
    "overall",
    "instruction_following",
    "english",
)


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def parse_category(name: str) -> tuple[str, bool | None]:
    """Split a source's category name into ``(canonical_name, style_control)``.

    ``style_control`` is True when the name carries the ``_style_control`` suffix (legacy pickles), else None
    (the source says elsewhere — e.g. by its dataset config — whether ratings are style-controlled).
    Unknown names are kept, folded to snake_case.
    """
    folded = _fold(name)
    style: bool | None = None
    if folded.endswith(_STYLE_SUFFIX):
        folded = folded[: -len(_STYLE_SUFFIX)]
        style = True
    return _SYNONYMS.get(folded, folded), style


def canonical_category(name: str) -> str:
    """Canonical name of a category as a user or a source spells it (``"if"`` -> ``"instruction_following"``)."""
    return parse_category(name)[0]


def display_name(category: str) -> str:
    """Human-readable name of a canonical category, as the paper prints it (``multi_turn`` -> ``Multi-Turn``)."""
    return _DISPLAY.get(category, category.replace("_", " ").title())


def paper_order_key(category: str) -> tuple[int, str]:
    """Sort key that lists categories in the paper's Table 1 order, others after them alphabetically."""
    if category in PAPER_TABLE1_ORDER:
        return PAPER_TABLE1_ORDER.index(category), category
    return len(PAPER_TABLE1_ORDER), category
