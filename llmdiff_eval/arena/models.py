"""Match user model names (hub ids, leaderboard names) to the names a leaderboard snapshot uses.

Rules, in order: exact match ignoring case and any ``org/`` prefix; then the alias table
(``llmdiff_eval/arena/aliases.yaml``). Anything else is an :class:`ArenaModelNotFound` error listing the nearest
leaderboard names — never a silent guess.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from importlib import resources

import yaml

from llmdiff_eval.arena.errors import ArenaError, ArenaModelNotFound


def normalize_model_name(name: str) -> str:
    """Lower-case ``name`` and strip an ``org/`` prefix: ``princeton-nlp/Gemma-2-9b-it-SimPO`` -> ``gemma-2-9b-it-simpo``."""
    return name.strip().rsplit("/", 1)[-1].strip().lower()


@functools.lru_cache(maxsize=1)
def load_aliases() -> dict[str, str]:
    """The bundled alias table as ``{lower-cased alias: leaderboard name}``."""
    text = (resources.files("llmdiff_eval.arena") / "aliases.yaml").read_text(encoding="utf-8")
    table = yaml.safe_load(text) or {}
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise ArenaError(
            "llmdiff_eval/arena/aliases.yaml must map names (strings) to leaderboard names (strings)"
        )
    return {key.strip().lower(): value.strip() for key, value in table.items()}


def _alias_target(name: str, aliases: dict[str, str]) -> str | None:
    key = name.strip().lower()
    if key in aliases:
        return aliases[key]
    short = normalize_model_name(name)
    for alias, target in aliases.items():
        if "/" not in alias and alias == short:
            return target
    return None


def nearest_names(name: str, available: Iterable[str], n: int = 5) -> list[str]:
    """Up to ``n`` leaderboard names closest to ``name`` (difflib ratio on normalized names), best first."""
    by_norm = {normalize_model_name(candidate): candidate for candidate in available}
    close = difflib.get_close_matches(normalize_model_name(name), list(by_norm), n=n, cutoff=0.4)
    return [by_norm[match] for match in close]


def find_model(name: str, available: Iterable[str], aliases: dict[str, str] | None = None) -> str | None:
    """The leaderboard name in ``available`` that ``name`` refers to (exact, then alias), or None."""
    try:
        return resolve_model(name, available, aliases=aliases)
    except ArenaModelNotFound:
        return None


def resolve_model(
    name: str, available: Iterable[str], where: str = "", aliases: dict[str, str] | None = None
) -> str:
    """Return the leaderboard name in ``available`` that ``name`` refers to.

    ``where`` names the snapshot (source and date) for the error message. Raises :class:`ArenaModelNotFound`.
    """
    available = sorted(set(available))
    by_norm: dict[str, list[str]] = {}
    for candidate in available:
        by_norm.setdefault(normalize_model_name(candidate), []).append(candidate)

    def lookup(query: str) -> str | None:
        matches = by_norm.get(normalize_model_name(query), [])
        if len(matches) > 1:
            raise ArenaError(
                f"model {name!r} matches several leaderboard names {matches}; pass one of them exactly"
            )
        return matches[0] if matches else None

    found = lookup(name)
    if found is not None:
        return found
    target = _alias_target(name, load_aliases() if aliases is None else aliases)
    if target is not None:
        found = lookup(target)
        if found is not None:
            return found
    raise ArenaModelNotFound(name, nearest_names(name, available), where)
