"""Known-answer tests of the analyze stage: Δnorm orientation, latent scaling, tags, examples, outputs.

Expected values come from hand-built crosscoders with orthogonal directions (exact answers), a straightforward
per-latent loop written here (the anchor algorithm), brute-force activations, and planted synthetic data.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from llmdiff_eval.analyze import (
    AnalyzeConfig,
    TokenInfo,
    assign_tags,
    collect_examples,
    delta_norm_cutoffs,
    latent_table,
    plot_delta_norm,
    plot_nu_scatter,
)
from llmdiff_eval.corpus import CorpusConfig, CorpusSource
from llmdiff_eval.crosscoder import BatchTopKCrosscoder, CrosscoderConfig, train_crosscoder
from llmdiff_eval.harvest import CacheError, HarvestConfig, harvest
from llmdiff_eval.models import ModelSpec
from llmdiff_eval.rundir.examples import (
    activation_histograms,
    display_contexts,
    load_examples,
    write_examples,
)
from llmdiff_eval.stages.analyze import analyze
from llmdiff_eval.stages.train import train_pair as train
from llmdiff_eval.synthetic import make_planted_pairs

CONTRACT_COLUMNS = ["delta_norm", "cos_sim", "nu_eps", "nu_r", "freq", "max_act", "tag"]


def _basis(d: int, i: int) -> torch.Tensor:
    return torch.eye(d)[i]


# ---------------------------------------------------------------------------------------------------------------
# Δnorm and cosine
# ---------------------------------------------------------------------------------------------------------------


def test_delta_norm_and_cosine_hand_computed() -> None:
    d, n = 4, 6
    W_dec = torch.zeros(n, 2, d)
    W_dec[0, 1] = 2 * _basis(d, 0)  # only in the fine-tune -> Δnorm 1
    W_dec[1, 0] = 3 * _basis(d, 1)  # only in the base -> Δnorm 0
    W_dec[2, 0] = W_dec[2, 1] = _basis(d, 2)  # identical -> 0.5, cos 1
    W_dec[3, 0], W_dec[3, 1] = (
        2 * _basis(d, 0),
        _basis(d, 1),
    )  # norms 2 (base), 1 (ft): ½((1-2)/2+1) = 0.25, cos 0
    W_dec[4, 0], W_dec[4, 1] = (
        _basis(d, 0),
        torch.tensor([3.0, 4.0, 0, 0]),
    )  # norms 1, 5: ½(4/5+1) = 0.9, cos 0.6
    # latent 5: both zero -> NaN
    cc = BatchTopKCrosscoder.from_weights(torch.zeros(2, d, n), torch.zeros(n), W_dec, torch.zeros(2, d))
    df = latent_table(cc, torch.randn(50, 2, d), AnalyzeConfig(batch_size=16))
    assert df["delta_norm"].iloc[:5].tolist() == pytest.approx([1.0, 0.0, 0.5, 0.25, 0.9])
    assert math.isnan(df["delta_norm"].iloc[5])
    assert math.isnan(df["cos_sim"].iloc[0]) and math.isnan(df["cos_sim"].iloc[1])
    assert df["cos_sim"].iloc[2:5].tolist() == pytest.approx([1.0, 0.0, 0.6])
    # the encoder is all zeros: nothing fires, so nothing may be tagged anything but "other"
    assert (df["freq"] == 0).all() and (df["tag"] == "other").all()
    assert df.index.name == "latent_id" and list(df.index) == list(range(n))


# ---------------------------------------------------------------------------------------------------------------
# Latent scaling on a hand-built crosscoder
# ---------------------------------------------------------------------------------------------------------------

A_FT_ONLY, B_SHRUNK, C_DECOUPLED_FT, D_DECOUPLED_BASE, E_SHARED, G_BASE_ONLY, H_DEAD = range(7)


def _hand_built(n_tokens: int = 3000, seed: int = 0) -> tuple[BatchTopKCrosscoder, torch.Tensor]:
    """Seven latents on orthonormal directions e0..e4 (d = 8, noise on e5..e7), data made to match.

    * A: true fine-tune-only: e0 only in the fine-tune's activations; decoder (0, e0).
    * B: complete shrinkage: e1 in BOTH models' activations, but the crosscoder's base decoder is 0.
    * C/D: latent decoupling: e2 in both; C = (0, e2) reads the fine-tune, D = (e2, 0) reads the base.
    * E: shared e3; G: true base-only e4; H: never fires (decoder nonzero in both, Δnorm 0.5).
    Raw activations are the normalized ones divided by the crosscoder's per-model scale, so ``normalize`` matters.
    """
    d, n = 8, 7
    gen = torch.Generator().manual_seed(seed)
    e = torch.eye(d)
    W_enc = torch.zeros(2, d, n)
    W_dec = torch.zeros(n, 2, d)
    W_enc[1, :, A_FT_ONLY], W_dec[A_FT_ONLY, 1] = e[0], e[0]
    W_enc[1, :, B_SHRUNK], W_dec[B_SHRUNK, 1] = e[1], e[1]
    W_enc[1, :, C_DECOUPLED_FT], W_dec[C_DECOUPLED_FT, 1] = e[2], e[2]
    W_enc[0, :, D_DECOUPLED_BASE], W_dec[D_DECOUPLED_BASE, 0] = e[2], e[2]
    W_enc[0, :, E_SHARED] = W_enc[1, :, E_SHARED] = 0.5 * e[3]
    W_dec[E_SHARED, 0] = W_dec[E_SHARED, 1] = e[3]
    W_enc[0, :, G_BASE_ONLY], W_dec[G_BASE_ONLY, 0] = e[4], e[4]
    W_dec[H_DEAD, 0] = W_dec[H_DEAD, 1] = e[5]
    b_enc = torch.zeros(n)
    b_enc[H_DEAD] = -1.0
    scale = (2.0, 0.5)
    cc = BatchTopKCrosscoder.from_weights(W_enc, b_enc, W_dec, torch.zeros(2, d), norm_scale=scale)

    fires = torch.rand(n_tokens, 5, generator=gen) < 0.3
    mag = (0.5 + torch.rand(n_tokens, 5, generator=gen)) * fires
    x = torch.zeros(n_tokens, 2, d)
    x[:, 1, 0] = mag[:, 0]  # A: fine-tune only
    x[:, :, 1] = mag[:, 1, None]  # B: both
    x[:, :, 2] = mag[:, 2, None]  # C/D: both
    x[:, :, 3] = mag[:, 3, None]  # E: both
    x[:, 0, 4] = mag[:, 4]  # G: base only
    x[:, :, 5:] = 0.05 * torch.randn(n_tokens, 2, 3, generator=gen)
    raw = x / torch.tensor(scale)[None, :, None]
    return cc, raw


def test_latent_scaling_separates_true_ft_only_from_complete_shrinkage_and_decoupling() -> None:
    cc, raw = _hand_built()
    df = latent_table(cc, raw, AnalyzeConfig(batch_size=500))
    # Δnorm alone cannot tell A (truly fine-tune-only) from B and C (their direction is in the base too) ...
    assert df.loc[[A_FT_ONLY, B_SHRUNK, C_DECOUPLED_FT], "delta_norm"].tolist() == pytest.approx(
        [1.0, 1.0, 1.0]
    )
    # ... latent scaling can: base error along A's direction is empty (ν^ε 0), along B's it is all of B (ν^ε 1)
    assert df.loc[A_FT_ONLY, ["nu_eps", "nu_r"]].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert df.loc[B_SHRUNK, ["nu_eps", "nu_r"]].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    # C's direction is reconstructed in the base by D: the error misses it (ν^ε 0) but ν^r = 1 catches it
    assert df.loc[C_DECOUPLED_FT, ["nu_eps", "nu_r"]].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)
    # mirrored quantities for the base side
    assert df.loc[G_BASE_ONLY, ["nu_eps_base", "nu_r_base"]].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert df.loc[D_DECOUPLED_BASE, ["nu_eps_base", "nu_r_base"]].tolist() == pytest.approx(
        [0.0, 1.0], abs=1e-6
    )
    assert df["tag"].tolist() == ["ft_only", "other", "other", "other", "shared", "base_only", "other"]
    # the dead latent: never fires, no ν, not "shared" despite Δnorm 0.5
    assert df.loc[H_DEAD, "freq"] == 0 and df.loc[H_DEAD, "max_act"] == 0
    assert df.loc[H_DEAD, "delta_norm"] == pytest.approx(0.5) and math.isnan(df.loc[H_DEAD, "nu_eps"])
    # freq / max_act are the planted firing rate / largest magnitude (in normalized units)
    x = cc.normalize(raw)
    assert df.loc[A_FT_ONLY, "freq"] == pytest.approx(float((x[:, 1, 0] > 0).float().mean()))
    assert df.loc[A_FT_ONLY, "max_act"] == pytest.approx(float(x[:, 1, 0].max()), rel=1e-6)


def test_probe_choice_fills_only_its_columns_and_candidates_limit_scaling() -> None:
    cc, raw = _hand_built(n_tokens=600)
    ft = latent_table(cc, raw, AnalyzeConfig(probe="ft"))
    assert ft["nu_eps_base"].isna().all() and ft.loc[A_FT_ONLY, "nu_eps"] == pytest.approx(0.0, abs=1e-6)
    assert ft.loc[G_BASE_ONLY, "tag"] == "other"  # base_only needs the base probe
    base = latent_table(cc, raw, AnalyzeConfig(probe="base"))
    assert base["nu_eps"].isna().all() and base.loc[G_BASE_ONLY, "tag"] == "base_only"
    # E is shared by Δnorm (0.5): not a scaling candidate by default, but computed with scaling_min_distance=0
    assert not ft.loc[E_SHARED, "nu_computed"] and math.isnan(ft.loc[E_SHARED, "nu_eps"])
    every = latent_table(cc, raw, AnalyzeConfig(scaling_min_distance=0.0))
    assert every.loc[E_SHARED, ["nu_eps", "nu_r"]].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_thresholds_are_configurable() -> None:
    cc, raw = _hand_built(n_tokens=600)
    # B has ν^ε = 1: it becomes ft_only once the ν^ε bound is above 1
    df = latent_table(cc, raw, AnalyzeConfig(nu_eps_max=1.5))
    assert df.loc[B_SHRUNK, "tag"] == "ft_only"
    assert df.attrs["thresholds"]["ft_only"]["nu_eps_max"] == 1.5
    with pytest.raises(ValueError, match="probe"):
        AnalyzeConfig(probe="chat")
    with pytest.raises(ValueError, match="quantile_edges"):
        AnalyzeConfig(quantile_edges=[0.5, 0.25, 1.0])


def _spread_table(seed: int = 0) -> pd.DataFrame:
    """500 latents whose Δnorm scatters as N(0.5, 0.01), plus 4 planted fine-tune outliers (0.62–0.70), 2 planted
    base outliers (0.36, 0.38) and a dead latent at 0.99; ν values that the absolute rule would reject."""
    rng = np.random.default_rng(seed)
    delta_norm = np.r_[rng.normal(0.5, 0.01, 500), [0.62, 0.65, 0.68, 0.70], [0.36, 0.38], [0.99]]
    n = len(delta_norm)
    return pd.DataFrame(
        {
            "delta_norm": delta_norm,
            "nu_eps": np.full(n, 0.6),
            "nu_r": np.full(n, 0.6),
            "nu_eps_base": np.full(n, 0.6),
            "nu_r_base": np.full(n, 0.6),
            "freq": np.r_[np.full(n - 1, 0.01), [0.0]],
        }
    )


def test_relative_selection_tags_the_pairs_delta_norm_outliers() -> None:
    df = _spread_table()
    assert (assign_tags(df, AnalyzeConfig()) == "ft_only").sum() == 0  # nothing reaches Δnorm 0.9
    cfg = AnalyzeConfig(selection="relative", delta_norm_z=5.0)
    high, low = delta_norm_cutoffs(df, cfg)
    # median ≈ 0.5 and 1.4826·MAD ≈ σ = 0.01 (hand-computed bounds for 500 draws), so the cut-offs are ≈ 0.5 ± 0.05
    assert 0.54 < high < 0.56 and 0.44 < low < 0.46
    tags = assign_tags(df, cfg)
    assert list(tags.index[tags == "ft_only"]) == [500, 501, 502, 503]  # the planted outliers, ν not applied
    assert list(tags.index[tags == "base_only"]) == [504, 505]
    assert tags[506] == "other"  # a dead latent is never model-specific, whatever its Δnorm
    thresholds = cfg.thresholds((high, low))
    assert thresholds["selection"]["mode"] == "relative" and thresholds["ft_only"]["delta_norm_min"] == high
    assert thresholds["ft_only"]["nu_eps_max"] is None
    # identical models: Δnorm noise alone gives (almost) no outliers at the default z = 5
    noise = _spread_table(seed=1).iloc[:500]
    assert (assign_tags(noise, AnalyzeConfig(selection="relative")) != "shared").sum() <= 1
    with pytest.raises(ValueError, match="selection"):
        AnalyzeConfig(selection="top")
    with pytest.raises(ValueError, match="delta_norm_z"):
        AnalyzeConfig(selection="relative", delta_norm_z=0)


# ---------------------------------------------------------------------------------------------------------------
# One-pass vectorised latent scaling == per-latent loop (the anchor algorithm)
# ---------------------------------------------------------------------------------------------------------------


def _reference_nu(
    cc: BatchTopKCrosscoder, raw: torch.Tensor, probe_model: int
) -> tuple[np.ndarray, np.ndarray]:
    """Straightforward per-latent loop: materialize each target y_n and solve the 1-D least squares."""
    x = cc.normalize(raw).double()
    f = cc.encode(cc.normalize(raw)).detach().double()
    x_hat = cc.decode(cc.encode(cc.normalize(raw))).detach().double()
    W = cc.W_dec.detach().double()
    nu_eps, nu_r = np.full(f.shape[1], np.nan), np.full(f.shape[1], np.nan)
    for j in range(f.shape[1]):
        p, fj = W[j, probe_model], f[:, j]
        beta = {}
        for m in (0, 1):
            error_target = x[:, m] - x_hat[:, m] + fj[:, None] * W[j, m]
            for name, y in (("eps", error_target), ("r", x_hat[:, m])):
                beta[name, m] = float((fj * (y @ p)).sum() / ((p @ p) * (fj**2).sum()))
        other = 1 - probe_model  # ν = β of the other model / β of the probe's own model
        nu_eps[j] = beta["eps", other] / beta["eps", probe_model]
        nu_r[j] = beta["r", other] / beta["r", probe_model]
    return nu_eps, nu_r


def test_vectorised_latent_scaling_matches_per_latent_loop() -> None:
    torch.manual_seed(3)
    d, n, n_tokens = 12, 40, 2500
    W_enc = torch.randn(2, d, n, dtype=torch.float64) / math.sqrt(d)
    W_dec = torch.randn(n, 2, d, dtype=torch.float64) / math.sqrt(d)
    W_dec[:8, 0] *= 0.05  # some nearly fine-tune-only latents
    W_dec[8:16, 1] *= 0.05  # some nearly base-only latents
    b_enc = torch.full((n,), -0.6, dtype=torch.float64)
    cc = BatchTopKCrosscoder.from_weights(
        W_enc,
        b_enc,
        W_dec,
        0.1 * torch.randn(2, d, dtype=torch.float64),
        threshold=0.05,
        norm_scale=[1.5, 0.7],
    )
    mixing = torch.randn(2, 6, d, dtype=torch.float64)
    raw = torch.einsum("nmk,mkd->nmd", torch.randn(n_tokens, 2, 6, dtype=torch.float64), mixing)
    raw = raw + 0.3 * torch.randn(n_tokens, 2, d, dtype=torch.float64)

    df = latent_table(cc, raw, AnalyzeConfig(scaling_min_distance=0.0, batch_size=300))
    assert df["freq"].between(0.01, 0.9).all()  # the check below covers firing latents
    for probe_model, columns in ((1, ("nu_eps", "nu_r")), (0, ("nu_eps_base", "nu_r_base"))):
        ref_eps, ref_r = _reference_nu(cc, raw, probe_model)
        np.testing.assert_allclose(df[columns[0]].to_numpy(), ref_eps, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(df[columns[1]].to_numpy(), ref_r, rtol=1e-6, atol=1e-6)


class _NonlinearDecoder:
    """Duck-typed crosscoder whose decode is not f·W_dec + b_dec (the pass must refuse it, not mis-compute)."""

    def __init__(self, cc: BatchTopKCrosscoder) -> None:
        self.cc, self.W_dec, self.b_dec = cc, cc.W_dec, cc.b_dec
        self.normalize, self.encode = cc.normalize, cc.encode

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.cc.decode(f) - 0.2)


def test_activation_sources_agree_and_bad_input_is_rejected() -> None:
    cc, raw = _hand_built(n_tokens=700)
    whole = latent_table(cc, raw, AnalyzeConfig(batch_size=10_000))
    streamed = latent_table(cc, iter(raw.split(97)), AnalyzeConfig(batch_size=64))
    pd.testing.assert_frame_equal(whole, streamed, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, 2, d\)"):
        latent_table(cc, torch.randn(10, 8))
    with pytest.raises(ValueError, match="empty"):
        latent_table(cc, iter([]))
    with pytest.raises(ValueError, match="linear decoder"):
        latent_table(_NonlinearDecoder(cc), raw)


# ---------------------------------------------------------------------------------------------------------------
# Planted synthetic data, crosscoder trained by train_crosscoder
# ---------------------------------------------------------------------------------------------------------------


def _best_latent(cc, planted, kind: str, model: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per planted concept of ``kind``: the largest decoder cosine (in ``model``'s half) and its latent id."""
    directions = planted.directions[planted.index(kind), model]
    decoders = torch.nn.functional.normalize(cc.W_dec.detach()[:, model], dim=-1)
    best = (directions @ decoders.T).max(dim=1)
    return best.values, best.indices


