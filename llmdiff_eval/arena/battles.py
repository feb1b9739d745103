"""LMArena battle tables: read the public vote datasets, validate and normalize them, and select categories.

Input layouts (columns matched by name, others ignored; the conversations are never read):

* ``lmarena-ai/arena-human-preference-100k`` / ``-140k``: ``model_a, model_b, winner`` and, when present,
  ``language, turn, anony, tstamp`` (or ``timestamp``), ``is_code, is_refusal, category_tag, conv_metadata``.
  ``winner`` is ``model_a``, ``model_b``, ``tie`` or ``tie (bothbad)`` (``both_bad`` in the 140k release; case,
  spaces and punctuation are ignored). ``category_tag`` and ``conv_metadata`` are nested mappings (Parquet structs)
  or JSON strings. ``language`` may be a name (``German``) or an ISO code (``de``).
* ``lmarena-ai/arena-human-preference-55k`` (CSV): ``model_a, model_b`` and the 0/1 flags ``winner_model_a,
  winner_model_b, winner_tie`` (exactly one set); no metadata, so only the overall category, without style control.

Sources: a ``.parquet`` / ``.jsonl`` / ``.json`` / ``.csv`` file, a directory of such files (read in name order), or
a Hugging Face dataset id (``lmarena-ai/arena-human-preference-140k``, streamed through ``datasets``).

Rows whose model names or winner cannot be read are left out, counted by reason in ``provenance["malformed"]`` and
reported with a :class:`MalformedBattlesWarning` (``strict=True`` raises :class:`MalformedBattles` instead). A row
whose style metadata or timestamp is unreadable stays in the table with NaN there; a fit that needs that field
leaves it out and reports it (:mod:`llmdiff_eval.arena.ratings`).

The normalized table (:attr:`BattleTable.frame`), one row per battle, is also the namespace of ``where``
expressions: ``model_a, model_b, winner, outcome`` (A's score: 1, ½, 0), ``language`` (the 100k spelling:
``English``, ``German``, ...; unknown: ``unknown``), ``turn``, ``anony``, ``tstamp`` (seconds since the epoch),
``date`` (UTC, ``YYYY-MM-DD``), ``is_code``, ``is_refusal``, the public category flags ``hard_prompts, math,
instruction_following, creative_writing, multi_turn, longer_query``, ``hardness`` (criteria met, 0–7),
``user_tokens``, and the style counts ``<feature>_a`` / ``<feature>_b`` for the :data:`STYLE_FEATURES`.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmdiff_eval.arena.categories import CANONICAL_CATEGORIES, canonical_category
from llmdiff_eval.arena.errors import (
    BattleColumnMissing,
    BattleFilterError,
    BattleSourceError,
    EmptyBattleSelection,
    MalformedBattles,
    MalformedBattlesWarning,
)
from llmdiff_eval.arena.records import normalize_date
from llmdiff_eval.utils import local_fingerprint

WINNERS: tuple[str, ...] = ("model_a", "model_b", "tie", "tie (bothbad)")
OUTCOMES: dict[str, float] = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
"""A's score per winner: a tie (either kind) is half a win for each side, as in the public rating code."""
_WINNER_SPELLINGS = {  # winner folded to lower-case alphanumerics -> canonical
    "modela": "model_a",
    "modelb": "model_b",
    "tie": "tie",
    "tiebothbad": "tie (bothbad)",
    "bothbad": "tie (bothbad)",
}
LAYOUT_55K: tuple[str, ...] = ("winner_model_a", "winner_model_b", "winner_tie")
OPTIONAL_FIELDS: tuple[str, ...] = (
    "language",
    "turn",
    "anony",
    "tstamp",
    "is_code",
    "is_refusal",
    "category_tag",
    "conv_metadata",
)
SOURCE_COLUMNS: tuple[str, ...] = ("model_a", "model_b", "winner", *LAYOUT_55K, *OPTIONAL_FIELDS, "timestamp")
FILE_SUFFIXES: tuple[str, ...] = (".parquet", ".jsonl", ".json", ".csv")

