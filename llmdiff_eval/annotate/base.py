"""Shared types of the annotate stage: usage/cost records, results, errors, and the Annotator / Judge interfaces.

Annotators and judges are written as *programs*: generators that yield :class:`ApiRequest` objects (one Messages API
call each) and receive :class:`ApiReply` objects back, then return their result. The same program runs under the
thread-pool driver (one real request per yield) and under the Message Batches driver (all programs' next requests go
out together in one batch), so prompt building, validation and corrective retries are written once. Offline
annotators are programs that never yield.
"""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from llmdiff_eval.errors import LlmdiffError
from llmdiff_eval.taxonomy import Taxonomy

CONFIDENCE_LEVELS = ("low", "medium", "high")


class AnnotationError(LlmdiffError, RuntimeError):
    """One latent could not be annotated or scored (bad answers after the corrective retry, API error, budget)."""


class AnnotationIncompleteError(AnnotationError):
    """Some latents of a pair failed (API errors, malformed answers, budget); the pair's table was not written and
    the next run retries only those (finished ones come from the cache)."""


class CategorizationError(AnnotationError):
    """The latent was explained but could not be categorized; ``explanation`` keeps what was paid for."""

    def __init__(self, message: str, explanation: Explanation) -> None:
        super().__init__(message)
        self.explanation = explanation


class BudgetExceededError(AnnotationError):
    """Starting another request could take the spend past ``max_cost``; nothing beyond the limit was spent."""


@dataclass
class Usage:
    """Tokens and dollars spent. Token fields follow the Anthropic API: ``input_tokens`` are the *uncached* input
    tokens; cache reads and writes are counted separately; ``cost_usd`` prices all four at the model's rates."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)}
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Explanation:
    """The explainer's answer for one latent (the paper's four asks)."""

    patterns: list[str]
    label: str
    description: str
    confidence: str
    confidence_reason: str


@dataclass
class AnnotationResult:
    """Explanation plus category for one latent. ``category`` is None when uncategorized.

    What it cost is counted by the request runner (per program), not here.
    """

    explanation: Explanation
    category: str | None


@dataclass(frozen=True)
class ApiRequest:
    """One Messages API call: keyword arguments for ``client.messages.create`` plus pricing for the budget.

    ``max_cost_usd`` is an upper bound on what the call can cost (estimated input tokens, ``max_tokens`` output):
    the drivers reserve it against ``max_cost`` before sending, so the limit holds even with calls in flight.
    """

    params: dict[str, Any]
    step: str
    max_cost_usd: float


@dataclass
class ApiReply:
    """The answer to an :class:`ApiRequest`: the SDK ``Message`` and its priced usage."""

    message: Any
    usage: Usage


Program = Generator[ApiRequest, ApiReply, Any]
OnDone = Callable[[Any, Any, Usage], None]  # (key, result or exception, usage spent by that program)


class RequestRunner(Protocol):
    """Drives programs to completion: sends their requests and calls ``on_done`` as each program finishes."""

    def run(self, programs: dict[Any, Program], on_done: OnDone, budget: Budget) -> None: ...


class Budget:
    """Thread-safe spend tracker enforcing an optional hard limit in US dollars.

    Before a request is sent its cost upper bound is *reserved*; a reservation that would take spent + reserved past
    ``max_cost`` raises :class:`BudgetExceededError`, so the limit holds with many calls in flight. After the reply the
    reservation is replaced by the actual cost.
    """

    def __init__(self, max_cost: float | None = None) -> None:
        self.max_cost = max_cost
        self.spent = 0.0
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> None:
        with self._lock:
            if self.max_cost is not None and self.spent + self._reserved + amount > self.max_cost + 1e-12:
                raise BudgetExceededError(
                    f"budget of ${self.max_cost:.4f} reached (spent ${self.spent:.4f}, in flight "
                    f"${self._reserved:.4f}, next request up to ${amount:.4f}); raise --max-cost to continue"
                )
            self._reserved += amount

    def settle(self, reserved: float, actual: float) -> None:
        with self._lock:
            self._reserved -= reserved
            self.spent += actual


class Annotator(ABC):
    """Turns one latent's activating contexts into an :class:`AnnotationResult` (label, description, category).

    ``name``, ``model_id`` and ``prompt_version`` identify the annotator in the cache and in every output row;
    ``runner`` drives its programs (thread pool, Message Batches, or in-process for offline annotators).
    """

    name: str
    model_id: str
    prompt_version: str
    runner: RequestRunner

    @abstractmethod
    def program(self, contexts: list[str], taxonomy: Taxonomy) -> Program:
        """Generator program annotating one latent from its marked contexts; returns an AnnotationResult."""

    def estimate(self, contexts: list[str], taxonomy: Taxonomy) -> Usage:
        """Expected tokens and dollars for one latent before anything is sent (zero for offline annotators)."""
        return Usage()

    def default_judge(self) -> Judge | None:
        """The judge used for detection scoring when none is given."""
        return None


class Judge(ABC):
    """Detection judge: given a description and plain-text contexts, says for each whether the latent fires."""

    name: str
    model_id: str
    prompt_version: str
    runner: RequestRunner

    @abstractmethod
    def program(self, description: str, contexts: list[str]) -> Program:
        """Generator program returning the verdicts for ``contexts`` (list of bool, order preserved)."""

    def estimate(self, description: str, contexts: list[str]) -> Usage:
        """Expected tokens and dollars of judging ``contexts`` (zero for offline judges)."""
        return Usage()
