"""Each arena source against the local fixture server: date selection, category / style mapping, model matching.

Expected numbers are copied by hand from tests/fixtures/arena/leaderboard.csv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))

from arena_server import DATASET_SHA, SPACE_SHA, ArenaServer, legacy_pickle, load_leaderboard  # noqa: E402

from llmdiff_eval.arena import ArenaModelNotFound, SourceUnavailable, fetch_arena  # noqa: E402
from llmdiff_eval.arena.http import RetryPolicy  # noqa: E402

FAST = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, max_retry_after=0.2)
PAIR = ["google/gemma-2-9b-it", "princeton-nlp/gemma-2-9b-it-SimPO"]
EVIL_MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"arena_evil_{os.getpid()}"


class Evil:
    """Unpickling this with plain pickle would run a shell command; the restricted unpickler must not."""

    def __reduce__(self):
        return (os.system, (f"touch {EVIL_MARKER}",))


@pytest.fixture(scope="module")
def server():
    rows = load_leaderboard()
    pickles = {
        "elo_results_20250829.pkl": legacy_pickle(rows, "2025-08-29", extra={"evil": Evil()}),
        "elo_results_20250910.pkl": legacy_pickle(rows, "2025-09-10"),
    }
    with ArenaServer(pickles=pickles) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server):
    server.clear()


def fetch(server, tmp_path, models=PAIR, **kwargs):
    return fetch_arena(
        models, cache_dir=tmp_path / "cache", retry=FAST, timeout=5, **{**server.urls(), **kwargs}
    )


def rating(df, model, category, style):
    row = df[(df.model == model) & (df.category == category) & (df.style_control == style)]
    assert len(row) == 1, (model, category, style, len(row))
    return row.iloc[0]


# ---- datasets-server -------------------------------------------------------------------------------------------
def test_datasets_server_latest_snapshot(server, tmp_path):
    df = fetch(server, tmp_path, source="datasets-server")
    assert set(df["date"]) == {"2025-10-01"} and set(df["source"]) == {"datasets-server"}
    assert rating(df, "gemma-2-9b-it", "overall", False).rating == 1198.01
    assert rating(df, "gemma-2-9b-it", "overall", False).votes == 1400
    assert len(df) == 2 * 14 * 2  # two models, 14 categories, with and without style control
    assert {path for path in server.paths()} == {"/filter"}
    assert all(int(params["length"]) <= 100 for _, params in server.requests)
    prov = df.attrs["provenance"]
    assert (
        prov["source"] == "datasets-server" and prov["snapshot_date"] == "2025-10-01" and not prov["fallback"]
    )
    assert prov["models"] == {"google/gemma-2-9b-it": "gemma-2-9b-it",
                              "princeton-nlp/gemma-2-9b-it-SimPO": "gemma-2-9b-it-simpo"}  # fmt: skip
    assert "/filter?dataset=lmarena-ai/leaderboard-dataset&config=text" in prov["url"]


@pytest.mark.parametrize("source", ["datasets-server", "parquet"])
@pytest.mark.parametrize(
    ("date", "snapshot", "overall", "overall_style", "votes"),
    [
        ("2025-09-17", "2025-09-17", 1194.01, 1234.01, 1200),  # exact snapshot date
        ("2025-09-12", "2025-09-10", 1192.01, 1232.01, 1100),  # between snapshots: the one before
        ("2030-01-01", "2025-10-01", 1198.01, 1238.01, 1400),  # after the newest: the newest
    ],
)
def test_date_selection(server, tmp_path, source, date, snapshot, overall, overall_style, votes):
    df = fetch(server, tmp_path, source=source, date=date)
    assert set(df["date"]) == {snapshot}
    row = rating(df, "gemma-2-9b-it", "overall", False)
    assert (row.rating, row.ci_lower, row.ci_upper, row.votes) == (
        overall,
        overall - 4.5,
        overall + 4.5,
        votes,
    )
    assert rating(df, "gemma-2-9b-it", "overall", True).rating == overall_style
    assert df.attrs["provenance"]["snapshot_date"] == snapshot
    assert df.attrs["provenance"]["requested_date"] == date


@pytest.mark.parametrize("source", ["datasets-server", "parquet", "pickle", "catalog"])
def test_date_before_every_snapshot_fails_that_source(server, tmp_path, source):
    with pytest.raises(SourceUnavailable, match="2025-01-01"):
        fetch(server, tmp_path, source=source, date="2025-01-01")


def test_datasets_server_pages_filter_results(server, tmp_path):
    everyone = ["gemma-2-9b-it", "gemma-2-9b-it-simpo", "gemma-2-27b-it", "llama-3-8b-instruct",
                "gpt-4o-2024-05-13", "claude-3-5-sonnet-20240620", "qwen2.5-72b-instruct", "gemma-3-27b-it"]  # fmt: skip
    df = fetch(server, tmp_path, models=everyone, source="datasets-server")
    assert len(df) == 8 * 14 * 2
    offsets = sorted({int(p["offset"]) for path, p in server.requests if p.get("config") == "text"})
    assert offsets == [0, 100]  # 112 rows per config -> two pages of at most 100


def test_datasets_server_falls_back_to_rows_paging_when_filter_is_unavailable(server, tmp_path):
    server.add_fault("/filter", "404", times=None)
    df = fetch(server, tmp_path, source="datasets-server")
    assert rating(df, "gemma-2-9b-it-simpo", "overall", True).rating == 1258.02  # 2025-10-01, style control
    rows_calls = [p for path, p in server.requests if path == "/rows"]
    assert {p["split"] for p in rows_calls} == {"latest"}
    assert max(int(p["length"]) for p in rows_calls) == 100
    assert "/rows" in df.attrs["provenance"]["note"]


def test_fixture_server_enforces_the_page_length_limit(server):
    response = requests.get(
        f"{server.url}/rows",
        params={
            "dataset": "lmarena-ai/leaderboard-dataset",
            "config": "text",
            "split": "latest",
            "length": 101,
        },
        timeout=5,
    )
    assert response.status_code == 422
    assert response.json() == {"error": "Parameter 'length' must not be greater than 100"}


# ---- model matching --------------------------------------------------------------------------------------------
def test_alias_table_maps_hub_ids(server, tmp_path):
    df = fetch(server, tmp_path, models=["meta-llama/Meta-Llama-3-8B-Instruct"], source="datasets-server")
    assert set(df["model"]) == {"llama-3-8b-instruct"}
    assert rating(df, "llama-3-8b-instruct", "overall", False).rating == 1158.04
    assert df.attrs["provenance"]["models"] == {"meta-llama/Meta-Llama-3-8B-Instruct": "llama-3-8b-instruct"}


def test_exact_match_ignores_case_and_org(server, tmp_path):
    df = fetch(server, tmp_path, models=["OpenAI/GPT-4o-2024-05-13"], source="parquet")
    assert set(df["model"]) == {"gpt-4o-2024-05-13"}


@pytest.mark.parametrize("source", ["datasets-server", "parquet", "pickle", "catalog"])
def test_unknown_model_lists_nearest_names(server, tmp_path, source):
    with pytest.raises(ArenaModelNotFound) as info:
        fetch(server, tmp_path, models=["gemma-2-9b-it", "gemma-2-9b-simpo"], source=source)
    assert info.value.model == "gemma-2-9b-simpo"
    assert info.value.nearest[0] == "gemma-2-9b-it-simpo"
    assert "'gemma-2-9b-it-simpo'" in str(info.value) and "aliases.yaml" in str(info.value)


def test_unknown_model_is_an_error_not_a_fallback(server, tmp_path):
    with pytest.raises(ArenaModelNotFound):
        fetch(server, tmp_path, models=["no-such-model-xyz"], source="auto")
    assert all(path in ("/filter", "/rows") for path in server.paths())  # never went on to the hub / bundled


def test_model_missing_from_an_older_snapshot(server, tmp_path):
    with pytest.raises(ArenaModelNotFound, match="2025-09-17"):
        fetch(server, tmp_path, models=["gemma-3-27b-it"], source="datasets-server", date="2025-09-17")
    df = fetch(server, tmp_path, models=["gemma-3-27b-it"], source="datasets-server", date="2025-09-18")
    assert rating(df, "gemma-3-27b-it", "overall", False).rating == 1346.08


# ---- parquet -------------------------------------------------------------------------------------------------------
def test_parquet_follows_the_resolve_redirect_at_the_reported_revision(server, tmp_path):
    df = fetch(server, tmp_path, source="parquet", date="2025-09-17")
    prov = df.attrs["provenance"]
    assert prov["revision"] == DATASET_SHA
    assert f"/resolve/{DATASET_SHA}/text/full-00000-of-00001.parquet" in prov["url"]
    downloads = [entry for entry in prov["attempts"][0]["http"] if "/resolve/" in entry["url"]]
    assert len(downloads) == 2 and all(entry["redirects"] == [302] for entry in downloads)
    assert all("/cdn/" in entry["final_url"] for entry in downloads)


# ---- legacy pickles ------------------------------------------------------------------------------------------------
def test_pickle_source_maps_legacy_keys_and_refuses_foreign_objects(server, tmp_path):
    EVIL_MARKER.unlink(missing_ok=True)
    df = fetch(server, tmp_path, source="pickle", date="2025-09-05")
    assert not EVIL_MARKER.exists()
    prov = df.attrs["provenance"]
    assert prov["snapshot_date"] == "2025-08-29" and prov["revision"] == SPACE_SHA
    assert prov["url"].endswith(
        f"/spaces/lmarena-ai/arena-leaderboard/resolve/{SPACE_SHA}/elo_results_20250829.pkl"
    )
    assert set(prov["refused_globals"]) == {"posix.system", "arena_server.FakeFigure"}
    # full -> overall, if -> instruction_following, hard_6 -> hard_prompts, multiturn, long_user; suffix -> style
    assert {"overall", "instruction_following", "hard_prompts", "multi_turn", "longer_query"} <= set(
        df.category
    )
    assert not {"full", "if", "hard_6", "multiturn", "long_user"} & set(df.category)
    row = rating(df, "gemma-2-9b-it", "overall", True)
    assert (row.rating, row.ci_lower, row.ci_upper, row.votes) == (1230.01, 1225.51, 1234.51, 1000)
    assert rating(df, "gemma-2-9b-it", "overall", False).rating == 1190.01


def test_pickle_source_latest_file(server, tmp_path):
    df = fetch(server, tmp_path, source="pickle")
    assert set(df["date"]) == {"2025-09-10"}
    assert rating(df, "gemma-2-9b-it", "instruction_following", False).rating == 1196.01


# ---- arena-catalog -------------------------------------------------------------------------------------------------
def test_catalog_at_the_commit_on_or_before_the_date(server, tmp_path):
    df = fetch(server, tmp_path, source="catalog", date="2025-09-17")  # commits exist for 09-10 and 09-18
    prov = df.attrs["provenance"]
    assert prov["snapshot_date"] == "2025-09-10"
    assert rating(df, "gemma-2-9b-it", "overall", False).rating == 1192.01
    assert rating(df, "gemma-2-9b-it", "multi_turn", True).rating == 1234.01
    assert df["votes"].isna().all()
    commit_calls = [p for path, p in server.requests if path.endswith("/commits")]
    assert {p["until"] for p in commit_calls} == {"2025-09-17T23:59:59Z"}
    revisions = prov["revision"].split(" ; ")
    assert len(revisions) == 2 and all(
        f"/lmarena/arena-catalog/{sha}/data/" in prov["url"] for sha in revisions
    )


def test_catalog_latest(server, tmp_path):
    df = fetch(server, tmp_path, source="catalog")
    assert set(df["date"]) == {"2025-09-18"}
    assert rating(df, "gemma-2-9b-it", "overall", False).rating == 1196.01


# ---- categories ----------------------------------------------------------------------------------------------------
def test_category_selection_accepts_any_spelling(server, tmp_path):
    df = fetch(server, tmp_path, source="datasets-server", date="2025-09-17",
               categories=["full", "Instruction Following", "hard_6", "Multi-Turn", "long_user"])  # fmt: skip
    assert sorted(set(df.category)) == ["hard_prompts", "instruction_following", "longer_query", "multi_turn",
                                        "overall"]  # fmt: skip
    assert rating(df, "gemma-2-9b-it", "hard_prompts", False).rating == 1188.01
    assert rating(df, "gemma-2-9b-it", "longer_query", False).rating == 1195.01


def test_unknown_category_lists_available(server, tmp_path):
    from llmdiff_eval.arena import ArenaCategoryNotFound

    with pytest.raises(ArenaCategoryNotFound, match="available: overall, math"):
        fetch(server, tmp_path, source="datasets-server", categories=["klingon"])


def test_base_urls_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMDIFF_DATASETS_SERVER_URL", server.url)
    df = fetch_arena(PAIR, source="datasets-server", cache_dir=tmp_path, retry=FAST)
    assert df.attrs["provenance"]["url"].startswith(server.url)
    monkeypatch.setenv("HF_ENDPOINT", server.url + "/")
    df = fetch_arena(PAIR, source="parquet", cache_dir=tmp_path, retry=FAST)
    assert df.attrs["provenance"]["url"].startswith(f"{server.url}/datasets/")


def test_compare_on_fetched_ratings(server, tmp_path):
    from llmdiff_eval.arena import compare_arena

    df = fetch(server, tmp_path, source="datasets-server", date="2025-09-17")
    table = compare_arena(df, "google/gemma-2-9b-it", "princeton-nlp/gemma-2-9b-it-SimPO")
    overall = table[table.category == "overall"].iloc[0]
    # fixture: it 1194.01 / 1234.01, SimPO 1214.02 / 1254.02 (without / with style control)
    assert overall.delta == pytest.approx(20.01) and overall.delta_style == pytest.approx(20.01)
    assert overall.style_diff == pytest.approx(0.0, abs=1e-9)
    assert len(table) == 14
