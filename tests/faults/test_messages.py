"""Bad input and broken files that used to end in a raw traceback: each is now one message that names the culprit
and what to do, and leaves every finished output as it was."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from conftest import assert_clean_failure, cli, mount_tmpfs, pair_config, remount_read_only, snapshot, unmount
from tiny_models import save_lora_adapter, save_tiny_base

from llmdiff_eval.config import load_config
from llmdiff_eval.crosscoder import train_crosscoder

KEY = "sk-ant-test-0123456789"


def test_invalid_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbase: {name: b, path: [unclosed\n")
    assert_clean_failure(cli("run", bad), "bad.yaml is not valid YAML")


@pytest.mark.parametrize("value", ['"twenty"', "2.7", "true"])
def test_a_wrong_type_names_the_key_before_any_model_loads(run, value):
    config, run_dir = run
    before = snapshot(run_dir)
    result = cli("run", config, "--run-dir", run_dir, "--set", f"harvest.layer={value}")
    assert_clean_failure(result, "harvest.layer", "expected a whole number")
    assert "Loading weights" not in result.output
    assert snapshot(run_dir) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_cuda_on_a_cpu_only_torch(run):
    config, run_dir = run
    before = snapshot(run_dir)
    result = cli("run", config, "--run-dir", run_dir, "--device", "cuda", "--force")
    assert_clean_failure(result, "device 'cuda'", "sees no CUDA GPU", "--device cpu")
    assert snapshot(run_dir) == before


def test_an_adapter_for_another_base(tmp_path, tiny_base_dir, tiny_corpus_path):
    other_base = save_tiny_base(tmp_path / "base32", d_model=32)
    adapter = save_lora_adapter(other_base, tmp_path / "lora32")
    ft = {"name": "ft", "path": str(tiny_base_dir), "adapter": str(adapter)}
    config = pair_config(tmp_path / "c.yaml", tiny_base_dir, ft, tiny_corpus_path)
    result = cli("harvest", config, "--run-dir", tmp_path / "run")
    assert_clean_failure(result, "lora32", "trained for a model of another shape", "base32")
    assert result.output.count("size mismatch") <= 1  # one example, not 24 lines of them


def test_random_bytes_in_a_jsonl_corpus_name_the_file(tmp_path, tiny_base_dir, tiny_ft_dir, tiny_corpus_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(
        tiny_corpus_path.read_bytes()[:500].rsplit(b"\n", 1)[0] + b"\n" + bytes(range(128, 256)) * 8
    )
    config = pair_config(tmp_path / "c.yaml", tiny_base_dir, {"name": "ft", "path": str(tiny_ft_dir)}, corpus)
    result = cli("harvest", config, "--run-dir", tmp_path / "run")
    assert_clean_failure(result, "corpus.jsonl is not UTF-8 text", "fix or remove the file")


@pytest.mark.parametrize("name", ["annotations.sqlite", "examples.sqlite"])
def test_a_corrupt_sqlite_file_is_named_with_its_remedy(run, name):
    _, run_dir = run
    (run_dir / name).write_bytes(b"this is not a database" * 100)
    for side in (run_dir / f"{name}-wal", run_dir / f"{name}-shm"):
        side.unlink(missing_ok=True)
    before = snapshot(run_dir / "annotations")
    result = cli("annotate", run_dir, "--annotator", "offline")
    remedy = "move it aside" if name == "annotations.sqlite" else "analyze RUN_DIR --force"
    assert_clean_failure(result, name, "corrupt", remedy)
    assert snapshot(run_dir / "annotations") == before


def test_a_read_only_run_directory(run, tmp_path):
    config, run_dir = run
    mount = mount_tmpfs(tmp_path / "ro", "32m")
    try:
        shutil.copytree(run_dir, mount / "run")
        remount_read_only(mount)
        before = snapshot(mount / "run")
        result = cli("run", config, "--run-dir", mount / "run", "--set", "crosscoder.seed=5")
        assert_clean_failure(result, "cannot write", "Read-only file system", "writable")
        assert snapshot(mount / "run") == before
    finally:
        unmount(mount)


def test_a_full_disk_keeps_what_was_written_consistent(
    tmp_path, tiny_base_dir, tiny_ft_dir, tiny_corpus_path
):
    mount = mount_tmpfs(tmp_path / "full", "200k")
    ft = {"name": "ft", "path": str(tiny_ft_dir)}
    config = pair_config(tmp_path / "c.yaml", tiny_base_dir, ft, tiny_corpus_path, shard_tokens=200)
    try:
        result = cli("harvest", config, "--run-dir", mount / "run")
        assert_clean_failure(result, "no space left on the device", "rerun the same command")
        for index_path in (mount / "run" / "activations").glob("*/index.json"):
            index = json.loads(index_path.read_text())  # the index parses and lists only whole shards
            for entry in index["shards"]:
                assert (index_path.parent / entry["file"]).stat().st_size == entry["bytes"]
    finally:
        unmount(mount)


class _Replies(BaseHTTPRequestHandler):
    body = b""
    content_type = "text/html"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", self.content_type)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Sign in to the Wi-Fi</body></html>", "text/html"),
        (b'{"id": "msg_1", "type": "mess', "application/json"),
    ],
    ids=["html", "truncated-json"],
)
def test_an_api_that_replies_200_with_something_else(run, body, content_type):
    _, run_dir = run
    _Replies.body, _Replies.content_type = body, content_type
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    before = snapshot(run_dir / "annotations")
    try:
        result = cli(
            "annotate", run_dir, "--annotator", "claude", "--model", "claude-haiku-4-5", "--base-url", url,
            "--max-retries", "0", "--no-score", env={"ANTHROPIC_API_KEY": KEY},
        )  # fmt: skip
    finally:
        server.shutdown()
    assert_clean_failure(result, f"the API at {url}", "not a JSON message", "base URL")
    assert snapshot(run_dir / "annotations") == before


def test_invalid_metadata_json_for_the_lm_eval_task():
    result = cli("lm-eval", "--model", "hf", "--tasks", "mechdiff", "--metadata", "{base_model: x")
    assert result.exit_code == 2 and "--metadata" in result.output and "is not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_a_changed_crosscoder_config_after_an_interrupted_training(run):
    config, run_dir = run
    pair = run_dir / "crosscoders" / "base__a"
    shutil.rmtree(pair)
    (run_dir / ".stages" / "train__base__a.json").unlink()
    settings = load_config(config).crosscoder
    caches = (run_dir / "activations" / "base", run_dir / "activations" / "a")
    train_crosscoder(caches, settings, out_dir=pair, max_steps=3)  # interrupted after a checkpoint
    result = cli("run", config, "--run-dir", run_dir, "--set", "crosscoder.lr=0.005")
    assert_clean_failure(result, "interrupted training with another config", "--force")
    forced = cli("train", config, "--run-dir", run_dir, "--set", "crosscoder.lr=0.005", "--force")
    assert forced.exit_code == 0, forced.output  # the way out the message names works
    assert json.loads((pair / "cfg.json").read_text())["metadata"]["llmdiff_eval"]["training"]["lr"] == 0.005
