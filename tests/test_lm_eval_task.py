"""The lm-eval task ``mechdiff`` (llmdiff_eval/integrations/lm_eval/, tasks/mechdiff/) and ``llmdiff-eval lm-eval``.

Real lm-evaluation-harness runs (the ``lm_eval`` CLI in a subprocess with offline env vars, and ``simple_evaluate``
in-process) on tiny random models. Known answers:

* **planted**: a fine-tune whose embedding adds a fixed direction v (norm 1) to a random 40 % of the token ids,
  diffed with a crosscoder built by hand whose latent 0 is v in the fine-tune only and fires when the fine-tune's
  activation projects above 0.5 on v. It must be the one model-specific latent, and its firing shift must be the
  share of planted tokens in the probe stream (computed here from token ids): with the base substituted it never
  fires.
* **identical**: the base diffed against itself with a crosscoder the task trains: both decoders stay equal, so no
  latent is model-specific and every metric is 0.
* a crosscoder trained by the task on the planted fine-tune finds v (slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from llmdiff_eval.counts import LatentCounts
from llmdiff_eval.integrations.lm_eval import (
    TASK_YAML,
    TASKS_DIR,
    MechdiffConfigError,
    MechdiffSettings,
    class_slug,
    compute_metrics,
    metric_names,
    run_mechdiff,
)
from llmdiff_eval.taxonomy import load_taxonomy

FIXTURES = Path(__file__).parent / "fixtures" / "lm_eval"
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
LAYER = 2
LIMIT = 12
PLANT_FRACTION, PLANT_NORM, PLANT_SEED = 0.4, 1.0, 0
SMALL_CROSSCODER = {"n_latents": 16, "k": 2, "batch_size": 128, "epochs": 2}
PAPER_CLASSES = [
    "safety_content_moderation",
    "linguistic_capabilities",
    "information_processing",
    "user_interaction_management",
    "format_structure_control",
    "error_handling_quality_control",
    "specialized_capabilities",
]


# ----------------------------------------------------------------------------------------------------------------
# Planted fine-tune and a hand-built crosscoder that knows the planted direction


def save_planted_finetune(base_dir: Path, out_dir: Path) -> tuple[set[int], torch.Tensor]:
    """Copy of the base whose input embedding of a random PLANT_FRACTION of the token ids gets + PLANT_NORM · v̂.
    Returns the planted token ids and v̂ (unit vector)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    generator = torch.Generator().manual_seed(PLANT_SEED)
    v_hat = torch.randn(model.config.hidden_size, generator=generator)
    v_hat /= v_hat.norm()
    ids = torch.randperm(model.config.vocab_size, generator=generator)[
        : int(PLANT_FRACTION * model.config.vocab_size)
    ]
    with torch.no_grad():
        model.model.embed_tokens.weight[ids] += PLANT_NORM * v_hat
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out_dir)
    return set(ids.tolist()), v_hat


def save_planted_crosscoder(out_dir: Path, v_hat: torch.Tensor) -> Path:
    """Latent 0: encoder reads the fine-tune's projection on v̂ minus 0.5, decoder v̂ in the fine-tune and 0 in the
    base (Δnorm = 1). Latent 1: a shared direction u, same encoder and decoder in both models (Δnorm = 0.5)."""
    from llmdiff_eval.crosscoder import BatchTopKCrosscoder

    d = v_hat.shape[0]
    u = torch.randn(d, generator=torch.Generator().manual_seed(1))
    u -= (u @ v_hat) * v_hat  # orthogonal to v̂: the shared latent explains nothing along v̂
    u /= u.norm()
    w_enc, w_dec = torch.zeros(2, d, 2), torch.zeros(2, 2, d)
    w_enc[1, :, 0], w_dec[0, 1] = v_hat, v_hat
    w_enc[0, :, 1] = w_enc[1, :, 1] = u
    w_dec[1, 0] = w_dec[1, 1] = u
    crosscoder = BatchTopKCrosscoder.from_weights(w_enc, torch.tensor([-0.5, 0.0]), w_dec, torch.zeros(2, d))
    crosscoder.save_model(str(out_dir))
    return out_dir


