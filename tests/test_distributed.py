"""Scale-out (llmdiff_eval/distributed/, the torchrun variant of llmdiff_eval/pipeline.py): 2 CPU processes over gloo, launched by a real ``torchrun``.

* data-parallel training equals single-process training on planted synthetic data (weights, threshold, log), and a
  checkpoint resumes with another number of processes (2 → 1 and 1 → 2); exact global top-k with ties;
* sharded harvest: one rank SIGKILLed after its first shard, the same ``torchrun -m llmdiff_eval harvest`` rerun
  finishes without duplicates or loss and equals a single-process harvest; ``torchrun -m llmdiff_eval train`` on that
  cache equals single-process training on it;
* streaming: every harvested row is served once per epoch through the shuffle buffer, normalization from the first
  buffer, exact resume, the train stage writes no activation cache; two processes stream disjoint documents.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from safetensors.torch import load_file

from llmdiff_eval import crosscoder as xc
from llmdiff_eval.config import RunConfig, dump_config, from_dict
from llmdiff_eval.corpus import CorpusConfig, CorpusSource
from llmdiff_eval.crosscoder import CrosscoderConfig, load_crosscoder, train_crosscoder
from llmdiff_eval.distributed import StreamingSource, read_rows
from llmdiff_eval.harvest import (
    ActivationCache,
    CacheError,
    HarvestConfig,
    harvest,
    harvest_model,
    stream_activations,
)
from llmdiff_eval.models import ModelSpec
from llmdiff_eval.stages.train import train_pair
from llmdiff_eval.synthetic import make_planted_pairs

TESTS = Path(__file__).parent
PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")


def _synthetic_inputs():
    """Planted pairs and a short run (32 steps of 128 tokens, AuxK active, checkpoints every 10 steps)."""
    data = make_planted_pairs(2048, 16, n_shared=12, n_ft_only=2, n_base_only=2, seed=3)
    cfg = CrosscoderConfig.preset(
        "cpu-tiny",
        n_latents=48,
        k=3,
        batch_size=128,
        epochs=2,
        checkpoint_every_steps=10,
        log_every_steps=4,
        dead_after_tokens=1024,
    )
    return data.acts, cfg


def _harvest_cfg(corpus_path, **overrides) -> HarvestConfig:
    settings = dict(layer=2, batch_size=4, shard_tokens=150, context_length=48, progress=False)
    settings.update(overrides)
    return HarvestConfig(corpus=CorpusConfig(sources=[CorpusSource(path=str(corpus_path))]), **settings)


def _stream_cfg() -> CrosscoderConfig:
    return CrosscoderConfig.preset("cpu-tiny", batch_size=64, epochs=2, buffer_tokens=200)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(args: list[str], cwd: Path, wait: bool = True):
    """``torchrun --nproc_per_node 2`` (static rendezvous on 127.0.0.1, a free port) with ``args``."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *args]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done


def _weights(crosscoder) -> dict[str, torch.Tensor]:
    return {name: getattr(crosscoder, name).detach() for name in PARAMS}


def _assert_same_weights(got: dict, expected: dict, atol: float = 1e-5) -> None:
    for name in PARAMS:
        torch.testing.assert_close(got[name], expected[name], atol=atol, rtol=1e-4, msg=name)


# ---------------------------------------------------------------------------------------------------------------
# Two torchrun jobs shared by the tests below (process start-up dominates their cost)

KILL_SCRIPT = """
import json, os, sys, time, torch
from pathlib import Path
from llmdiff_eval.cli import main

config, run_dir = sys.argv[1], Path(sys.argv[2])
index = run_dir / "activations" / "base" / "index.rank1.json"

def stall_rank1_after_its_first_shard(module, args):
    if os.environ["RANK"] == "1" and index.exists() and json.loads(index.read_text())["shards"]:
        (run_dir / "rank1.pid").write_text(str(os.getpid()))
        time.sleep(600)

torch.nn.modules.module.register_module_forward_pre_hook(stall_rank1_after_its_first_shard)
main(["harvest", config, "--run-dir", str(run_dir)], standalone_mode=False)
"""

