"""Scorecard arithmetic, the Arena join, lm-eval folding, run-directory loading, CLI outputs and compare.

Run directories are written by hand (``test_scorecard_helpers.make_run``); every expected number is computed by hand
from the counts listed in that module's docstring.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_scorecard_helpers import arena_frame, make_run

from llmdiff_eval.cli import main
from llmdiff_eval.compare import run_compare
from llmdiff_eval.counts import LatentCounts, change_pct, compare_counts, counts_from_annotations
from llmdiff_eval.lm_eval_results import benchmark_rows, load_lm_eval_results
from llmdiff_eval.render import render
from llmdiff_eval.reports import run_models, scorecard_from_run
from llmdiff_eval.scorecard import (
    ScorecardError,
    agreement,
    build_scorecard,
    category_shares,
    class_shares,
    join_arena,
    load_arena_map,
    style_share_interval,
    style_share_pct,
)
from llmdiff_eval.stats import bh_q_values, diff_interval, fisher_p, wilson_interval
from llmdiff_eval.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy("paper")
SAFETY, LING, SPEC = "Safety & Content Moderation", "Linguistic Capabilities", "Specialized Capabilities"
FORMAT_CLASS, UIM, INFO = (
    "Format & Structure Control",
    "User Interaction Management",
    "Information Processing",
)


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path)


def test_share_diff_change_hand_computed() -> None:
    a = LatentCounts(total=10, classes={SAFETY: 3, LING: 1, SPEC: 3, UIM: 1}, categories={"A.4": 2})
    b = LatentCounts(total=8, classes={SAFETY: 4, LING: 2, SPEC: 1, FORMAT_CLASS: 1}, categories={"A.4": 3})
    rows = {row["name"]: row for row in class_shares(a, b, TAXONOMY)}
    assert list(rows) == TAXONOMY.class_names
    uncertainty = ("diff_ci", "p_value", "q_value", "significant")  # checked in tests/test_stats.py
    uncertainty += (
        "mean_detection_a",
        "mean_detection_b",
    )  # checked in test_label_quality_gates_the_counts_by_hand
    uncertainty += ("weighted_share_a", "weighted_share_b", "weighted_diff")  # tests/test_weighted_shares.py
    assert {key: value for key, value in rows[SAFETY].items() if key not in uncertainty} == {
        "name": SAFETY,
        "count_a": 3,
        "count_b": 4,
        "share_a": pytest.approx(30.0),
        "share_b": pytest.approx(50.0),
        "diff": pytest.approx(20.0),
        "change_pct": pytest.approx(200 / 3),
    }
    assert set(uncertainty) <= set(rows[SAFETY])
    assert rows[SPEC]["diff"] == pytest.approx(-17.5) and rows[SPEC]["change_pct"] == pytest.approx(-350 / 6)
    assert rows[UIM]["share_b"] == 0 and rows[UIM]["change_pct"] == pytest.approx(-100.0)
    # absent from A: change undefined (None, never inf); absent from both: diff 0, change None
    assert rows[FORMAT_CLASS]["share_a"] == 0 and rows[FORMAT_CLASS]["change_pct"] is None
    assert rows[FORMAT_CLASS]["diff"] == pytest.approx(12.5)
    assert rows[INFO]["diff"] == 0 and rows[INFO]["change_pct"] is None
    category = {row["code"]: row for row in category_shares(a, b, TAXONOMY)}["A.4"]
    assert (category["share_a"], category["share_b"], category["class_name"]) == (20.0, 37.5, SAFETY)
    assert category["change_pct"] == pytest.approx(87.5)
    assert change_pct(0.0, 5.0) is None and change_pct(None, 5.0) is None


def test_compare_counts_is_a_dataframe_and_zero_total_gives_none() -> None:
    table = compare_counts(["x", "y"], {"x": 1}, {"x": 2, "y": 1}, 4, 3)
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["x", "y"]
    assert table.loc["x", "share_a"] == 25.0 and table.loc["y", "count_a"] == 0
    assert table.loc["y", "share_b"] == pytest.approx(100 / 3) and pd.isna(table.loc["y", "change_pct"])
    empty = compare_counts(["x"], {}, {"x": 1}, 0, 2)  # no latents at all in A: share undefined, not 0
    assert pd.isna(empty.loc["x", "share_a"]) and pd.isna(empty.loc["x", "diff"])


def test_counts_from_annotations_totals_include_uncategorized() -> None:
    frame = pd.DataFrame(
        {
            "category": ["A.4", "A.4", None, "B.7", None],
            "class_name": [SAFETY, SAFETY, None, LING, SPEC],  # last: class known, category not
        },
        index=pd.Index([1, 2, 3, 4, 5], name="latent_id"),
    )
    counts = counts_from_annotations(frame, TAXONOMY)
    assert counts.total == 5 and counts.uncategorized == 1
    assert counts.classes[SAFETY] == 2 and counts.classes[LING] == 1 and counts.classes[SPEC] == 1
    assert counts.categories["A.4"] == 2 and counts.categories["G.24"] == 0
    with pytest.raises(ScorecardError, match="Z.99"):
        counts_from_annotations(pd.DataFrame({"category": ["Z.99"], "class_name": [None]}), TAXONOMY)


def test_pandas_missing_values_count_as_uncategorized() -> None:
    frame = pd.DataFrame(
        {"category": pd.array(["B.7", pd.NA, ""], dtype="string"), "class_name": [LING, None, None]}
    )
    counts = counts_from_annotations(frame, TAXONOMY)
    assert counts.total == 3 and counts.uncategorized == 2 and counts.categories["B.7"] == 1


def test_run_models_without_config_and_bad_arena_map(tmp_path: Path) -> None:
    run = make_run(tmp_path, finetunes=("a", "b"))
    (run / "config.yaml").unlink()
    models = run_models(run)
    assert (models.base, models.finetunes) == ("base", ["a", "b"])
    card = scorecard_from_run(run)  # A and B by fine-tune order, recorded in the provenance
    assert (card["models"]["a"], card["models"]["b"]) == ("a", "b") and "--a/--b" in card["provenance"][
        "pair_choice"
    ]
    bad_map = tmp_path / "map.yaml"
    bad_map.write_text("taxonomy: paper\ncategories:\n  coding: {codes: [G.99]}\n")
    with pytest.raises(ScorecardError, match="G.99"):
        load_arena_map(bad_map, TAXONOMY)
    other = tmp_path / "other.yaml"
    other.write_text("taxonomy: mine\ncategories:\n  coding: {codes: [G.24]}\n")
    with pytest.raises(ScorecardError, match="mine"):
        load_arena_map(other, TAXONOMY)


def test_agreement_needs_both_intervals_to_exclude_zero() -> None:
    assert agreement(10, [4, 16], 2.5, [0.5, 4.5]) == "agree"
    assert agreement(-3, [-5, -1], -0.1, [-0.2, -0.05]) == "agree"
    assert agreement(10, [4, 16], -1.0, [-2, -0.1]) == "disagree"
    # +10 Elo with a ±15 interval is no signal, however large the latent shift
    assert agreement(10, [-5, 25], 20.0, [10, 30]) == "inconclusive"
    assert agreement(10, [4, 16], 2.5, [-1, 6]) == "inconclusive"
    assert agreement(10, [0, 20], 2.5, [1, 4]) == "inconclusive"  # touching 0 is not excluding it
    assert agreement(10, None, 2.5, [1, 4]) == "inconclusive"  # the source published no interval
    assert (
        agreement(None, [4, 16], 5.0, [1, 9]) == "missing" and agreement(5, [1, 9], None, None) == "missing"
    )
    assert agreement(float("nan"), None, 1.0, [0.5, 2]) == "missing"
    assert style_share_pct(20, 15) == pytest.approx(25.0) and style_share_pct(0, 3) is None
    # corners of [10, 30] x [5, 25]: (d - s) / d x 100 in {50, -150, 83.3, 16.7}
    assert style_share_interval([10, 30], [5, 25]) == pytest.approx([-150.0, 250 / 3])
    assert style_share_interval([-5, 30], [5, 25]) is None and style_share_interval(None, [1, 2]) is None


def test_join_intervals_on_a_run(run: Path) -> None:
    # each rating ± 3 Elo: the combined delta interval is delta ± 6 (no bootstrap pairs in this table)
    card = scorecard_from_run(
        run, "a", "b", arena=arena_frame(ci_half_width=3), arena_models=("model-a-arena", "model-b-arena")
    )
    joined = {row["arena_category"]: row for row in card["joined"]}
    total_a, total_b = 10, 8  # annotated latents of a and b (test_scorecard_helpers)
    # coding -> G.24 + E.19: b (1 + 0 of 8) − a (3 + 0 of 10) = 12.5 − 30 = −17.5 pp ; Δ −10, Δ_style −5
    coding = joined["coding"]
    assert coding["latent_diff"] == pytest.approx(-17.5)
    assert coding["delta_ci"] == pytest.approx([-16, -4]) and coding["delta_style_ci"] == pytest.approx(
        [-11, 1]
    )
    assert coding["latent_diff_ci"] == pytest.approx(list(diff_interval(3, total_a, 1, total_b)))
    # 3 of 10 vs 1 of 8 latents: the latent interval contains 0, so no row of this small run can agree
    assert coding["latent_diff_ci"][0] < 0 < coding["latent_diff_ci"][1]
    assert (coding["agree"], coding["agree_style"]) == ("inconclusive", "inconclusive")
    # chinese -> B.7 + B.8: b 2 of 8 − a 1 of 10 = +15 pp
    chinese = joined["chinese"]
    assert chinese["latent_diff"] == pytest.approx(15.0)
    assert chinese["latent_diff_ci"] == pytest.approx(list(diff_interval(1, total_a, 2, total_b)))
    # overall maps to no taxonomy category
    assert joined["overall"]["codes"] == [] and joined["overall"]["agree"] == "missing"
    assert joined["overall"]["latent_diff_ci"] is None
    arena = {row["category"]: row for row in card["arena"]}
    assert arena["coding"]["delta"] == -10 and arena["coding"]["style_diff"] == 5
    assert arena["coding"]["delta_ci_method"] == "combined"
    # overall Δ +10 [4, 16], Δ_style +6 [0, 12]: corners (d − s) / d × 100 in {100, −200, 100, 25}
    assert card["style"]["style_share_pct"] == pytest.approx(40.0)  # (10 − 6) / 10
    assert card["style"]["style_share_ci"] == pytest.approx([-200.0, 100.0])
    without = scorecard_from_run(
        run, "a", "b", arena=arena_frame(), arena_models=("model-a-arena", "model-b-arena")
    )
    rows = {row["arena_category"]: row for row in without["joined"]}
    assert rows["coding"]["delta_ci"] is None and rows["coding"]["agree"] == "inconclusive"
    assert without["style"]["style_share_ci"] is None


def test_join_agrees_and_disagrees_when_both_intervals_exclude_zero() -> None:
    a = LatentCounts(1000, {SPEC: 300, LING: 50}, {"G.24": 300, "B.7": 50})
    b = LatentCounts(1000, {SPEC: 100, LING: 150}, {"G.24": 100, "B.7": 150})
    rows = category_shares(a, b, TAXONOMY, codes=["G.24", "B.7"])
    arena = [
        {
            "category": "coding",
            "delta": -10,
            "delta_ci": [-16, -4],
            "delta_style": 4,
            "delta_style_ci": [-2, 10],
        },
        {
            "category": "chinese",
            "delta": -12,
            "delta_ci": [-20, -4],
            "delta_style": None,
            "delta_style_ci": None,
        },
    ]
    joined = {
        row["arena_category"]: row
        for row in join_arena(arena, rows, load_arena_map(taxonomy=TAXONOMY), (1000, 1000))
    }
    # coding: 10 % − 30 % = −20 pp (interval well below 0) and Δ [−16, −4] -> agree; Δ_style crosses 0
    assert joined["coding"]["latent_diff"] == pytest.approx(-20.0)
    assert joined["coding"]["latent_diff_ci"] == pytest.approx(list(diff_interval(300, 1000, 100, 1000)))
    assert (joined["coding"]["agree"], joined["coding"]["agree_style"]) == ("agree", "inconclusive")
    # chinese -> B.7 (+ B.8, not listed): 15 % − 5 % = +10 pp against Δ [−20, −4] -> disagree
    assert (joined["chinese"]["agree"], joined["chinese"]["agree_style"]) == ("disagree", "missing")


def test_join_without_arena_shows_latent_side_only() -> None:
    a = LatentCounts(10, {LING: 1}, {"B.7": 1})
    b = LatentCounts(8, {LING: 2}, {"B.7": 2})
    rows = category_shares(a, b, TAXONOMY, codes=["B.7"])
    joined = join_arena([], rows, load_arena_map(taxonomy=TAXONOMY))
    names = {row["arena_category"] for row in joined}
    assert "chinese" in names and "coding" not in names  # only Arena categories whose codes have data
    chinese = next(row for row in joined if row["arena_category"] == "chinese")
    assert chinese["latent_diff"] == pytest.approx(15.0) and chinese["missing_codes"] == ["B.8"]
    assert chinese["agree"] == "missing"


def test_arena_map_covers_canonical_categories_with_valid_codes() -> None:
    from llmdiff_eval.arena import CANONICAL_CATEGORIES

    arena_map = load_arena_map(taxonomy=TAXONOMY)  # validates every code against the taxonomy
    assert set(CANONICAL_CATEGORIES) <= set(arena_map.categories)
    assert arena_map.categories["coding"].codes[0] == "G.24"
    assert arena_map.categories["german"].codes[0] == "B.7"
    assert "D.16" in arena_map.categories["instruction_following"].codes
    assert "D.17" in arena_map.categories["multi_turn"].codes
    assert "G.27" in arena_map.categories["creative_writing"].codes


def _results(path: Path, model: str, metrics: dict) -> Path:
    path.write_text(
        json.dumps(
            {
                "results": metrics,
                "higher_is_better": {task: {"acc": True} for task in metrics},
                "config": {"model": "hf", "model_args": f"pretrained={model},dtype=float32"},
            }
        )
    )
    return path


def test_lm_eval_results_folding(tmp_path: Path) -> None:
    file_a = _results(
        tmp_path / "a.json",
        "org/model-a",
        {"arc_easy": {"alias": "arc_easy", "acc,none": 0.50, "acc_stderr,none": 0.02, "acc_norm,none": 0.40}},
    )
    file_b = _results(
        tmp_path / "b.json",
        "org/model-b",
        {
            "arc_easy": {
                "alias": "arc_easy",
                "acc,none": 0.62,
                "acc_stderr,none": "N/A",
                "acc_norm,none": 0.45,
            }
        },
    )
    mechdiff = tmp_path / "mechdiff.json"
    mechdiff.write_text(
        json.dumps(
            {"results": {"mechdiff": {"share_safety,none": 21.3, "n_latents,none": 89, "alias": "mechdiff"}}}
        )
    )
    a = load_lm_eval_results(file_a, "a")
    b = load_lm_eval_results(file_b, "b")
    m = load_lm_eval_results(mechdiff)
    assert load_lm_eval_results(file_a).label == "org/model-a"  # from model_args pretrained=
    assert m.label == "mechdiff"  # no model in the file: the file name
    rows = {(row["task"], row["metric"]): row for row in benchmark_rows([a, b, m], "a", "b")}
    acc = rows[("arc_easy", "acc")]
    assert (acc["value_a"], acc["value_b"]) == (0.50, 0.62) and acc["delta"] == pytest.approx(0.12)
    assert acc["stderrs"] == {"a": 0.02, "b": None} and acc["higher_is_better"] is True
    assert rows[("arc_easy", "acc_norm")]["delta"] == pytest.approx(0.05)
    share = rows[("mechdiff", "share_safety")]
    assert share["values"] == {"mechdiff": 21.3} and share["delta"] is None
    assert ("arc_easy", "acc_stderr") not in rows and ("arc_easy", "alias") not in rows
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"something": 1}))
    with pytest.raises(ScorecardError, match="results"):
        load_lm_eval_results(bad)


def test_scorecard_cli_json_shape_and_benchmarks(run: Path, tmp_path: Path) -> None:
    file_a = _results(tmp_path / "ra.json", "org/model-a", {"arc_easy": {"acc,none": 0.5}})
    file_b = _results(tmp_path / "rb.json", "org/model-b", {"arc_easy": {"acc,none": 0.625}})
    out = tmp_path / "card.json"
    result = CliRunner().invoke(
        main,
        [
            "scorecard", str(run), "--a", "a", "--b", "b", "--format", "json", "--out", str(out),
            "--arena-models", "gemma-2-9b-it,gemma-2-9b-it-simpo", "--arena-source", "bundled",
            "--arena-note", "placeholder: the paper's Gemma pair",
            "--lm-eval-results", f"a={file_a}", "--lm-eval-results", f"b={file_b}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads(out.read_text())
    assert list(card)[:4] == ["models", "totals", "classes", "categories"]
    assert {"arena", "joined", "benchmarks", "provenance"} <= set(card)
    assert card["models"] == {
        "base": "base",
        "a": "a",
        "b": "b",
        "arena_a": "gemma-2-9b-it",
        "arena_b": "gemma-2-9b-it-simpo",
    }
    uncertainty = {"diff_ci", "p_value", "q_value", "significant", "mean_detection_a", "mean_detection_b"}
    uncertainty |= {"weighted_share_a", "weighted_share_b", "weighted_diff"}
    assert set(card["classes"][0]) == {
        "name",
        "count_a",
        "count_b",
        "share_a",
        "share_b",
        "diff",
        "change_pct",
        *uncertainty,
    }
    assert set(card["categories"][0]) == {
        "code", "name", "class_name", "count_a", "count_b", "share_a", "share_b", "diff", "change_pct", *uncertainty,
    }  # fmt: skip
    assert card["significance"]["classes"]["rows"] == len(card["classes"])
    assert {"category", "rating_a", "rating_b", "delta", "rating_a_style", "rating_b_style", "delta_style",
            "style_diff"} <= set(card["arena"][0])  # fmt: skip
    safety = next(row for row in card["classes"] if row["name"] == SAFETY)
    assert safety["share_b"] == 50.0 and safety["change_pct"] == pytest.approx(66.66666666666667)  # unrounded
    assert card["benchmarks"][0]["delta"] == pytest.approx(0.125)
    assert card["provenance"]["arena_note"] == "placeholder: the paper's Gemma pair"
    assert card["provenance"]["a"]["ft_only_latents"] == 10  # from latents/base__a.parquet
    overall = next(row for row in card["arena"] if row["category"] == "overall")
    assert (overall["rating_a"], overall["rating_b"]) == (1208, 1228)


def test_scorecard_cli_table_md_csv(run: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["scorecard", str(run), "--a", "a", "--b", "b"])
    assert table.exit_code == 0, table.output
    line = next(line for line in table.output.splitlines() if line.startswith(SAFETY))
    cells, (low, high) = line.split(), diff_interval(3, 10, 4, 8)
    assert cells[-11:] == [
        "3",
        "4",
        "30.00",
        "50.00",
        "+20.00",
        f"[{low:+.1f},",
        f"{high:+.1f}]",
        cells[-4],  # q
        "+66.7%",
        "—",  # weighted shares: the hand-written latent tables have no diff_energy
        cells[-1],  # mean detection scores
    ]
    assert "new" in next(line for line in table.output.splitlines() if line.startswith(FORMAT_CLASS))
    md = runner.invoke(main, ["scorecard", str(run), "--format", "md"])
    assert md.exit_code == 0 and "| Specialized Capabilities" in md.output and "-17.50" in md.output
    assert "a=a, b=b" not in md.output  # choice note lives in provenance, not the tables
    csv_out = runner.invoke(main, ["scorecard", str(run), "--a", "b", "--b", "a", "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    records = list(csv.DictReader(io.StringIO(csv_out.output)))
    safety = next(r for r in records if r["section"] == "classes" and r["name"] == SAFETY)
    assert float(safety["share_a"]) == 50.0 and float(safety["diff"]) == -20.0  # A and B swapped
    bad = runner.invoke(main, ["scorecard", str(run), "--a", "a", "--b", "zzz"])
    assert bad.exit_code != 0 and "not a fine-tune" in bad.output


def test_missing_annotations_is_a_clear_error(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "annotations" / "base__b.parquet").unlink()
    with pytest.raises(ScorecardError, match="llmdiff-eval annotate"):
        scorecard_from_run(run, "a", "b")


def test_compare_ranks_three_finetunes(run: Path, tmp_path: Path) -> None:
    report = run_compare(run)
    assert report["models"] == ["a", "b", "c"] and report["totals"] == {"a": 10, "b": 8, "c": 4}
    classes = {row["name"]: row for row in report["classes"]}
    assert classes[SAFETY]["shares"] == {"a": 30.0, "b": 50.0, "c": 0.0}
    assert classes[SAFETY]["ranks"] == {"a": 2, "b": 1, "c": 3} and classes[SAFETY]["leaders"] == ["b"]
    assert classes[LING]["ranks"] == {"a": 3, "b": 1, "c": 1} and classes[LING]["leaders"] == ["b", "c"]
    assert classes[SPEC]["ranks"] == {"a": 2, "b": 3, "c": 1}
    assert classes[INFO]["leaders"] == []
    # how sure: Wilson intervals of each share, Fisher's test of the leader (b, 4 of 8) against the second (a, 3 of 10)
    assert classes[SAFETY]["share_ci"]["b"] == pytest.approx([100 * x for x in wilson_interval(4, 8)])
    assert classes[SAFETY]["lead_p_value"] == pytest.approx(fisher_p(3, 10, 4, 8))
    p_values = [row["lead_p_value"] for row in report["classes"]]
    assert [row["lead_q_value"] for row in report["classes"]] == pytest.approx(bh_q_values(p_values))
    assert classes[INFO]["lead_p_value"] is None  # nobody has a share to lead with
    out = tmp_path / "compare.md"
    result = CliRunner().invoke(
        main,
        [
            "compare", str(run), "--models", "a,b", "--format", "md", "--out", str(out),
            "--arena-models", "gemma-2-9b-it,gemma-2-9b-it-simpo", "--arena-source", "bundled",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| Safety & Content Moderation"))
    low, high = (100 * x for x in wilson_interval(3, 10))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:2] == [SAFETY, f"30.00 [{low:.1f}, {high:.1f}] (2)"] and cells[3] == "b"
    assert "a (gemma-2-9b-it)" in text and "1208 (1261)" in text  # Overall Elo of it, with style control
    html_out = CliRunner().invoke(main, ["compare", str(run), "--format", "html"])
    assert html_out.exit_code == 0 and "<table>" in html_out.output
    with pytest.raises(ScorecardError, match="at least two"):
        run_compare(run, ["a"])


def test_compare_across_bases_ranks_shares_and_refuses_latent_matching(tmp_path: Path) -> None:
    """Fine-tunes of two different bases, from two run directories: ranked on their own shares, labelled by run,
    summarized, written as long-form CSV; matching latents across the bases is refused with what to do instead."""
    vx = make_run(tmp_path, finetunes=("a", "b"), base_path="org/base-x", directory="vx")
    vy = make_run(tmp_path, finetunes=("a", "c"), base_path="org/base-y", directory="vy")
    report = run_compare([vx, vy], ["vx/a", "b", "c"])
    assert report["models"] == ["vx/a", "vx/b", "vy/c"] and report["same_base"] is False
    assert report["base"] is None and report["runs"]["vy/c"]["base_source"] == "org/base-y"
    assert "different residual spaces" in report["comparability"]
    safety = next(row for row in report["classes"] if row["name"] == SAFETY)
    assert safety["shares"] == {"vx/a": 30.0, "vx/b": 50.0, "vy/c": 0.0}  # 3/10, 4/8, 0/4
    assert safety["ranks"] == {"vx/a": 2, "vx/b": 1, "vy/c": 3} and safety["leaders"] == ["vx/b"]
    assert safety["lead_p_value"] == pytest.approx(fisher_p(3, 10, 4, 8))
    assert report["summary"]["vx/b"].startswith(
        f"vx/b leads on {SAFETY} (50.0% of its model-specific latents vs 30.0%"
    )
    assert "not significant" in report["summary"]["vx/b"]
    with pytest.raises(ScorecardError, match="fine-tune of several compared runs.*'vx/a', 'vy/a'"):
        run_compare([vx, vy], ["a", "b"])
    with pytest.raises(ScorecardError, match="different residual spaces.*without --latents"):
        run_compare([vx, vy], latents=True)
    result = CliRunner().invoke(
        main, ["compare", str(vx), str(vy), "--models", "vx/a,vy/c", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.output)))
    row = next(
        r for r in records if r["section"] == "classes" and r["name"] == SAFETY and r["model"] == "vy/c"
    )
    assert (row["base"], row["count"], row["total"], float(row["share"]), row["rank"]) == (
        "base",
        "0",
        "4",
        0.0,
        "2",
    )
    table = CliRunner().invoke(main, ["compare", str(vx), str(vy), "--models", "vx/a,vy/c"])
    assert "fine-tunes of 2 bases" in table.output and "not compared" in table.output
    refused = CliRunner().invoke(main, ["compare", str(vx), str(vy), "--latents"])
    assert refused.exit_code != 0 and "different residual spaces" in refused.output


def test_compare_one_base_matches_planted_shared_directions(tmp_path: Path) -> None:
    """Two fine-tunes of one base whose crosscoders share three planted decoder directions: 3 of a's 10
    model-specific latents have a counterpart among b's, and 3 of b's 8 among a's; no other pair reaches 0.7."""
    import torch

    from llmdiff_eval.crosscoder import BatchTopKCrosscoder

    run = make_run(tmp_path, finetunes=("a", "b"))
    generator = torch.Generator().manual_seed(0)
    decoders = {name: torch.randn(256, 2, 64, generator=generator) for name in ("a", "b")}
    for offset in range(3):
        decoders["b"][200 + offset] = 2.0 * decoders["a"][100 + offset]  # same direction, other scale
    for name, W_dec in decoders.items():
        BatchTopKCrosscoder.from_weights(
            torch.zeros(2, 64, 256), torch.zeros(256), W_dec, torch.zeros(2, 64)
        ).save_model(str(run / "crosscoders" / f"base__{name}"))
    report = run_compare(run, latents=True)
    fractions = {(p["from"], p["to"]): p["fraction"] for p in report["shared_directions"]["pairs"]}
    assert fractions == {("a", "b"): pytest.approx(3 / 10), ("b", "a"): pytest.approx(3 / 8)}
    assert report["same_base"] is True and report["base"] == "base"
    text = CliRunner().invoke(main, ["compare", str(run), "--latents"]).output
    assert "Shared directions" in text and "30.0%" in text and "37.5%" in text


