"""Drivers that run annotation / judge programs (see :mod:`llmdiff_eval.annotate.base`).

* :class:`OfflineRunner`: programs that never call an API, run one after another.
* :func:`run_threaded`: each program in a worker thread (at most ``max_concurrency`` at once), one real request per
  yield.
* :func:`run_batched`: all programs advance in lock-step rounds; each round's requests go out as one Message Batch.

Every driver reserves a request's cost bound against the :class:`~llmdiff_eval.annotate.base.Budget` before sending
it, adds what each request really cost to its program's :class:`~llmdiff_eval.annotate.base.Usage`, and reports each
program to ``on_done(key, result_or_exception, usage)`` as soon as it finishes (so results can be committed one by
one and an interrupted run keeps everything finished so far).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from llmdiff_eval.annotate.base import ApiReply, ApiRequest, Budget, OnDone, Program, Usage

_DONE = object()


def _advance(program: Program, reply: ApiReply | None = None, error: BaseException | None = None) -> Any:
    """Resume ``program``; returns its next :class:`ApiRequest`, or ``(_DONE, result_or_exception)``."""
    try:
        if error is not None:
            return program.throw(error)
        return program.send(reply) if reply is not None else next(program)
    except StopIteration as stop:
        return (_DONE, stop.value)
    except Exception as failure:  # the program gave up on this latent: report it, keep the others going
        return (_DONE, failure)


class OfflineRunner:
    """Runs programs that make no API calls (offline annotators and judges), in order."""

    def run(self, programs: dict[Any, Program], on_done: OnDone, budget: Budget) -> None:
        for key, program in programs.items():
            state = _advance(program)
            if isinstance(state, ApiRequest):
                raise TypeError(f"offline program for {key!r} tried to call an API ({state.step})")
            on_done(key, state[1], Usage())


def run_threaded(
    programs: dict[Any, Program],
    send: Callable[[ApiRequest], ApiReply],
    on_done: OnDone,
    budget: Budget,
    max_concurrency: int,
) -> None:
    """Run each program in a thread pool of ``max_concurrency`` workers; ``send`` performs one request."""

    def run_one(program: Program) -> tuple[Any, Usage]:
        usage = Usage()
        state = _advance(program)
        while isinstance(state, ApiRequest):
            try:
                budget.reserve(state.max_cost_usd)
            except Exception as error:
                program.close()
                return error, usage
            try:
                reply = send(state)
            except Exception as error:
                budget.settle(state.max_cost_usd, 0.0)
                state = _advance(program, error=error)
                continue
            budget.settle(state.max_cost_usd, reply.usage.cost_usd)
            usage = usage + reply.usage
            state = _advance(program, reply=reply)
        return state[1], usage

    if not programs:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        futures = {pool.submit(run_one, program): key for key, program in programs.items()}
        handled: set[concurrent.futures.Future] = set()
        try:
            for future in concurrent.futures.as_completed(futures):
                handled.add(future)
                result, usage = future.result()
                on_done(futures[future], result, usage)
        except BaseException:
            # Interrupted (e.g. Ctrl-C): cancel what has not started, let running requests finish, and hand over
            # every program that finished -- its answer is paid for and must reach the cache.
            pool.shutdown(wait=True, cancel_futures=True)
            for future, key in futures.items():
                if future not in handled and future.done() and not future.cancelled():
                    if future.exception() is None:
                        on_done(key, *future.result())
            raise


def run_batched(
    programs: dict[Any, Program],
    submit: Callable[[list[tuple[str, ApiRequest]]], dict[str, ApiReply | BaseException]],
    on_done: OnDone,
    budget: Budget,
) -> None:
    """Advance all programs in rounds; ``submit`` sends one round as a Message Batch and returns replies by id.

    Programs whose request does not fit the budget end with :class:`BudgetExceededError`; the others go on.
    """
    usage: dict[Any, Usage] = {key: Usage() for key in programs}
    pending: dict[Any, ApiRequest] = {}

    def settle_state(key: Any, state: Any) -> None:
        if isinstance(state, ApiRequest):
            pending[key] = state
        else:
            on_done(key, state[1], usage[key])

    for key, program in programs.items():
        settle_state(key, _advance(program))
    round_number = 0
    while pending:
        round_number += 1
        batch: list[tuple[str, ApiRequest]] = []
        id_to_key: dict[str, Any] = {}
        for index, (key, request) in enumerate(pending.items()):
            try:
                budget.reserve(request.max_cost_usd)
            except Exception as error:
                programs[key].close()
                on_done(key, error, usage[key])
                continue
            custom_id = f"r{round_number}-{index}"
            batch.append((custom_id, request))
            id_to_key[custom_id] = key
        pending = {}
        replies = submit(batch) if batch else {}
        for custom_id, request in batch:
            key = id_to_key[custom_id]
            reply = replies.get(custom_id, RuntimeError(f"batch returned no result for request {custom_id}"))
            if isinstance(reply, BaseException):
                budget.settle(request.max_cost_usd, 0.0)
                settle_state(key, _advance(programs[key], error=reply))
            else:
                budget.settle(request.max_cost_usd, reply.usage.cost_usd)
                usage[key] = usage[key] + reply.usage
                settle_state(key, _advance(programs[key], reply=reply))