@pytest.fixture(scope="module")
def planted_run():
    planted = make_planted_pairs(
        16384,
        32,
        n_shared=32,
        n_ft_only=6,
        n_base_only=6,
        firing_prob=0.04,
        noise=0.02,
        bias_norm=1.0,
        model_scale=(1.0, 3.0),
        seed=0,
    )
    cfg = CrosscoderConfig.preset(
        "cpu-tiny", n_latents=128, k=4, batch_size=256, epochs=5, log_every_steps=1000
    )
    return planted, train_crosscoder(planted.acts, cfg)


def test_planted_model_specific_concepts_are_tagged_and_shared_ones_are_not(planted_run) -> None:
    planted, cc = planted_run
    df = latent_table(cc, planted.acts)
    for kind, model in (("ft_only", 1), ("base_only", 0)):
        cos, latent = _best_latent(cc, planted, kind, model)
        found = (cos > 0.9).numpy() & (df.loc[latent.numpy(), "tag"] == kind).to_numpy()
        assert found.mean() >= 2 / 3, df.loc[latent.numpy()]
        assert (df["tag"] == kind).sum() <= 2 * len(planted.index(kind))  # few false positives
    # shared concepts the crosscoder recovered (its own tests check how many) are rarely called model-specific
    cos, latent = _best_latent(cc, planted, "shared", 0)
    recovered = latent[cos > 0.9].numpy()
    assert len(recovered) >= 10
    assert df.loc[recovered, "tag"].isin(["ft_only", "base_only"]).mean() <= 0.1


