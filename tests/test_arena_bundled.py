"""The bundled paper snapshot and compare_arena: known answers hand-copied from the paper (arXiv 2509.18792)."""

from __future__ import annotations

import pytest

from llmdiff_eval.arena import ArenaModelNotFound, compare_arena, fetch_arena

# Paper Table 1 (copied by hand): category, Δ, Δ_style, Diff — in the paper's row order.
PAPER_TABLE1 = [
    ("math", 10, -12, -22),
    ("chinese", 40, 27, -13),
    ("coding", 19, 6, -13),
    ("russian", 25, 15, -10),
    ("hard_prompts", 25, 17, -8),
    ("multi_turn", 27, 20, -7),
    ("german", 34, 27, -7),
    ("creative_writing", 33, 26, -7),
    ("overall", 20, 15, -5),
    ("instruction_following", 12, 8, -4),
    ("english", 23, 20, -3),
]


@pytest.fixture(scope="module")
def bundled():
    return fetch_arena(["google/gemma-2-9b-it", "princeton-nlp/gemma-2-9b-it-SimPO"], source="bundled")


def test_bundled_snapshot_shape_and_provenance(bundled):
    assert list(bundled.columns) == [
        "model",
        "category",
        "style_control",
        "rating",
        "ci_lower",
        "ci_upper",
        "votes",
        "date",
        "source",
    ]
    assert len(bundled) == 2 * 11 * 2
    assert set(bundled["model"]) == {"gemma-2-9b-it", "gemma-2-9b-it-simpo"}
    assert set(bundled["date"]) == {"2025-09-18"} and set(bundled["source"]) == {"bundled"}
    assert bundled["ci_lower"].isna().all() and bundled["votes"].isna().all()
    prov = bundled.attrs["provenance"]
    assert prov["source"] == "bundled" and prov["snapshot_date"] == "2025-09-18"
    assert "paper Table 3, arXiv 2509.18792" in prov["note"]
    assert prov["models"] == {
        "google/gemma-2-9b-it": "gemma-2-9b-it",
        "princeton-nlp/gemma-2-9b-it-SimPO": "gemma-2-9b-it-simpo",
    }


def test_bundled_ratings_spot_check(bundled):
    # Table 3: Chinese with style control, it 1250 / SimPO 1277; Math without, it 1177 / SimPO 1187.
    def rating(model, category, style):
        row = bundled[
            (bundled.model == model) & (bundled.category == category) & (bundled.style_control == style)
        ]
        assert len(row) == 1
        return row["rating"].iloc[0]

    assert rating("gemma-2-9b-it", "chinese", True) == 1250
    assert rating("gemma-2-9b-it-simpo", "chinese", True) == 1277
    assert rating("gemma-2-9b-it", "math", False) == 1177
    assert rating("gemma-2-9b-it-simpo", "math", False) == 1187


def test_compare_reproduces_paper_table1(bundled):
    table = compare_arena(bundled, "gemma-2-9b-it", "princeton-nlp/gemma-2-9b-it-SimPO")
    got = [
        (r.category, int(r.delta), int(r.delta_style), int(r.style_diff))
        for r in table.itertuples(index=False)
    ]
    assert got == PAPER_TABLE1
    assert table.attrs["model_a"] == "gemma-2-9b-it" and table.attrs["model_b"] == "gemma-2-9b-it-simpo"


def test_bundled_category_selection_accepts_source_names():
    df = fetch_arena("gemma-2-9b-it", categories=["full", "if", "hard_6"], source="bundled")
    assert sorted(set(df["category"])) == ["hard_prompts", "instruction_following", "overall"]
    assert len(df) == 6


def test_bundled_unknown_model_lists_nearest():
    with pytest.raises(ArenaModelNotFound) as info:
        fetch_arena(["gemma-2-9b-it-simpoo"], source="bundled")
    assert "gemma-2-9b-it-simpo" in str(info.value)
    assert info.value.nearest[0] == "gemma-2-9b-it-simpo"


def test_compare_rejects_a_table_mixing_snapshots(bundled):
    import pandas as pd

    from llmdiff_eval.arena import ArenaError

    later = bundled[bundled.style_control].assign(date="2025-10-01")
    mixed = pd.concat([bundled, later], ignore_index=True)
    with pytest.raises(ArenaError, match="mixes snapshot dates"):
        compare_arena(mixed, "gemma-2-9b-it", "gemma-2-9b-it-simpo")


def test_compare_missing_style_rows_sort_last(bundled):
    without_math_style = bundled[~((bundled.category == "math") & bundled.style_control)]
    table = compare_arena(without_math_style, "gemma-2-9b-it", "gemma-2-9b-it-simpo")
    assert table.iloc[-1]["category"] == "math" and table["style_diff"].isna().sum() == 1
    assert table.iloc[0]["category"] == "chinese"
