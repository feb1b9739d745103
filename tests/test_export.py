"""``llmdiff-eval export`` and publishing: the exported folder loads through SAE-Lens's public API
(``SAE.load_from_disk``, and ``SAE.from_pretrained`` from the Hub) and reproduces the run's stored encodings to 1e-6;
the tables and card come along; uploads go through ``huggingface_hub`` to a local stand-in of the Hub
(``tests/hub_server.py``, ``HF_ENDPOINT``) with the user's token, which never appears in any output or file.

The uploads run the CLI in a subprocess with ``HF_HUB_OFFLINE=0`` (CI sets it to 1 for everything else) and
``HF_HUB_DISABLE_XET=1``: the stand-in speaks the Git LFS transfer, not Xet (untested here)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner
from hub_server import HubServer
from test_scorecard_helpers import annotations_frame
from tiny_models import tiny_run_config

from llmdiff_eval.cli import main
from llmdiff_eval.config import RunConfig, from_dict
from llmdiff_eval.crosscoder import BatchTopKCrosscoder, load_crosscoder
from llmdiff_eval.export import ExportError, export_pair
from llmdiff_eval.render.crosscoder_card import validate_crosscoder_card
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.activations import ActivationCache, load_paired

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_planted_SECRET_7d3c9a"
PAIR = "base__a"


@pytest.fixture(scope="module")
def run(tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path, tmp_path_factory) -> RunDir:
    """A tiny run (harvest, train, analyze) of base vs a, with a hand-written annotation table for a."""
    from llmdiff_eval.pipeline import run_pipeline

    data = tiny_run_config(tiny_base_dir, tiny_ft_dir, tiny_ft2_dir, tiny_corpus_path)
    data["finetunes"] = data["finetunes"][:1]
    data["analyze"] |= {"selection": "energy"}
    data["scorecard"] = {}
    run = RunDir(tmp_path_factory.mktemp("export") / "run")
    run_pipeline(
        from_dict(RunConfig, data), run.root, stages=["harvest", "train", "analyze"], log=lambda *_: None
    )
    table = pd.read_parquet(run.latents(PAIR))
    tagged = table.index[table.tag == "ft_only"][:4]
    annotations = annotations_frame("c", 0)  # 4 rows: G.24, G.24, B.7, uncategorized
    annotations.index = pd.Index(tagged, name="latent_id")
    run.annotations_root.mkdir(exist_ok=True)
    annotations.to_parquet(run.annotations(PAIR))
    return run


@pytest.fixture(scope="module")
def exported(run: RunDir, tmp_path_factory) -> Path:
    return export_pair(run.root, PAIR, tmp_path_factory.mktemp("out") / "export", repo_id="me/crosscoder")


def _stored_encodings(run: RunDir) -> list[tuple[int, int, float]]:
    """``(cache row, latent id, f)`` of every top / quantile example the analyze stage stored."""
    cache = ActivationCache(run.activations("base"))
    row_of = {
        (int(d), int(p)): i for i, (d, p) in enumerate(zip(cache.doc_ids, cache.positions, strict=True))
    }
    with sqlite3.connect(run.examples_db) as con:
        rows = con.execute(
            "SELECT doc_id, token_index, latent_id, activation FROM examples WHERE pair = ? AND kind != 'negative'",
            (PAIR,),
        ).fetchall()
    return [(row_of[(doc, pos)], latent, value) for doc, pos, latent, value in rows]


def _reproduces_the_run(sae, run: RunDir) -> None:
    acts = load_paired(run.activations("base"), run.activations("a"))
    with torch.no_grad():
        f = sae.encode(sae.normalize(acts))
        trained = load_crosscoder(run.crosscoder("base", "a"))
        reference = trained.encode(trained.normalize(acts))
    assert torch.allclose(f, reference, atol=1e-6, rtol=0)
    stored = _stored_encodings(run)
    assert len(stored) > 20
    for row, latent, value in stored:  # the activations analyze recorded for its examples
        assert abs(float(f[row, latent]) - value) <= 1e-6 * max(1.0, abs(value)), (row, latent)


def test_exported_folder_loads_through_sae_lens_and_reproduces_the_run(exported: Path, run: RunDir) -> None:
    from sae_lens import SAE

    folder = exported / PAIR
    assert {p.name for p in folder.iterdir()} == {
        "cfg.json", "sae_weights.safetensors", "training_log.jsonl", "latents.parquet", "annotations.parquet",
        "logit_lens.parquet",
    }  # fmt: skip
    sae = SAE.load_from_disk(folder)  # SAE-Lens's public loader, dispatching on the registered architecture
    assert isinstance(sae, BatchTopKCrosscoder) and sae.cfg.architecture() == "batchtopk_crosscoder"
    _reproduces_the_run(sae, run)
    for name, source in (("latents", run.latents(PAIR)), ("annotations", run.annotations(PAIR)),
                         ("logit_lens", run.logit_lens(PAIR))):  # fmt: skip
        pd.testing.assert_frame_equal(pd.read_parquet(folder / f"{name}.parquet"), pd.read_parquet(source))


def test_the_crosscoder_card(exported: Path) -> None:
    text = (exported / "README.md").read_text()
    data = validate_crosscoder_card(text)
    assert data.library_name == "saelens" and "crosscoder" in data.tags
    assert "base_model" not in yaml.safe_load(text.split("---\n", 2)[1])  # local tiny models: no hub ids
    cfg = json.loads((exported / PAIR / "cfg.json").read_text())
    scale = cfg["metadata"]["llmdiff_eval"]["normalization"]["scale"]
    assert "residual stream after layer 2" in text and f"{scale[0]:.6g}" in text and f"{scale[1]:.6g}" in text
    assert f"F = {cfg['d_sae']} latents" in text and "explained variance" in text
    assert "| Specialized Capabilities | 2 |" in text and "| uncategorized | 1 |" in text
    assert (
        'SAE.from_pretrained("me/crosscoder", "base__a")' in text and "import llmdiff_eval.crosscoder" in text
    )


def test_export_errors_name_the_fix(run: RunDir, tmp_path: Path) -> None:
    with pytest.raises(
        ExportError, match=r"no trained crosscoder for pair 'base__zz' \(pairs with one: \['base__a'\]"
    ):
        export_pair(run.root, "base__zz", tmp_path / "out")
    result = CliRunner().invoke(
        main, ["export", str(run.root), "--pair", "base__zz", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "no trained crosscoder" in result.output
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------------------------
# Publishing (subprocesses against the stand-in Hub)
# ---------------------------------------------------------------------------------------------------------------


def _env(hub: HubServer, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    return dict(
        os.environ, HF_ENDPOINT=hub.url, HF_TOKEN=token, HF_HUB_OFFLINE="0", HF_HUB_DISABLE_XET="1",
        HF_HOME=str(tmp_path / "hf-home"), PYTHONPATH=str(REPO), LLMDIFF_DEBUG="",
    )  # fmt: skip


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmdiff_eval", *args], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_push_to_hub_uploads_the_export_with_the_token_never_shown(run: RunDir, tmp_path: Path) -> None:
    out = tmp_path / "export"
    with HubServer(TOKEN) as hub:
        env = _env(hub, tmp_path)
        result = _cli("export", str(run.root), "--pair", PAIR, "--out", str(out), "--push-to-hub", "me/crosscoder",
                      env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "pushed to " + hub.url + "/me/crosscoder/commit/" in result.stderr
        repo = hub.repos["me/crosscoder"]
        local = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert repo.files == local  # every file, byte for byte, in one commit
        assert len(repo.commits) == 1 and f"{PAIR}/sae_weights.safetensors" in repo.lfs
        # the token went to the Hub on every API call (LFS uploads go to pre-signed URLs, as on S3)...
        api_calls = [(m, p, ok) for m, p, ok in hub.requests if m != "PUT" and p != "/api/agent-harnesses"]
        assert api_calls and all(ok for _, _, ok in api_calls)
        assert {p for _, p, _ in api_calls} >= {"/api/repos/create", "/api/models/me/crosscoder/commit/main"}
        # ... and nowhere else
        assert TOKEN not in result.stdout + result.stderr
        assert not _files_containing(out, TOKEN.encode()) and not _files_containing(run.root, TOKEN.encode())
        # the published folder loads back through SAE-Lens's Hub loader with the run's encodings
        check = ("import torch, llmdiff_eval.crosscoder\nfrom sae_lens import SAE\n"
                 f"sae = SAE.from_pretrained('me/crosscoder', '{PAIR}')\n"
                 "print(sae.W_dec.sum().item())")  # fmt: skip
        loaded = subprocess.run(
            [sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=600
        )
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        expected = load_crosscoder(out / PAIR).W_dec.sum().item()
        assert float(loaded.stdout.split()[-1]) == pytest.approx(expected, rel=1e-6)
        again = _cli("export", str(run.root), "--pair", PAIR, "--out", str(out), "--push-to-hub", "me/crosscoder",
                     env=env)  # fmt: skip  # the repository exists now: reused, not an error
        assert again.returncode == 0, again.stderr[-3000:]


def test_refused_token_and_unreachable_hub_are_clear_errors_without_the_token(
    run: RunDir, tmp_path: Path
) -> None:
    wrong = "hf_wrong_TOKEN_0000"
    with HubServer(TOKEN) as hub:
        result = _cli("export", str(run.root), "--pair", PAIR, "--out", str(tmp_path / "o"), "--push-to-hub", "me/x",
                      env=_env(hub, tmp_path, token=wrong))  # fmt: skip
        assert result.returncode == 1
        assert (
            "HTTP 401" in result.stderr and "HF_TOKEN" in result.stderr and "Traceback" not in result.stderr
        )
        assert wrong not in result.stdout + result.stderr and not hub.repos
        assert (tmp_path / "o" / PAIR / "cfg.json").is_file()  # the export itself was written
    env = _env(hub, tmp_path)  # the stand-in is stopped now: nothing listens at HF_ENDPOINT
    result = _cli("export", str(run.root), "--pair", PAIR, "--out", str(tmp_path / "o"), "--push-to-hub", "me/x",
                  env=env)  # fmt: skip
    assert result.returncode == 1 and f"could not reach the Hub at {hub.url}" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stdout + result.stderr


def test_card_push_to_hub(run: RunDir, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    with HubServer(TOKEN) as hub:
        result = _cli("card", str(run.root), "--model", "a", "--out", str(card), "--push-to-hub", "me/model-a",
                      env=_env(hub, tmp_path))  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert hub.repos["me/model-a"].files == {"README.md": card.read_bytes()}
        assert ("POST", "/api/validate-yaml") in [r[:2] for r in hub.requests]  # the Hub checked the metadata
        assert TOKEN not in result.stdout + result.stderr