def test_latent_scaling_catches_complete_shrinkage_that_delta_norm_misses(planted_run) -> None:
    """Zero the base decoder of three recovered shared latents (complete shrinkage: the concept is still in the
    base activations): their Δnorm becomes 1 like the true fine-tune-only latents, but ν^ε ≈ 1 keeps them out."""
    planted, cc = planted_run
    cos, latent = _best_latent(cc, planted, "shared", 0)
    shrunk = latent[cos > 0.95][:3]
    W_dec = cc.W_dec.detach().clone()
    W_dec[shrunk, 0] = 0.0
    weights = [t.detach() for t in (cc.W_enc, cc.b_enc)]
    broken = BatchTopKCrosscoder.from_weights(
        *weights, W_dec, cc.b_dec.detach(), threshold=float(cc.threshold), norm_scale=cc.cfg.norm_scale
    )
    df = latent_table(broken, planted.acts)
    ft_cos, ft_latent = _best_latent(cc, planted, "ft_only", 1)
    true_ft = ft_latent[
        (ft_cos > 0.9) & torch.tensor(df.loc[ft_latent.numpy(), "delta_norm"].to_numpy() >= 0.9)
    ]
    assert len(true_ft) >= 4
    assert (df.loc[shrunk.numpy(), "delta_norm"] == 1.0).all()  # Δnorm alone: as fine-tune-only as it gets
    assert (df.loc[shrunk.numpy(), "nu_eps"] > 0.5).all()
    assert (df.loc[true_ft.numpy(), "nu_eps"].abs() < 0.2).all()
    assert (df.loc[shrunk.numpy(), "tag"] != "ft_only").all()
    assert (df.loc[true_ft.numpy(), "tag"] == "ft_only").mean() >= 0.75