@pytest.fixture(scope="module")
def planted(tiny_base_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    ids, v_hat = save_planted_finetune(tiny_base_dir, root / "model")
    return {
        "dir": root / "model",
        "ids": ids,
        "crosscoder": save_planted_crosscoder(root / "crosscoder", v_hat),
    }


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mechdiff_cache")


def planted_metadata(tiny_base_dir, planted, cache_dir) -> dict:
    return {
        "base_model": str(tiny_base_dir),
        "layer": LAYER,
        "crosscoder": str(planted["crosscoder"]),
        "device": "cpu",
        "context_length": 256,
        "cache_dir": str(cache_dir),
    }


def run_cli(args: list[str], cwd: Path, module: str = "lm_eval") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=OFFLINE,
        capture_output=True,
        text=True,
        timeout=600,
    )


# ----------------------------------------------------------------------------------------------------------------
# The lm_eval CLI: mechdiff beside another task


@pytest.fixture(scope="module")
def cli_run(tiny_base_dir, planted, cache_dir, tmp_path_factory):
    """``lm_eval --model hf ... --tasks mechdiff,tiny_mc.yaml --include_path TASKS_DIR --limit 12``."""
    workdir = tmp_path_factory.mktemp("lm_eval_cli")
    metadata = planted_metadata(tiny_base_dir, planted, cache_dir)
    completed = run_cli(
        [
            "--model", "hf",
            "--model_args", f"pretrained={planted['dir']},dtype=float32",
            "--tasks", f"mechdiff,{FIXTURES / 'tiny_mc.yaml'}",
            "--include_path", TASKS_DIR,
            "--metadata", json.dumps(metadata),
            "--device", "cpu",
            "--batch_size", "8",
            "--limit", str(LIMIT),
            "--output_path", str(workdir / "out"),
        ],
        cwd=workdir,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    (results_file,) = (workdir / "out").rglob("results_*.json")
    return {"stdout": completed.stdout, "results": json.loads(results_file.read_text())}


def test_cli_results_hold_mechdiff_and_the_other_task(cli_run):
    results = cli_run["results"]["results"]
    expected = {f"{name},none" for name in metric_names(load_taxonomy("paper"))}
    expected |= {"word_perplexity,none", "byte_perplexity,none", "bits_per_byte,none"}
    assert expected <= set(results["mechdiff"])
    assert all(isinstance(results["mechdiff"][key], float) for key in expected)
    assert 0.0 <= results["tiny_mc"]["acc,none"] <= 1.0
    flags = cli_run["results"]["higher_is_better"]
    assert flags["tiny_mc"]["acc"] is True and flags["mechdiff"]["word_perplexity"] is False
    assert flags["mechdiff"]["n_model_specific"] is None


def test_cli_table_prints_both_tasks(cli_run):
    stdout = cli_run["stdout"]
    rows = [line for line in stdout.splitlines() if line.startswith("|")]
    assert any(row.startswith("|mechdiff") for row in rows) and any(
        row.startswith("|tiny_mc") for row in rows
    )
    for metric in (
        "n_model_specific",
        "share_format_structure_control",
        "firing_model_specific",
        "word_perplexity",
    ):
        assert any(f"|{metric}" in row.replace(" ", "") for row in rows), metric
    share = next(row for row in rows if "|share_format_structure_control" in row.replace(" ", ""))
    cells = [cell.strip() for cell in share.split("|")]
    assert cells[-3] == "±" and float(cells[-2]) >= 0  # lm-eval prints our stderr, not N/A
    assert "share_format_structure_control_stderr" not in stdout  # the companion is not a row of its own


def test_cli_limit_restricts_documents_and_harvest(cli_run):
    from llmdiff_eval.harvest import ActivationCache

    assert cli_run["results"]["n-samples"]["mechdiff"]["effective"] == LIMIT
    assert (
        cli_run["results"]["n-samples"]["mechdiff"]["original"] > LIMIT
    )  # the shipped probe corpus is larger
    run = cli_run["results"]["configs"]["mechdiff"]["metadata"]["mechdiff_run"]
    assert run["max_docs"] == LIMIT
    doc_ids = ActivationCache(Path(run["run_dir"]) / "activations" / "base").doc_ids
    assert sorted(set(doc_ids.tolist())) == list(range(LIMIT))


def test_cli_planted_direction_is_the_one_model_specific_latent(cli_run, planted):
    from llmdiff_eval.harvest import ActivationCache

    metrics = {key.split(",")[0]: value for key, value in cli_run["results"]["results"]["mechdiff"].items()}
    run = cli_run["results"]["configs"]["mechdiff"]["metadata"]["mechdiff_run"]
    token_ids = ActivationCache(Path(run["run_dir"]) / "activations" / "model").token_ids.tolist()
    planted_share = 100.0 * sum(token in planted["ids"] for token in token_ids) / len(token_ids)
    assert 20.0 < planted_share < 60.0  # sanity of the fixture itself

    assert metrics["n_model_specific"] == 1.0 and metrics["n_base_specific"] == 0.0
    assert metrics["firing_model_specific"] == pytest.approx(planted_share, abs=0.5)
    shares = {name: metrics[f"share_{name}"] for name in [*PAPER_CLASSES, "uncategorized"]}
    assert sum(shares.values()) == pytest.approx(100.0)
    (home,) = [name for name, share in shares.items() if share == 100.0]
    if home != "uncategorized":
        assert metrics[f"firing_{home}"] == pytest.approx(metrics["firing_model_specific"])
    others = [name for name in PAPER_CLASSES if name != home]
    assert all(metrics[f"firing_{name}"] == 0.0 for name in others)
    assert run["crosscoder"] == str(planted["crosscoder"]) and run["crosscoder_verified"] is False


def test_simple_evaluate_reuses_the_cached_diff(cli_run, tiny_base_dir, planted, cache_dir):
    """The same evaluation through the Python API: results come from the run directory the CLI wrote."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import make_table

    model_args = {"pretrained": str(planted["dir"]), "dtype": "float32"}
    metadata = {**model_args, **planted_metadata(tiny_base_dir, planted, cache_dir)}
    results = simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=["mechdiff"],
        task_manager=TaskManager(include_path=[TASKS_DIR], include_defaults=False, metadata=metadata),
        limit=LIMIT,
        device="cpu",
        batch_size=8,
    )
    cli = cli_run["results"]
    for key, value in cli["results"]["mechdiff"].items():
        if key.split(",")[0] in metric_names(load_taxonomy("paper")):
            assert results["results"]["mechdiff"][key] == value, key
    ours = results["configs"]["mechdiff"]["metadata"]["mechdiff_run"]
    assert ours["run_dir"] == cli["configs"]["mechdiff"]["metadata"]["mechdiff_run"]["run_dir"]
    assert "firing_model_specific" in make_table(results)


# ----------------------------------------------------------------------------------------------------------------
# The base against itself: the task trains its own crosscoder


@pytest.fixture(scope="module")
def identical_run(tiny_base_dir, cache_dir):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    metadata = {
        "pretrained": str(tiny_base_dir),
        "base_model": str(tiny_base_dir),
        "layer": LAYER,
        "device": "cpu",
        "context_length": 128,
        "crosscoder_preset": "cpu-tiny",
        "crosscoder_config": SMALL_CROSSCODER,
        "cache_dir": str(cache_dir),
    }
    return simple_evaluate(
        model="hf",
        model_args={"pretrained": str(tiny_base_dir)},
        tasks=["mechdiff"],
        task_manager=TaskManager(include_path=[TASKS_DIR], include_defaults=False, metadata=metadata),
        limit=LIMIT,
        device="cpu",
        batch_size=8,
    )


def test_identical_models_have_no_model_specific_latents(identical_run):
    metrics = {key.split(",")[0]: value for key, value in identical_run["results"]["mechdiff"].items()}
    assert all(metrics[name] == 0.0 for name in metric_names(load_taxonomy("paper"))), metrics
    run_dir = Path(identical_run["configs"]["mechdiff"]["metadata"]["mechdiff_run"]["run_dir"])
    crosscoder = run_dir / "crosscoders" / "base__model"
    assert (crosscoder / "cfg.json").is_file() and not crosscoder.is_symlink()  # trained by the task
    latents = pd.read_parquet(run_dir / "latents" / "base__model.parquet")
    assert len(latents) == SMALL_CROSSCODER["n_latents"]
    assert np.allclose(latents["delta_norm"], 0.5, atol=1e-5)  # equal inputs keep the two decoders equal
    run = identical_run["configs"]["mechdiff"]["metadata"]["mechdiff_run"]
    # zeros are never silent: the default rule tagged nothing, so the relative rule was tried (and found nothing:
    # identical models have no Δnorm outliers), and the note says so
    assert "absolute rule" in run["note"] and "relative rule" in run["note"]
    assert run["selection"]["mode"] == "relative"


def test_analyze_settings_come_through_metadata(tiny_base_dir):
    from llmdiff_eval.integrations.lm_eval import MechdiffSettings

    metadata = {"pretrained": str(tiny_base_dir), "base_model": str(tiny_base_dir), "device": "cpu"}
    default = MechdiffSettings.from_metadata(metadata)
    relative = MechdiffSettings.from_metadata(
        {**metadata, "analyze_config": {"selection": "relative", "delta_norm_z": 4}}
    )
    assert default.run_config(None).analyze.selection == "absolute"
    assert (relative.run_config(None).analyze.selection, relative.run_config(None).analyze.delta_norm_z) == (
        "relative",
        4,
    )
    assert default.run_dir(None) != relative.run_dir(None)  # their results are cached apart


# ----------------------------------------------------------------------------------------------------------------
# Missing or wrong metadata


def load_mechdiff(metadata: dict):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[TASKS_DIR], include_defaults=False, metadata=metadata).load(["mechdiff"])


def test_missing_base_model_names_the_key(planted):
    with pytest.raises(MechdiffConfigError, match='"base_model"'):
        load_mechdiff({"pretrained": str(planted["dir"]), "layer": LAYER})


def test_tokenizer_mismatch_names_base_model(planted, tiny_other_tokenizer_dir):
    with pytest.raises(MechdiffConfigError, match='do not tokenize identically.*"base_model"'):
        load_mechdiff({"pretrained": str(planted["dir"]), "base_model": str(tiny_other_tokenizer_dir)})


def test_layer_out_of_range_names_layer(tiny_base_dir):
    with pytest.raises(MechdiffConfigError, match=r'"layer" is 4.*0\.\.3'):
        load_mechdiff({"pretrained": str(tiny_base_dir), "base_model": str(tiny_base_dir), "layer": 4})


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"annotator": "gpt"}, "annotator"),
        ({"dtype": "int3"}, "dtype"),
        ({"crosscoder_config": {"n_latent": 8}}, "crosscoder_config"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"analyze_config": {"selection": "outliers"}}, "analyze_config"),
        ({"analyze_config": {"delta_norm_zz": 3}}, "analyze_config"),
    ],
)
def test_bad_settings_stop_the_task_when_it_is_built(tiny_base_dir, extra, key):
    with pytest.raises(MechdiffConfigError, match=f'"{key}"'):
        load_mechdiff({"pretrained": str(tiny_base_dir), "base_model": str(tiny_base_dir), **extra})


def test_crosscoder_of_another_layer_names_layer(identical_run, tiny_base_dir):
    run_dir = identical_run["configs"]["mechdiff"]["metadata"]["mechdiff_run"]["run_dir"]
    metadata = {"pretrained": str(tiny_base_dir), "base_model": str(tiny_base_dir), "crosscoder": run_dir}
    with pytest.raises(MechdiffConfigError, match=f'trained on layer {LAYER}.*set "layer": {LAYER}'):
        load_mechdiff({**metadata, "layer": LAYER - 1})
    # without "layer" the crosscoder's recorded layer is used
    (task,) = load_mechdiff(metadata)["tasks"].values()
    assert task.settings.layer == LAYER and task.settings.crosscoder.verified


def test_crosscoder_of_another_pair_names_crosscoder(identical_run, tiny_base_dir, planted):
    run_dir = identical_run["configs"]["mechdiff"]["metadata"]["mechdiff_run"]["run_dir"]
    metadata = {"pretrained": str(planted["dir"]), "base_model": str(tiny_base_dir), "crosscoder": run_dir}
    with pytest.raises(MechdiffConfigError, match=r'fine-tuned model .*set --metadata "crosscoder"'):
        load_mechdiff(metadata)


def test_llmdiff_eval_lm_eval_passes_through_and_reports_missing_base_model(tiny_base_dir, tmp_path):
    """`llmdiff-eval lm-eval` finds the task without --include_path and stops with the key to set."""
    completed = run_cli(
        ["lm-eval", "--model", "hf", "--model_args", f"pretrained={tiny_base_dir}", "--tasks", "mechdiff",
         "--device", "cpu", "--limit", "1"],
        cwd=tmp_path,
        module="llmdiff_eval",
    )  # fmt: skip
    assert completed.returncode != 0
    assert "Error: mechdiff task: the mechdiff task needs the base model" in completed.stderr
    assert "--metadata '{\"base_model\": ...}'" in completed.stderr


# ----------------------------------------------------------------------------------------------------------------
# Pure parts


def test_lm_eval_argv_adds_include_path_or_swaps_the_task_for_its_yaml():
    from llmdiff_eval.cli.lm_eval import lm_eval_argv

    args = ["--model", "hf", "--tasks", "mechdiff,hellaswag"]
    assert lm_eval_argv(args, "/tasks", "/tasks/mechdiff/mechdiff.yaml") == [
        *args,
        "--include_path",
        "/tasks",
    ]
    own = ["--include_path", "/mine", "--tasks", "hellaswag,mechdiff", "arc_easy", "--limit", "3"]
    assert lm_eval_argv(own, "/tasks", "/y.yaml") == [
        "--include_path", "/mine", "--tasks", "hellaswag,/y.yaml", "arc_easy", "--limit", "3",
    ]  # fmt: skip
    assert lm_eval_argv(["--include_path=/mine", "-t=mechdiff"], "/tasks", "/y.yaml") == [
        "--include_path=/mine",
        "-t=/y.yaml",
    ]
    assert lm_eval_argv(["--help"], "/tasks", "/y.yaml") == ["--help"] and lm_eval_argv([], "/t", "/y") == []
    assert Path(TASK_YAML).is_file() and Path(TASK_YAML).parent.parent == Path(TASKS_DIR)


def test_compute_metrics_by_hand():
    """Five model-specific latents (two in class A, one in B, one uncategorized, one failed annotation), one
    base-only and two shared; firing shares chosen so that each class's mean shift is easy to check."""
    taxonomy = load_taxonomy("paper")
    latents = pd.DataFrame(
        {"tag": ["ft_only", "shared", "ft_only", "ft_only", "base_only", "ft_only", "shared", "ft_only"]},
        index=pd.RangeIndex(8, name="latent_id"),
    )
    annotations = pd.DataFrame(
        {
            "category": ["A.1", "A.3", "B.7", None, None],
            "class_name": [
                "Safety & Content Moderation",
                "Safety & Content Moderation",
                "Linguistic Capabilities",
                None,
                None,
            ],
        },  # fmt: skip
        index=pd.Index([0, 2, 3, 5, 7], name="latent_id"),
    )
    with_model = {0: 0.50, 2: 0.30, 3: 0.20, 5: 0.10, 7: 0.05}
    with_base = {0: 0.10, 2: 0.10, 3: 0.20, 5: 0.00, 7: 0.05}

    def rates(ids):
        return np.array([with_model[i] for i in ids]), np.array([with_base[i] for i in ids])

    metrics = compute_metrics(latents, annotations, taxonomy, rates)
    assert list(metrics) == metric_names(taxonomy)
    assert metrics["n_model_specific"] == 5 and metrics["n_base_specific"] == 1
    assert metrics["share_safety_content_moderation"] == pytest.approx(40.0)  # 2 of 5
    assert metrics["share_linguistic_capabilities"] == pytest.approx(20.0)
    assert metrics["share_uncategorized"] == pytest.approx(40.0)
    assert metrics["share_format_structure_control"] == 0.0
    assert metrics["share_safety_content_moderation_stderr"] == pytest.approx((0.4 * 0.6 / 5) ** 0.5 * 100)
    assert metrics["share_format_structure_control_stderr"] == 0.0
    pooled = LatentCounts(10, {"Safety & Content Moderation": 4}, per_seed=(LatentCounts(5, {}),) * 2)
    by_seeds = compute_metrics(latents, annotations, taxonomy, rates, counts=pooled)
    assert by_seeds["share_safety_content_moderation"] == pytest.approx(
        40.0
    )  # pooled counts replace the table's
    assert by_seeds["share_safety_content_moderation_stderr"] == pytest.approx((0.4 * 0.6 / 5) ** 0.5 * 100)
    assert metrics["firing_safety_content_moderation"] == pytest.approx(30.0)  # mean of 40 and 20 points
    assert metrics["firing_linguistic_capabilities"] == pytest.approx(0.0)
    assert metrics["firing_model_specific"] == pytest.approx((40 + 20 + 0 + 10 + 0) / 5)
    assert class_slug("Error Handling & Quality Control") == "error_handling_quality_control"
    assert [class_slug(name) for name in taxonomy.class_names] == PAPER_CLASSES


# ----------------------------------------------------------------------------------------------------------------
# The task's own crosscoder finds the planted direction (slow: ~400 training steps)


@pytest.mark.slow
def test_trained_crosscoder_finds_the_planted_direction(tiny_base_dir, planted, tiny_corpus_path, tmp_path):
    settings = MechdiffSettings.from_metadata(
        {
            "pretrained": str(planted["dir"]),
            "base_model": str(tiny_base_dir),
            "layer": LAYER,
            "device": "cpu",
            "corpus": str(tiny_corpus_path),
            "crosscoder_preset": "cpu-tiny",
            "crosscoder_config": {**SMALL_CROSSCODER, "epochs": 32},
            "cache_dir": str(tmp_path),
        }
    )
    result = run_mechdiff(settings)
    from llmdiff_eval.harvest import ActivationCache

    token_ids = ActivationCache(
        Path(result.provenance["run_dir"]) / "activations" / "model"
    ).token_ids.tolist()
    planted_share = 100.0 * sum(token in planted["ids"] for token in token_ids) / len(token_ids)
    assert result.metrics["n_model_specific"] >= 1
    latents = pd.read_parquet(Path(result.provenance["run_dir"]) / "latents" / "base__model.parquet")
    best = latents[latents["tag"] == "ft_only"]["freq"]
    assert (best * 100).sub(
        planted_share
    ).abs().min() < 2.0  # a model-specific latent fires on the planted tokens
    assert result.metrics["firing_model_specific"] > 0.0


def test_seeds_come_through_metadata(tiny_base_dir):
    from llmdiff_eval.integrations.lm_eval import MechdiffSettings

    metadata = {"pretrained": str(tiny_base_dir), "base_model": str(tiny_base_dir), "device": "cpu"}
    ensemble = MechdiffSettings.from_metadata({**metadata, "seeds": [2, 5]})
    config = ensemble.run_config(None).crosscoder
    assert (config.seed, config.extra_seeds) == (2, [5])
    assert ensemble.run_dir(None) != MechdiffSettings.from_metadata(metadata).run_dir(None)
    with pytest.raises(MechdiffConfigError, match='"seeds" must be a list'):
        MechdiffSettings.from_metadata({**metadata, "seeds": "0,1"})


# ----------------------------------------------------------------------------------------------------------------
# lm-eval's copy of the evaluated model is harvested instead of a second one


def _evaluate_planted(tiny_base_dir, planted, cache_dir, **extra):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    model_args = {"pretrained": str(planted["dir"]), "dtype": "float32"}
    metadata = {**model_args, **planted_metadata(tiny_base_dir, planted, cache_dir), **extra}
    results = simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=["mechdiff"],
        task_manager=TaskManager(include_path=[TASKS_DIR], include_defaults=False, metadata=metadata),
        limit=4,
        device="cpu",
        batch_size=8,
    )
    return results["configs"]["mechdiff"]["metadata"]["mechdiff_run"], results["results"]["mechdiff"]


