"""Causal attribution: the fast "blocks above L" path, a planted known answer, exact identities, controls, the stage,
``steer`` and its error messages — on tiny models built here.

The planted pair: a tiny Llama whose residual dimension 0 carries a flag that only the trigger tokens' embeddings
set (no block writes to it), and a fine-tune equal to it except one MLP unit of block L that reads the flag and
writes a vector v. So ``h_ft − h_base`` after block L is ``s_t · v`` on trigger tokens and exactly 0 elsewhere, and
the blocks above L are shared. Its crosscoder is built by hand: latent 0 reads ``h_ft − h_base`` along v and has
``d^ft − d^base = v`` (with different per-model normalization scales, so the raw-unit conversion is exercised);
latents 1.. are shared-looking latents with small random decoder differences (the control pool).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tiny_models
import torch
import yaml
from click.testing import CliRunner
from tiny_models import WORDS, build_tiny_llama, build_tokenizer, tiny_run_config

from llmdiff_eval.causal.forward import edited_layer_output, full_logits, logits_from_layer
from llmdiff_eval.causal.intervention import Intervention, LatentSet, decoder_difference
from llmdiff_eval.causal.measure import kl_divergence, measure_effects, probe_batches
from llmdiff_eval.causal.report import causal_block
from llmdiff_eval.causal.run import causal_pair
from llmdiff_eval.causal.run import probe_sequences as probe_sequences_of_run
from llmdiff_eval.causal.sets import matched_controls, pair_sets, resolve_selector
from llmdiff_eval.causal.steer import LockstepEdit, Steering, generate
from llmdiff_eval.cli import main
from llmdiff_eval.config import CausalConfig, CorpusSource, load_config
from llmdiff_eval.crosscoder import BatchTopKCrosscoder
from llmdiff_eval.errors import CausalError
from llmdiff_eval.harvest import residual_at_layer
from llmdiff_eval.models import load_models, load_weights
from llmdiff_eval.pipeline import run_pipeline

LAYER = 2
SCALES = (1.0, 2.0)  # per-model normalization: x_norm = x_raw · scale[m]
N_LATENTS = 32


# ---------------------------------------------------------------------------------------------------------------
# the planted pair


def trigger_ids(tokenizer) -> list[int]:
    return [tokenizer(" cat", add_special_tokens=False)["input_ids"][0]]


def planted_pair(tokenizer, strength: float = 4.0, seed: int = 0):
    """(base, fine-tune, v): see the module docstring."""
    base = build_tiny_llama(tokenizer, seed=seed)
    with torch.no_grad():
        embedding = base.model.embed_tokens.weight
        embedding[:, 0] = 0.0
        embedding[trigger_ids(tokenizer), 0] = 3.0
        for block in base.model.layers:  # nothing writes the flag dimension
            block.self_attn.o_proj.weight[0, :] = 0.0
            block.mlp.down_proj.weight[0, :] = 0.0
        mlp = base.model.layers[LAYER].mlp  # unit 0 of block L is silent in the base
        mlp.gate_proj.weight[0, :] = 0.0
        mlp.up_proj.weight[0, :] = 0.0
        mlp.down_proj.weight[:, 0] = 0.0
    ft = build_tiny_llama(tokenizer, seed=seed)
    ft.load_state_dict(base.state_dict())
    generator = torch.Generator().manual_seed(seed + 100)
    v = torch.randn(base.config.hidden_size, generator=generator)
    v[0] = 0.0
    v = v / v.norm() * strength
    with torch.no_grad():  # ... and in the fine-tune it reads the flag and writes v
        mlp = ft.model.layers[LAYER].mlp
        mlp.gate_proj.weight[0, 0] = 1.0
        mlp.up_proj.weight[0, 0] = 1.0
        mlp.down_proj.weight[:, 0] = v
    return base.eval(), ft.eval(), v


def planted_crosscoder(
    v: torch.Tensor, shared_difference: float = 0.03, seed: int = 0
) -> BatchTopKCrosscoder:
    """Latent 0 captures the plant; the others fire on many tokens with small random decoder differences."""
    d = v.shape[0]
    s0, s1 = SCALES
    generator = torch.Generator().manual_seed(seed + 200)
    W_enc = torch.randn(2, d, N_LATENTS, generator=generator) * 0.5
    W_dec = torch.randn(N_LATENTS, 2, d, generator=generator) * 0.1
    W_dec[:, 1] = W_dec[:, 0] * (s1 / s0) + shared_difference * torch.randn(N_LATENTS, d, generator=generator)
    direction = v / v.norm() ** 2
    W_enc[0, :, 0] = -direction / s0  # f_0 = direction · (h_ft − h_base), raw units
    W_enc[1, :, 0] = direction / s1
    w = 0.1 * torch.randn(d, generator=generator)
    W_dec[0, 0] = w * s0  # raw d^base = w, d^ft = w + v
    W_dec[0, 1] = (w + v) * s1
    return BatchTopKCrosscoder.from_weights(
        W_enc, torch.zeros(N_LATENTS), W_dec, torch.zeros(2, d), threshold=1e-3, norm_scale=list(SCALES)
    )


def probe_sequences(tokenizer, n: int = 12, length: int = 40, seed: int = 5) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    sequences = []
    for _ in range(n):
        ids = torch.randint(10, len(tokenizer) - 10, (length,), generator=generator)
        ids[torch.rand(length, generator=generator) < 0.1] = trigger_ids(tokenizer)[0]
        ids[0] = tokenizer.bos_token_id
        sequences.append(ids.tolist())
    return sequences


@pytest.fixture(scope="module")
def planted():
    tokenizer = build_tokenizer()
    base, ft, v = planted_pair(tokenizer)
    return tokenizer, base, ft, v, planted_crosscoder(v)


def measure(planted, sets, **settings):
    tokenizer, base, ft, _, crosscoder = planted
    batches = probe_batches(
        base, ft, LAYER, probe_sequences(tokenizer), 4, tokenizer.pad_token_id, True, torch.device("cpu")
    )
    cfg = CausalConfig(**{"n_controls": 10, "control_window": 5, **settings})
    return measure_effects(base, ft, Intervention(crosscoder), LAYER, batches, sets, {0}, cfg)


# ---------------------------------------------------------------------------------------------------------------
# the fast path


@pytest.mark.parametrize("architecture", ["llama", "gemma3"])
def test_running_only_the_blocks_above_layer_equals_a_full_forward_with_the_edit_hooked_in(
    architecture, tiny_gemma3_dir
):
    if architecture == "llama":
        model = build_tiny_llama(build_tokenizer())
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(tiny_gemma3_dir).eval()
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 500, (3, 24), generator=generator)
    mask = torch.ones_like(input_ids)
    mask[1, 17:] = 0  # a right-padded row
    for layer in range(model.config.num_hidden_layers):
        states = residual_at_layer(model, layer, input_ids, mask)
        edit = torch.randn(states.shape, generator=generator)
        fast = logits_from_layer(model, layer, states + edit, input_ids, mask)
        full = full_logits(model, input_ids, mask, layer, lambda output, edit=edit: output + edit)
        assert torch.allclose(fast, full, rtol=0, atol=1e-6), (architecture, layer)
        assert not torch.allclose(
            fast, full_logits(model, input_ids, mask, layer), atol=1e-3
        )  # the edit matters
    # the bypass is undone: a plain forward afterwards is the model's own
    plain = model(input_ids=input_ids, attention_mask=mask).logits
    assert torch.equal(plain, full_logits(model, input_ids, mask, 0))


def test_logits_from_a_position_on_are_the_tail_of_all_logits(planted):
    tokenizer, base, *_ = planted
    input_ids = torch.tensor(probe_sequences(tokenizer, n=2, length=16))
    states = residual_at_layer(base, LAYER, input_ids, None)
    everything = logits_from_layer(base, LAYER, states, input_ids, None)
    assert torch.allclose(
        logits_from_layer(base, LAYER, states, input_ids, None, keep_from=5), everything[:, 5:]
    )


def test_measured_kl_equals_a_brute_force_full_forward_per_document(planted):
    """Stacked documents, skipped documents and the LM head run only from the first edited position give the same
    numbers as one full forward per document with the edit hooked in."""
    tokenizer, base, ft, _, crosscoder = planted
    intervention, latents = Intervention(crosscoder), (0, 5)
    result = measure(planted, [LatentSet("latents", "two", latents)], n_controls=0)
    totals = {"before": 0.0, "ablated": 0.0, "steered": 0.0}
    n_tokens = 0
    for sequence in probe_sequences(tokenizer):
        ids = torch.tensor([sequence])
        h_base, h_ft = (residual_at_layer(model, LAYER, ids, None)[0] for model in (base, ft))
        delta = intervention.delta(intervention.encode(h_base, h_ft), latents)
        delta[0] = 0.0  # position 0 is not intervened on (drop_bos)
        log = {
            name: torch.log_softmax(full_logits(model, ids, None, LAYER, edit)[0, 1:], -1)
            for name, model, edit in (
                ("ft", ft, None),
                ("base", base, None),
                ("ablated", ft, lambda output, delta=delta: output - delta),
                ("steered", base, lambda output, delta=delta: output + delta),
            )
        }
        totals["before"] += float(kl_divergence(log["ft"], log["base"]).sum())
        totals["ablated"] += float(kl_divergence(log["ablated"], log["base"]).sum())
        totals["steered"] += float(kl_divergence(log["ft"], log["steered"]).sum())
        n_tokens += len(sequence) - 1
    measured = result["sets"][0]["kl"]["all"]
    assert result["probe"]["n_tokens"] == n_tokens
    # float32 throughout, and stacked rows round differently from single documents (other matmul shapes): the
    # means (≈ 1e-4 nats) differed by up to 2e-4 relative on one machine; a wrong position or token changes them wholly
    for key, total in totals.items():
        assert measured[key] == pytest.approx(total / n_tokens, rel=2e-3, abs=1e-9), key
    assert result["cost"]["head_positions"] < result["cost"]["above_positions"]  # the trim did something


# ---------------------------------------------------------------------------------------------------------------
# the known answer


def test_ablating_the_planted_latent_removes_the_divergence_and_matched_controls_do_not(planted):
    result = measure(planted, [LatentSet("class", "planted", (0,))])
    (row,) = result["sets"]
    assert row["n_firing_tokens"] > 0
    assert row["kl"]["firing"]["before"] > 0
    # necessity: ablating the latent in the fine-tune removes >= 90% of KL(P_ft || P_base) on the trigger tokens
    assert row["kl_removed_firing"] >= 0.9 and row["kl_removed"] >= 0.9
    # matched controls (same size, nearest firing mass, outside the model-specific set) remove < 10%
    assert row["controls"]["n"] == 10
    assert max(row["controls"]["kl_removed_firing"]) < 0.1
    assert all(0 not in latents for latents in row["controls"]["latents"])
    # sufficiency: steering the base with it closes most of the gap
    assert row["kl_closed_firing"] >= 0.9 and row["kl_closed"] >= 0.9
    assert row["causal"] is True and row["causal_closed"] is True and row["percentile"] == 100.0
    assert row["control_p95"] == pytest.approx(float(np.percentile(row["controls"]["kl_removed"], 95)))


def test_a_shared_latent_does_not_carry_the_planted_difference(planted):
    (row,) = measure(planted, [LatentSet("latents", "shared", (5,))], n_controls=0)["sets"]
    assert row["kl_removed"] < 0.1 and row["causal"] is None and row["control_p95"] is None


def test_identity_interventions_change_nothing_exactly(planted):
    tokenizer, base, ft, v, _ = planted
    # an empty set
    (empty,) = measure(planted, [LatentSet("latents", "none", ())], n_controls=0)["sets"]
    assert empty["kl_removed"] == 0.0 and empty["kl_closed"] == 0.0 and empty["n_firing_tokens"] == 0
    # every latent, with d^ft = d^base exactly (raw units: W_dec[:, ft] / 2 == W_dec[:, base] / 1)
    identity = planted_crosscoder(v)
    with torch.no_grad():
        identity.W_dec[:, 1] = identity.W_dec[:, 0] * 2.0
    assert torch.equal(decoder_difference(identity), torch.zeros(N_LATENTS, v.shape[0]))
    everything = LatentSet("latents", "all", tuple(range(N_LATENTS)))
    batches = probe_batches(
        base, ft, LAYER, probe_sequences(tokenizer), 4, tokenizer.pad_token_id, True, "cpu"
    )
    result = measure_effects(
        base, ft, Intervention(identity), LAYER, batches, [everything], set(), CausalConfig(n_controls=0)
    )
    assert result["sets"][0]["kl_removed"] == 0.0 and result["sets"][0]["kl_closed"] == 0.0
    assert result["cost"]["run_rows"] == 0  # nothing was rerun: the distributions are the clean ones
    # the hooked edit during generation adds an exact zero: logits and the greedy continuation are unchanged
    prompt = probe_sequences(tokenizer, n=1, length=12)[0]
    input_ids = torch.tensor([prompt])
    edit = LockstepEdit(base, Intervention(identity), everything, LAYER, "ablate", True).step(input_ids)
    assert torch.equal(full_logits(ft, input_ids, None, LAYER, edit), full_logits(ft, input_ids, None, LAYER))
    lockstep = LockstepEdit(base, Intervention(identity), everything, LAYER, "ablate", True)
    assert generate(ft, prompt, 8, set(), LAYER, lockstep) == generate(ft, prompt, 8, set(), LAYER)


def test_generation_with_the_planted_latent_ablated_is_the_base_and_added_is_the_fine_tune(planted):
    tokenizer, base, ft, _, crosscoder = planted
    intervention, planted_set = Intervention(crosscoder), LatentSet("class", "planted", (0,))
    trigger = trigger_ids(tokenizer)[0]
    prompts = [
        [tokenizer.bos_token_id, *ids] for ids in ([trigger, 40, 41, trigger], [50, trigger, 60, 61, 62])
    ]
    changed = 0
    for prompt in prompts:
        reference = {
            name: generate(model, prompt, 10, set(), LAYER) for name, model in (("base", base), ("ft", ft))
        }
        changed += reference["base"] != reference["ft"]
        ablated = generate(
            ft, prompt, 10, set(), LAYER, LockstepEdit(base, intervention, planted_set, LAYER, "ablate", True)
        )
        added = generate(
            base, prompt, 10, set(), LAYER, LockstepEdit(ft, intervention, planted_set, LAYER, "add", True)
        )
        assert ablated == reference["base"] and added == reference["ft"]
    assert changed  # the plant changes what the fine-tune generates


def test_the_intervention_is_the_decoder_difference_in_raw_units(planted):
    *_, v, crosscoder = planted
    intervention = Intervention(crosscoder)
    assert torch.allclose(intervention.decoder_difference[0], v, atol=1e-5)  # (w + v)·2/2 − w·1/1
    f = torch.zeros(3, N_LATENTS)
    f[1, 0], f[2, 0], f[2, 3] = 2.0, 0.5, 1.0
    expected = torch.stack(
        [torch.zeros_like(v), 2.0 * v, 0.5 * v + crosscoder.W_dec[3, 1] / 2.0 - crosscoder.W_dec[3, 0] / 1.0]
    )
    assert torch.allclose(intervention.delta(f, [0, 3]), expected, atol=1e-5)
    with pytest.raises(CausalError, match="0..31"):
        intervention.check_latents([3, 40])


# ---------------------------------------------------------------------------------------------------------------
# sets and controls


def annotation_table() -> pd.DataFrame:
    rows = [
        (3, "A.1", "Safety & Content Moderation"),
        (7, "A.1", "Safety & Content Moderation"),
        (9, "A.2", "Safety & Content Moderation"),
        (11, "B.7", "Linguistic Capabilities"),
        (12, None, None),
    ]
    table = pd.DataFrame(rows, columns=["latent_id", "category", "class_name"]).set_index("latent_id")
    table["category_name"] = table["category"].map(
        {"A.1": "Harmful Content", "A.2": "Refusal", "B.7": "Multilingual"}
    )
    return table


def test_pair_sets_hold_model_specific_classes_and_large_categories():
    sets = pair_sets(annotation_table(), min_category_latents=1)
    assert [(s.kind, s.name, s.latents) for s in sets] == [
        ("model-specific", "model-specific", (3, 7, 9, 11, 12)),
        ("class", "Safety & Content Moderation", (3, 7, 9)),
        ("class", "Linguistic Capabilities", (11,)),
        ("category", "Harmful Content", (3, 7)),
        ("category", "Refusal", (9,)),  # B.7 is the whole Linguistic class: measured once, as the class
    ]
    assert [s.name for s in pair_sets(annotation_table(), min_category_latents=2)][-1] == "Harmful Content"


def test_selectors_name_classes_categories_ids_or_everything():
    table = annotation_table()
    assert resolve_selector("safety & content moderation", table, 64).latents == (3, 7, 9)
    assert resolve_selector("B.7", table, 64).latents == (11,)
    assert resolve_selector("model-specific", table, 64).latents == (3, 7, 9, 11, 12)
    assert resolve_selector("40, 2", None, 64).latents == (2, 40)
    with pytest.raises(CausalError, match="Linguistic Capabilities"):
        resolve_selector("Coding", table, 64)
    with pytest.raises(CausalError, match="0..63"):
        resolve_selector("2,64", table, 64)
    with pytest.raises(CausalError, match="annotate"):
        resolve_selector("Coding", None, 64)


def test_matched_controls_have_the_size_lie_outside_and_follow_the_mass():
    masses = np.arange(100, dtype=float)
    target = LatentSet("class", "x", (10, 50, 90))
    excluded = {10, 50, 90, 11, 49}
    controls = matched_controls(target, masses, excluded, 20, 3, np.random.default_rng(0))
    again = matched_controls(target, masses, excluded, 20, 3, np.random.default_rng(0))
    assert [c.latents for c in controls] == [c.latents for c in again]  # seeded
    for control in controls:
        assert len(control) == 3 and not set(control.latents) & excluded
        assert sorted(abs(masses[list(control.latents)] - masses[[10, 50, 90]][:, None]).min(axis=1)) <= [
            4,
            4,
            4,
        ]
    with pytest.raises(CausalError, match="outside the model-specific"):
        matched_controls(
            LatentSet("class", "y", tuple(range(60))), masses, set(range(50)), 1, 3, np.random.default_rng(0)
        )


# ---------------------------------------------------------------------------------------------------------------
# a run directory: the stage's work, the scorecard block, steer and its messages


def write_probe_corpus(path: Path, tokenizer, n: int = 20) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n):
            words = [str(rng.choice(WORDS)) for _ in range(12)]
            words[int(rng.integers(2, 10))] = "cat"
            handle.write(json.dumps({"text": " ".join(words)}) + "\n")
    return path


@pytest.fixture(scope="module")
def planted_run(planted, tmp_path_factory) -> Path:
    """A run directory by hand: the planted models saved, the hand-built crosscoder, one annotated latent."""
    tokenizer, base, ft, _, crosscoder = planted
    root = tmp_path_factory.mktemp("planted")
    for name, model in (("base", base), ("ft", ft)):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    corpus = write_probe_corpus(root / "probe.jsonl", tokenizer)
    run = root / "run"
    crosscoder.save_model(str(run / "crosscoders" / "base__a"))
    (run / "annotations").mkdir(parents=True)
    annotations = pd.DataFrame(
        {
            "category": ["A.1"],
            "category_name": ["Harmful Content"],
            "class_name": ["Safety & Content Moderation"],
        },
        index=pd.Index([0], name="latent_id"),
    )
    annotations.to_parquet(run / "annotations" / "base__a.parquet")
    config = {
        "name": "planted",
        "base": {"name": "base", "path": str(root / "base")},
        "finetunes": [{"name": "a", "path": str(root / "ft")}],
        "harvest": {"layer": LAYER, "context_length": 64, "corpus": {"sources": [{"path": str(corpus)}]}},
        "causal": {
            "probe_tokens": 150,
            "n_controls": 8,
            "control_window": 5,
            "corpus": {"sources": [{"path": str(corpus)}]},
        },
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def test_causal_pair_writes_its_effects_and_the_scorecard_block(planted_run):
    config = load_config(planted_run / "config.yaml")
    result = causal_pair(config, planted_run, "base", "a")
    saved = json.loads((planted_run / "causal" / "base__a.json").read_text())
    assert saved["pair"] == "base__a" and saved["probe"]["counted_tokens"] == 150
    rows = {row["kind"]: row for row in saved["sets"]}
    assert set(rows) == {
        "model-specific",
        "class",
    }  # one latent: no category reaches min_category_latents = 3
    assert rows["class"]["kl_removed_firing"] >= 0.9 and rows["class"]["causal"] is True
    assert result["sets"] == saved["sets"]

    block = causal_block(planted_run, "base", "a", "a")
    (row,) = block["a"]
    assert {"class", "n_latents", "kl_removed", "kl_closed", "control_p95", "causal"} <= set(row)
    assert row["class"] == "Safety & Content Moderation" and row["n_latents"] == 1 and row["causal"] is True
    assert block["model_specific"]["a"]["class"] == "model-specific"
    assert block["probe"]["a"]["n_tokens"] == 150


def write_prompts(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": prompt}) + "\n" for prompt in prompts))
    return path


def test_steer_cli_writes_intervened_reference_and_control_outputs(planted_run, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", ["the cat and the dog", "a cat in a tree"])
    out = tmp_path / "out.jsonl"
    args = ["steer", str(planted_run), "--ft", "a", "--prompts", str(prompts), "--max-new-tokens", "6"]
    result = CliRunner().invoke(
        main, [*args, "--ablate", "Safety & Content Moderation", "--control", "random", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["prompt"] for line in lines] == ["the cat and the dog", "a cat in a tree"]
    assert all({"output", "output_reference", "output_control"} <= set(line) for line in lines)

    steering = Steering(planted_run, "a")
    for line in lines:  # ablating the planted latent gives the base's reply; the reference is the fine-tune's
        ids = steering.prompt_ids(line["prompt"])
        assert line["output"] == steering.generate(ids, None, "add", 6)
        assert line["output_reference"] == steering.generate(ids, None, "ablate", 6)
    added = CliRunner().invoke(main, [*args, "--add", "0", "--out", str(tmp_path / "added.jsonl")])
    assert added.exit_code == 0, added.output
    for line, record in zip(
        lines, (json.loads(x) for x in (tmp_path / "added.jsonl").read_text().splitlines()), strict=True
    ):
        assert record["output"] == line["output_reference"]  # the base given the latent is the fine-tune
        assert record["output_reference"] == line["output"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--ablate": "Coding"}, "unknown latent selector 'Coding'"),
        ({"--ablate": "5,99"}, "do not exist: this crosscoder has latents 0..31"),
        ({"--ft": "zz"}, "fine-tune 'zz' is not in this run; its fine-tunes are ['a']"),
        ({"--prompts": "empty"}, "holds no prompts"),
        ({"--prompts": "bad"}, "p.jsonl:1"),
        ({"run": "untrained"}, "no trained crosscoder for pair 'base__a'"),
    ],
)
def test_steer_bad_input_is_a_clear_message(planted_run, tmp_path, change, message):
    import shutil

    run = planted_run
    if change.get("run") == "untrained":
        run = tmp_path / "run"
        shutil.copytree(planted_run, run)
        shutil.rmtree(run / "crosscoders")
    prompts = write_prompts(tmp_path / "p.jsonl", ["a cat"])
    if change.get("--prompts") == "empty":
        prompts.write_text("\n")
    if change.get("--prompts") == "bad":
        prompts.write_text('{"text": "no prompt key"}\n')
    options = {
        "--ft": "a",
        "--ablate": "model-specific",
        **{k: v for k, v in change.items() if k in ("--ft", "--ablate")},
    }
    args = ["steer", str(run), "--prompts", str(prompts), "--out", str(tmp_path / "o.jsonl")]
    result = CliRunner().invoke(main, [*args, *[item for pair in options.items() for item in pair]])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_steer_needs_one_of_ablate_or_add(planted_run, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", ["a cat"])
    result = CliRunner().invoke(
        main, ["steer", str(planted_run), "--ft", "a", "--prompts", str(prompts), "--out", "o"]
    )
    assert result.exit_code == 2 and "exactly one of --ablate" in result.output


# ---------------------------------------------------------------------------------------------------------------
# the stage in a pipeline run


def test_the_causal_stage_runs_when_enabled_and_a_rerun_skips_it(
    tmp_path, tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path
):
    data = tiny_run_config(tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path)
    data["harvest"]["corpus"]["max_docs"] = 22  # documents 22.. are held out for the probe
    data["analyze"].update(selection="relative", delta_norm_z=1.5)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    run_dir = tmp_path / "run"
    messages: list[str] = []
    run_pipeline(load_config(path), run_dir, log=messages.append)
    assert any("[causal] off" in message for message in messages) and not (run_dir / "causal").exists()

    data["causal"] = {"enabled": True, "probe_tokens": 120, "n_controls": 4}
    path.write_text(yaml.safe_dump(data))
    first = {
        (r.stage, r.item): r.status for r in run_pipeline(load_config(path), run_dir, log=lambda m: None)
    }
    assert first[("causal", "base__a")] == "ran" and first[("annotate", "base__a")] == "skipped"
    saved = json.loads((run_dir / "causal" / "base__a.json").read_text())
    assert saved["n_model_specific"] > 0 and len(saved["sets"]) >= 2  # all model-specific latents and a class
    assert saved["probe"]["source"] == "held-out documents of the harvest corpus"
    assert saved["probe"]["first_document"] == 22 and min(saved["probe"]["document_ids"]) >= 22
    card = json.loads((run_dir / "scorecard.json").read_text())
    assert set(card["causal"]) >= {"a", "b"}
    assert len(card["causal"]["a"]) == len([s for s in saved["sets"] if s["kind"] == "class"])
    assert "Causal effect" in (run_dir / "scorecard.md").read_text()
    assert "causal" in (run_dir / "scorecard.csv").read_text()
    html = (run_dir / "report.html").read_text()
    assert (
        "Causal effect per class against matched random controls" in html and "Causal effect of the" in html
    )

    again = {
        (r.stage, r.item): r.status for r in run_pipeline(load_config(path), run_dir, log=lambda m: None)
    }
    assert again[("causal", "base__a")] == "skipped" and again[("causal", "base__b")] == "skipped"
    data["causal"]["n_controls"] = 5
    path.write_text(yaml.safe_dump(data))
    changed = {
        (r.stage, r.item): r.status for r in run_pipeline(load_config(path), run_dir, log=lambda m: None)
    }
    assert changed[("causal", "base__a")] == "redone" and changed[("annotate", "base__a")] == "skipped"

    # a harvest that read its whole corpus leaves nothing held out: a message says what to set
    short = tiny_models.write_corpus_jsonl(tmp_path / "short.jsonl", n_text=10, n_chat=0)
    config = load_config(path)
    config.harvest.corpus = dataclasses.replace(
        config.harvest.corpus, sources=[CorpusSource(path=str(short))]
    )
    with pytest.raises(CausalError, match="none is held out; set causal.corpus"):
        probe_sequences_of_run(config, run_dir, build_tokenizer())


def test_models_sharing_weights_load_as_load_weights_gives_them(tiny_base_dir, tiny_lora_dir):
    from llmdiff_eval.config import ModelSpec

    specs = [
        ModelSpec("base", str(tiny_base_dir)),
        ModelSpec("lora", str(tiny_base_dir), adapter=str(tiny_lora_dir)),
    ]
    shared = load_models(specs)
    for spec in specs:
        alone = load_weights(spec).state_dict()
        assert all(torch.equal(alone[key], value) for key, value in shared[spec.name].state_dict().items())


def test_edited_layer_output_without_an_edit_leaves_the_model_alone(planted):
    _, base, *_ = planted
    with edited_layer_output(base, LAYER, None):
        assert not base.model.layers[LAYER]._forward_hooks