# ---------------------------------------------------------------------------------------------------------------
# Max-activating examples
# ---------------------------------------------------------------------------------------------------------------


def _word_corpus(tokenizer, n_docs: int, seed: int) -> TokenInfo:
    """Documents of whole-word tokens (" cat", " question", ...) so a window's text is the join of its tokens."""
    words = [
        i for i in range(len(tokenizer)) if (s := tokenizer.decode([i])).startswith(" ") and s[1:].isalpha()
    ]
    rng = random.Random(seed)
    token_ids, doc_ids, positions = [], [], []
    for doc in range(n_docs):
        length = rng.randint(5, 70)
        token_ids += rng.choices(words, k=length)
        doc_ids += [doc] * length
        positions += list(range(1, length + 1))  # position 0 (BOS) is not cached
    return TokenInfo(torch.tensor(token_ids), torch.tensor(doc_ids), torch.tensor(positions), tokenizer)


def _sparse_crosscoder(d: int, n: int, seed: int) -> BatchTopKCrosscoder:
    """Random crosscoder whose latents fire on ~10% of random tokens, except the last one (~85%)."""
    gen = torch.Generator().manual_seed(seed)
    W_enc = torch.randn(2, d, n, generator=gen) / math.sqrt(2 * d)
    W_dec = torch.randn(n, 2, d, generator=gen)
    b_enc = torch.full((n,), -1.2)
    b_enc[-1] = 1.0
    return BatchTopKCrosscoder.from_weights(W_enc, b_enc, W_dec, torch.zeros(2, d))


