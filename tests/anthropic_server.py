"""A local fake of the Anthropic Messages API for tests and benchmarks (real HTTP, real ``anthropic`` SDK client).

Speaks ``POST /v1/messages`` and the Message Batches endpoints (``POST /v1/messages/batches``,
``GET /v1/messages/batches/{id}``, ``GET /v1/messages/batches/{id}/results`` as JSONL). What each request gets back
is decided by a ``responder(body) -> Reply | str | dict`` function written by the test; failures can be queued
(``fail_next(status, ...)``) to exercise retries. Every request is logged (method, path, headers, JSON body).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {
    "input_tokens": 100,
    "output_tokens": 10,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}
BATCH_ERROR_TYPES = {
    400: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Reply:
    """A scripted answer: the assistant text (a JSON string for structured output) and the usage to report."""

    text: str = ""
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))
    status: int = 200
    stop_reason: str = "end_turn"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    via_batch: bool = False


def system_text(body: dict) -> str:
    system = body.get("system", "")
    return system if isinstance(system, str) else "".join(block.get("text", "") for block in system)


def last_user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(block.get("text", "") for block in content)


class FakeAnthropic:
    """Threaded fake API server on 127.0.0.1 (random port). Use as a context manager; ``base_url`` for the SDK."""

    def __init__(
        self,
        responder: Callable[[dict], Reply | str | dict],
        latency: float = 0.0,
        batch_polls_before_end: int = 1,
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.batch_polls_before_end = batch_polls_before_end
        self.requests: list[Recorded] = []
        self._failures: list[tuple[int, dict[str, str], dict]] = []
        self._delays: list[float] = []
        self._batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- control -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(
        self, status: int, times: int = 1, headers: dict[str, str] | None = None, error_type: str = ""
    ) -> None:
        """The next ``times`` POST /v1/messages requests get ``status`` (with ``headers``, e.g. retry-after)."""
        body = {
            "type": "error",
            "error": {
                "type": error_type or BATCH_ERROR_TYPES.get(status, "api_error"),
                "message": f"scripted {status}",
            },
        }
        with self._lock:
            self._failures.extend([(status, headers or {}, body)] * times)

    def slow_next(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` POST /v1/messages requests wait ``seconds`` before answering (client timeouts)."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def message_requests(self) -> list[Recorded]:
        """Messages requests (direct and inside batches) in arrival order."""
        return [r for r in self.requests if r.path == "/v1/messages" or r.via_batch]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- behaviour -----------------------------------------------------------------------------------------
    def _reply_for(self, body: dict) -> Reply:
        answer = self.responder(body)
        if isinstance(answer, Reply):
            return answer
        return Reply(text=answer if isinstance(answer, str) else json.dumps(answer))

    def _message_json(self, body: dict, reply: Reply) -> dict:
        return {
            "id": f"msg_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": reply.usage,
        }

    def _batch_json(self, batch_id: str) -> dict:
        batch = self._batches[batch_id]
        ended = batch["polls"] >= self.batch_polls_before_end
        counts = {
            "processing": 0 if ended else len(batch["results"]),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        if ended:
            for line in batch["results"]:
                counts[line["result"]["type"]] += 1
        now = dt.datetime.now(dt.UTC)
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": batch["created_at"],
            "expires_at": (now + dt.timedelta(hours=24)).isoformat(),
            "ended_at": now.isoformat() if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    def _create_batch(self, body: dict) -> dict:
        results = []
        for item in body["requests"]:
            params = item["params"]
            with self._lock:
                self.requests.append(Recorded("POST", "(batch)", {}, params, via_batch=True))
            reply = self._reply_for(params)
            if reply.status == 200:
                result = {"type": "succeeded", "message": self._message_json(params, reply)}
            else:
                error = {
                    "type": BATCH_ERROR_TYPES.get(reply.status, "api_error"),
                    "message": f"scripted {reply.status}",
                }
                result = {"type": "errored", "error": {"type": "error", "error": error}}
            results.append({"custom_id": item["custom_id"], "result": result})
        batch_id = f"msgbatch_{next(self._ids):06d}"
        with self._lock:
            self._batches[batch_id] = {
                "results": results,
                "polls": 0,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        return self._batch_json(batch_id)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None, jsonl: bool = False
            ) -> None:
                data = (
                    "\n".join(json.dumps(line) for line in payload) + "\n" if jsonl else json.dumps(payload)
                ).encode()
                self.send_response(status)
                self.send_header("content-type", "application/binary" if jsonl else "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_{next(server._ids):06d}")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    self.close_connection = True

            def _record(self, body: Any) -> None:
                with server._lock:
                    server.requests.append(
                        Recorded(
                            self.command,
                            self.path.split("?")[0],
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?")[0]
                self._record(body)
                if path == "/v1/messages":
                    with server._lock:
                        failure = server._failures.pop(0) if server._failures else None
                    if failure is not None:
                        status, headers, error_body = failure
                        self._send(status, error_body, headers)
                        return
                    with server._lock:
                        delay = server._delays.pop(0) if server._delays else server.latency
                    if delay:
                        time.sleep(delay)
                    reply = server._reply_for(body)
                    if reply.status != 200:
                        error = {
                            "type": BATCH_ERROR_TYPES.get(reply.status, "api_error"),
                            "message": "scripted",
                        }
                        self._send(reply.status, {"type": "error", "error": error})
                        return
                    self._send(200, server._message_json(body, reply))
                elif path == "/v1/messages/batches":
                    self._send(200, server._create_batch(body))
                else:
                    self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                self._record(None)
                parts = path.strip("/").split("/")
                if (
                    len(parts) >= 4
                    and parts[:3] == ["v1", "messages", "batches"]
                    and parts[3] in server._batches
                ):
                    batch_id = parts[3]
                    if len(parts) == 4:
                        with server._lock:
                            server._batches[batch_id]["polls"] += 1
                        self._send(200, server._batch_json(batch_id))
                        return
                    if len(parts) == 5 and parts[4] == "results":
                        self._send(200, server._batches[batch_id]["results"], jsonl=True)
                        return
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})

        return Handler