def test_the_task_harvests_through_lm_evals_model_and_matches_its_own_copy(
    tiny_base_dir, planted, tmp_path, caplog
):
    """Run in process, the task harvests lm-eval's HF model instead of loading another copy (it logs every load it
    makes: the base's only), and gets the same activations and metrics as with its own copy (reuse_model false)."""
    from llmdiff_eval.rundir.activations import ActivationCache

    with caplog.at_level("INFO", logger="llmdiff_eval.models"):
        reused, reused_metrics = _evaluate_planted(tiny_base_dir, planted, tmp_path / "reused")
    loads = [record.getMessage() for record in caplog.records if "loading the weights" in record.getMessage()]
    assert loads == [f"loading the weights of 'base' from {tiny_base_dir}"], loads
    assert reused["evaluated_model_source"].startswith("harvested through lm-eval's copy"), reused
    caplog.clear()
    with caplog.at_level("INFO", logger="llmdiff_eval.models"):
        own, own_metrics = _evaluate_planted(tiny_base_dir, planted, tmp_path / "own", reuse_model=False)
    loads = [record.getMessage() for record in caplog.records if "loading the weights" in record.getMessage()]
    assert f"loading the weights of 'model' from {planted['dir']}" in loads, loads
    assert "reuse_model" in own["evaluated_model_source"], own
    caches = [ActivationCache(Path(run["run_dir"]) / "activations" / "model") for run in (reused, own)]
    assert caches[0].n_tokens == caches[1].n_tokens > 0
    assert torch.equal(caches[0].load(), caches[1].load())
    assert torch.equal(caches[0].token_ids, caches[1].token_ids)
    assert reused_metrics == own_metrics