@pytest.fixture(scope="module")
def example_setup(tiny_tokenizer):
    tokens = _word_corpus(tiny_tokenizer, n_docs=60, seed=1)
    d, n = 16, 10
    cc = _sparse_crosscoder(d, n, seed=2)
    raw = torch.randn(len(tokens), 2, d, generator=torch.Generator().manual_seed(4))
    f = cc.encode(cc.normalize(raw)).detach()
    cfg = AnalyzeConfig(
        batch_size=128, n_top_examples=6, n_per_quantile=3, n_negative=5, window_before=5, window_after=2
    )
    latents = [0, 3, 4, 7, 9]  # 9 fires almost everywhere: held-out windows would collide
    examples = collect_examples(cc, raw, tokens, latents, f.max(0).values.numpy(), cfg)
    return tokens, f, cfg, latents, examples


def _row_of(tokens: TokenInfo) -> dict[tuple[int, int], int]:
    return {
        (int(dc), int(p)): i for i, (dc, p) in enumerate(zip(tokens.doc_ids, tokens.positions, strict=True))
    }


def _window_rows(tokens: TokenInfo, row: int, before: int, after: int) -> list[int]:
    doc = tokens.doc_ids
    return [r for r in range(row - before, row + after + 1) if 0 <= r < len(doc) and doc[r] == doc[row]]


