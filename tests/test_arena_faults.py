"""Arena fetching under faults: retries, Retry-After, fallback order and reporting, cache, offline mode."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from arena_server import ArenaServer  # noqa: E402

from llmdiff_eval.arena import fetch_arena  # noqa: E402
from llmdiff_eval.arena.cache import LATEST_TTL_S, is_pinned  # noqa: E402
from llmdiff_eval.arena.fetch import ArenaFallbackWarning  # noqa: E402
from llmdiff_eval.arena.http import RetryPolicy  # noqa: E402

FAST = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, max_retry_after=0.2)
PAIR = ["gemma-2-9b-it", "gemma-2-9b-it-simpo"]
SOURCES = ["datasets-server", "parquet", "pickle", "catalog", "bundled"]


@pytest.fixture
def server():
    with ArenaServer() as running:
        yield running


def fetch(server, cache_dir, **kwargs):
    options = {"retry": FAST, "timeout": 5, "date": "2025-09-17", **kwargs}
    return fetch_arena(PAIR, cache_dir=cache_dir, **server.urls(), **options)


def overall(df, style=False):
    row = df[(df.model == "gemma-2-9b-it") & (df.category == "overall") & (df.style_control == style)]
    return row.rating.item()


def first_http_log(df):
    return df.attrs["provenance"]["attempts"][0]["http"]


# ---- faults that a retry fixes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["503", "not_ready", "loading", "truncated", "500"])
def test_transient_fault_is_retried(server, tmp_path, kind):
    server.add_fault("/filter", kind, times=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ArenaFallbackWarning)  # a retry is not a fallback
        df = fetch(server, tmp_path, source="auto")
    assert overall(df) == 1194.01
    log = first_http_log(df)
    assert log[0]["error"] and log[0]["wait_s"] == 0.01 and log[1]["attempt"] == 2
    assert df.attrs["provenance"]["fallback"] is False


def test_error_texts_are_reported(server, tmp_path):
    server.add_fault("/filter", "not_ready", times=1)
    server.add_fault("/filter", "truncated", times=1)
    df = fetch(server, tmp_path, source="datasets-server")
    errors = [entry.get("error", "") for entry in first_http_log(df)]
    assert "not ready yet" in errors[0] and errors[1].startswith("unparsable body: invalid JSON")


def test_retry_after_is_honoured(server, tmp_path):
    server.add_fault("/filter", "429", times=1, retry_after=1)
    policy = RetryPolicy(max_attempts=3, backoff=0.01, max_retry_after=30)
    start = time.monotonic()
    df = fetch(server, tmp_path, source="datasets-server", retry=policy)
    assert time.monotonic() - start >= 1.0
    log = first_http_log(df)
    assert log[0]["status"] == 429 and log[0]["wait_s"] == 1.0 and "Retry-After: 1" in log[0]["error"]


def test_retry_after_wait_is_capped(server, tmp_path):
    server.add_fault("/filter", "429", times=1, retry_after=3600)
    start = time.monotonic()
    df = fetch(server, tmp_path, source="datasets-server")  # FAST caps Retry-After at 0.2 s
    assert time.monotonic() - start < 5
    assert first_http_log(df)[0]["wait_s"] == 0.2


def test_slow_response_times_out_then_succeeds(server, tmp_path):
    server.add_fault("/filter", "slow", times=1, delay=1.5)
    df = fetch(server, tmp_path, source="datasets-server", timeout=0.3)
    log = first_http_log(df)
    assert log[0]["error"] == "timed out after 0.3 s"
    assert overall(df) == 1194.01


def test_persistent_fault_exhausts_retries(server, tmp_path):
    from llmdiff_eval.arena import SourceUnavailable

    server.add_fault("/filter", "503", times=None)
    with pytest.raises(
        SourceUnavailable, match=r"/filter failed \(GET .* failed after 3 attempt\(s\): HTTP 503"
    ):
        fetch(server, tmp_path, source="datasets-server")
    assert sum(1 for path in server.paths() if path == "/filter") == 3


def test_client_error_is_not_retried(server, tmp_path):
    from llmdiff_eval.arena import SourceUnavailable

    server.add_fault("/api/datasets/", "404", times=None)
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        fetch(server, tmp_path, source="parquet")
    assert server.paths().count("/api/datasets/lmarena-ai/leaderboard-dataset") == 1


# ---- fallback order and reporting ------------------------------------------------------------------------------
def test_fallback_to_parquet_is_reported(server, tmp_path):
    server.add_fault("/filter", "500", times=None)
    server.add_fault("/rows", "500", times=None)
    with pytest.warns(
        ArenaFallbackWarning, match="'parquet' source .* datasets-server: SourceUnavailable: /filter failed"
    ):
        df = fetch(server, tmp_path, source="auto")
    prov = df.attrs["provenance"]
    assert prov["source"] == "parquet" and prov["fallback"] is True and set(df["source"]) == {"parquet"}
    assert [a["source"] for a in prov["attempts"]] == ["datasets-server", "parquet"]
    assert prov["attempts"][0]["status"] == "failed" and "HTTP 500" in prov["attempts"][0]["reason"]
    assert overall(df) == 1194.01  # the same snapshot as the datasets-server would have given


def test_fallback_order_down_to_the_bundled_snapshot(server, tmp_path):
    for prefix in ("/filter", "/rows", "/api/datasets/", "/api/spaces/", "/repos/"):
        server.add_fault(prefix, "404", times=None)
    with pytest.warns(ArenaFallbackWarning) as caught:
        df = fetch(server, tmp_path, source="auto", date=None)
    assert "'bundled' source" in str(caught[0].message)
    prov = df.attrs["provenance"]
    assert [a["source"] for a in prov["attempts"]] == SOURCES
    assert [a["status"] for a in prov["attempts"]] == ["failed"] * 4 + ["ok"]
    first_calls = []  # the order in which each service was first contacted
    for path in server.paths():
        service = path if path in ("/filter", "/rows") else path.split("/")[1]
        if service not in first_calls:
            first_calls.append(service)
    # datasets-server, hub API (dataset, then Space), GitHub API, then raw GitHub at main (API down, no date)
    assert first_calls == ["/filter", "/rows", "api", "repos", "lmarena"]
    assert server.paths().index("/api/datasets/lmarena-ai/leaderboard-dataset") < server.paths().index(
        "/api/spaces/lmarena-ai/arena-leaderboard"
    )
    assert prov["source"] == "bundled" and prov["snapshot_date"] == "2025-09-18"
    assert overall(df) == 1208 and overall(df, style=True) == 1261  # paper Table 3


def test_bundled_cannot_answer_for_an_earlier_date(server, tmp_path):
    from llmdiff_eval.arena import SourceUnavailable

    with pytest.raises(SourceUnavailable, match="bundled snapshot is from 2025-09-18"):
        fetch(server, tmp_path, source="bundled", date="2025-09-01")


def test_unreachable_host_fails_fast(tmp_path):
    server = ArenaServer().start()
    urls = server.urls()
    server.stop()
    start = time.monotonic()
    with pytest.warns(ArenaFallbackWarning):
        df = fetch_arena(PAIR, cache_dir=tmp_path, retry=FAST, timeout=2, **urls)
    assert time.monotonic() - start < 10
    attempts = df.attrs["provenance"]["attempts"]
    assert "cannot connect" in attempts[0]["reason"]
    assert "unreachable earlier" in attempts[1]["reason"]  # same host: not retried again
    assert df.attrs["provenance"]["source"] == "bundled"


# ---- cache and offline -------------------------------------------------------------------------------------------
def test_cache_hit_with_the_server_stopped(server, tmp_path):
    first = fetch(server, tmp_path, source="auto")
    assert first.attrs["provenance"]["attempts"][0]["cached_to"]
    server.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ArenaFallbackWarning)
        again = fetch(server, tmp_path, source="auto")
    prov = again.attrs["provenance"]
    assert prov["source"] == "datasets-server" and prov["attempts"][0]["cache"] and not prov["fallback"]
    assert overall(again) == 1194.01 and overall(again, style=True) == 1234.01
    assert again[first.columns].equals(first)  # same rows, same dtypes


def _age_cache(cache_dir: Path, seconds: float) -> None:
    for path in cache_dir.rglob("*.json"):
        entry = json.loads(path.read_text())
        entry["stored_at"] -= seconds
        path.write_text(json.dumps(entry))


def test_pinned_date_never_expires(server, tmp_path):
    fetch(server, tmp_path, source="datasets-server")
    _age_cache(tmp_path, 30 * 24 * 3600)
    server.stop()
    df = fetch(server, tmp_path, source="datasets-server")
    assert df.attrs["provenance"]["attempts"][0]["stale"] is False


def test_latest_expires_after_a_day(server, tmp_path):
    fetch(server, tmp_path, source="datasets-server", date=None)
    _age_cache(tmp_path, LATEST_TTL_S - 60)
    server.clear()
    fetch(server, tmp_path, source="datasets-server", date=None)
    assert server.requests == []  # still fresh
    _age_cache(tmp_path, 120)
    df = fetch(server, tmp_path, source="datasets-server", date=None)
    assert server.paths() and "cache" not in df.attrs["provenance"]["attempts"][0]  # refetched


def test_expired_cache_is_used_and_reported_when_the_source_fails(server, tmp_path):
    fetch(server, tmp_path, source="auto", date=None)
    _age_cache(tmp_path, 2 * LATEST_TTL_S)
    server.stop()
    with pytest.warns(ArenaFallbackWarning, match="expired cached copy"):
        df = fetch(server, tmp_path, source="auto", date=None)
    attempt = df.attrs["provenance"]["attempts"][0]
    assert (
        attempt["source"] == "datasets-server"
        and attempt["stale"] is True
        and "cannot connect" in attempt["reason"]
    )
    assert overall(df) == 1198.01  # 2025-10-01, the cached latest snapshot


def test_offline_uses_only_the_cache(server, tmp_path):
    fetch(server, tmp_path, source="auto")
    server.clear()
    df = fetch(server, tmp_path, source="auto", offline=True)
    assert server.requests == []
    assert df.attrs["provenance"]["source"] == "datasets-server" and overall(df) == 1194.01


def test_offline_without_cache_uses_the_bundled_snapshot(server, tmp_path):
    with pytest.warns(ArenaFallbackWarning, match="offline and not in the cache"):
        df = fetch(server, tmp_path, source="auto", offline=True, date=None)
    assert server.requests == []
    prov = df.attrs["provenance"]
    assert [a["status"] for a in prov["attempts"]] == ["skipped"] * 4 + ["ok"]
    assert prov["source"] == "bundled" and overall(df) == 1208


def test_model_outside_the_bundled_snapshot_when_offline(server, tmp_path):
    from llmdiff_eval.arena import SourceUnavailable

    with (
        pytest.warns(ArenaFallbackWarning),
        pytest.raises(SourceUnavailable, match="only covers gemma-2-9b-it, "),
    ):
        fetch_arena(["llama-3-8b-instruct"], offline=True, cache_dir=tmp_path)


def test_cache_key_separates_queries(server, tmp_path):
    fetch(server, tmp_path, source="datasets-server", date="2025-09-17")
    df = fetch(server, tmp_path, source="datasets-server", date="2025-09-10")
    assert overall(df) == 1192.01 and "cache" not in df.attrs["provenance"]["attempts"][0]


def test_is_pinned():
    import datetime as dt

    today = dt.date(2025, 9, 20)
    assert (
        is_pinned("2025-09-17", today) and not is_pinned("2025-09-20", today) and not is_pinned(None, today)
    )
