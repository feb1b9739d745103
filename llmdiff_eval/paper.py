"""``llmdiff-eval paper``: rebuild the paper's scorecard from its published numbers — a known-answer check.

The paper prints percentages, not counts. Its totals are known (gemma-2-9b-it: 112 model-specific latents,
SimPO: 89, DPO: 109), so each printed share gives back an integer count: ``round(share × total / 100)``. A count is
accepted only if it reproduces the printed share at the printed precision (and no neighbouring count does too);
otherwise :class:`PaperDataError` is raised — the data file or the totals would be wrong. The recovered counts then
go through the same functions as a real run (:func:`llmdiff_eval.scorecard.build_scorecard`), joined with the
paper's Table 3 ratings from the arena package's bundled snapshot, and every printed cell of Tables 1, 2, 4 and 5 is
compared with the recomputed value (:func:`paper_checks`).

The printed numbers live in ``llmdiff_eval/data/paper_counts.yaml`` as strings (so "23.60" keeps two decimals).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from typing import Any

import yaml

from llmdiff_eval.arena import fetch_arena
from llmdiff_eval.counts import LatentCounts, share_pct
from llmdiff_eval.errors import LlmdiffError
from llmdiff_eval.scorecard import build_scorecard
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy

COMPARISONS = ("simpo", "dpo")
CLASS_COLUMNS = ("share_a", "share_b", "diff", "change_pct")


class PaperDataError(LlmdiffError, ValueError):
    """The paper's printed numbers cannot be turned into consistent counts (a typo in the data file?)."""


@dataclass(frozen=True)
class Printed:
    """A number as printed in the paper: its text, value and number of decimals."""

    text: str
    value: float
    decimals: int

    @classmethod
    def parse(cls, text: str) -> Printed:
        cleaned = str(text).strip().rstrip("%").replace("−", "-")
        try:
            value = float(cleaned)
        except ValueError:
            raise PaperDataError(f"cannot read printed number {text!r}") from None
        decimals = len(cleaned.split(".", 1)[1]) if "." in cleaned else 0
        return cls(str(text), value, decimals)

    def matches(self, value: float | None) -> bool:
        """True when ``value`` rounds to the printed number at its printed precision (half-unit tolerance)."""
        return value is not None and abs(value - self.value) <= 0.5 * 10.0**-self.decimals + 1e-9


