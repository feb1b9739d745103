"""How sure a share difference is: a confidence interval for ``diff``, a p-value, and Benjamini–Hochberg q-values.

One row of a scorecard compares two proportions: ``count_a`` of A's ``total_a`` model-specific latents against
``count_b`` of B's ``total_b``; ``diff = share_b − share_a`` in percentage points. Counts are small (tens of latents)
and often 0, so:

* the interval is **Newcombe's hybrid score interval** for a difference of two independent proportions (method 10
  of Newcombe 1998, built from the two Wilson score intervals): it stays inside [−100, 100] pp, is defined for 0 and
  for ``count = total``, and keeps close to its nominal coverage at small counts, where the Wald interval does not;
* the p-value is **Fisher's exact test** (two-sided) on the 2×2 table ``[[count_a, total_a − count_a], [count_b,
  total_b − count_b]]``: the null hypothesis is "A's and B's shares of this row are equal";
* **q-values** are Benjamini–Hochberg adjusted p-values over the rows of one table (classes, or categories), and a
  row is ``significant`` when ``q < alpha`` (default 0.05).

scipy provides Fisher's test and the BH adjustment; the Newcombe interval is written here from its closed form (it
is a few lines of arithmetic; scipy has no difference-of-proportions interval). Reference: docs/concepts.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

LEVEL = 0.95
"""Confidence level of the intervals."""

ALPHA = 0.05
"""Default significance level of the q-values."""


def wilson_interval(count: float, total: float, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of the proportion ``count / total`` (fractions in [0, 1])."""
    if total <= 0:
        raise ValueError(f"a proportion needs total > 0, got {total}")
    z = scipy_stats.norm.ppf(0.5 + level / 2)
    p = count / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


def diff_interval(
    count_a: float, total_a: float, count_b: float, total_b: float, level: float = LEVEL
) -> tuple[float, float] | None:
    """Newcombe hybrid score interval of ``share_b − share_a``, in percentage points; None if a total is 0."""
    if total_a <= 0 or total_b <= 0:
        return None
    p_a, p_b = count_a / total_a, count_b / total_b
    low_a, high_a = wilson_interval(count_a, total_a, level)
    low_b, high_b = wilson_interval(count_b, total_b, level)
    diff = p_b - p_a
    low = diff - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    high = diff + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return max(-1.0, low) * 100.0, min(1.0, high) * 100.0


def fisher_p(count_a: int, total_a: int, count_b: int, total_b: int) -> float | None:
    """Two-sided Fisher exact p-value for "A's and B's shares are equal"; None if a total is 0."""
    if total_a <= 0 or total_b <= 0:
        return None
    table = [[count_a, total_a - count_a], [count_b, total_b - count_b]]
    return float(scipy_stats.fisher_exact(table, alternative="two-sided").pvalue)


def bh_q_values(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values over the known ``p_values`` (``None`` stays ``None``)."""
    known = [i for i, p in enumerate(p_values) if p is not None]
    q: list[float | None] = [None] * len(p_values)
    if known:
        adjusted = scipy_stats.false_discovery_control(np.array([p_values[i] for i in known]), method="bh")
        for i, value in zip(known, adjusted, strict=True):
            q[i] = float(value)
    return q


def row_uncertainty(
    rows: list[dict],
    total_a: int,
    total_b: int,
    level: float = LEVEL,
    alpha: float = ALPHA,
    n_seeds: int = 1,
) -> list[dict]:
    """Add ``diff_ci`` ([low, high] pp), ``p_value``, ``q_value`` (BH over ``rows``) and ``significant`` to each
    row with ``count_a`` / ``count_b`` (in place; returned).

    ``n_seeds`` > 1: the counts are sums over that many crosscoder seeds of one pair. The seeds re-find largely the
    same latents, so they are not independent samples: the interval is computed from the mean counts per seed (the
    Wilson intervals take fractional counts) and Fisher's test from those means rounded to whole latents — the
    sample size is that of one crosscoder, never inflated by the ensemble.
    """
    mean_total_a, mean_total_b = total_a / n_seeds, total_b / n_seeds
    for row in rows:
        count_a, count_b = row["count_a"] / n_seeds, row["count_b"] / n_seeds
        interval = diff_interval(count_a, mean_total_a, count_b, mean_total_b, level)
        row["diff_ci"] = list(interval) if interval else None
        row["p_value"] = fisher_p(*(round(x) for x in (count_a, mean_total_a, count_b, mean_total_b)))
    for row, q in zip(rows, bh_q_values([row["p_value"] for row in rows]), strict=True):
        row["q_value"] = q
        row["significant"] = q is not None and q < alpha
    return rows