HARD_PROMPT_CRITERIA: tuple[str, ...] = (
    "specificity",
    "domain_knowledge",
    "complexity",
    "problem_solving",
    "creativity",
    "technical_accuracy",
    "real_world",
)
HARD_PROMPT_MIN_CRITERIA = 6
"""A prompt is a hard prompt when it meets at least 6 of the 7 ``criteria_v0.1`` criteria (LMArena's definition)."""
LONGER_QUERY_MIN_USER_TOKENS = 500
"""``longer_query``: the user's turns total at least this many tokens (``conv_metadata.sum_user_tokens``)."""
_TAG_FLAGS = {  # category -> (category_tag module, flag)
    "math": ("math_v0.1", "math"),
    "instruction_following": ("if_v0.1", "if"),
    "creative_writing": ("creative_writing_v0.1", "creative_writing"),
}
LANGUAGES: dict[str, tuple[str, str]] = {  # category -> (name as the 100k release spells it, ISO 639-1 code)
    "english": ("English", "en"),
    "chinese": ("Chinese", "zh"),
    "german": ("German", "de"),
    "russian": ("Russian", "ru"),
    "french": ("French", "fr"),
    "spanish": ("Spanish", "es"),
    "japanese": ("Japanese", "ja"),
    "korean": ("Korean", "ko"),
}
CATEGORY_FIELDS: dict[str, tuple[str, ...]] = {
    "overall": (),
    "coding": ("is_code",),
    "math": ("category_tag",),
    "instruction_following": ("category_tag",),
    "creative_writing": ("category_tag",),
    "hard_prompts": ("category_tag",),
    "hard_prompts_english": ("category_tag", "language"),
    "multi_turn": ("turn",),
    "longer_query": ("conv_metadata",),
    **{language: ("language",) for language in LANGUAGES},
}
"""The source fields each public category is computed from."""

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold")
"""Style-control features, from ``conv_metadata``: assistant tokens, markdown headers (h1–h6), list items (ordered
and unordered), bold spans (``**`` and ``__``); each side's count is the sum of the sub-counts."""
_STYLE_METADATA = {
    "length": "sum_assistant_{side}_tokens",
    "headers": "header_count_{side}",
    "lists": "list_count_{side}",
    "bold": "bold_count_{side}",
}
STYLE_COUNT_COLUMNS: tuple[str, ...] = tuple(f"{f}_{side}" for f in STYLE_FEATURES for side in "ab")


@dataclass(frozen=True)
class BattleTable:
    """Normalized battles (see the module docstring for the columns) and where they came from.

    ``fields`` names the optional source fields the input had (:data:`OPTIONAL_FIELDS`); ``provenance`` holds the
    source, its fingerprint or revision, the layout, rows read, and the malformed rows left out by reason.
    """

    frame: pd.DataFrame
    fields: frozenset[str]
    provenance: dict[str, Any]


@dataclass(frozen=True)
class BattleFilter:
    """Which battles count, for every category: a date window (inclusive, UTC dates of ``tstamp``), refusals,
    anonymity (the public board uses anonymous battles only; ignored when the input has no ``anony`` column)."""

    since: str | None = None
    until: str | None = None
    exclude_refusals: bool = False
    anonymous_only: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", normalize_date(self.since))
        object.__setattr__(self, "until", normalize_date(self.until))
        if self.since and self.until and self.since > self.until:
            raise BattleFilterError(
                f"the date window is empty: since {self.since} is after until {self.until}"
            )


# --------------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------------


def load_battles(
    source: str | Path, split: str = "train", revision: str | None = None, strict: bool = False
) -> BattleTable:
    """Read and normalize battles from a file, a directory of files, or a Hugging Face dataset id.

    ``split`` / ``revision`` apply to a dataset id (streamed through ``datasets``; nothing else is downloaded).
    Malformed rows are left out and reported (:class:`MalformedBattlesWarning`); ``strict`` raises instead.
    """
    path = Path(source)
    if path.exists():
        files = _local_files(path)
        raw = pd.concat([_read_file(file) for file in files], ignore_index=True)
        info = {
            "source": str(path),
            "kind": "directory" if path.is_dir() else "file",
            "files": [file.name for file in files],
            "fingerprint": local_fingerprint(path),
        }
    elif path.suffix.lower() in FILE_SUFFIXES or not re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
        raise BattleSourceError(
            f"{source} does not exist; pass a battle file ({', '.join(FILE_SUFFIXES)}), a directory of them, "
            "or a Hugging Face dataset id such as lmarena-ai/arena-human-preference-140k"
        )
    else:
        raw = _read_hub(str(source), split, revision)
        info = {"source": str(source), "kind": "huggingface", "split": split, "revision": revision or "main"}
    return battles_from_frame(raw, info, strict=strict)