def test_top_examples_are_the_brute_force_top_activations(example_setup) -> None:
    tokens, f, cfg, latents, examples = example_setup
    row_of = _row_of(tokens)
    assert 0.02 < float((f[:, latents[:4]] > 0).float().mean()) < 0.5  # sparse: windows mix firing and silent
    for j in latents:
        top = examples[(examples.latent_id == j) & (examples.kind == "top")].sort_values("rank")
        expected = torch.sort(f[:, j], descending=True)
        assert top["activation"].to_numpy() == pytest.approx(
            expected.values[: cfg.n_top_examples].numpy(), rel=1e-6
        )
        rows = [row_of[(dc, p)] for dc, p in zip(top.doc_id, top.token_index, strict=True)]
        assert rows == expected.indices[: cfg.n_top_examples].tolist()


def test_markers_sit_on_the_activating_tokens(example_setup) -> None:
    tokens, f, cfg, latents, examples = example_setup
    row_of = _row_of(tokens)
    decode = tokens.tokenizer.decode
    for rec in examples[examples.kind != "negative"].itertuples():
        row = row_of[(rec.doc_id, rec.token_index)]
        window = _window_rows(tokens, row, cfg.window_before, cfg.window_after)
        pieces = [decode([int(tokens.token_ids[r])]) for r in window]
        marked = [f"<<{p}>>" if f[r, rec.latent_id] > 0 else p for p, r in zip(pieces, window, strict=True)]
        assert rec.text == "".join(pieces)
        assert rec.marked_text == "".join(marked)
        assert f"<<{decode([int(tokens.token_ids[row])])}>>" in rec.marked_text
        assert rec.activation == pytest.approx(float(f[row, rec.latent_id]), rel=1e-6)


def test_quantile_samples_lie_in_their_bins_apart_from_top_windows(example_setup) -> None:
    tokens, f, cfg, latents, examples = example_setup
    row_of = _row_of(tokens)
    edges = [0.0, *cfg.quantile_edges]
    for j in latents:
        top = examples[(examples.latent_id == j) & (examples.kind == "top")]
        covered = {
            r
            for dc, p in zip(top.doc_id, top.token_index, strict=True)
            for r in _window_rows(tokens, row_of[(dc, p)], cfg.window_before, cfg.window_after)
        }
        held = examples[(examples.latent_id == j) & (examples.kind == "quantile")]
        assert len(held) >= 2 * cfg.n_per_quantile  # the lower bins are well populated
        ratio = held["activation"].to_numpy() / float(f[:, j].max())
        bins = np.searchsorted(edges, ratio, side="left") - 1
        assert (ratio > 0).all() and np.bincount(bins, minlength=len(edges) - 1).max() <= cfg.n_per_quantile
        assert held["activation"].is_monotonic_decreasing
        held_rows = [row_of[(dc, p)] for dc, p in zip(held.doc_id, held.token_index, strict=True)]
        held_windows = [set(_window_rows(tokens, r, cfg.window_before, cfg.window_after)) for r in held_rows]
        for i, window in enumerate(held_windows):  # windows overlap neither top windows nor each other
            assert not window & covered and not any(window & other for other in held_windows[i + 1 :])


