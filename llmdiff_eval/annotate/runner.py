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

import queue
import threading
import time
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


INTERRUPT_GRACE_SECONDS = 2.0
"""After Ctrl-C, how long programs already running may take to finish (and be handed over) before the driver gives
up on them: requests in flight are usually a second from done, but a server that never answers must not hold the
user for minutes."""


def run_threaded(
    programs: dict[Any, Program],
    send: Callable[[ApiRequest], ApiReply],
    on_done: OnDone,
    budget: Budget,
    max_concurrency: int,
    grace_seconds: float = INTERRUPT_GRACE_SECONDS,
) -> None:
    """Run each program in one of ``max_concurrency`` worker threads; ``send`` performs one request.

    ``on_done`` is called in the calling thread, as each program finishes. On an interrupt (Ctrl-C), no new
    program starts, the ones running get ``grace_seconds`` to finish (those that do are handed to ``on_done``: their
    answers are paid for), and the interrupt is re-raised. Workers are daemon threads, so a request that never
    returns cannot keep the process alive.
    """

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
    todo = iter(list(programs.items()))
    take = threading.Lock()
    stop = threading.Event()
    finished: queue.Queue = queue.Queue()

    def worker() -> None:
        while not stop.is_set():
            with take:
                item = next(todo, None)
            if item is None:
                return
            key, program = item
            try:
                outcome = run_one(program)
            except BaseException as error:  # a bug in a program must not lose the others
                outcome = (error, Usage())
            finished.put((key, outcome))

    workers = [
        threading.Thread(target=worker, name=f"annotate-{i}", daemon=True)
        for i in range(min(max(1, max_concurrency), len(programs)))
    ]
    for thread in workers:
        thread.start()
    remaining = len(programs)
    try:
        while remaining:
            try:
                key, (result, usage) = finished.get(timeout=0.2)  # short waits keep Ctrl-C responsive
            except queue.Empty:
                continue
            remaining -= 1
            on_done(key, result, usage)
    except BaseException:
        stop.set()
        deadline = time.monotonic() + grace_seconds
        while remaining and time.monotonic() < deadline:
            try:
                key, (result, usage) = finished.get(timeout=0.05)
            except queue.Empty:
                if not any(thread.is_alive() for thread in workers):
                    break  # every worker has stopped and its last result is handed over
                continue
            remaining -= 1
            on_done(key, result, usage)
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