def _local_files(path: Path) -> list[Path]:
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES) if path.is_dir() else [path]
    )
    unsupported = [p for p in files if p.suffix.lower() not in FILE_SUFFIXES]
    if not files or unsupported:
        raise BattleSourceError(
            f"{path}: no battle files to read ({', '.join(FILE_SUFFIXES)})"
            + (f"; unsupported: {', '.join(p.name for p in unsupported)}" if unsupported else "")
        )
    return files


def _read_file(path: Path) -> pd.DataFrame:
    """The :data:`SOURCE_COLUMNS` of one file (nested values as dicts or JSON strings)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.ParquetFile(path).schema_arrow.names
            return pq.read_table(path, columns=[c for c in names if c in SOURCE_COLUMNS]).to_pandas()
        if suffix == ".csv":
            return pd.read_csv(path, usecols=lambda column: column in SOURCE_COLUMNS, low_memory=False)
        if suffix == ".json":
            return _source_columns(pd.read_json(path, dtype=False))
        chunks = pd.read_json(path, lines=True, chunksize=50_000, dtype=False)
        return pd.concat([_source_columns(chunk) for chunk in chunks], ignore_index=True)
    except (OSError, ValueError) as error:
        raise BattleSourceError(f"cannot read battles from {path}: {error}") from error


def _source_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if c in SOURCE_COLUMNS]]


def _read_hub(dataset: str, split: str, revision: str | None) -> pd.DataFrame:
    """Stream ``dataset``'s :data:`SOURCE_COLUMNS` from the Hugging Face Hub (or a local dataset directory)."""
    import datasets  # heavy: imported only for this source

    try:
        stream = datasets.load_dataset(dataset, split=split, streaming=True, revision=revision)
        if stream.column_names is not None:
            stream = stream.select_columns([c for c in stream.column_names if c in SOURCE_COLUMNS])
        batches = [_source_columns(pd.DataFrame(batch)) for batch in stream.iter(batch_size=20_000)]
    except (
        Exception
    ) as error:  # network, auth, missing split, bad files: all mean "this source did not answer"
        raise BattleSourceError(
            f"cannot stream battles from the Hugging Face dataset {dataset!r} (split {split!r}, revision "
            f"{revision or 'main'}): {type(error).__name__}: {error}. Check the id and split, or download the "
            "files and pass their directory."
        ) from error
    return pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(columns=["model_a", "model_b"])


# --------------------------------------------------------------------------------------------------------------
# Normalizing
# --------------------------------------------------------------------------------------------------------------


def battles_from_frame(
    raw: pd.DataFrame, source_info: dict[str, Any] | None = None, strict: bool = False
) -> BattleTable:
    """Normalize a battle table already in memory (columns as in the public datasets); see :func:`load_battles`."""
    raw = raw.rename(columns={"timestamp": "tstamp"}) if "tstamp" not in raw.columns else raw
    raw = raw.reset_index(drop=True)
    info: dict[str, Any] = {**(source_info or {"source": "in-memory table", "kind": "frame"})}
    winner, malformed, unknown, layout = _winners(raw)
    model_a, model_b = _model_name(raw["model_a"]), _model_name(raw["model_b"])
    no_name = (model_a.isna() | model_b.isna()).to_numpy()
    same = (model_a == model_b).fillna(False).to_numpy(dtype=bool)
    reasons = malformed.copy()
    reasons[(reasons == "").to_numpy() & no_name] = "model name missing"
    reasons[(reasons == "").to_numpy() & ~no_name & same] = "model_a equals model_b"
    keep = (reasons == "").to_numpy()
    counts = {reason: int(n) for reason, n in reasons[~keep].value_counts().items()}
    fields = frozenset(field for field in OPTIONAL_FIELDS if field in raw.columns)
    frame = pd.DataFrame(
        {
            "model_a": model_a.astype(object),
            "model_b": model_b.astype(object),
            "winner": winner,
            "outcome": winner.map(OUTCOMES),
        }
    )
    metadata, unreadable_tags = _metadata_columns(raw, fields)
    frame = frame.join(metadata)[keep].reset_index(drop=True)
    unreadable = {"category_tag": int(unreadable_tags[keep].sum())} if "category_tag" in fields else {}
    if "conv_metadata" in fields:
        unreadable["conv_metadata"] = int(frame[list(STYLE_COUNT_COLUMNS)].isna().any(axis=1).sum())
    if "tstamp" in fields:
        unreadable["tstamp"] = int(frame["tstamp"].isna().sum())
    info.update(
        layout=layout,
        rows_read=len(raw),
        battles=len(frame),
        malformed=counts,
        unknown_winners=dict(unknown.most_common(10)),
        unreadable_fields=unreadable,
        fields=sorted(fields),
    )
    if raw.empty:
        raise BattleSourceError(f"{info['source']} holds no battle rows")
    if counts:
        _report_malformed(counts, unknown, len(raw), strict or frame.empty)
    return BattleTable(frame, fields, info)


