"""Train stage: the BatchTopK crosscoder (llmdiff_eval/crosscoder/) and the planted data (llmdiff_eval/synthetic.py).

Known answers come from the planted ground truth (directions, kinds, scales), from dense reference computations
written here, and from the data itself (norms computed in the test).
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
import torch
from sae_lens import SAE, TrainingSAE
from sae_lens.registry import SAE_CLASS_REGISTRY, SAE_TRAINING_CLASS_REGISTRY
from sae_lens.saes.sae import TrainStepInput

from llmdiff_eval import crosscoder as xc
from llmdiff_eval.crosscoder import (
    BatchTopKCrosscoder,
    BatchTopKCrosscoderTrainingConfig,
    BatchTopKCrosscoderTrainingSAE,
    CrosscoderConfig,
    CrosscoderError,
    batch_topk_flat,
    load_crosscoder,
    train_crosscoder,
)
from llmdiff_eval.stages.train import train_pair
from llmdiff_eval.synthetic import make_planted_pairs

D = 64


@pytest.fixture(autouse=True)
def one_thread():
    """The shapes here are tiny: a second thread only waits on the busy shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def delta_norm(crosscoder) -> torch.Tensor:
    """Paper orientation: 1 = only in the fine-tune (index 1), 0 = only in the base (index 0)."""
    norms = crosscoder.W_dec.detach().norm(dim=-1)
    return 0.5 * ((norms[:, 1] - norms[:, 0]) / norms.max(dim=1).values.clamp_min(1e-12) + 1)