def test_every_window_token_keeps_its_activation(example_setup) -> None:
    tokens, f, cfg, latents, examples = example_setup
    row_of = _row_of(tokens)
    for rec in examples.itertuples():
        row = row_of[(rec.doc_id, rec.token_index)]
        window = _window_rows(tokens, row, cfg.window_before, cfg.window_after)
        pieces = json.loads(rec.tokens)
        assert "".join(pieces) == rec.text and len(pieces) == len(window)
        assert window[rec.focus] == row
        if rec.kind == "negative":
            assert pd.isna(rec.token_acts)  # f = 0 on every token of a negative window
            continue
        acts = json.loads(rec.token_acts)
        assert acts == pytest.approx(f[window, rec.latent_id].tolist(), rel=1e-6, abs=1e-12)
        assert acts[rec.focus] == pytest.approx(rec.activation, rel=1e-6)


def test_activation_histogram_counts_every_firing_token(example_setup) -> None:
    _, f, _, latents, examples = example_setup
    histogram = examples.attrs["activation_histogram"]
    assert histogram["bins"] == 20
    for j in latents:
        values = f[:, j][f[:, j] > 0].double()
        top = float(f[:, j].max())
        assert histogram["max_act"][j] == pytest.approx(top)
        # bin i covers (i/20, (i+1)/20] of the maximum
        expected = np.bincount(np.ceil(values.numpy() / top * 20).astype(int) - 1, minlength=20)
        assert histogram["counts"][j] == expected.tolist() and sum(histogram["counts"][j]) == len(values)


def test_negative_windows_never_fire(example_setup) -> None:
    tokens, f, cfg, latents, examples = example_setup
    row_of = _row_of(tokens)
    for j in latents:
        negative = examples[(examples.latent_id == j) & (examples.kind == "negative")]
        assert len(negative) == (
            cfg.n_negative if j != 9 else 0
        )  # 9 fires almost everywhere: no silent window
        for rec in negative.itertuples():
            window = _window_rows(
                tokens, row_of[(rec.doc_id, rec.token_index)], cfg.window_before, cfg.window_after
            )
            assert (f[window, j] == 0).all()
            assert rec.text == rec.marked_text == tokens.tokenizer.decode(tokens.token_ids[window].tolist())


def test_examples_sqlite_roundtrip_and_rerun(example_setup, tmp_path) -> None:
    _, _, cfg, latents, examples = example_setup
    db = tmp_path / "examples.sqlite"
    with pytest.raises(FileNotFoundError, match="analyze"):
        load_examples(db, "base__ft")
    write_examples(db, "base__ft", examples, cfg)
    write_examples(db, "base__ft", examples, cfg)  # rerun replaces, never duplicates
    write_examples(db, "base__other", examples[examples.latent_id == 3], cfg)
    with sqlite3.connect(db) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(examples)")]
        count = con.execute("SELECT COUNT(*) FROM examples WHERE pair = 'base__ft'").fetchone()[0]
    assert columns == [
        "pair",
        "latent_id",
        "kind",
        "rank",
        "activation",
        "doc_id",
        "token_index",
        "text",
        "marked_text",
        "tokens",
        "token_acts",
        "focus",
    ]
    assert count == len(examples)
    loaded = load_examples(db, "base__ft")
    assert sorted(loaded) == latents
    for j in latents:
        rows = examples[examples.latent_id == j]
        top = rows[rows.kind == "top"].sort_values("rank")
        assert loaded[j].top == top["marked_text"].tolist()
        assert len(loaded[j].heldout) == (rows.kind == "quantile").sum()
        assert loaded[j].negative == rows[rows.kind == "negative"].sort_values("rank")["text"].tolist()
    some = load_examples(db, "base__other", latent_ids=[3, 99])
    assert set(some) == {3, 99} and some[99].top == [] and len(some[3].top) == cfg.n_top_examples
    with pytest.raises(FileNotFoundError, match="base__nothing"):
        load_examples(db, "base__nothing")


