"""Where the arena sources live (base URLs, injectable for tests and mirrors) and what a source returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from llmdiff_eval.arena.models import load_aliases, normalize_model_name

# The official dataset and its configs: config name -> style_control flag.
DATASET = "lmarena-ai/leaderboard-dataset"
DATASET_CONFIGS: dict[str, bool] = {"text": False, "text_style_control": True}
# Legacy leaderboard Space with elo_results_YYYYMMDD.pkl files (up to 2025-08-29).
LEGACY_SPACE = "lmarena-ai/arena-leaderboard"
# GitHub repo with the leaderboard JSON files: path -> style_control flag.
CATALOG_REPO = "lmarena/arena-catalog"
CATALOG_FILES: dict[str, bool] = {
    "data/leaderboard-text.json": False,
    "data/leaderboard-text-style-control.json": True,
}

# environment variable -> default base URL
ENV_DEFAULTS: dict[str, str] = {
    "HF_ENDPOINT": "https://huggingface.co",
    "LLMDIFF_DATASETS_SERVER_URL": "https://datasets-server.huggingface.co",
    "LLMDIFF_GITHUB_RAW_URL": "https://raw.githubusercontent.com",
    "LLMDIFF_GITHUB_API_URL": "https://api.github.com",
}


def _base(argument: str | None, env: str) -> str:
    return (argument or os.environ.get(env) or ENV_DEFAULTS[env]).rstrip("/")


@dataclass(frozen=True)
class Endpoints:
    """Base URLs: Hugging Face hub, datasets-server, raw GitHub content, GitHub REST API."""

    hub: str
    datasets_server: str
    github_raw: str
    github_api: str

    @classmethod
    def resolve(
        cls,
        hub_url: str | None = None,
        datasets_server_url: str | None = None,
        github_raw_url: str | None = None,
        github_api_url: str | None = None,
    ) -> Endpoints:
        """Arguments win, then ``HF_ENDPOINT`` / ``LLMDIFF_DATASETS_SERVER_URL`` / ``LLMDIFF_GITHUB_RAW_URL`` /
        ``LLMDIFF_GITHUB_API_URL``, then the public services."""
        return cls(
            hub=_base(hub_url, "HF_ENDPOINT"),
            datasets_server=_base(datasets_server_url, "LLMDIFF_DATASETS_SERVER_URL"),
            github_raw=_base(github_raw_url, "LLMDIFF_GITHUB_RAW_URL"),
            github_api=_base(github_api_url, "LLMDIFF_GITHUB_API_URL"),
        )


@dataclass
class Snapshot:
    """What a source answers: normalized records (see :mod:`llmdiff_eval.arena.records`) for the requested models
    (all categories, both style settings) and provenance fields (``url``, ``revision``, ``snapshot_date``, ...)."""

    frame: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def candidate_names(models: list[str]) -> list[str]:
    """Leaderboard names worth asking a server for: each name without its org prefix (as given and lower-cased)
    and its alias-table target. Used to build server-side filters; matching itself is :func:`resolve_model`."""
    aliases = load_aliases()
    names: list[str] = []
    for model in models:
        short = model.strip().rsplit("/", 1)[-1].strip()
        names += [short, short.lower()]
        for key in (model.strip().lower(), normalize_model_name(model)):
            if key in aliases:
                names.append(aliases[key])
    return list(dict.fromkeys(names))