def test_label_quality_gates_the_counts_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "category": ["A.4", "A.4", "B.7", None],
            "class_name": [SAFETY, SAFETY, LING, None],
            "detection_score": [0.90, 0.55, 0.70, float("nan")],
            "random_baseline_score": [0.50, 0.50, 0.50, 0.50],
        }
    )
    ungated = counts_from_annotations(frame, TAXONOMY)
    assert (ungated.classes[SAFETY], ungated.classes[LING], ungated.unexplained, ungated.uncategorized) == (
        2,
        1,
        0,
        1,
    )
    assert ungated.detection[SAFETY] == pytest.approx(0.725) and ungated.detection["B.7"] == pytest.approx(
        0.70
    )
    gated = counts_from_annotations(
        frame, TAXONOMY, explained_margin=0.1
    )  # 0.55 - 0.50 and the unscored fail
    assert (gated.classes[SAFETY], gated.classes[LING], gated.unexplained, gated.uncategorized) == (
        1,
        1,
        2,
        0,
    )
    assert gated.total == 4 and gated.detection == ungated.detection  # scores are reported either way
    assert (ungated.explained, gated.explained) == (3, 2)  # beat the baseline at all / by more than 0.1
    card = build_scorecard(
        gated, gated, TAXONOMY, {"base": "base", "a": "a", "b": "b"}, provenance={"explained_margin": 0.1}
    )
    safety = next(row for row in card["classes"] if row["name"] == SAFETY)
    assert safety["mean_detection_a"] == pytest.approx(0.725) and card["totals"]["unexplained_a"] == 2
    assert "Explained (detection score > random-label baseline + 0.1): a 2 of 4, b 2 of 4" in render(
        card, "table"
    )
    plain = build_scorecard(ungated, ungated, TAXONOMY, {"base": "base", "a": "a", "b": "b"})
    assert "Explained (detection score > its random-label baseline): a 3 of 4, b 3 of 4" in render(
        plain, "table"
    )
