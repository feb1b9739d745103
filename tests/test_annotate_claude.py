"""Claude annotator, categorizer and judge through the real ``anthropic`` SDK against a local fake Messages API.

The fake server (tests/anthropic_server.py) answers from the request content: each planted latent's contexts carry
a marker word; the explainer "sees" it, the categorizer maps it to a code, the judge marks excerpts containing the
word of the description it is given. Usage numbers are fixed per step so every dollar figure can be checked by hand.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time

import pandas as pd
import pytest
from anthropic_server import FakeAnthropic, Reply, last_user_text, system_text
from click.testing import CliRunner

from llmdiff_eval.annotate import (
    AnnotateConfig,
    BudgetExceededError,
    ClaudeAnnotator,
    ModelPrice,
    annotate,
    annotate_latents,
)
from llmdiff_eval.annotate.pricing import resolve_price
from llmdiff_eval.cli import main
from llmdiff_eval.config import AnalyzeConfig
from llmdiff_eval.rundir.examples import write_examples
from llmdiff_eval.rundir.latents import write_latent_table
from llmdiff_eval.taxonomy import load_taxonomy

KEY = "sk-ant-test-SECRET-0123456789abcdef"
MODEL = "claude-haiku-4-5"  # $1 input, $5 output, $1.25 cache write, $0.10 cache read per million tokens
MARKERS = {1: "zebra", 2: "quokka", 3: "narwhal"}
CATEGORY_OF = {"zebra": "B.7", "quokka": "G.24", "narwhal": "A.2"}
USAGE = {
    "explain": {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 500,
    },
    "categorize": {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 0,
    },
    "judge": {
        "input_tokens": 300,
        "output_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
}
# Hand-computed with the prices above (US$):
EXPLAIN_COST = (1000 * 1 + 200 * 5 + 500 * 0.10) / 1e6  # 0.00205
CATEGORIZE_COST = (100 * 1 + 20 * 5 + 2000 * 1.25) / 1e6  # 0.00270
JUDGE_COST = (300 * 1 + 50 * 5) / 1e6  # 0.00055
FILLER = [
    "the weather was mild",
    "a train left the station",
    "she read the letter twice",
    "lunch was at noon",
]


def contexts(marker: str, n: int = 4) -> list[str]:
    return [f"{FILLER[i % 4]} and then <<{marker}>> appeared (example {i})" for i in range(n)]


def heldout(marker: str) -> list[str]:
    return [f"later a <<{marker}>> was seen near the river ({i})" for i in range(3)]


NEGATIVES = ["the meeting ran long", "prices rose in spring", "the bridge was repainted"]


def step_of(body: dict) -> str:
    system = system_text(body)
    if system.startswith("You interpret"):
        return "explain"
    if system.startswith("You sort"):
        return "categorize"
    assert system.startswith("You test"), system[:40]
    return "judge"


def marker_in(text: str) -> str | None:
    return next((word for word in CATEGORY_OF if word in text), None)


def excerpts(text: str) -> list[str]:
    return re.split(r"\n\nExcerpt \d+:\n", "\n\n" + text.split("\n\n", 1)[1])[1:]


def explanation_for(marker: str) -> dict:
    return {
        "patterns": [f"the word {marker}", "short narrative sentences"],
        "label": f"{marker} mentions",
        "description": f"Fires on the word {marker}. It marks the animal's name wherever it appears.",
        "confidence": "high",
        "confidence_reason": "every excerpt marks the same word",
    }


def first_user_text(body: dict) -> str:
    return body["messages"][0]["content"]


def sent_key(request) -> str | None:
    """The API key the SDK sent (this SDK version uses a Bearer header; older ones x-api-key)."""
    bearer = request.headers.get("authorization", "")
    return bearer.removeprefix("Bearer ") if bearer else request.headers.get("x-api-key")


def good_answer(body: dict) -> dict:
    """What a well-behaved model answers (to the original question, also after a corrective turn)."""
    step = step_of(body)
    if step == "explain":
        return explanation_for(marker_in(first_user_text(body)))
    if step == "categorize":
        return {"code": CATEGORY_OF[marker_in(first_user_text(body))], "reason": "it fits"}
    text = first_user_text(body)
    described = marker_in(text.split("\n\n", 1)[0])
    return {
        "verdicts": [
            {"excerpt": i, "active": described in ex} for i, ex in enumerate(excerpts(text), start=1)
        ]
    }


def with_usage(answer_for):
    def responder(body: dict) -> Reply:
        answer = answer_for(body)
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return Reply(text=text, usage=dict(USAGE[step_of(body)]))

    return responder


def make_annotator(server: FakeAnthropic, **options) -> ClaudeAnnotator:
    return ClaudeAnnotator(model=MODEL, base_url=server.base_url, api_key=KEY, max_retries=3, **options)


def planted(ids=(1, 2)) -> tuple[dict, dict]:
    return {i: contexts(MARKERS[i]) for i in ids}, {i: heldout(MARKERS[i]) for i in ids}


def test_answers_flow_through_scores_and_costs():
    with FakeAnthropic(with_usage(good_answer)) as server:
        examples, held = planted()
        df = annotate_latents(
            examples, make_annotator(server), heldout=held, negatives=NEGATIVES, n_score=3, max_cost=1.0
        )
        requests = server.message_requests()
    assert df.loc[1, "label"] == "zebra mentions" and df.loc[2, "label"] == "quokka mentions"
    assert df.loc[1, "description"].startswith("Fires on the word zebra.")
    assert (
        df.loc[1, "confidence"] == "high"
        and df.loc[1, "patterns"] == "the word zebra; short narrative sentences"
    )
    assert df.loc[1, "category"] == "B.7" and df.loc[1, "category_name"] == "Multilingual Processing"
    assert df.loc[2, "class_name"] == "Specialized Capabilities"
    assert (
        (df["annotator"] == "claude").all() and (df["model_id"] == MODEL).all() and df["error"].isna().all()
    )
    # detection: the judge finds every held-out context for the right description, none for the baseline
    assert df["detection_score"].tolist() == [1.0, 1.0]
    assert df["random_baseline_score"].tolist() == [0.5, 0.5]
    # per latent: explain + categorize + 2 judge requests (description, baseline; 6 contexts fit one prompt)
    assert df["requests"].tolist() == [4, 4]
    per_latent = EXPLAIN_COST + CATEGORIZE_COST + 2 * JUDGE_COST
    assert df["cost_usd"].tolist() == pytest.approx([per_latent, per_latent], abs=1e-12)
    assert per_latent == pytest.approx(0.00585)
    assert df["input_tokens"].tolist() == [1000 + 100 + 600] * 2
    assert df["cache_read_tokens"].tolist() == [500, 500] and df["cache_write_tokens"].tolist() == [
        2000,
        2000,
    ]
    assert df.attrs["usage"]["this_run"]["cost_usd"] == pytest.approx(2 * per_latent)
    assert df.attrs["usage"]["total"]["requests"] == 8
    # the requests use structured output, a cached system block and the real SDK's auth header
    assert len(requests) == 8 and all(sent_key(r) == KEY for r in requests)
    for request in requests:
        body = request.body
        assert body["model"] == MODEL
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert "temperature" not in body
    categorize = [r.body for r in requests if step_of(r.body) == "categorize"]
    enum = categorize[0]["output_config"]["format"]["schema"]["properties"]["code"]["enum"]
    assert enum == load_taxonomy("paper").codes
    assert "G.30 Model Self-Reference" in system_text(categorize[0])
    explain = next(r.body for r in requests if step_of(r.body) == "explain")
    assert "<<zebra>>" in last_user_text(explain) or "<<quokka>>" in last_user_text(explain)
    judge_bodies = [r.body for r in requests if step_of(r.body) == "judge"]
    assert all("<<" not in last_user_text(body) for body in judge_bodies)  # marks never shown to the judge


def test_rate_limit_with_retry_after_is_honoured():
    with FakeAnthropic(with_usage(good_answer)) as server:
        server.fail_next(429, headers={"retry-after": "1"})
        start = time.monotonic()
        df = annotate_latents({1: contexts("zebra")}, make_annotator(server), judge=False)
        elapsed = time.monotonic() - start
        paths = [r.path for r in server.requests]
    assert df.loc[1, "label"] == "zebra mentions" and pd.isna(df.loc[1, "error"])
    assert paths == ["/v1/messages"] * 3  # 429, then explain and categorize
    assert elapsed >= 1.0  # waited as told (the SDK's own first backoff is at most 0.5 s)


def test_server_error_then_success_is_retried():
    with FakeAnthropic(with_usage(good_answer)) as server:
        server.fail_next(500)
        server.fail_next(529)
        df = annotate_latents({1: contexts("zebra")}, make_annotator(server), judge=False)
        assert len(server.requests) == 4
    assert df.loc[1, "category"] == "B.7" and df.loc[1, "requests"] == 2  # failed attempts cost nothing


def test_timeout_is_retried():
    with FakeAnthropic(with_usage(good_answer)) as server:
        server.slow_next(2.0)  # the first answer comes after the client has given up
        df = annotate_latents({1: contexts("zebra")}, make_annotator(server, timeout=0.5), judge=False)
        n_requests = len(server.requests)
    assert df.loc[1, "category"] == "B.7" and pd.isna(df.loc[1, "error"])
    assert n_requests == 3  # timed out, then explain and categorize


def test_malformed_json_gets_one_corrective_retry():
    def answers(body):
        if step_of(body) == "explain" and len(body["messages"]) == 1:
            return '{"label": "zebra", "description": '  # cut off
        if step_of(body) == "categorize" and len(body["messages"]) == 1:
            return {"code": "B.7"}  # missing "reason": off-schema
        return good_answer(body)

    with FakeAnthropic(with_usage(answers)) as server:
        df = annotate_latents({1: contexts("zebra")}, make_annotator(server), judge=False)
        bodies = [r.body for r in server.message_requests()]
    assert df.loc[1, "label"] == "zebra mentions" and df.loc[1, "category"] == "B.7"
    assert len(bodies) == 4 and df.loc[1, "requests"] == 4
    corrective = bodies[1]["messages"]
    assert [m["role"] for m in corrective] == ["user", "assistant", "user"]
    assert corrective[1]["content"] == '{"label": "zebra", "description":'
    assert "not valid JSON" in corrective[2]["content"]
    assert "missing keys ['reason']" in bodies[3]["messages"][2]["content"]


def test_persistent_bad_answers_fail_only_that_latent():
    def answers(body):
        marker = marker_in(first_user_text(body))
        if step_of(body) == "explain" and marker == "quokka":
            return "I think this latent is about quokkas."  # never JSON
        if step_of(body) == "categorize" and marker == "narwhal":
            return {"code": "Z.99", "reason": "new category"}  # not in the taxonomy
        if step_of(body) == "explain" and marker == "zebra" and len(body["messages"]) == 1:
            return dict(explanation_for("zebra"), label="a label that is much too long here")
        return good_answer(body)

    with FakeAnthropic(with_usage(answers)) as server:
        examples, _ = planted((1, 2, 3))
        df = annotate_latents(examples, make_annotator(server, max_concurrency=3), judge=False)
        bodies = [r.body for r in server.message_requests()]
    assert df.loc[1, "label"] == "zebra mentions" and pd.isna(df.loc[1, "error"])  # label fixed by the retry
    assert pd.isna(df.loc[2, "label"]) and pd.isna(df.loc[2, "category"])
    assert df.loc[2, "error"].startswith("explain: answer still invalid after one corrective retry: ")
    assert df.loc[3, "label"] == "narwhal mentions" and pd.isna(df.loc[3, "category"])
    assert (
        "categorize: answer still invalid after one corrective retry: 'Z.99' is not a category code"
        in df.loc[3, "error"]
    )
    assert df.attrs["usage"]["errors"] == 2
    # exactly two attempts for each failing step, no more
    assert sum(step_of(b) == "explain" and "quokka" in str(b["messages"]) for b in bodies) == 2
    assert sum(step_of(b) == "categorize" and "narwhal" in str(b["messages"]) for b in bodies) == 2
    off_label = next(
        b for b in bodies if step_of(b) == "explain" and len(b["messages"]) == 3 and "zebra" in str(b)
    )
    assert "'label' has 8 words" in off_label["messages"][2]["content"]
    # failed latents are not cached, the finished one is: a rerun retries only the failures
    assert df.loc[2, "cost_usd"] == pytest.approx(2 * EXPLAIN_COST)


def test_second_run_is_served_from_the_cache_with_zero_requests(tmp_path):
    cache = tmp_path / "annotations.sqlite"
    examples, held = planted()
    with FakeAnthropic(with_usage(good_answer)) as server:
        first = annotate_latents(
            examples, make_annotator(server), cache_path=cache, heldout=held, negatives=NEGATIVES
        )
        n_first = len(server.requests)
        server.clear()
        start = time.perf_counter()
        second = annotate_latents(
            examples, make_annotator(server), cache_path=cache, heldout=held, negatives=NEGATIVES
        )
        assert server.requests == []
    assert n_first == 8 and time.perf_counter() - start < 5
    assert second["from_cache"].all() and second.attrs["usage"]["this_run"]["requests"] == 0
    assert second.attrs["usage"]["cache_hits"] == 2
    pd.testing.assert_frame_equal(first.drop(columns="from_cache"), second.drop(columns="from_cache"))
    # a different model id is a different cache entry
    with FakeAnthropic(with_usage(good_answer)) as server:
        other = ClaudeAnnotator(model="claude-sonnet-4-6", base_url=server.base_url, api_key=KEY)
        third = annotate_latents(examples, other, cache_path=cache, judge=False)
        assert len(server.requests) == 4 and not third["from_cache"].any()


def test_batch_mode_end_to_end_at_half_price():
    attempts: dict[str, int] = {}

    def answers(body):
        if step_of(body) == "explain" and marker_in(last_user_text(body)) == "quokka":
            attempts["quokka"] = attempts.get("quokka", 0) + 1
            if attempts["quokka"] == 1:
                return Reply(status=529)  # overloaded inside the batch: resubmitted
        return with_usage(good_answer)(body)

    examples, held = planted()
    with FakeAnthropic(answers, batch_polls_before_end=2) as server:
        annotator = make_annotator(server, batch=True, batch_poll_seconds=0.01)
        df = annotate_latents(examples, annotator, heldout=held, negatives=NEGATIVES, n_score=3)
        paths = [r.path for r in server.requests]
    assert df["error"].isna().all() and df["label"].tolist() == ["zebra mentions", "quokka mentions"]
    assert df["detection_score"].tolist() == [1.0, 1.0]
    assert "/v1/messages" not in paths  # everything went through batches
    creates = [p for p in paths if p == "/v1/messages/batches"]
    # rounds: explain (+ the resubmitted one), categorize, judge (description + baseline in one round)
    assert len(creates) == 4
    assert any(p.endswith("/results") for p in paths)
    per_latent = (EXPLAIN_COST + CATEGORIZE_COST + 2 * JUDGE_COST) / 2
    assert df["cost_usd"].tolist() == pytest.approx([per_latent, per_latent], abs=1e-12)
    assert attempts["quokka"] == 2


def test_batch_permanent_error_fails_that_latent():
    def answers(body):
        if marker_in(last_user_text(body)) == "quokka":
            return Reply(status=400)
        return with_usage(good_answer)(body)

    with FakeAnthropic(answers) as server:
        annotator = make_annotator(server, batch=True, batch_poll_seconds=0.01)
        df = annotate_latents(planted()[0], annotator, judge=False)
    assert df.loc[1, "category"] == "B.7"
    assert df.loc[2, "error"] == "batch request failed: invalid_request_error: scripted 400"


def test_max_cost_refuses_before_sending_anything():
    with FakeAnthropic(with_usage(good_answer)) as server:
        examples, _ = planted((1, 2, 3))
        with pytest.raises(
            BudgetExceededError, match=r"estimated cost \$0\.0\d+ for 3 latent\(s\) exceeds the limit"
        ):
            annotate_latents(examples, make_annotator(server), judge=False, max_cost=0.001)
        assert server.requests == []


def test_hard_limit_holds_while_running():
    """The estimate fits the limit, but every answer is as long as allowed and the prompts bill at one token per
    byte (the most they can): the run stops starting requests before the spend could pass the limit."""

    def longest_possible(body):
        text = system_text(body) + "".join(m["content"] for m in body["messages"])
        usage = {**USAGE["judge"], "input_tokens": len(text.encode()), "output_tokens": body["max_tokens"]}
        return Reply(text=json.dumps(good_answer(body)), usage=usage)

    with FakeAnthropic(longest_possible) as server:
        examples, _ = planted((1, 2, 3))
        annotator = make_annotator(server, max_concurrency=1)
        taxonomy = load_taxonomy("paper")
        estimate = sum(annotator.estimate(c, taxonomy).cost_usd for c in examples.values())
        limit = 0.02
        assert estimate < limit  # passes the check made before spending
        df = annotate_latents(examples, annotator, judge=False, max_cost=limit)
        sent = len(server.requests)
    spent = df.attrs["usage"]["this_run"]["cost_usd"]
    assert 0 < spent <= limit
    assert df["label"].notna().sum() >= 1  # work within the budget was done
    budget_errors = df["error"].str.contains(r"budget of \$0\.0200 reached", na=False)
    assert budget_errors.sum() >= 1
    assert sent == df["requests"].sum() < 6


def _write_run(run_dir, pair="base__ft"):
    latents = pd.DataFrame(
        {"tag": ["ft_only", "ft_only", "base_only"]}, index=pd.Index([1, 2, 3], name="latent_id")
    )
    write_latent_table(latents, run_dir / "latents" / f"{pair}.parquet")
    rows = []
    for latent in (1, 2, 3):
        marker = MARKERS[latent]
        for kind, texts in (
            ("top", contexts(marker)),
            ("quantile", heldout(marker)),
            ("negative", NEGATIVES),
        ):
            rows += [
                (latent, kind, rank, 1.0, rank, 0, text.replace("<<", "").replace(">>", ""), text)
                for rank, text in enumerate(texts)
            ]
    columns = ["latent_id", "kind", "rank", "activation", "doc_id", "token_index", "text", "marked_text"]
    write_examples(run_dir / "examples.sqlite", pair, pd.DataFrame(rows, columns=columns), AnalyzeConfig())


def test_api_key_is_never_logged_printed_or_written(tmp_path, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # includes the SDK's and the HTTP client's debug logs
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    _write_run(tmp_path)
    with FakeAnthropic(with_usage(good_answer)) as server:
        server.fail_next(429, headers={"retry-after": "0.1"})  # exercise the retry logging too
        cfg = AnnotateConfig(annotator="auto", model=MODEL, base_url=server.base_url, n_score=3)
        df = annotate(cfg, tmp_path, "base", "ft")
        result = CliRunner().invoke(
            main, ["annotate", str(tmp_path), "--model", MODEL, "--base-url", server.base_url]
        )
        assert result.exit_code == 0, result.output
        assert sent_key(server.requests[0]) == KEY  # the key really was used
    assert df.index.tolist() == [1, 2] and (df["annotator"] == "claude").all()
    assert "this_run" in df.attrs["usage"]
    assert caplog.records and KEY not in caplog.text
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err + result.output
    assert KEY not in repr(make_annotator_for_repr(server.base_url))
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "annotations.sqlite" for path in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path


def make_annotator_for_repr(base_url: str) -> ClaudeAnnotator:
    return ClaudeAnnotator(model=MODEL, base_url=base_url, api_key=KEY)


def test_cli_prints_estimate_and_refuses_beyond_max_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    _write_run(tmp_path)
    with FakeAnthropic(with_usage(good_answer)) as server:
        result = CliRunner().invoke(
            main,
            [
                "annotate",
                str(tmp_path),
                "--base-url",
                server.base_url,
                "--model",
                MODEL,
                "--max-cost",
                "0.0001",
            ],
        )
        assert server.requests == []
    assert result.exit_code != 0
    assert "estimated cost $" in result.output and "exceeds --max-cost $0.0001" in result.output
    assert "annotator: claude (claude-haiku-4-5" in result.output


def test_missing_key_and_unknown_model_are_clear_errors(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ValueError, match="no Anthropic API key: set ANTHROPIC_API_KEY"):
        ClaudeAnnotator()
    with pytest.raises(ValueError, match="no price known for model 'claude-future-9'"):
        ClaudeAnnotator(model="claude-future-9", api_key=KEY)
    custom = ClaudeAnnotator(
        model="claude-future-9", api_key=KEY, prices={"claude-future-9": {"input": 2, "output": 10}}
    )
    assert custom.client.price == ModelPrice(2, 10, 2.5, 0.2)
    assert resolve_price("claude-haiku-4-5-20251001") == resolve_price("claude-haiku-4-5")


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    """Ctrl-C while latent 2 is being annotated (one at a time): latent 1 is committed, latent 2's requests in flight
    finish and are committed too (nothing paid for is lost), latent 3 never starts; the rerun asks only for 3."""
    cache = tmp_path / "annotations.sqlite"
    examples, _ = planted((1, 2, 3))

    def interrupting(body):
        if step_of(body) == "explain" and marker_in(first_user_text(body)) == "quokka":
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C
        return with_usage(good_answer)(body)

    with FakeAnthropic(interrupting) as server:
        with pytest.raises(KeyboardInterrupt):
            annotate_latents(
                examples, make_annotator(server, max_concurrency=1), cache_path=cache, judge=False
            )
    with FakeAnthropic(with_usage(good_answer)) as server:
        df = annotate_latents(examples, make_annotator(server), cache_path=cache, judge=False)
        asked = [marker_in(first_user_text(r.body)) for r in server.message_requests()]
    assert df["from_cache"].tolist() == [True, True, False]
    assert asked == ["narwhal", "narwhal"]  # explain + categorize for the one unfinished latent
    assert df["label"].tolist() == ["zebra mentions", "quokka mentions", "narwhal mentions"]
