"""Uncertainty of share differences (llmdiff_eval/stats.py): known answers, hand computations, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from llmdiff_eval.counts import LatentCounts
from llmdiff_eval.paper import paper_scorecard, significance_verdict
from llmdiff_eval.render import render
from llmdiff_eval.scorecard import build_scorecard
from llmdiff_eval.stats import bh_q_values, diff_interval, fisher_p, row_uncertainty
from llmdiff_eval.taxonomy import load_taxonomy

# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score): (x1, n1, x2, n2) and the
# 95% interval of p1 - p2. Here A is the second sample and B the first (diff = share_b - share_a).
NEWCOMBE = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE)
def test_the_interval_is_newcombes_method_10(counts, published):
    x1, n1, x2, n2 = counts
    low, high = diff_interval(x2, n2, x1, n1)
    assert (round(low / 100, 4), round(high / 100, 4)) == published


def _fisher_by_hand(a: int, n_a: int, b: int, n_b: int) -> float:
    """Two-sided Fisher exact p: the probability, under the hypergeometric null with both margins fixed, of every
    table no more probable than the observed one."""
    k, n = a + b, n_a + n_b

    def probability(x: int) -> float:
        return math.comb(n_a, x) * math.comb(n_b, k - x) / math.comb(n, k)

    observed = probability(a)
    support = range(max(0, k - n_b), min(k, n_a) + 1)
    return sum(p for x in support if (p := probability(x)) <= observed * (1 + 1e-7))


@pytest.mark.parametrize(
    "table", [(1, 10, 9, 10), (11, 25, 0, 10), (18, 112, 19, 89), (3, 7, 3, 7), (0, 5, 0, 8)]
)
def test_fisher_p_matches_a_hand_computation(table):
    assert fisher_p(*table) == pytest.approx(_fisher_by_hand(*table), rel=1e-9)


def test_benjamini_hochberg_by_hand():
    # sorted p: 0.01, 0.03, 0.04, 0.2 -> p*m/rank = 0.04, 0.06, 0.0533, 0.2 -> running minimum from the top
    assert bh_q_values([0.01, 0.04, 0.03, 0.2, None]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2, None])
    assert bh_q_values([None, None]) == [None, None]


def test_no_latents_means_no_interval_or_test():
    assert diff_interval(0, 0, 3, 10) is None and fisher_p(0, 0, 3, 10) is None
    rows = row_uncertainty([{"count_a": 0, "count_b": 3}], 0, 10)
    assert rows[0]["diff_ci"] is None and rows[0]["q_value"] is None and rows[0]["significant"] is False


def test_coverage_is_near_95_percent_at_small_counts():
    """Simulated coverage of the interval for the true difference, at the demo's sizes (25 and 10 latents)."""
    rng = np.random.default_rng(0)
    for p_a, p_b, n_a, n_b in [
        (0.44, 0.0, 25, 10),
        (0.08, 0.5, 25, 10),
        (0.2, 0.3, 112, 89),
        (0.05, 0.05, 30, 30),
    ]:
        truth = (p_b - p_a) * 100
        draws = 2000
        hits = sum(
            low - 1e-9 <= truth <= high + 1e-9
            for low, high in (
                diff_interval(int(a), n_a, int(b), n_b)
                for a, b in zip(rng.binomial(n_a, p_a, draws), rng.binomial(n_b, p_b, draws), strict=True)
            )
        )
        assert 0.93 <= hits / draws <= 0.995, (
            p_a,
            p_b,
            n_a,
            n_b,
            hits / draws,
        )  # near 95%, conservative at p ≈ 0


def test_scorecard_rows_carry_intervals_and_q_values_over_their_own_table():
    taxonomy = load_taxonomy("paper")
    safety, language = taxonomy.class_names[0], taxonomy.class_names[1]
    a = LatentCounts(total=25, classes={safety: 11, language: 2})
    b = LatentCounts(total=10, classes={safety: 0, language: 5})
    card = build_scorecard(a, b, taxonomy, {"base": "base", "a": "a", "b": "b"})
    rows = {row["name"]: row for row in card["classes"]}
    assert rows[safety]["p_value"] == pytest.approx(scipy_stats.fisher_exact([[11, 14], [0, 10]]).pvalue)
    expected_q = scipy_stats.false_discovery_control([row["p_value"] for row in card["classes"]], method="bh")
    assert [row["q_value"] for row in card["classes"]] == pytest.approx(list(expected_q))
    low, high = rows[safety]["diff_ci"]
    assert low < rows[safety]["diff"] < high < 0  # B has none of the 11: the whole interval is negative
    assert card["significance"]["classes"]["significant"] == sum(q < 0.05 for q in expected_q)
    text = render(card, "table")
    assert "95% CI (pp)" in text and "Significant differences (q < 0.05):" in text


def test_the_papers_verdict_counts_the_rows_that_survive_the_adjustment():
    card = paper_scorecard("simpo")
    rows = [*card["classes"], *card["categories"]]
    significant = 0
    for table in (card["classes"], card["categories"]):
        p = [scipy_stats.fisher_exact([[r["count_a"], card["totals"]["a"] - r["count_a"]],
                                       [r["count_b"], card["totals"]["b"] - r["count_b"]]]).pvalue for r in table]  # fmt: skip
        significant += int((scipy_stats.false_discovery_control(p, method="bh") < 0.05).sum())
    verdict = significance_verdict(card)
    assert verdict.startswith(f"Verdict: {significant} of the paper's {len(rows)} reported")