def best_match(crosscoder, planted, kind: str, model: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each planted concept of ``kind``: the best decoder cosine in ``model`` and that latent's id."""
    decoder = torch.nn.functional.normalize(crosscoder.W_dec.detach()[:, model], dim=-1)
    cos = decoder @ planted.directions[planted.index(kind), model].T
    best = cos.max(dim=0)
    return best.values, best.indices


# ---------------------------------------------------------------------------------------------------------------
# Planted data


def test_planted_pairs_follow_the_generative_model():
    p = make_planted_pairs(3000, 24, n_shared=6, n_ft_only=3, n_base_only=2, n_confound=2, seed=5, noise=0.0)
    assert p.acts.shape == (3000, 2, 24) and p.acts.dtype == torch.float32
    assert p.kinds == ("shared",) * 6 + ("ft_only",) * 3 + ("base_only",) * 2 + ("confound",) * 2
    rebuilt = torch.einsum("nmc,cmd->nmd", p.coefficients, p.directions) + p.bias
    torch.testing.assert_close(rebuilt, p.acts, atol=1e-5, rtol=0)
    ft, base, confound, shared = (p.index(k) for k in ("ft_only", "base_only", "confound", "shared"))
    assert p.directions[ft, 0].abs().max() == 0 and p.coefficients[:, 0, ft].abs().max() == 0
    assert p.directions[base, 1].abs().max() == 0 and p.coefficients[:, 1, base].abs().max() == 0
    cos = (p.directions[:, 0] * p.directions[:, 1]).sum(-1)
    assert bool(((cos[shared] >= 0.95 - 1e-6) & (cos[shared] <= 1 + 1e-6)).all())
    torch.testing.assert_close(cos[confound], torch.ones(2))
    # The confound fires on the same tokens in both models, with uncorrelated magnitudes.
    for c in confound.tolist():
        on = p.fires[:, c]
        assert bool(
            ((p.coefficients[:, 0, c] > 0) == on).all() and ((p.coefficients[:, 1, c] > 0) == on).all()
        )
        magnitudes = p.coefficients[on][:, :, c]
        assert abs(torch.corrcoef(magnitudes.T)[0, 1]) < 0.25
    expected = p.expected_delta_norm()
    assert expected[ft].eq(1).all() and expected[base].eq(0).all() and expected[confound].eq(0.5).all()
    assert abs(p.fires.float().mean() - 0.05) < 0.01
    again = make_planted_pairs(
        3000, 24, n_shared=6, n_ft_only=3, n_base_only=2, n_confound=2, seed=5, noise=0.0
    )
    assert torch.equal(again.acts, p.acts)


def test_planted_pairs_reject_bad_arguments():
    with pytest.raises(ValueError, match="firing_prob"):
        make_planted_pairs(10, 8, 1, 1, 1, firing_prob=1.5)
    with pytest.raises(ValueError, match="counts"):
        make_planted_pairs(10, 8, 0, 0, 0)
    with pytest.raises(ValueError, match="kind"):
        make_planted_pairs(10, 8, 1, 1, 1).index("chat_only")


# ---------------------------------------------------------------------------------------------------------------
# Training on planted data (one run shared by several tests)

PLANTED = dict(n_shared=32, n_ft_only=6, n_base_only=6, firing_prob=0.04, noise=0.02, bias_norm=1.0)


@pytest.fixture(scope="module")
def planted():
    # The fine-tune's stream is 3x larger than the base's: per-model normalization must cancel that.
    return make_planted_pairs(16384, D, seed=0, model_scale=(1.0, 3.0), **PLANTED)


@pytest.fixture(scope="module")
def trained(planted, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures are set up before the autouse one_thread fixture
    out = tmp_path_factory.mktemp("crosscoder")
    cfg = CrosscoderConfig.preset("cpu-tiny", n_latents=128, k=2, epochs=5, log_every_steps=40)
    crosscoder = train_crosscoder(planted.acts, cfg, out_dir=out)
    torch.set_num_threads(threads)
    return crosscoder, out, cfg


def test_recovers_planted_model_specific_and_shared_concepts(trained, planted):
    crosscoder, _, _ = trained
    dn = delta_norm(crosscoder)
    cos_ft, latent_ft = best_match(crosscoder, planted, "ft_only", 1)
    found_ft = (cos_ft > 0.9) & (dn[latent_ft] >= 0.9)
    assert found_ft.float().mean() >= 0.8, (cos_ft, dn[latent_ft])
    cos_base, latent_base = best_match(crosscoder, planted, "base_only", 0)
    found_base = (cos_base > 0.9) & (dn[latent_base] <= 0.1)
    assert found_base.float().mean() >= 0.8, (cos_base, dn[latent_base])
    cos_shared, latent_shared = best_match(crosscoder, planted, "shared", 0)
    recovered = cos_shared > 0.9
    assert recovered.float().mean() >= 0.8
    extreme = (dn[latent_shared[recovered]] - 0.5).abs() >= 0.4
    assert extreme.float().mean() <= 0.1, dn[latent_shared]


def test_training_log_reports_per_model_fit_l0_and_dead_latents(trained):
    crosscoder, out, cfg = trained
    log = crosscoder.training_log
    lines = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert lines == log
    total = (16384 // cfg.batch_size) * cfg.epochs
    assert [e["step"] for e in log] == list(range(40, total, 40)) + [total]
    for entry in log:
        assert abs(entry["l0"] - cfg.k) < 1e-6  # BatchTopK keeps exactly k·B entries
        assert isinstance(entry["dead_latents"], int) and 0 <= entry["dead_latents"] <= cfg.n_latents
    final = log[-1]
    # Bound: ≥ 90% of the variance of each model explained (planted noise is ~1% of the variance).
    assert final["explained_variance_base"] > 0.9 and final["explained_variance_ft"] > 0.9
    assert final["fvu_base"] == pytest.approx(1 - final["explained_variance_base"])
    assert log[0]["fvu_ft"] > final["fvu_ft"]
    assert final["lr"] == pytest.approx(0.0, abs=1e-9)  # linear decay to 0 over the last 20% of the steps


def test_normalization_is_per_model_and_recorded(trained, planted):
    crosscoder, out, _ = trained
    mean_norm = planted.acts.double().norm(dim=-1).mean(dim=0)
    expected = (math.sqrt(D) / mean_norm).tolist()
    saved = json.loads((out / "cfg.json").read_text())
    assert saved["normalization"] == "unit_rms"
    assert saved["norm_scale"] == pytest.approx(expected, rel=1e-5)
    assert saved["metadata"]["llmdiff_eval"]["normalization"]["scale"] == pytest.approx(expected, rel=1e-5)
    normalized = crosscoder.normalize(planted.acts)
    torch.testing.assert_close(
        normalized.norm(dim=-1).mean(dim=0), torch.full((2,), math.sqrt(D)), rtol=1e-4, atol=0
    )
    torch.testing.assert_close(crosscoder.denormalize(normalized), planted.acts)


def test_inference_threshold_keeps_about_k_latents(trained):
    crosscoder, _, cfg = trained
    heldout = make_planted_pairs(4096, D, seed=0, token_seed=99, model_scale=(1.0, 3.0), **PLANTED).acts
    f = crosscoder.encode(crosscoder.normalize(heldout))
    l0 = (f > 0).sum(dim=1).float().mean()
    assert 0.5 * cfg.k <= l0 <= 2 * cfg.k
    assert float(crosscoder.threshold) > 0
    x = crosscoder.normalize(heldout)
    fvu = (x - crosscoder.decode(f)).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert fvu < 0.15


def test_saved_in_sae_lens_format_and_loaded_through_its_registry(trained, planted):
    crosscoder, out, _ = trained
    assert {p.name for p in out.iterdir()} == {"cfg.json", "sae_weights.safetensors", "training_log.jsonl"}
    assert json.loads((out / "cfg.json").read_text())["architecture"] == "batchtopk_crosscoder"
    assert SAE_CLASS_REGISTRY["batchtopk_crosscoder"][0] is BatchTopKCrosscoder
    assert SAE_TRAINING_CLASS_REGISTRY["batchtopk_crosscoder"][0] is BatchTopKCrosscoderTrainingSAE
    via_sae_lens = SAE.load_from_disk(out)
    via_ours = load_crosscoder(out)
    assert type(via_sae_lens) is BatchTopKCrosscoder and type(via_ours) is BatchTopKCrosscoder
    x = crosscoder.normalize(planted.acts[:512])
    reference = crosscoder.encode(x)
    assert torch.equal(via_sae_lens.encode(x), reference) and torch.equal(via_ours.encode(x), reference)
    assert via_ours.W_enc.shape == (2, D, 128) and via_ours.W_dec.shape == (128, 2, D)
    assert (
        via_ours.b_enc.shape == (128,) and via_ours.b_dec.shape == (2, D) and via_ours.threshold.shape == ()
    )
    assert via_ours.training_log == crosscoder.training_log


def test_finished_run_is_returned_not_retrained(trained, planted):
    _, out, cfg = trained
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    again = train_crosscoder(planted.acts, cfg, out_dir=out)
    assert {
        p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()
    } == before  # nothing rewritten
    assert again.training_log == [
        json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()
    ]
    with pytest.raises(CrosscoderError, match="another config"):
        train_crosscoder(
            planted.acts, CrosscoderConfig.preset("cpu-tiny", n_latents=64, batch_size=256), out_dir=out
        )


# ---------------------------------------------------------------------------------------------------------------
# Resume


def _small_run_inputs():
    data = make_planted_pairs(2048, 16, n_shared=12, n_ft_only=2, n_base_only=2, seed=3)
    cfg = CrosscoderConfig.preset(
        "cpu-tiny",
        n_latents=48,
        k=3,
        batch_size=128,
        epochs=3,
        checkpoint_every_steps=10,
        log_every_steps=4,
        dead_after_tokens=1024,
    )
    return data.acts, cfg


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    acts, cfg = _small_run_inputs()
    uninterrupted = train_crosscoder(acts, cfg)
    assert any(
        e["dead_latents"] > 0 and e["auxk_loss"] > 0 for e in uninterrupted.training_log
    )  # AuxK active
    partial = train_crosscoder(acts, cfg, out_dir=tmp_path, max_steps=23)
    assert not (tmp_path / "cfg.json").exists()  # not finished, so not marked finished
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_000000023"]
    assert partial.training_log[-1]["step"] == 23
    resumed = train_crosscoder(acts, cfg, out_dir=tmp_path)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold"):
        torch.testing.assert_close(getattr(resumed, name), getattr(uninterrupted, name), atol=1e-6, rtol=1e-5)
    steps = [e["step"] for e in resumed.training_log]
    assert steps == sorted(set(steps)) and steps[-1] == 48 and 23 in steps
    reference = {e["step"]: e["loss"] for e in uninterrupted.training_log}
    for entry in resumed.training_log:
        if entry["step"] in reference:
            assert entry["loss"] == pytest.approx(reference[entry["step"]], rel=1e-5)
    assert not (tmp_path / "checkpoints").exists() and (tmp_path / "cfg.json").exists()


@pytest.mark.slow
def test_killed_training_process_resumes_from_its_last_checkpoint(tmp_path):
    """SIGKILL a real training process after its first checkpoint; the rerun finishes and matches."""
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        torch.set_num_threads(1)
        from test_crosscoder import _small_run_inputs
        from llmdiff_eval.crosscoder import train_crosscoder
        acts, cfg = _small_run_inputs()
        cfg.epochs = 30
        train_crosscoder(acts, cfg, out_dir={str(tmp_path)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while not list((tmp_path / "checkpoints").glob("step_*")) and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (tmp_path / "cfg.json").exists()
    acts, cfg = _small_run_inputs()
    cfg.epochs = 30
    resumed = train_crosscoder(acts, cfg, out_dir=tmp_path)
    uninterrupted = train_crosscoder(acts, cfg)
    torch.testing.assert_close(resumed.W_dec, uninterrupted.W_dec, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# Stage function on real harvested caches (tiny random transformers), streamed in shuffle groups


@pytest.fixture(scope="module")
def harvested(tmp_path_factory, tiny_base_dir, tiny_ft_dir, tiny_corpus_path):
    from llmdiff_eval.corpus import CorpusConfig, CorpusSource
    from llmdiff_eval.harvest import HarvestConfig, harvest
    from llmdiff_eval.models import ModelSpec

    run_dir = tmp_path_factory.mktemp("run")
    corpus = CorpusConfig(sources=[CorpusSource(path=str(tiny_corpus_path))])
    cfg = HarvestConfig(
        layer=2, batch_size=4, shard_tokens=150, context_length=48, progress=False, corpus=corpus
    )
    harvest(cfg, run_dir, [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))])
    return run_dir


def test_streamed_batches_pair_the_same_token_of_both_caches(harvested):
    from llmdiff_eval.harvest import load_paired

    paired = load_paired(harvested / "activations" / "base", harvested / "activations" / "ft")
    cfg = CrosscoderConfig.preset("cpu-tiny", batch_size=64, epochs=2, buffer_tokens=400)
    source = xc.CacheSource(harvested / "activations" / "base", harvested / "activations" / "ft")
    assert len(source.shard_sizes) > 3 and source.n_tokens == len(paired) > 400  # several groups per epoch
    scale = torch.tensor([2.0, 0.5])
    available = Counter(pair.numpy().tobytes() for pair in paired)  # some tokens repeat (same prefix)
    seen: list[Counter] = [Counter(), Counter()]
    batches = list(source.batches(cfg, scale, start_step=0))
    assert len(batches) == source.total_steps(cfg)
    per_epoch = sum(sum(source.shard_sizes[i] for i in g) // 64 for g in xc.epoch_groups(source, cfg, 0))
    for step, batch in enumerate(batches):
        assert batch.shape == (64, 2, paired.shape[2])
        seen[0 if step < per_epoch else 1].update(
            pair.numpy().tobytes() for pair in batch / scale[None, :, None]
        )
    for counts in seen:
        assert not counts - available  # every (base, ft) pair is one token of both caches, none used twice
        assert sum(counts.values()) >= len(paired) - len(xc.epoch_groups(source, cfg, 0)) * 64
    assert not torch.equal(batches[0], batches[per_epoch])  # reshuffled per epoch
    resumed = list(source.batches(cfg, scale, start_step=7))
    assert all(torch.equal(a, b) for a, b in zip(resumed, batches[7:], strict=True))


def test_train_stage_writes_the_pair_directory(harvested):
    cfg = CrosscoderConfig.preset("cpu-tiny", n_latents=64, k=4, batch_size=64, epochs=2, buffer_tokens=400)
    out = train_pair(cfg, harvested, "base", "ft")
    assert out == harvested / "crosscoders" / "base__ft"
    assert {"cfg.json", "sae_weights.safetensors", "training_log.jsonl"} <= {p.name for p in out.iterdir()}
    crosscoder = load_crosscoder(out)
    saved = json.loads((out / "cfg.json").read_text())
    assert saved["metadata"]["llmdiff_eval"]["pair"] == {"base": "base", "ft": "ft"}
    mean_norms = [
        json.loads((harvested / "activations" / m / "stats.json").read_text())["mean_norm"]
        for m in ("base", "ft")
    ]
    d = crosscoder.d_model
    assert crosscoder.cfg.norm_scale == pytest.approx([math.sqrt(d) / n for n in mean_norms], rel=1e-6)
    assert crosscoder.training_log[-1]["step"] == saved["metadata"]["llmdiff_eval"]["total_steps"]


def test_caches_of_different_token_streams_are_refused(harvested, tmp_path, tiny_ft_dir, tiny_corpus_path):
    from llmdiff_eval.corpus import CorpusConfig, CorpusSource
    from llmdiff_eval.harvest import HarvestConfig, harvest
    from llmdiff_eval.models import ModelSpec

    corpus = CorpusConfig(sources=[CorpusSource(path=str(tiny_corpus_path))])
    other = HarvestConfig(
        layer=2, batch_size=4, shard_tokens=150, context_length=32, progress=False, corpus=corpus
    )
    harvest(other, tmp_path, [ModelSpec("ft", str(tiny_ft_dir))])
    cfg = CrosscoderConfig.preset("cpu-tiny", n_latents=64, k=4, batch_size=64)
    with pytest.raises(CrosscoderError, match="same token stream"):
        train_crosscoder((harvested / "activations" / "base", tmp_path / "activations" / "ft"), cfg)


# ---------------------------------------------------------------------------------------------------------------
# The sparse training step against a dense reference of the anchor algorithm


@pytest.mark.parametrize("decode", ["sparse", "dense"])
def test_sparse_step_equals_dense_reference_loss_and_gradients(decode):
    torch.manual_seed(0)
    m, d, n, k, batch, aux_k = 2, 12, 40, 3, 24, 5
    cfg = BatchTopKCrosscoderTrainingConfig(
        d_in=d, d_sae=n, k=k, aux_k=aux_k, threshold_start_step=0, dtype="float64", decode=decode
    )
    sae = BatchTopKCrosscoderTrainingSAE(cfg)
    with torch.no_grad():
        sae.b_enc.normal_()
        sae.W_dec.normal_()
        sae.b_dec.normal_()
    x = torch.randn(batch, m, d, dtype=torch.float64)
    dead = torch.zeros(n, dtype=torch.bool)
    dead[::3] = True
    step = TrainStepInput(x, {"auxk": 0.5}, dead, n_training_steps=0, is_logging_step=False)
    out = sae.training_forward_pass(step)
    out.loss.backward()
    sparse_grads = {name: p.grad.clone() for name, p in sae.named_parameters()}
    sae.zero_grad()

    pre = torch.relu(torch.einsum("bmd,mdf->bf", x, sae.W_enc) + sae.b_enc)
    s = sae.W_dec.norm(dim=-1).sum(-1).detach()
    keep = torch.zeros(batch * n, dtype=torch.bool)
    keep[(pre * s).detach().flatten().topk(k * batch).indices] = True
    acts = pre * keep.view(batch, n)
    x_hat = torch.einsum("bf,fmd->bmd", acts, sae.W_dec) + sae.b_dec
    mse = (x_hat - x).pow(2).sum(dim=(1, 2)).mean()
    residual = (x - x_hat).detach()
    dead_pre = torch.where(dead, pre, torch.full_like(pre, -1e9))
    values, cols = dead_pre.topk(aux_k, dim=1)
    aux_recon = torch.einsum("bf,fmd->bmd", torch.zeros_like(pre).scatter(1, cols, values), sae.W_dec)
    aux = (residual - aux_recon).pow(2).sum(dim=(1, 2)).mean() / (residual - residual.mean(0)).pow(2).sum(
        dim=(1, 2)
    ).mean()
    reference = mse + 0.5 * aux
    reference.backward()

    assert float(out.loss.detach()) == pytest.approx(float(reference.detach()), rel=1e-10)
    assert float(out.losses["mse_loss"].detach()) == pytest.approx(float(mse.detach()), rel=1e-10)
    for name, p in sae.named_parameters():
        torch.testing.assert_close(sparse_grads[name], p.grad, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(out.feature_acts, acts.detach())
    s_kept = (acts * s).detach()
    assert float(sae.threshold) == pytest.approx(
        float(s_kept[s_kept > 0].min())
    )  # first update = the minimum


@pytest.mark.parametrize("decode", ["sparse", "dense"])
def test_bf16_autocast_step_matches_the_float32_step(decode):
    """The GPU's mixed-precision path, run on the CPU (torch's CPU autocast): the same loss and gradients as the
    float32 step to bf16 precision, gradients in the parameters' dtype."""
    torch.manual_seed(0)
    cfg = BatchTopKCrosscoderTrainingConfig(
        d_in=64, d_sae=400, k=8, aux_k=5, threshold_start_step=0, decode=decode
    )
    sae = BatchTopKCrosscoderTrainingSAE(cfg)
    with torch.no_grad():
        sae.b_enc.normal_()
        sae.W_dec.normal_()
    dead = torch.zeros(400, dtype=torch.bool)
    dead[::3] = True
    step = TrainStepInput(
        torch.randn(256, 2, 64), {"auxk": 0.5}, dead, n_training_steps=0, is_logging_step=False
    )
    losses, grads = [], []
    for autocast in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = sae.training_forward_pass(step)
        out.loss.backward()
        losses.append(float(out.loss.detach()))
        grads.append({name: p.grad.clone() for name, p in sae.named_parameters()})
        sae.zero_grad()
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    for name, reference in grads[0].items():
        mixed = grads[1][name]
        assert mixed.dtype == torch.float32
        assert torch.nn.functional.cosine_similarity(mixed.flatten(), reference.flatten(), dim=0) > 0.99, name


def test_autocast_training_with_the_dense_decode_recovers_the_planted_concepts(planted, tmp_path):
    """``autocast: true`` + ``decode: dense`` (the combination a GPU run may pick) end to end on the CPU: the same
    known answer as the float32 sparse run, and the choice recorded in the crosscoder's metadata."""
    cfg = CrosscoderConfig.preset("cpu-tiny", n_latents=128, k=2, epochs=5, autocast=True, decode="dense")
    crosscoder = train_crosscoder(planted.acts, cfg, out_dir=tmp_path)
    effective = json.loads((tmp_path / "cfg.json").read_text())["metadata"]["llmdiff_eval"]["effective"]
    assert (effective["autocast"], effective["decode"], effective["decode_seconds"]) == (True, "dense", None)
    cos_ft, latent_ft = best_match(crosscoder, planted, "ft_only", 1)
    assert ((cos_ft > 0.9) & (delta_norm(crosscoder)[latent_ft] >= 0.9)).float().mean() >= 0.8
    assert crosscoder.training_log[-1]["explained_variance_ft"] > 0.9


def test_decode_choice_is_measured_off_the_cpu_and_sparse_on_it():
    seconds = xc.time_decodes(n_rows=64, n_latents=256, width=32, k=4, device="cpu", repeats=1)
    assert set(seconds) == {"sparse", "dense"} and all(0 < value < 10 for value in seconds.values())
    assert xc.choose_decode("auto", 64, 256, 32, 4, "cpu") == ("sparse", None)
    assert xc.choose_decode("dense", 64, 256, 32, 4, "cpu") == ("dense", None)
    with pytest.raises(ValueError, match="decode must be"):
        xc.choose_decode("fast", 64, 256, 32, 4, "cpu")
    with pytest.raises(CrosscoderError, match="crosscoder.decode"):
        CrosscoderConfig(decode="fast")
    with pytest.raises(CrosscoderError, match="crosscoder.autocast"):
        CrosscoderConfig(autocast="yes")


def test_batch_topk_selection_is_exact_when_one_row_dominates_and_with_few_positives():
    torch.manual_seed(1)
    scores = torch.rand(64, 300)
    scores[5] += 10.0  # row 5 owns far more than its share of the top entries
    picked = batch_topk_flat(scores, 64 * 4).sort().values
    assert torch.equal(picked, scores.flatten().topk(64 * 4).indices.sort().values)
    assert int((picked // 300 == 5).sum()) == 256
    sparse = torch.zeros(128, 512)
    sparse.view(-1)[torch.randperm(128 * 512)[:100]] = (
        torch.rand(100) + 0.1
    )  # fewer positives than kept entries
    picked = batch_topk_flat(sparse, 128 * 2)
    assert picked.unique().numel() == 256 and int((sparse.view(-1)[picked] > 0).sum()) == 100


# ---------------------------------------------------------------------------------------------------------------
# Hand-made crosscoders (what analyze builds in its tests)


def test_from_weights_encodes_with_the_threshold_rule_and_decodes_linearly():
    w_enc = torch.zeros(2, 3, 4)
    w_enc[0, 0, 0] = 1.0  # latent 0 reads base coordinate 0
    w_enc[1, 1, 1] = 1.0  # latent 1 reads fine-tune coordinate 1
    w_enc[:, 2, 2] = 1.0  # latent 2 reads coordinate 2 of both
    w_dec = torch.zeros(4, 2, 3)
    w_dec[0, 0, 0] = 1.0
    w_dec[1, 1, 1] = 2.0
    w_dec[2, :, 2] = 1.0
    w_dec[3] = 1.0
    b_dec = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    cc = BatchTopKCrosscoder.from_weights(
        w_enc, torch.tensor([0.0, 0.0, 0.0, -1.0]), w_dec, b_dec, threshold=1.5
    )
    x = torch.tensor([[[2.0, 9.0, 0.5], [9.0, 1.0, 0.25]]])
    # pre = [2, 1, 0.75, 0]; s = [1, 2, 2, 2√3]; f·s = [2, 2, 1.5, 0] > 1.5 keeps latents 0 and 1
    f = cc.encode(x)
    torch.testing.assert_close(f, torch.tensor([[2.0, 1.0, 0.0, 0.0]]))
    torch.testing.assert_close(cc.decode(f), torch.tensor([[[2.0, 0.0, 1.0], [0.0, 2.0, 0.0]]]))
    cc.fold_W_dec_norm()  # unit latent norms; encodings·norms and reconstructions unchanged
    torch.testing.assert_close(cc.decode(cc.encode(x)), torch.tensor([[[2.0, 0.0, 1.0], [0.0, 2.0, 0.0]]]))
    with pytest.raises(CrosscoderError, match="b_dec"):
        BatchTopKCrosscoder.from_weights(w_enc, torch.zeros(4), w_dec, torch.zeros(3))


def test_registration_is_idempotent_and_guards_the_name():
    xc.register()  # what a second import of the module does
    assert SAE_CLASS_REGISTRY["batchtopk_crosscoder"] == (BatchTopKCrosscoder, xc.BatchTopKCrosscoderConfig)
    assert SAE_TRAINING_CLASS_REGISTRY["batchtopk_crosscoder"][0] is BatchTopKCrosscoderTrainingSAE
    assert issubclass(BatchTopKCrosscoderTrainingSAE, TrainingSAE)
    saved = SAE_CLASS_REGISTRY["batchtopk_crosscoder"]
    SAE_CLASS_REGISTRY["batchtopk_crosscoder"] = (SAE, xc.BatchTopKCrosscoderConfig)  # someone else's class
    try:
        with pytest.raises(RuntimeError, match="already registered"):
            xc.register()
    finally:
        SAE_CLASS_REGISTRY["batchtopk_crosscoder"] = saved


# ---------------------------------------------------------------------------------------------------------------
# Config and bad input


def test_presets_and_config_validation():
    paper = CrosscoderConfig.preset("paper")
    assert (paper.n_latents, paper.k, paper.lr, paper.batch_size) == (114_688, 100, 1e-4, 2048)
    assert paper.aux_coefficient == 1 / 32 and paper.normalization == "unit_rms"
    assert CrosscoderConfig.preset("cpu-tiny", k=2).k == 2
    with pytest.raises(CrosscoderError, match="unknown crosscoder preset"):
        CrosscoderConfig.preset("gpu-huge")
    with pytest.raises(CrosscoderError, match="smaller than n_latents"):
        CrosscoderConfig(n_latents=8, k=8)
    with pytest.raises(CrosscoderError, match="normalization"):
        CrosscoderConfig(normalization="zscore")


def test_bad_input_gives_clear_errors(tmp_path):
    cfg = CrosscoderConfig.preset("cpu-tiny", n_latents=16, k=2, batch_size=32, epochs=1)
    good = torch.randn(64, 2, 8)
    with pytest.raises(CrosscoderError, match=r"\(N, 2, d\)"):
        train_crosscoder(torch.randn(64, 8), cfg)
    with pytest.raises(CrosscoderError, match=r"\(N, 2, d\)"):
        train_crosscoder(torch.randn(64, 3, 8), cfg)
    with pytest.raises(CrosscoderError, match="floating point"):
        train_crosscoder(torch.ones(64, 2, 8, dtype=torch.int64), cfg)
    nan = good.clone()
    nan[7, 1, 3] = float("nan")
    with pytest.raises(CrosscoderError, match="NaN"):
        train_crosscoder(nan, cfg)
    with pytest.raises(CrosscoderError, match="fewer than batch_size"):
        train_crosscoder(good[:16], cfg)
    with pytest.raises(CrosscoderError, match="aux_k"):
        train_crosscoder(good, CrosscoderConfig.preset("cpu-tiny", n_latents=16, k=2, batch_size=32, aux_k=5))
    with pytest.raises(CrosscoderError, match="cache directories"):
        train_crosscoder("activations/base", cfg)
    with pytest.raises(CrosscoderError, match="run harvest"):
        train_crosscoder((tmp_path / "a", tmp_path / "b"), cfg)
    with pytest.raises(CrosscoderError, match="cfg.json missing"):
        load_crosscoder(tmp_path)
    cc = train_crosscoder(good, cfg)
    with pytest.raises(CrosscoderError, match=r"expected shape \(B, 2, 8\)"):
        cc.encode(torch.randn(4, 2, 9))
    with pytest.raises(CrosscoderError, match="NaN"):
        cc.encode(torch.full((4, 2, 8), float("nan")))


def test_fused_adam_takes_the_first_adam_step_by_hand():
    """``use_fused_adam`` switches a plain Adam to torch's fused kernel; its first step from a known gradient g
    moves each weight by −lr · g / (|g| + ε) (bias-corrected moments m̂ = g, v̂ = g²), like the plain one. Other
    optimizers are left alone."""
    from llmdiff_eval.crosscoder.trainer import use_fused_adam

    start = torch.tensor([[1.0, -2.0, 3.0]]).permute(1, 0)  # a permuted parameter, like W_enc
    grad = torch.tensor([[0.5, -4.0, 1e-3]]).permute(1, 0)
    moved = {}
    for fused in (False, True):
        param = torch.nn.Parameter(start.clone())
        optimizer = torch.optim.Adam([param], lr=0.1, eps=1e-8)
        assert use_fused_adam(optimizer) if fused else True
        param.grad = grad.clone()
        optimizer.step()
        moved[fused] = param.detach()
        assert optimizer.param_groups[0]["fused"] is (True if fused else None)
    expected = start - 0.1 * grad / (grad.abs() + 1e-8)
    assert torch.allclose(moved[True], expected, atol=1e-6) and torch.allclose(
        moved[False], expected, atol=1e-6
    )
    assert not use_fused_adam(torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1))
