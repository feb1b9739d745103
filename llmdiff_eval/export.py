"""Export a run's crosscoder in SAE-Lens's on-disk layout, with its latent tables and a model card, and publish it (or
a model card) on the Hugging Face Hub.

:func:`export_pair` writes, for one pair of a run directory::

    OUT/
      README.md                   the crosscoder's model card (render/crosscoder_card.py)
      <pair>/cfg.json             SAE-Lens files, copied from crosscoders/<pair>/ ...
      <pair>/sae_weights.safetensors
      <pair>/sparsity.safetensors   (when the train stage wrote one)
      <pair>/training_log.jsonl
      <pair>/latents.parquet      latents/<pair>.parquet
      <pair>/annotations.parquet  annotations/<pair>.parquet (when annotated)
      <pair>/logit_lens.parquet   logit_lens/<pair>.parquet (when computed)

so ``SAE.load_from_disk("OUT/<pair>")`` loads it, and once ``OUT`` is a Hub repository,
``SAE.from_pretrained("<repo>", "<pair>")`` does (SAE-Lens takes the second argument as the folder), with
``llmdiff_eval.crosscoder`` imported to register the architecture. The folder is built beside its destination and
renamed into place, and the copy is reloaded through SAE-Lens and compared with the run's crosscoder before that.

:func:`push_folder` and :func:`push_model_card` upload through ``huggingface_hub`` (``HfApi.create_repo`` /
``upload_folder`` / ``upload_file``) with the user's token — ``HF_TOKEN`` or the one ``hf auth login``
stored, resolved by ``huggingface_hub`` itself; it is never logged, printed or put in an error message — and honour
``HF_ENDPOINT``. Reference: docs/export.md.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import httpx2
import pandas as pd
import torch
from huggingface_hub import HfApi, ModelCard, constants
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

from llmdiff_eval.config import ModelSpec
from llmdiff_eval.crosscoder import LOG_FILE, CrosscoderError, load_crosscoder
from llmdiff_eval.errors import LlmdiffError
from llmdiff_eval.render.crosscoder_card import CrosscoderFacts, crosscoder_card, validate_crosscoder_card
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.latents import read_latent_table
from llmdiff_eval.utils import atomic_write_text

SAE_LENS_FILES = ("cfg.json", "sae_weights.safetensors", "sparsity.safetensors", LOG_FILE)
"""Files of a crosscoder folder that are exported (those present)."""
CARD_FILE = "README.md"


class ExportError(LlmdiffError, ValueError):
    """A crosscoder cannot be exported or published; the message says what to do and never holds the token."""


def export_pair(
    run_dir: str | os.PathLike, pair: str, out: str | os.PathLike, repo_id: str | None = None
) -> Path:
    """Export ``pair``'s crosscoder of ``run_dir`` into ``out`` (layout in the module docstring); returns ``out``.

    ``repo_id`` only fills the card's loading example (the repository it will be published to). An existing
    ``out/<pair>/`` is replaced; other files in ``out`` are left alone, except ``README.md``, which is rewritten.
    """
    run = RunDir(run_dir)
    source = run.pair_crosscoder(pair)
    if not (source / "cfg.json").is_file():
        raise ExportError(
            f"{run.root} has no trained crosscoder for pair {pair!r} (pairs with one: {run.trained_pairs() or 'none'}); "
            "run the train stage, or pass one of those to --pair"
        )
    try:
        trained = load_crosscoder(source)
    except CrosscoderError as error:
        raise ExportError(str(error)) from error
    tables = {
        "latents.parquet": run.latents(pair),
        "annotations.parquet": run.annotations(pair),
        "logit_lens.parquet": run.logit_lens(pair),
    }
    if not tables["latents.parquet"].is_file():
        raise ExportError(
            f"{tables['latents.parquet']} not found: run `llmdiff-eval analyze {run.root}` first"
        )
    out = Path(out)
    staging = out / f".{pair}.export-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    copied = []
    for name in SAE_LENS_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
            copied.append(name)
    for name, path in tables.items():
        if path.is_file():
            shutil.copy2(path, staging / name)
            copied.append(name)
    _check_reload(staging, trained)
    target = out / pair
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    facts = _facts(target, pair, copied, repo_id)
    card = crosscoder_card(facts, _hub_ids(facts.cfg))
    validate_crosscoder_card(card)
    atomic_write_text(out / CARD_FILE, card)
    return out


def _check_reload(folder: Path, trained: torch.nn.Module) -> None:
    """The exported folder loads through SAE-Lens (``SAE.load_from_disk``) with the run's exact weights."""
    try:
        copy = load_crosscoder(folder)
    except CrosscoderError as error:
        raise ExportError(f"the exported copy in {folder} does not load: {error}") from error
    expected, got = trained.state_dict(), copy.state_dict()
    if expected.keys() != got.keys() or any(not torch.equal(expected[k], got[k]) for k in expected):
        raise ExportError(f"the exported copy in {folder} differs from the run's crosscoder; export again")
    if list(trained.cfg.norm_scale or []) != list(copy.cfg.norm_scale or []):
        raise ExportError(f"the exported copy in {folder} lost the crosscoder's normalization; export again")