def _winners(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series, Counter, str]:
    """Canonical winner per row, the malformed reason per row ("" when fine), unknown spellings, the layout."""
    for column in ("model_a", "model_b"):
        if column not in raw.columns:
            raise BattleColumnMissing(column, "every battle", list(raw.columns))
    reason = pd.Series("", index=raw.index, dtype=object)
    if "winner" in raw.columns:
        text = raw["winner"].astype("string").str.strip()
        folded = text.str.lower().str.replace(r"[^a-z0-9]", "", regex=True)
        winner = folded.map(_WINNER_SPELLINGS, na_action="ignore").astype(object)
        reason[text.isna() | (text == "")] = "winner missing"
        bad = winner.isna() & (reason == "")
        reason[bad] = "unknown winner"
        return winner.where(winner.notna(), None), reason, Counter(text[bad].tolist()), "100k/140k"
    if all(column in raw.columns for column in LAYOUT_55K):
        flags = raw[list(LAYOUT_55K)].apply(pd.to_numeric, errors="coerce")
        valid = flags.isin([0, 1]).all(axis=1) & (flags.sum(axis=1) == 1)
        names = np.array(["model_a", "model_b", "tie"], dtype=object)
        winner = pd.Series(names[flags.fillna(0).to_numpy().argmax(axis=1)], index=raw.index, dtype=object)
        reason[~valid] = "winner flags not exactly one of winner_model_a / winner_model_b / winner_tie"
        return winner.where(valid, None), reason, Counter(), "55k"
    raise BattleColumnMissing(
        "winner",
        "every battle",
        list(raw.columns),
        hint="The 55k layout's winner_model_a / winner_model_b / winner_tie flags are read too.",
    )


def _model_name(values: pd.Series) -> pd.Series:
    names = values.astype("string").str.strip()
    return names.mask(names == "")


def _report_malformed(counts: dict[str, int], unknown: Counter, rows: int, strict: bool) -> None:
    """Warn about the rows left out, or raise when ``strict`` (also used when no row is usable)."""
    details = "; ".join(f"{reason}: {n}" for reason, n in counts.items())
    if unknown:
        spellings = ", ".join(f"{value!r} ({n})" for value, n in unknown.most_common(5))
        details += f" (unknown winner values: {spellings}; known: {', '.join(WINNERS)}, both_bad)"
    message = f"{sum(counts.values())} of {rows} battle rows could not be used and were left out — {details}"
    if strict:
        remedy = (
            "fix those rows"
            if sum(counts.values()) == rows
            else "fix or drop those rows, or run without strict"
        )
        raise MalformedBattles(f"{message}. {remedy[0].upper()}{remedy[1:]}.", counts)
    warnings.warn(message, MalformedBattlesWarning, stacklevel=3)