def load_paper_data() -> dict[str, Any]:
    """The parsed ``llmdiff_eval/data/paper_counts.yaml``."""
    text = (importlib.resources.files("llmdiff_eval.data") / "paper_counts.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def recover_count(printed: str, total: int, where: str) -> int:
    """The integer count whose share of ``total`` prints as ``printed``; :class:`PaperDataError` if none or several."""
    number = Printed.parse(printed)
    count = round(number.value * total / 100)
    candidates = [
        c for c in (count - 1, count, count + 1) if 0 <= c <= total and number.matches(share_pct(c, total))
    ]
    if len(candidates) != 1:
        found = "no count" if not candidates else f"counts {candidates}"
        raise PaperDataError(
            f"{where}: printed share {printed}% of {total} latents matches {found} at the printed precision "
            f"(round({number.value} x {total} / 100) = {count} gives {share_pct(min(max(count, 0), total), total):.4f}%)"
        )
    return candidates[0]


def paper_counts(compare: str = "simpo", data: dict | None = None, taxonomy: Taxonomy | None = None):
    """Recovered counts ``(counts_a, counts_b, category_codes)`` for one comparison of the paper.

    ``counts_*.categories`` holds only the categories the paper lists (Table 4); ``category_codes`` their order.
    """
    data = data or load_paper_data()
    taxonomy = taxonomy or load_taxonomy("paper")
    spec = _comparison(data, compare)
    totals = {key: int(data["models"][spec[key]]["total"]) for key in ("a", "b")}
    table = spec["classes"]["table"].split(":")[0]
    classes: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    for class_name, values in spec["classes"]["rows"].items():
        if class_name not in taxonomy.class_names:
            raise PaperDataError(f"{table}: class {class_name!r} is not in the paper taxonomy")
        for index, key in enumerate(("a", "b")):
            classes[key][class_name] = recover_count(values[index], totals[key], f"{table}, {class_name}")
    categories: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    codes: list[str] = []
    if spec.get("categories"):
        table = spec["categories"]["table"].split(":")[0]
        for code, entry in spec["categories"]["rows"].items():
            taxonomy.by_code(code)
            codes.append(code)
            for index, key in enumerate(("a", "b")):
                where = f"{table}, {entry['name']}"
                categories[key][code] = recover_count(entry["values"][index], totals[key], where)
    counts = {key: LatentCounts(totals[key], classes[key], categories[key]) for key in ("a", "b")}
    for key, count in counts.items():
        _check_consistent(count, taxonomy, f"{compare} / {spec[key]}")
    return counts["a"], counts["b"], codes


def paper_scorecard(compare: str = "simpo") -> dict[str, Any]:
    """The paper's scorecard (gemma-2-9b-it vs SimPO or DPO) rebuilt from recovered counts; adds ``paper_checks``."""
    data = load_paper_data()
    taxonomy = load_taxonomy("paper")
    spec = _comparison(data, compare)
    counts_a, counts_b, codes = paper_counts(compare, data, taxonomy)
    model_a, model_b = data["models"][spec["a"]], data["models"][spec["b"]]
    arena = arena_models = None
    provenance: dict[str, Any] = {
        "source": f"paper arXiv {data['source']['arxiv']}: {data['source']['title']}",
        "counts": "recovered from printed percentages (llmdiff_eval/data/paper_counts.yaml)",
        "tables": [spec["classes"]["table"]]
        + ([spec["categories"]["table"]] if spec.get("categories") else []),
    }
    if spec.get("arena"):
        arena_models = (model_a["arena"], model_b["arena"])
        arena = fetch_arena(list(arena_models), source=spec["arena"]["snapshot"])
    else:
        provenance["arena_note"] = f"the paper reports no LMArena ratings for {model_b['name']}"
    card = build_scorecard(
        counts_a,
        counts_b,
        taxonomy,
        {"base": data["models"]["base"]["name"], "a": model_a["name"], "b": model_b["name"]},
        arena=arena,
        arena_models=arena_models,
        category_codes=codes,
        provenance=provenance,
    )
    card["paper_checks"] = paper_checks(card, compare, data)
    return card


def paper_checks(card: dict[str, Any], compare: str, data: dict | None = None) -> list[dict[str, Any]]:
    """Every printed cell of the comparison's tables beside the recomputed value.

    Each check: ``table, row, column, printed, computed, match`` (computed rounds to printed at its precision)
    and ``erratum`` (the data file's explanation when the paper's own cell is off by its rounding, else None).
    """
    data = data or load_paper_data()
    spec = _comparison(data, compare)
    checks: list[dict[str, Any]] = []
    errata = {(e["row"], e["column"]): e for e in spec["classes"].get("errata") or []}
    classes = {row["name"]: row for row in card["classes"]}
    table = spec["classes"]["table"].split(":")[0]
    for name, values in spec["classes"]["rows"].items():
        for column, printed in zip(spec["classes"]["columns"], values, strict=True):
            erratum = errata.get((name, column))
            checks.append(_check(table, name, column, printed, classes[name][column], erratum))
    if spec.get("categories"):
        categories = {row["code"]: row for row in card["categories"]}
        table = spec["categories"]["table"].split(":")[0]
        for code, entry in spec["categories"]["rows"].items():
            for column, printed in zip(spec["categories"]["columns"], entry["values"], strict=True):
                checks.append(_check(table, entry["name"], column, printed, categories[code][column], None))
    if spec.get("arena"):
        arena = {row["category"]: row for row in card["arena"]}
        deltas = spec["arena"]["deltas"]
        table = deltas["table"].split(":")[0]
        for category, values in deltas["rows"].items():
            row = arena.get(category, {})
            for column, printed in zip(deltas["columns"], values, strict=True):
                checks.append(_check(table, category, column, printed, row.get(column), None))
    return checks


def check_summary(checks: list[dict[str, Any]]) -> tuple[int, int, list[dict[str, Any]]]:
    """``(reproduced, explained errata, unexplained mismatches)`` of :func:`paper_checks` output."""
    matched = sum(check["match"] for check in checks)
    errata = sum(1 for check in checks if not check["match"] and check["erratum"])
    failures = [check for check in checks if not check["match"] and not check["erratum"]]
    return matched, errata, failures


def _check(
    table: str, row: str, column: str, printed: str, computed: float | None, erratum: dict | None
) -> dict:
    number = Printed.parse(printed)
    match = number.matches(computed)
    return {
        "table": table,
        "row": row,
        "column": column,
        "printed": printed,
        "computed": computed,
        "match": match,
        "erratum": None if match or erratum is None else f"{erratum['reason']} (exact: {erratum['exact']})",
    }


def _comparison(data: dict, compare: str) -> dict:
    comparisons = data.get("comparisons", {})
    if compare not in comparisons:
        raise PaperDataError(f"unknown comparison {compare!r}; choose from {sorted(comparisons)}")
    return comparisons[compare]


def _check_consistent(counts: LatentCounts, taxonomy: Taxonomy, where: str) -> None:
    if counts.uncategorized < 0:
        raise PaperDataError(f"{where}: class counts add up to more than the total {counts.total}")
    for code, count in counts.categories.items():
        class_name = taxonomy.class_of(code).name
        listed = sum(
            c for other, c in counts.categories.items() if taxonomy.class_of(other).name == class_name
        )
        if listed > counts.classes.get(class_name, 0):
            raise PaperDataError(
                f"{where}: listed categories of {class_name} count {listed} latents, more than the class's "
                f"{counts.classes.get(class_name, 0)} (category {code}: {count})"
            )


def significance_verdict(card: dict[str, Any]) -> str:
    """One line: how many of the paper's reported class and category changes are statistically significant."""
    rows = [*card["classes"], *card["categories"]]
    significant = [row for row in rows if row["significant"]]
    tested = [row for row in rows if row["p_value"] is not None]
    if not tested:
        return "Verdict: no row could be tested (a model has no model-specific latents)."
    smallest = min(tested, key=lambda row: row["p_value"])
    alpha = card["significance"]["alpha"]
    models = card["models"]
    return (
        f"Verdict: {len(significant)} of the paper's {len(rows)} reported class and category changes "
        f"({models['b']} vs {models['a']}) are statistically significant at q < {alpha:g} (Fisher exact, "
        f"Benjamini-Hochberg per table); the smallest p-value is {smallest['p_value']:.3g} "
        f"({smallest.get('code', smallest['name'])}, {smallest['count_a']}/{card['totals']['a']} vs "
        f"{smallest['count_b']}/{card['totals']['b']} latents)."
    )