JOB_SCRIPT = """
import json, sys, torch
from pathlib import Path
from safetensors.torch import save_file
torch.set_num_threads(1)
from test_distributed import PARAMS, _harvest_cfg, _stream_cfg, _synthetic_inputs
from llmdiff_eval.cli import main
from llmdiff_eval.crosscoder import train_crosscoder
from llmdiff_eval.distributed import StreamingSource, global_batch_topk, process_group
from llmdiff_eval.models import ModelSpec

root, config, base, ft, corpus = Path(sys.argv[1]), *sys.argv[2:]
acts, cfg = _synthetic_inputs()
with process_group() as world:
    rank = world.rank
    # the killed harvest again, then the train stage on its cache: torchrun -m llmdiff_eval harvest / train
    for stage in ("harvest", "train"):
        main([stage, config, "--run-dir", str(root / "run")], standalone_mode=False)
    # planted data: a whole run, one stopped at step 23, one resumed from a one-process checkpoint
    full = train_crosscoder(acts, cfg, out_dir=root / "full", parallel=world)
    save_file({n: getattr(full, n).detach().contiguous() for n in PARAMS}, root / f"full_rank{rank}.safetensors")
    train_crosscoder(acts, cfg, out_dir=root / "partial", parallel=world, max_steps=23)
    resumed = train_crosscoder(acts, cfg, out_dir=root / "from_one", parallel=world)
    facts = {"resumed_first_step": resumed.training_log[0]["step"]}
    facts["tied_kept"] = int(global_batch_topk(torch.ones(3, 10), 25, world).numel())
    scores = torch.arange(30.0).view(3, 10) + 100 * rank  # rank 1 holds the 30 largest
    facts["distinct_kept"] = sorted(global_batch_topk(scores, 40, world).tolist())
    stream = StreamingSource(
        _harvest_cfg(corpus), ModelSpec("base", base), ModelSpec("ft", ft), _stream_cfg(), 256, parallel=world
    )
    rows = torch.cat(list(stream.batches(_stream_cfg(), torch.ones(2), 0, rank, 2))[:4])
    save_file({"rows": rows, "mean_norms": stream.mean_norms}, root / f"stream_rank{rank}.safetensors")
    (root / f"facts_rank{rank}.json").write_text(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def run_config(tmp_path_factory, tiny_base_dir, tiny_ft_dir, tiny_corpus_path) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    config = {
        "name": "tiny",
        "base": {"name": "base", "path": str(tiny_base_dir)},
        "finetunes": [{"name": "ft", "path": str(tiny_ft_dir)}],
        "harvest": {**dataclasses.asdict(_harvest_cfg(tiny_corpus_path))},
        "crosscoder": {"preset": "cpu-tiny", "n_latents": 64, "k": 4, "batch_size": 64, "epochs": 1},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def job(tmp_path_factory, run_config, tiny_base_dir, tiny_ft_dir, tiny_corpus_path) -> dict:
    """(1) ``torchrun -m llmdiff_eval harvest`` (the CLI, in-process) with rank 1 SIGKILLed once its first shard
    is written; (2) one torchrun job: that harvest rerun + the train stage, planted-data trainings, global top-k,
    streaming. Also a one-process harvest and a one-process checkpoint (step 17) to compare and resume."""
    root = tmp_path_factory.mktemp("job")
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))]
    single = harvest(_harvest_cfg(tiny_corpus_path), root / "single", models)
    run_dir = root / "run"
    (root / "kill.py").write_text(KILL_SCRIPT)
    killed = _torchrun(["kill.py", str(run_config), str(run_dir)], cwd=root, wait=False)
    try:
        deadline = time.time() + 240
        while not (run_dir / "rank1.pid").exists() and killed.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert (run_dir / "rank1.pid").exists(), killed.communicate()[0][-3000:]
        os.kill(int((run_dir / "rank1.pid").read_text()), signal.SIGKILL)
        killed.wait(timeout=120)
    finally:
        killed.kill()
        killed.wait()
    base_dir = run_dir / "activations" / "base"
    after_kill = {
        "returncode": killed.returncode,
        "rank1": json.loads((base_dir / "index.rank1.json").read_text()),
        "merged": (base_dir / "index.json").exists(),
        "shards": {p.name: p.stat().st_mtime_ns for p in base_dir.glob("shard_*.safetensors")},
    }
    acts, cfg = _synthetic_inputs()
    train_crosscoder(acts, cfg, out_dir=root / "from_one", max_steps=17)
    (root / "job.py").write_text(JOB_SCRIPT)
    args = [str(root), str(run_config), str(tiny_base_dir), str(tiny_ft_dir), str(tiny_corpus_path)]
    _torchrun(["job.py", *args], cwd=root)
    facts = [json.loads((root / f"facts_rank{r}.json").read_text()) for r in range(2)]
    return {"root": root, "run_dir": run_dir, "single": single, "after_kill": after_kill, "facts": facts}


# ---------------------------------------------------------------------------------------------------------------
# Sharded harvest and the train stage under torchrun


def test_killed_harvest_rank_loses_only_its_unfinished_shard_and_the_rerun_equals_one_process(
    job, tiny_base_dir, tiny_ft_dir, tiny_corpus_path
):
    after_kill, run_dir = job["after_kill"], job["run_dir"]
    assert after_kill["returncode"] != 0  # torchrun saw the failure and stopped the other rank
    assert after_kill["rank1"]["complete"] is False and len(after_kill["rank1"]["shards"]) == 1
    assert not after_kill["merged"]
    kept = after_kill["shards"]
    assert "shard_r1_00000.safetensors" in kept and any(name.startswith("shard_r0_") for name in kept)
    base_dir = run_dir / "activations" / "base"
    for name, written_at in kept.items():  # finished shards were kept by the rerun, not recomputed
        assert (base_dir / name).stat().st_mtime_ns == written_at
    for model in ("base", "ft"):
        sharded, reference = (
            ActivationCache(run_dir / "activations" / model),
            ActivationCache(job["single"][model]),
        )
        sharded.verify()
        keys = sharded.doc_ids.long() * 10_000 + sharded.positions.long()
        assert keys.unique().numel() == sharded.n_tokens == reference.n_tokens  # no duplicates, no loss
        order = torch.argsort(keys)
        assert torch.equal(sharded.token_ids[order], reference.token_ids)
        assert torch.equal(sharded.doc_ids[order], reference.doc_ids)
        torch.testing.assert_close(sharded.load()[order], reference.load(), rtol=2**-7, atol=1e-4)
        torch.testing.assert_close(sharded.stats["mean"], reference.stats["mean"], rtol=1e-4, atol=1e-6)
        assert sharded.index["world_size"] == 2 and sharded.index["complete"] is True
    assert torch.equal(
        ActivationCache(base_dir).token_ids, ActivationCache(run_dir / "activations/ft").token_ids
    )
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))]
    harvest(_harvest_cfg(tiny_corpus_path), run_dir, models)  # a one-process rerun accepts the merged cache
    assert (base_dir / "shard_r1_00000.safetensors").stat().st_mtime_ns == kept["shard_r1_00000.safetensors"]


def test_torchrun_train_stage_on_the_sharded_cache_equals_one_process(
    job, run_config, tiny_base_dir, tiny_ft_dir
):
    run_dir = job["run_dir"]
    cfg = from_dict(RunConfig, yaml.safe_load(run_config.read_text())).crosscoder
    caches = (run_dir / "activations" / "base", run_dir / "activations" / "ft")
    reference = train_crosscoder(caches, cfg)  # one process, whole-shard reads; the ranks memory-mapped rows
    pair_dir = run_dir / "crosscoders" / "base__ft"
    _assert_same_weights(_weights(load_crosscoder(pair_dir)), _weights(reference))
    assert (run_dir / ".stages" / "train__base__ft.json").exists()
    # the crosscoder records its layer and model specs, which the lm-eval task reads from a copied directory
    from llmdiff_eval.integrations.lm_eval import resolve_crosscoder

    copied = shutil.copytree(pair_dir, job["root"] / "elsewhere" / "cc")
    recorded = resolve_crosscoder(copied).recorded
    assert recorded["layer"] == 2
    assert recorded["base"]["path"] == str(tiny_base_dir) and recorded["ft"]["path"] == str(tiny_ft_dir)


# ---------------------------------------------------------------------------------------------------------------
# Data-parallel training on planted data


def test_data_parallel_training_equals_one_process_and_resumes_with_another_process_count(job):
    root = job["root"]
    acts, cfg = _synthetic_inputs()
    reference = train_crosscoder(acts, cfg)
    # two processes = one process: weights, threshold (EMA of the global minimum) and the per-step log
    _assert_same_weights(_weights(load_crosscoder(root / "full")), _weights(reference))
    ranks = [load_file(root / f"full_rank{r}.safetensors") for r in range(2)]
    _assert_same_weights(ranks[1], ranks[0], atol=1e-7)  # every process holds the same model
    log = [json.loads(line) for line in (root / "full" / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [e["step"] for e in reference.training_log]  # written once
    for got, expected in zip(log, reference.training_log, strict=True):
        for key in ("loss", "mse_loss", "auxk_loss", "fvu_base", "fvu_ft", "l0", "threshold"):
            assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-6), (got["step"], key)
        assert got["dead_latents"] == expected["dead_latents"]  # firing statistics of the global batch
    assert any(e["dead_latents"] > 0 and e["auxk_loss"] > 0 for e in log)  # AuxK (global variance) was active

    # checkpoints are written once and resume with another number of processes, both ways
    assert [p.name for p in (root / "partial" / "checkpoints").iterdir()] == ["step_000000023"]
    assert not (root / "partial" / "cfg.json").exists()
    _assert_same_weights(_weights(train_crosscoder(acts, cfg, out_dir=root / "partial")), _weights(reference))
    _assert_same_weights(_weights(load_crosscoder(root / "from_one")), _weights(reference))
    assert job["facts"][0]["resumed_first_step"] == 4  # the log kept up to step 17, then continued
    assert not (root / "from_one" / "checkpoints").exists()


def test_global_batch_topk_keeps_exactly_k_b_entries_with_ties_shared_in_rank_order(job):
    facts = job["facts"]
    # 25 of 60 equal scores (30 per process): rank 0 takes them all
    assert [f["tied_kept"] for f in facts] == [25, 0]
    # top 40 of rank 0's 0..29 and rank 1's 100..129: all of rank 1's, rank 0's 20..29
    assert facts[0]["distinct_kept"] == list(range(20, 30)) and facts[1]["distinct_kept"] == list(range(30))


def test_two_processes_stream_their_own_documents_with_one_normalization(
    job, tiny_base_dir, tiny_ft_dir, tiny_corpus_path
):
    streams = [load_file(job["root"] / f"stream_rank{r}.safetensors") for r in range(2)]
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))]
    first_buffers = []
    for rank in range(2):
        parts = list(
            stream_activations(
                _harvest_cfg(tiny_corpus_path, max_tokens=128), models, rank=rank, world_size=2
            )
        )
        assert {int(d) % 2 for _, _, docs in parts for d in docs} == {rank}  # its own documents
        rows = torch.cat([a for a, _, _ in parts]).to(torch.bfloat16).float()
        assert _row_counts(streams[rank]["rows"]) == _row_counts(rows)  # 4 batches of 32 = its 128 rows, once
        first_buffers.append(rows[:96])  # buffer: 200 tokens / 2 processes, in whole local batches of 32
    known = torch.cat(first_buffers).to(torch.float64).norm(dim=-1).mean(dim=0)
    for stream in streams:
        torch.testing.assert_close(stream["mean_norms"], known)


def _row_counts(rows: torch.Tensor) -> Counter:
    return Counter(row.numpy().tobytes() for row in rows)


def test_read_rows_memory_maps_exactly_the_cached_values(job):
    cache = ActivationCache(job["single"]["base"])
    assert len(cache.index["shards"]) >= 3
    sizes = [e["n_tokens"] for e in cache.index["shards"]]
    shard_ids = [2, 0]  # in this order: rows index shard 2 then shard 0
    group = torch.cat([cache.load()[sum(sizes[:i]) : sum(sizes[: i + 1])] for i in shard_ids])
    rows = torch.randperm(len(group), generator=torch.Generator().manual_seed(0))[:50]
    assert torch.equal(read_rows(cache, shard_ids, rows), group[rows])


def test_caches_being_harvested_by_other_process_counts_are_refused(
    tmp_path, tiny_base_dir, tiny_corpus_path
):
    spec, cfg = ModelSpec("base", str(tiny_base_dir)), _harvest_cfg(tiny_corpus_path, max_tokens=40)
    harvest_model(spec, cfg, tmp_path / "activations" / "base", rank=0, world_size=2)  # rank 1 never ran
    with pytest.raises(CacheError, match=r"being harvested by 2 processes.*torchrun --nproc_per_node 2"):
        harvest(cfg, tmp_path, [spec])


def test_distributed_flag_prints_the_torchrun_commands(run_config):
    from llmdiff_eval.cli import main

    result = CliRunner().invoke(
        main, ["train", str(run_config), "--set", "crosscoder.seed=1", "--distributed"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("torchrun")]
    assert (
        lines[0]
        == f"torchrun --nproc_per_node gpu -m llmdiff_eval train {run_config} --set=crosscoder.seed=1"
    )
    assert "--nnodes N" in lines[1] and "--rdzv_backend c10d --rdzv_endpoint HOST:29500" in lines[1]


# ---------------------------------------------------------------------------------------------------------------
# Streaming (one process)


def test_streaming_serves_every_harvested_row_once_per_epoch_and_resumes(
    tiny_base_dir, tiny_ft_dir, tiny_corpus_path
):
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))]
    cfg = _stream_cfg()
    source = StreamingSource(_harvest_cfg(tiny_corpus_path), *models, cfg, n_tokens=330)
    parts = stream_activations(_harvest_cfg(tiny_corpus_path, max_tokens=320), models)  # 5 whole batches
    streamed = torch.cat([a for a, _, _ in parts]).to(torch.bfloat16).float()
    known = streamed[:192].to(torch.float64).norm(dim=-1).mean(dim=0)  # first buffer: 200 → 3 batches of 64
    torch.testing.assert_close(source.mean_norms, known)
    scale = torch.tensor([2.0, 0.5])
    batches = list(source.batches(cfg, scale, 0))
    assert len(batches) == source.total_steps(cfg) == 10 and batches[0].shape == (64, 2, 48)
    epochs = [torch.cat(batches[:5]) / scale[None, :, None], torch.cat(batches[5:]) / scale[None, :, None]]
    for rows in epochs:
        assert _row_counts(rows) == _row_counts(streamed)  # each streamed row once per epoch
    assert _row_counts(torch.cat(batches[:3]) / scale[None, :, None]) == _row_counts(streamed[:192])
    assert not torch.equal(epochs[0][:192], streamed[:192])  # shuffled within the buffer
    assert not torch.equal(epochs[0], epochs[1])  # and differently in each epoch
    resumed = list(source.batches(cfg, scale, 7))
    assert all(torch.equal(a, b) for a, b in zip(resumed, batches[7:], strict=True))


def test_streaming_train_stage_writes_no_cache_and_resumes(
    tmp_path, tiny_base_dir, tiny_ft_dir, tiny_corpus_path
):
    models = [ModelSpec("base", str(tiny_base_dir)), ModelSpec("ft", str(tiny_ft_dir))]
    cfg = dataclasses.replace(_stream_cfg(), n_latents=64, k=4, stream_tokens=384, checkpoint_every_steps=3)
    run = RunConfig(name="s", base=models[0], finetunes=[models[1]], harvest=_harvest_cfg(tiny_corpus_path))
    (tmp_path / "config.yaml").write_text(dump_config(run))
    out = train_pair(cfg, tmp_path, "base", "ft")
    assert not (tmp_path / "activations").exists()
    facts = json.loads((out / "cfg.json").read_text())["metadata"]["llmdiff_eval"]
    assert facts["n_tokens"] == 384 and facts["total_steps"] == 12
    assert facts["streaming"]["tokens_per_epoch"] == 384 and facts["layer"] == 2
    assert facts["model_specs"]["ft"]["path"] == str(tiny_ft_dir)

    def source():
        return StreamingSource(_harvest_cfg(tiny_corpus_path), *models, cfg, n_tokens=384)

    train_crosscoder(source(), cfg, out_dir=tmp_path / "split", max_steps=8)  # mid-epoch 2: replays 2 steps
    resumed = train_crosscoder(source(), cfg, out_dir=tmp_path / "split")
    _assert_same_weights(_weights(resumed), _weights(load_crosscoder(out)), atol=1e-6)  # = the stage's run
    with pytest.raises(xc.CrosscoderError, match="stream_tokens must be a positive integer"):
        CrosscoderConfig(stream_tokens=0)