def _metadata_columns(raw: pd.DataFrame, fields: frozenset[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Language, turn, flags, category flags, timestamps and style counts (see the module docstring), and which
    rows have a ``category_tag`` that is not a mapping or JSON object."""
    n = len(raw)
    out = pd.DataFrame(index=raw.index)
    out["language"] = _languages(raw["language"]) if "language" in fields else "unknown"
    for flag in ("is_code", "is_refusal"):
        out[flag] = raw[flag].isin([True, 1]).to_numpy() if flag in fields else np.zeros(n, dtype=bool)
    out["anony"] = raw["anony"].isin([True, 1]).to_numpy() if "anony" in fields else np.ones(n, dtype=bool)
    tags, unreadable_tags = _nested(raw, "category_tag", fields)
    criteria = [_flag(tags, f"criteria_v0.1/{name}") for name in HARD_PROMPT_CRITERIA]
    out["hardness"] = np.sum(criteria, axis=0, dtype=int)
    out["hard_prompts"] = out["hardness"] >= HARD_PROMPT_MIN_CRITERIA
    for category, (module, flag) in _TAG_FLAGS.items():
        out[category] = _flag(tags, f"{module}/{flag}")
    meta, _ = _nested(raw, "conv_metadata", fields)
    turn = pd.to_numeric(raw["turn"], errors="coerce") if "turn" in fields else _number(meta, "turns")
    out["turn"] = turn.to_numpy(dtype=float)
    out["multi_turn"] = out["turn"] > 1
    out["user_tokens"] = _number(meta, "sum_user_tokens").to_numpy()
    out["longer_query"] = out["user_tokens"] >= LONGER_QUERY_MIN_USER_TOKENS
    for feature, key in _STYLE_METADATA.items():
        for side in "ab":
            out[f"{feature}_{side}"] = _count(meta, key.format(side=side)).to_numpy()
    out["tstamp"] = _timestamps(raw["tstamp"]) if "tstamp" in fields else np.nan
    days = pd.to_datetime(out["tstamp"], unit="s", utc=True, errors="coerce")
    out["date"] = days.dt.strftime("%Y-%m-%d").where(days.notna(), None).astype(object)
    return out, unreadable_tags


def _languages(values: pd.Series) -> pd.Series:
    """The 100k spelling (``German``) for names and ISO codes (``de``, ``zh-Hant``) of the public languages."""
    spelling = {}
    for name, code in LANGUAGES.values():
        spelling[name.lower()] = spelling[code] = name
    text = values.astype("string").str.strip()
    key = text.str.lower().str.split(r"[-_]", n=1, regex=True).str[0]
    named = key.map(spelling, na_action="ignore")
    return named.fillna(text.where(text.notna() & (text != ""), "unknown")).astype(object)


def _nested(raw: pd.DataFrame, column: str, fields: frozenset[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """A nested column (mappings or JSON strings) flattened to ``key/sub/...`` columns, and which rows hold a value
    that is neither (missing values are not counted: those rows simply have no flags or counts)."""
    if column not in fields:
        return pd.DataFrame(index=raw.index), np.zeros(len(raw), dtype=bool)
    records, unreadable = [], np.zeros(len(raw), dtype=bool)
    for row, value in enumerate(raw[column].tolist()):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                unreadable[row] = True
                value = None
        if isinstance(value, dict):
            records.append(value)
        else:
            unreadable[row] |= value is not None and not (isinstance(value, float) and np.isnan(value))
            records.append({})
    flat = pd.json_normalize(records, sep="/") if records else pd.DataFrame()
    return (flat.set_axis(raw.index) if len(flat.columns) else pd.DataFrame(index=raw.index)), unreadable


def _flag(table: pd.DataFrame, key: str) -> np.ndarray:
    return table[key].isin([True, 1]).to_numpy() if key in table.columns else np.zeros(len(table), dtype=bool)


def _number(table: pd.DataFrame, key: str) -> pd.Series:
    if key not in table.columns:
        return pd.Series(np.nan, index=table.index)
    values = pd.to_numeric(table[key], errors="coerce").astype(float)
    return values.where(values >= 0)


def _count(table: pd.DataFrame, key: str) -> pd.Series:
    """``key``'s count (an integer, or a mapping of sub-counts that are summed); NaN when absent or not a count."""
    columns = [c for c in table.columns if c == key or c.startswith(key + "/")]
    if not columns:
        return pd.Series(np.nan, index=table.index)
    block = table[columns]
    numeric = block.apply(lambda column: pd.to_numeric(column, errors="coerce")).astype(float)
    bad = (
        (block.notna() & numeric.isna()).any(axis=1) | (numeric < 0).any(axis=1) | numeric.isna().all(axis=1)
    )
    return numeric.sum(axis=1).mask(bad)


def _timestamps(values: pd.Series) -> np.ndarray:
    """Seconds since the epoch (UTC) from numbers, datetimes or date strings; NaN when unreadable."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
        return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    text = values.where(numeric.isna() & values.notna())
    if text.notna().any():
        parsed = pd.to_datetime(text.astype("string"), utc=True, errors="coerce", format="mixed")
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        numeric = numeric.fillna(seconds)
    return numeric.to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------------------------
# Selecting
# --------------------------------------------------------------------------------------------------------------


def public_categories(categories: str | Sequence[str] | None) -> list[str]:
    """Canonical public category names: None -> ``["overall"]``, ``"all"`` -> every public category, else the
    given names (any spelling :func:`~llmdiff_eval.arena.categories.canonical_category` knows; comma-separated
    or a list)."""
    if categories is None:
        return ["overall"]
    names = categories.split(",") if isinstance(categories, str) else list(categories)
    names = [name.strip() for name in names if name and name.strip()]
    if names == ["all"]:
        return list(CANONICAL_CATEGORIES)
    wanted = list(dict.fromkeys(canonical_category(name) for name in names))
    unknown = [name for name in wanted if name not in CATEGORY_FIELDS]
    if unknown:
        raise EmptyBattleSelection(
            f"unknown categories {unknown}; public ones: {', '.join(CANONICAL_CATEGORIES)} (or 'all'). "
            "For your own slice pass a where expression (--where) with a name (--name)."
        )
    return wanted


def filter_battles(table: BattleTable, battle_filter: BattleFilter) -> tuple[pd.DataFrame, dict[str, int]]:
    """The battles that pass ``battle_filter``, and how many each rule left out (rule -> rows)."""
    frame, excluded = table.frame, {}
    rules: list[tuple[str, str | None, Any]] = [
        ("not anonymous", "anony" if battle_filter.anonymous_only else None, lambda f: f["anony"]),
        ("refusals", "is_refusal" if battle_filter.exclude_refusals else None, lambda f: ~f["is_refusal"]),
    ]
    if battle_filter.since or battle_filter.until:
        if "tstamp" not in table.fields:
            raise BattleColumnMissing("tstamp", "a date window (since / until)", _source_names(table))
        rules.append(("no readable timestamp", "tstamp", lambda f: f["date"].notna()))
        rules.append(("before since", "tstamp", lambda f: f["date"] >= (battle_filter.since or "")))
        rules.append(("after until", "tstamp", lambda f: f["date"] <= (battle_filter.until or "9999")))
    for label, field, keep in rules:
        if field is None or (field == "anony" and field not in table.fields):
            continue
        if field not in table.fields:
            raise BattleColumnMissing(field, f"the filter '{label}'", _source_names(table))
        mask = np.asarray(keep(frame), dtype=bool)
        if (~mask).any():
            excluded[label] = int((~mask).sum())
        frame = frame[mask]
    return frame.reset_index(drop=True), excluded


def category_battles(frame: pd.DataFrame, fields: Iterable[str], category: str) -> pd.DataFrame:
    """The battles of public ``category`` (canonical name) in ``frame``; a missing source field raises."""
    missing = [field for field in CATEGORY_FIELDS[category] if field not in set(fields)]
    if missing:
        raise BattleColumnMissing(missing[0], f"category {category!r}", sorted(fields))
    if category == "overall":
        mask = np.ones(len(frame), dtype=bool)
    elif category == "coding":
        mask = frame["is_code"].to_numpy()
    elif category in LANGUAGES:
        mask = (frame["language"] == LANGUAGES[category][0]).to_numpy()
    elif category == "hard_prompts_english":
        mask = (frame["hard_prompts"] & (frame["language"] == "English")).to_numpy()
    else:
        mask = frame[category].to_numpy(dtype=bool)
    return frame[mask].reset_index(drop=True)


def where_battles(frame: pd.DataFrame, expression: str) -> pd.DataFrame:
    """The battles for which the pandas expression ``expression`` is true (namespace: the table's columns)."""
    try:
        result = frame.eval(expression, engine="python")
    except Exception as error:  # syntax errors, unknown names, type errors: all are the user's expression
        columns = ", ".join(c for c in frame.columns if c != "outcome")
        raise BattleFilterError(
            f"cannot evaluate the where expression {expression!r}: {type(error).__name__}: {error}. It is a pandas "
            f"expression over the columns {columns}; e.g. \"language == 'German' and is_code\"."
        ) from error
    if not isinstance(result, pd.Series) or len(result) != len(frame) or result.dtype != bool:
        raise BattleFilterError(
            f"the where expression {expression!r} must give true/false per battle, got {type(result).__name__}"
        )
    return frame[result.to_numpy()].reset_index(drop=True)


def style_differences(frame: pd.DataFrame) -> np.ndarray:
    """Per battle and :data:`STYLE_FEATURES` feature, ``(a − b) / (a + b)`` of the two answers' counts (0 when both
    are 0): shape (battles, features), in [−1, 1], positive when A's answer has more. NaN where a count is."""
    a = frame[[f"{feature}_a" for feature in STYLE_FEATURES]].to_numpy(dtype=float)
    b = frame[[f"{feature}_b" for feature in STYLE_FEATURES]].to_numpy(dtype=float)
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            total > 0, (a - b) / np.where(total > 0, total, 1.0), np.where(np.isnan(total), np.nan, 0.0)
        )


def _source_names(table: BattleTable) -> list[str]:
    return ["model_a", "model_b", "winner", *sorted(table.fields)]