def test_display_readers_and_an_older_database(example_setup, tmp_path) -> None:
    _, _, cfg, latents, examples = example_setup
    db = tmp_path / "examples.sqlite"
    assert display_contexts(db, "base__ft") == {} and activation_histograms(db, "base__ft") == {}
    with sqlite3.connect(db) as con:  # the schema before per-token activations and histograms
        con.execute(
            "CREATE TABLE examples(pair TEXT, latent_id INT, kind TEXT, rank INT, activation REAL, doc_id INT, "
            "token_index INT, text TEXT, marked_text TEXT)"
        )
        con.execute("INSERT INTO examples VALUES ('base__old', 1, 'top', 0, 2.0, 0, 1, 'a b', 'a <<b>>')")
        con.execute(
            "CREATE TABLE examples_complete(pair TEXT PRIMARY KEY, n_latents INT, n_rows INT, thresholds TEXT, "
            "config TEXT, finished_at TEXT)"
        )
        con.execute("INSERT INTO examples_complete VALUES ('base__old', 1, 1, '{}', '{}', '')")
    (old,) = display_contexts(db, "base__old")[1]
    assert old.marked_text == "a <<b>>" and old.tokens is None and old.token_acts is None
    assert activation_histograms(db, "base__old") == {}
    write_examples(db, "base__ft", examples, cfg)  # adds the new columns and table to the old database
    shown = display_contexts(db, "base__ft")
    assert sorted(shown) == latents and display_contexts(db, "base__old")[1][0].tokens is None
    for j in latents:
        rows = examples[(examples.latent_id == j) & (examples.kind != "negative")]
        assert [c.kind for c in shown[j]] == sorted(rows.kind, key=lambda kind: kind == "quantile")
        first = rows[(rows.kind == "top") & (rows["rank"] == 0)].iloc[0]
        assert shown[j][0].tokens == json.loads(first.tokens) and shown[j][0].focus == first.focus
        assert shown[j][0].token_acts == json.loads(first.token_acts)
    histograms = activation_histograms(db, "base__ft")
    assert {j: counts for j, (_, counts) in histograms.items()} == examples.attrs["activation_histogram"][
        "counts"
    ]


# ---------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------


def test_plots_are_written(tmp_path) -> None:
    cc, raw = _hand_built(n_tokens=600)
    df = latent_table(cc, raw)
    plot_delta_norm(df, tmp_path / "dn.png", title="hand")
    plot_nu_scatter(df, tmp_path / "nu.png", title="hand")
    for name in ("dn.png", "nu.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))


# ---------------------------------------------------------------------------------------------------------------
# Stage function on a run directory (tiny real models -> harvest -> train -> analyze)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tiny_base_dir, tiny_ft_dir, tiny_corpus_path, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    corpus = CorpusConfig(sources=[CorpusSource(path=str(tiny_corpus_path))])
    harvest_cfg = HarvestConfig(layer=2, batch_size=8, context_length=64, corpus=corpus, progress=False)
    harvest(harvest_cfg, run, [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))])
    cc_cfg = CrosscoderConfig.preset(
        "cpu-tiny", n_latents=64, k=4, batch_size=128, epochs=2, log_every_steps=1000
    )
    train(cc_cfg, run, "base", "ft")
    return run


def test_stage_writes_table_examples_and_plots(run_dir) -> None:
    cfg = AnalyzeConfig(
        batch_size=200, example_tags=list(("ft_only", "base_only", "shared", "other")), n_top_examples=5
    )
    df = analyze(cfg, run_dir, "base", "ft")
    path = run_dir / "latents" / "base__ft.parquet"
    table = pd.read_parquet(path)
    assert table.index.name == "latent_id" and len(table) == 64
    assert set(CONTRACT_COLUMNS) <= set(table.columns)
    assert set(table["tag"]) <= {"ft_only", "base_only", "shared", "other"}
    assert table.attrs["thresholds"]["ft_only"] == {
        "delta_norm_min": 0.9,
        "nu_eps_max": 0.2,
        "nu_r_max": 0.5,
        "nu_min": None,
    }
    assert b"PANDAS_ATTRS" in pq.read_schema(path).metadata and table.attrs["pair"] == "base__ft"
    pd.testing.assert_frame_equal(table, df)
    fired = table.index[table["freq"] > 0]
    examples = load_examples(run_dir / "examples.sqlite", "base__ft")
    assert set(examples) == set(fired) and all(len(examples[j].top) >= 1 for j in fired)
    assert all("<<" in text for j in fired for text in examples[j].top)
    for name in ("base__ft_delta_norm.png", "base__ft_nu_scatter.png"):
        assert (run_dir / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    analyze(cfg, run_dir, "base", "ft")  # rerun: same rows, not twice as many
    again = load_examples(run_dir / "examples.sqlite", "base__ft")
    assert {j: e.top for j, e in again.items()} == {j: e.top for j, e in examples.items()}


def test_stage_names_the_missing_stage(run_dir, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="train"):
        analyze(AnalyzeConfig(), run_dir, "base", "nothing")
    empty = tmp_path / "run"
    (empty / "crosscoders" / "base__ft").mkdir(parents=True)
    (empty / "crosscoders" / "base__ft" / "cfg.json").write_text("{}")
    with pytest.raises(CacheError, match="harvest"):
        analyze(AnalyzeConfig(), empty, "base", "ft")
