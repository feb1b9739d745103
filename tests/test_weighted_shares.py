"""Activation-weighted shares, the energy selection and crosscoder seed ensembles (issue 14, items 3 and 4).

Known answers: a hand-built crosscoder over planted activations whose fine-tune-only concepts are orthonormal, so the
planted split of the pair's difference Σ_n ‖x_ft − x_base‖² between two groups of concepts is computed from the data
itself; hand-computed shares and pooled intervals; decoder directions planted to reappear (or not) across seeds.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from llmdiff_eval.analyze import AnalyzeConfig, energy_selection, latent_table, seed_stability
from llmdiff_eval.counts import LatentCounts, counts_from_annotations, pool_counts, weighted_shares
from llmdiff_eval.crosscoder import crosscoder_from_weights
from llmdiff_eval.scorecard import build_scorecard, class_shares
from llmdiff_eval.stats import diff_interval, fisher_p
from llmdiff_eval.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy("paper")
SAFETY, LING = "Safety & Content Moderation", "Linguistic Capabilities"
SAFETY_CODE, LING_CODE = "A.4", "B.7"
D, N = 32, 20_000


def planted_pair(seed: int = 0):
    """Orthonormal concepts: 0–1 "safety" (fine-tune only, fire on 40 % of tokens), 2–9 "linguistic" (fine-tune
    only, 2 %), 10 "base-only" (5 %), 11–15 shared (30 %, same direction and magnitude in both models).

    Returns the raw activations (N, 2, D), the exact crosscoder (one latent per concept) and the true share of the
    difference energy Σ_n ‖x_ft − x_base‖² carried by each group."""
    gen = torch.Generator().manual_seed(seed)
    directions = torch.linalg.qr(torch.randn(D, D, generator=gen))[0][:, :16].T  # (16, D) orthonormal
    rates = torch.tensor([0.4] * 2 + [0.02] * 8 + [0.05] + [0.3] * 5)
    fires = torch.rand(N, 16, generator=gen) < rates
    coefficients = fires * (1.0 + 4.0 * torch.rand(N, 16, generator=gen))
    in_ft = torch.tensor([1.0] * 10 + [0.0] + [1.0] * 5)
    in_base = torch.tensor([0.0] * 10 + [1.0] + [1.0] * 5)
    acts = torch.stack([(coefficients * in_base) @ directions, (coefficients * in_ft) @ directions], dim=1)
    W_dec = torch.stack([directions * in_base[:, None], directions * in_ft[:, None]], dim=1)  # (16, 2, D)
    W_enc = torch.stack(
        [directions.T * in_base / (in_base + in_ft), directions.T * in_ft / (in_base + in_ft)]
    )
    cc = crosscoder_from_weights(W_enc, torch.zeros(16), W_dec, torch.zeros(2, D))
    difference = acts[:, 1] - acts[:, 0]
    total = float(difference.square().sum())
    group = lambda ids: float((difference @ directions[ids].T).square().sum()) / total  # noqa: E731
    truth = {SAFETY: group([0, 1]), LING: group(list(range(2, 10))), "base_only": group([10])}
    return acts, cc, truth


def annotations_for(table: pd.DataFrame) -> pd.DataFrame:
    """The fine-tune-only latents labelled with the class they were planted as (0–1 Safety, 2–9 Linguistic)."""
    ids = [i for i in table.index if i < 10]
    return pd.DataFrame(
        {
            "category": [SAFETY_CODE if i < 2 else LING_CODE for i in ids],
            "class_name": [SAFETY if i < 2 else LING for i in ids],
            "diff_energy": table.loc[ids, "diff_energy"].to_numpy(),
        },
        index=pd.Index(ids, name="latent_id"),
    )


def test_diff_energy_is_the_latents_share_of_the_planted_difference() -> None:
    acts, cc, truth = planted_pair()
    table = latent_table(cc, acts, AnalyzeConfig(selection="relative"))
    energy = table["diff_energy"]
    assert (energy.loc[11:15] == 0).all()  # shared latents: d_ft = d_base, no difference
    total = table.attrs["diff_energy_total"]
    assert total == pytest.approx(float(energy.sum()))
    assert float(energy.loc[[0, 1]].sum()) / total == pytest.approx(truth[SAFETY], rel=1e-4)
    assert float(energy.loc[10]) / total == pytest.approx(truth["base_only"], rel=1e-4)


def test_weighted_shares_recover_the_planted_split_better_than_counts() -> None:
    acts, cc, truth = planted_pair()
    table = latent_table(cc, acts, AnalyzeConfig(selection="relative"))
    counts = counts_from_annotations(annotations_for(table), TAXONOMY)
    planted_safety = truth[SAFETY] / (truth[SAFETY] + truth[LING]) * 100  # of the fine-tune-only difference
    weighted = weighted_shares(counts, SAFETY)
    count_share = counts.classes[SAFETY] / counts.total * 100
    assert planted_safety > 75  # 2 latents carry most of the difference ...
    assert count_share == pytest.approx(20.0)  # ... but are 2 of 10 by count
    assert weighted == pytest.approx(planted_safety, rel=1e-4)
    assert abs(weighted - planted_safety) < abs(count_share - planted_safety) / 100
    rows = {row["name"]: row for row in class_shares(counts, counts, TAXONOMY)}
    assert rows[SAFETY]["weighted_share_a"] == pytest.approx(weighted) and rows[SAFETY]["weighted_diff"] == 0


def test_energy_selection_takes_the_smallest_set_covering_the_fraction() -> None:
    acts, cc, _ = planted_pair()
    half = latent_table(cc, acts, AnalyzeConfig(selection="energy", energy_fraction=0.5))
    energy = half["diff_energy"].sort_values(ascending=False)
    share = energy.cumsum() / energy.sum()
    expected = int((share < 0.5).sum()) + 1  # the first prefix reaching half of the total
    chosen = half.index[half["tag"].isin(["ft_only", "base_only"])]
    assert sorted(chosen) == sorted(energy.index[:expected]) and set(chosen) <= {0, 1}
    wide = latent_table(cc, acts, AnalyzeConfig(selection="energy", energy_fraction=1.0))
    assert set(wide.index[wide["tag"] == "ft_only"]) == set(range(10))  # every fine-tune-only latent
    assert list(wide.index[wide["tag"] == "base_only"]) == [10]  # the base-only one, on its side of 0.5
    assert (wide.loc[11:15, "tag"] == "shared").all()  # zero energy is never selected
    capped = energy_selection(wide, AnalyzeConfig(selection="energy", energy_fraction=1.0, max_latents=3))
    assert sorted(capped.index[capped]) == sorted(energy.index[:3])
    assert wide.attrs["thresholds"]["selection"] == {
        "mode": "energy",
        "energy_fraction": 1.0,
        "max_latents": 500,
    }


def test_energy_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="energy_fraction"):
        AnalyzeConfig(selection="energy", energy_fraction=0.0)
    with pytest.raises(ValueError, match="max_latents"):
        AnalyzeConfig(max_latents=0)


def test_pooled_seed_counts_by_hand() -> None:
    seeds_a = [LatentCounts(20, {SAFETY: 8}), LatentCounts(24, {SAFETY: 12}), LatentCounts(22, {SAFETY: 10})]
    seeds_b = [LatentCounts(10, {SAFETY: 1}), LatentCounts(12, {SAFETY: 0}), LatentCounts(14, {SAFETY: 2})]
    a, b = pool_counts(seeds_a), pool_counts(seeds_b)
    assert (a.total, a.classes[SAFETY], a.n_seeds) == (66, 30, 3)
    row = next(r for r in class_shares(a, b, TAXONOMY) if r["name"] == SAFETY)
    assert row["share_a"] == pytest.approx(30 / 66 * 100) and row["share_b"] == pytest.approx(3 / 36 * 100)
    # the interval is that of one crosscoder's worth of latents: mean counts per seed (10 of 22 vs 1 of 12)
    assert row["diff_ci"] == pytest.approx(list(diff_interval(10, 22, 1, 12)))
    assert row["p_value"] == pytest.approx(fisher_p(10, 22, 1, 12))
    per_seed = [1 / 10 * 100 - 40.0, 0.0 - 50.0, 2 / 14 * 100 - 10 / 22 * 100]
    assert row["diff_seeds"] == pytest.approx(per_seed)
    assert row["diff_seed_range"] == pytest.approx([min(per_seed), max(per_seed)])
    with pytest.raises(Exception, match="crosscoder seed"):
        class_shares(a, LatentCounts(12, {SAFETY: 1}), TAXONOMY)
    card = build_scorecard(a, b, TAXONOMY, {"base": "base", "a": "a", "b": "b"})
    assert card["totals"]["n_seeds"] == 3


def test_pooled_weighted_share_is_the_mean_over_seeds() -> None:
    first = LatentCounts(4, {SAFETY: 1}, energy_total=10.0, energy={SAFETY: 6.0})
    second = LatentCounts(5, {SAFETY: 2}, energy_total=100.0, energy={SAFETY: 20.0})
    assert weighted_shares(pool_counts([first, second]), SAFETY) == pytest.approx((60.0 + 20.0) / 2)
    assert weighted_shares(LatentCounts(4, {SAFETY: 1}), SAFETY) is None  # no energies recorded


def test_seed_stability_counts_directions_that_reappear() -> None:
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(2 * D, 2 * D, generator=gen))[0].T  # orthonormal (2D, 2D)

    def decoder(rows: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(rows).reshape(len(rows), 2, D)

    # seed 0: latents 0-3 selected; seed 1 has 0 and 1 again (1 slightly rotated, cosine 0.8), 2 as an unselected
    # latent, and 3 not at all.
    rotated = 0.8 * basis[1] + 0.6 * basis[20]
    seed0 = decoder([basis[0], basis[1], basis[2], basis[3], basis[4]])
    seed1 = decoder([2.0 * basis[0], rotated, basis[10], basis[2], basis[11]])
    result = seed_stability([seed0, seed1], [[0, 1, 2, 3], [0, 1]])
    # seed 0's 4 selected: 0, 1 reappear among seed 1's selected, 2 only among all; seed 1's 2 selected both found
    assert result["reappear_selected"] == pytest.approx((2 + 2) / 6)
    assert result["reappear_any"] == pytest.approx((3 + 2) / 6)
    strict = seed_stability([seed0, seed1], [[0, 1, 2, 3], [0, 1]], threshold=0.9)
    assert strict["reappear_selected"] == pytest.approx((1 + 1) / 6)  # the rotated one (0.8) no longer counts
    assert seed_stability([seed0], [[0]])["reappear_any"] is None
