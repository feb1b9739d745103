"""Claude explainer, categorizer and detection judge through the real ``anthropic`` SDK.

* Structured output: every request carries ``output_config={"format": {"type": "json_schema", ...}}``; the
  categorizer's schema restricts ``code`` to the taxonomy's codes (enum). Answers are validated again locally; an
  invalid one gets ONE corrective follow-up turn saying what was wrong, then the latent fails with a clear error
  while the others go on.
* Prompt caching: the fixed instructions (and the taxonomy, for the categorizer) are a system block with
  ``cache_control={"type": "ephemeral"}``. The API caches a prefix only above a model-specific minimum length
  (1–4k tokens); shorter prefixes are simply processed uncached.
* Retries: the SDK retries 408/409/429/5xx, connection errors and timeouts with exponential backoff and honours
  ``retry-after`` (``max_retries``). In batch mode, results that come back ``errored`` with a transient error type,
  ``expired`` or ``canceled`` are resubmitted in a follow-up batch (up to ``max_retries`` times).
* Message Batches (``batch=True``): each round of requests is one batch (``messages.batches.create``), polled with
  ``retrieve`` until ``ended``, read with ``results``; billed at half price.
* The API key is handed to the SDK client and kept nowhere else; it is never logged, printed or written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import anthropic

from llmdiff_eval.annotate.base import (
    AnnotationError,
    AnnotationResult,
    Annotator,
    ApiReply,
    ApiRequest,
    Budget,
    CategorizationError,
    Judge,
    OnDone,
    Program,
    Usage,
)
from llmdiff_eval.annotate.pricing import (
    ModelPrice,
    estimate_request_input_tokens,
    request_input_token_bound,
    resolve_price,
)
from llmdiff_eval.annotate.prompts import (
    EXPLAIN_SCHEMA,
    EXPLAIN_SYSTEM,
    JUDGE_PROMPT_VERSION,
    JUDGE_SCHEMA,
    JUDGE_SYSTEM,
    PROMPT_VERSION,
    InvalidAnswer,
    cached_system,
    categorize_schema,
    categorize_system,
    categorize_user_message,
    corrective_message,
    explain_user_message,
    judge_user_message,
    message_text,
    output_config,
    parse_category,
    parse_explanation,
    parse_verdicts,
)
from llmdiff_eval.annotate.runner import run_batched, run_threaded
from llmdiff_eval.config.annotate import DEFAULT_MODEL
from llmdiff_eval.taxonomy import Taxonomy

log = logging.getLogger(__name__)

# Expected output tokens per request, for estimates made before spending (limits use max_tokens instead).
EXPECTED_OUTPUT_TOKENS = {"explain": 250, "categorize": 60, "judge_per_excerpt": 12}
TRANSIENT_BATCH_ERRORS = {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}


class ClaudeClient:
    """One ``anthropic.Anthropic`` client, the model's prices, and the request drivers (threads or batches).

    ``base_url`` (or ``ANTHROPIC_BASE_URL``) points the SDK at another endpoint, e.g. a proxy or a test server.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 4,
        timeout: float = 120.0,
        prices: Mapping[str, Any] | None = None,
        batch: bool = False,
        batch_poll_seconds: float = 20.0,
        batch_max_requests: int = 10_000,
    ) -> None:
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ValueError(
                "no Anthropic API key: set ANTHROPIC_API_KEY or pass api_key=...; "
                "or use the offline annotator (annotator='offline')"
            )
        self.model = model
        self.price: ModelPrice = resolve_price(model, prices)
        self.batch = batch
        self.max_concurrency = max(1, int(max_concurrency))
        self.max_retries = max_retries
        self.batch_poll_seconds = batch_poll_seconds
        self.batch_max_requests = batch_max_requests
        self._sdk = anthropic.Anthropic(
            api_key=key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    def __repr__(self) -> str:  # never show the key
        return f"ClaudeClient(model={self.model!r}, base_url={str(self._sdk.base_url)!r}, batch={self.batch})"

    # --- requests -------------------------------------------------------------------------------------------
    def request(
        self, step: str, system: str, messages: list[dict[str, Any]], schema: dict[str, Any], max_tokens: int
    ) -> ApiRequest:
        """An :class:`ApiRequest` with a cached system block, JSON-schema output, and its cost upper bound."""
        params = {
            "model": self.model,
            "max_tokens": max_tokens,
            "system": cached_system(system),
            "messages": messages,
            "output_config": output_config(schema),
        }
        # Upper bound: one token per input byte, each at the cache-write rate (the dearest), + max_tokens output.
        bound = Usage(cache_write_tokens=request_input_token_bound(params), output_tokens=max_tokens)
        return ApiRequest(params=params, step=step, max_cost_usd=self.price.cost(bound, self.batch))

    def usage_of(self, message: Any) -> Usage:
        """Priced usage of one SDK ``Message``."""
        sdk_usage = message.usage
        usage = Usage(
            input_tokens=sdk_usage.input_tokens or 0,
            output_tokens=sdk_usage.output_tokens or 0,
            cache_read_tokens=sdk_usage.cache_read_input_tokens or 0,
            cache_write_tokens=sdk_usage.cache_creation_input_tokens or 0,
            requests=1,
        )
        usage.cost_usd = self.price.cost(usage, self.batch)
        return usage

    def send(self, request: ApiRequest) -> ApiReply:
        """One ``messages.create`` call (the SDK retries transient failures)."""
        try:
            message = self._sdk.messages.create(**request.params)
        except json.JSONDecodeError as error:
            raise self._not_json(error.doc) from error
        if not hasattr(message, "usage"):  # the SDK hands back the body when the reply is not JSON
            raise self._not_json(message)
        return ApiReply(message=message, usage=self.usage_of(message))

    def _not_json(self, body: Any) -> AnnotationError:
        snippet = " ".join(str(body).split())[:120]
        return AnnotationError(
            f"the API at {self._sdk.base_url} replied with {snippet!r}, not a JSON message: check the base URL "
            "(annotate.base_url, --base-url or ANTHROPIC_BASE_URL) and any proxy between you and the API"
        )

    def submit_batch(self, requests: list[tuple[str, ApiRequest]]) -> dict[str, ApiReply | BaseException]:
        """Send ``requests`` as Message Batches (chunked), wait for them, and return replies by ``custom_id``.

        Transient per-request failures (errored with a transient type, expired, canceled) are resubmitted in a new
        batch up to ``max_retries`` times; what still fails comes back as an exception for that request.
        """
        results: dict[str, ApiReply | BaseException] = {}
        todo = list(requests)
        for attempt in range(self.max_retries + 1):
            retry: list[tuple[str, ApiRequest]] = []
            for start in range(0, len(todo), self.batch_max_requests):
                chunk = todo[start : start + self.batch_max_requests]
                by_id = dict(chunk)
                for custom_id, outcome in self._run_one_batch(chunk).items():
                    transient = isinstance(outcome, _TransientBatchError)
                    if transient and attempt < self.max_retries:
                        retry.append((custom_id, by_id[custom_id]))
                    else:
                        results[custom_id] = AnnotationError(str(outcome)) if transient else outcome
            if not retry:
                break
            log.info("resubmitting %d batch request(s) that failed transiently", len(retry))
            todo = retry
        return results

    def _run_one_batch(self, chunk: list[tuple[str, ApiRequest]]) -> dict[str, Any]:
        batch = self._sdk.messages.batches.create(
            requests=[{"custom_id": custom_id, "params": request.params} for custom_id, request in chunk]
        )
        log.info("message batch %s submitted with %d requests", batch.id, len(chunk))
        delay = self.batch_poll_seconds
        while batch.processing_status != "ended":
            time.sleep(delay)
            delay = min(delay * 1.5, max(self.batch_poll_seconds, 300.0))
            batch = self._sdk.messages.batches.retrieve(batch.id)
        outcomes: dict[str, Any] = {}
        for line in self._sdk.messages.batches.results(batch.id):
            result = line.result
            if result.type == "succeeded":
                outcomes[line.custom_id] = ApiReply(
                    message=result.message, usage=self.usage_of(result.message)
                )
            elif result.type == "errored":
                error = result.error.error
                text = f"batch request failed: {error.type}: {error.message}"
                transient = error.type in TRANSIENT_BATCH_ERRORS
                outcomes[line.custom_id] = _TransientBatchError(text) if transient else AnnotationError(text)
            else:  # expired or canceled: try again
                outcomes[line.custom_id] = _TransientBatchError(f"batch request {result.type}")
        return outcomes

    # --- driver ---------------------------------------------------------------------------------------------
    def run(self, programs: dict[Any, Program], on_done: OnDone, budget: Budget) -> None:
        if self.batch:
            run_batched(programs, self.submit_batch, on_done, budget)
        else:
            run_threaded(programs, self.send, on_done, budget, self.max_concurrency)


class _TransientBatchError(AnnotationError):
    """A batch result worth resubmitting (overloaded, expired, ...)."""


def ask(
    client: ClaudeClient,
    step: str,
    system: str,
    user_text: str,
    schema: dict[str, Any],
    parse: Callable[[str], Any],
    max_tokens: int,
) -> Program:
    """Program: one structured request, validated by ``parse``; ONE corrective turn if the answer is unusable."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": user_text}]
    reply = yield client.request(step, system, messages, schema, max_tokens)
    text = message_text(reply.message)
    try:
        return parse(text)
    except InvalidAnswer as problem:
        log.info("%s answer invalid (%s); asking once more", step, problem)
        messages = messages + [
            {"role": "assistant", "content": text.strip() or "(empty reply)"},
            {"role": "user", "content": corrective_message(str(problem))},
        ]
    reply = yield client.request(step, system, messages, schema, max_tokens)
    text = message_text(reply.message)
    try:
        return parse(text)
    except InvalidAnswer as problem:
        raise AnnotationError(f"{step}: answer still invalid after one corrective retry: {problem}") from None


class ClaudeAnnotator(Annotator):
    """Explain each latent from its marked top contexts, then categorize the explanation, with Claude.

    ``model`` and ``prices`` are configurable (prices in US$ per million tokens, see
    :mod:`llmdiff_eval.annotate.pricing`); ``batch=True`` uses the Message Batches API at half price.
    """

    name = "claude"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 4,
        timeout: float = 120.0,
        prices: Mapping[str, Any] | None = None,
        batch: bool = False,
        batch_poll_seconds: float = 20.0,
        explain_max_tokens: int = 1024,
        categorize_max_tokens: int = 256,
        client: ClaudeClient | None = None,
    ) -> None:
        self.client = client or ClaudeClient(
            model=model,
            base_url=base_url,
            api_key=api_key,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            prices=prices,
            batch=batch,
            batch_poll_seconds=batch_poll_seconds,
        )
        self.model_id = self.client.model
        self.prompt_version = PROMPT_VERSION
        self.runner = self.client
        self.explain_max_tokens = explain_max_tokens
        self.categorize_max_tokens = categorize_max_tokens

    def __repr__(self) -> str:
        return f"ClaudeAnnotator({self.client!r})"

    def program(self, contexts: list[str], taxonomy: Taxonomy) -> Program:
        if not contexts:
            raise AnnotationError("no activating contexts to explain")
        explanation = yield from ask(
            self.client, "explain", EXPLAIN_SYSTEM, explain_user_message(contexts), EXPLAIN_SCHEMA,
            parse_explanation, self.explain_max_tokens,
        )  # fmt: skip
        try:
            code = yield from ask(
                self.client, "categorize", categorize_system(taxonomy), categorize_user_message(explanation),
                categorize_schema(taxonomy), lambda text: parse_category(text, taxonomy), self.categorize_max_tokens,
            )  # fmt: skip
        except Exception as error:
            raise CategorizationError(_describe(error), explanation) from error
        return AnnotationResult(explanation=explanation, category=code)

    def estimate(self, contexts: list[str], taxonomy: Taxonomy) -> Usage:
        """Expected usage for one latent: estimated prompt tokens, typical answer lengths, no cache hits."""
        explain = self.client.request(
            "explain", EXPLAIN_SYSTEM, _user(explain_user_message(contexts)), EXPLAIN_SCHEMA, 1
        )
        placeholder = "x" * 600  # a typical label + description + patterns block, in characters
        categorize = self.client.request(
            "categorize", categorize_system(taxonomy), _user(placeholder), categorize_schema(taxonomy), 1
        )
        usage = Usage(
            input_tokens=estimate_request_input_tokens(explain.params)
            + estimate_request_input_tokens(categorize.params),
            output_tokens=EXPECTED_OUTPUT_TOKENS["explain"] + EXPECTED_OUTPUT_TOKENS["categorize"],
            requests=2,
        )
        usage.cost_usd = self.client.price.cost(usage, self.client.batch)
        return usage

    def default_judge(self) -> ClaudeJudge:
        return ClaudeJudge(client=self.client)


class ClaudeJudge(Judge):
    """Detection judge: Claude marks which excerpts match a description, ``contexts_per_prompt`` per request."""

    name = "claude-judge"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        contexts_per_prompt: int = 10,
        client: ClaudeClient | None = None,
        **client_options: Any,
    ) -> None:
        self.client = client or ClaudeClient(
            model=model, base_url=base_url, api_key=api_key, **client_options
        )
        self.model_id = self.client.model
        self.prompt_version = JUDGE_PROMPT_VERSION
        self.runner = self.client
        self.contexts_per_prompt = max(1, contexts_per_prompt)

    def __repr__(self) -> str:
        return f"ClaudeJudge({self.client!r})"

    def _max_tokens(self, n_contexts: int) -> int:
        return 64 + 24 * n_contexts

    def program(self, description: str, contexts: list[str]) -> Program:
        fires: list[bool] = []
        for start in range(0, len(contexts), self.contexts_per_prompt):
            chunk = contexts[start : start + self.contexts_per_prompt]
            verdicts = yield from ask(
                self.client, "judge", JUDGE_SYSTEM, judge_user_message(description, chunk), JUDGE_SCHEMA,
                lambda text, n=len(chunk): parse_verdicts(text, n), self._max_tokens(len(chunk)),
            )  # fmt: skip
            fires.extend(verdicts)
        return fires

    def estimate(self, description: str, contexts: list[str]) -> Usage:
        usage = Usage()
        for start in range(0, len(contexts), self.contexts_per_prompt):
            chunk = contexts[start : start + self.contexts_per_prompt]
            request = self.client.request(
                "judge", JUDGE_SYSTEM, _user(judge_user_message(description, chunk)), JUDGE_SCHEMA, 1
            )
            usage = usage + Usage(
                input_tokens=estimate_request_input_tokens(request.params),
                output_tokens=10 + EXPECTED_OUTPUT_TOKENS["judge_per_excerpt"] * len(chunk),
                requests=1,
            )
        usage.cost_usd = self.client.price.cost(usage, self.client.batch)
        return usage


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, AnnotationError) else f"{type(error).__name__}: {error}"


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]