def test_reuse_is_declined_with_a_reason_when_lm_evals_model_is_not_the_one(tiny_base_dir, planted, tmp_path):
    from lm_eval.api.model import CachingLM
    from lm_eval.models.huggingface import HFLM

    from llmdiff_eval.integrations.lm_eval.reuse import evaluating_lm, reusable_model

    lm = HFLM(pretrained=str(planted["dir"]), dtype="float32", device="cpu", batch_size=1)
    metadata = {"pretrained": str(planted["dir"]), **planted_metadata(tiny_base_dir, planted, tmp_path)}

    def reuse(lm_object, **extra):
        return reusable_model(lm_object, MechdiffSettings.from_metadata({**metadata, **extra}))

    accepted = reuse(CachingLM(lm, str(tmp_path / "requests.db")))  # --use_cache wraps the HF model
    assert accepted.model is lm.model
    assert (accepted.settings.dtype, accepted.settings.device) == (
        "float32",
        "cpu",
    )  # "auto" takes the model's
    assert reuse(lm, dtype="float32").model is lm.model
    for extra, why in (
        ({"reuse_model": False}, "reuse_model"),
        ({"dtype": "bfloat16"}, "in float32"),
        ({"evaluated_model": str(tiny_base_dir)}, "is not lm-eval's"),
    ):
        declined = reuse(lm, **extra)
        assert declined.model is None and why in declined.note, (extra, declined.note)
    assert "not its Hugging Face model" in reuse(object()).note
    assert evaluating_lm() is None  # not under lm_eval.evaluator.evaluate
    with pytest.raises(MechdiffConfigError, match="reuse_model"):
        MechdiffSettings.from_metadata({**metadata, "reuse_model": "sometimes"})