def _facts(folder: Path, pair: str, files: list[str], repo_id: str | None) -> CrosscoderFacts:
    cfg = json.loads((folder / "cfg.json").read_text(encoding="utf-8"))
    log_lines = (
        (folder / LOG_FILE).read_text(encoding="utf-8").splitlines() if (folder / LOG_FILE).is_file() else []
    )
    last_log = json.loads(log_lines[-1]) if log_lines and log_lines[-1].strip() else None
    table = read_latent_table(folder / "latents.parquet")
    classes: dict[str, int] = {}
    if (folder / "annotations.parquet").is_file():
        names = pd.read_parquet(folder / "annotations.parquet", columns=["class_name"])["class_name"]
        classes = {str(k): int(v) for k, v in names.fillna("uncategorized").value_counts().items()}
    return CrosscoderFacts(
        cfg=cfg,
        folder=pair,
        files=files,
        last_log=last_log,
        tags={str(k): int(v) for k, v in table["tag"].value_counts().items()},
        thresholds=table.attrs.get("thresholds"),
        classes=classes,
        repo_id=repo_id,
    )


def _hub_ids(cfg: dict) -> dict[str, str | None]:
    """Hub ids of the two models from the specs recorded in ``cfg.json`` (None for local or adapted models)."""
    specs = ((cfg.get("metadata") or {}).get("llmdiff_eval") or {}).get("model_specs") or {}
    return {role: ModelSpec.from_dict(spec).hub_id for role, spec in specs.items()}


# ---------------------------------------------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------------------------------------------

TOKEN_HELP = "set HF_TOKEN to a token with write access, or run `hf auth login`"
HUB_ERRORS = (httpx2.HTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled)
"""What a failed Hub call raises: HTTP status and transport errors of the client ``huggingface_hub`` is built on
(``HfHubHTTPError`` is one), no token, offline mode."""


def _hub_error(error: Exception, repo_id: str) -> ExportError:
    """An :class:`ExportError` for a failed Hub call: the HTTP status and the Hub's message, never the token."""
    if isinstance(error, LocalTokenNotFoundError):
        return ExportError(f"no Hugging Face token to publish {repo_id!r}: {TOKEN_HELP}")
    if isinstance(error, OfflineModeIsEnabled):
        return ExportError(f"cannot publish {repo_id!r}: HF_HUB_OFFLINE is set; unset it to reach the Hub")
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if not isinstance(error, HfHubHTTPError):
        return ExportError(
            f"could not reach the Hub at {constants.ENDPOINT} to publish {repo_id!r}: {message}"
        )
    status = error.response.status_code
    hint = f"; {TOKEN_HELP}" if status in (401, 403) else ""
    return ExportError(f"the Hub refused to publish {repo_id!r} (HTTP {status}): {message}{hint}")


def push_folder(folder: str | os.PathLike, repo_id: str, private: bool = False) -> str:
    """Create model repository ``repo_id`` if needed and upload ``folder`` to its root in one commit; returns the
    commit URL. Token and endpoint come from ``huggingface_hub`` (``HF_TOKEN`` / login, ``HF_ENDPOINT``)."""
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        with warnings.catch_warnings():  # the latent tables are Parquet files on purpose
            warnings.filterwarnings("ignore", message="It seems that you are about to commit a data file")
            commit = api.upload_folder(
                folder_path=str(folder),
                repo_id=repo_id,
                repo_type="model",
                commit_message="Upload crosscoder exported by llmdiff-eval",
                ignore_patterns=[".*"],
            )
    except HUB_ERRORS as error:
        raise _hub_error(error, repo_id) from error
    return str(commit.commit_url)


def push_model_card(card_path: str | os.PathLike, repo_id: str) -> str:
    """Upload the model card at ``card_path``, unchanged, as ``README.md`` of model repository ``repo_id`` (created if
    needed); it is checked with ``huggingface_hub.ModelCard`` first, and the Hub validates its metadata before the
    commit. Returns the commit URL."""
    ModelCard(Path(card_path).read_text(encoding="utf-8"), ignore_metadata_errors=False)
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        commit = api.upload_file(
            path_or_fileobj=str(card_path),
            path_in_repo=CARD_FILE,
            repo_id=repo_id,
            repo_type="model",
            commit_message="Update model card (llmdiff-eval)",
        )
    except HUB_ERRORS as error:
        raise _hub_error(error, repo_id) from error
    return str(commit.commit_url)
