"""HTTP for the arena sources: one ``requests.Session``, timeouts, retries, and a log of what happened.

Retried: connection errors and timeouts, HTTP 5xx, bodies that say the service is still loading / not ready
(the datasets-server answers ``{"error": "... not ready yet. Please retry later."}`` while it builds an index),
truncated or otherwise unparsable JSON, and 429 (waiting ``Retry-After`` seconds, capped). Not retried: other 4xx.
Every attempt is appended to :attr:`HttpClient.log` so callers can put it in their provenance.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from llmdiff_eval.arena.errors import SourceUnavailable

USER_AGENT = f"llmdiff-eval/0.1 arena-fetcher python-requests/{requests.__version__}"

# Error texts of a service that is warming up; retried with backoff like a 503.
_NOT_READY = re.compile(
    r"not ready|is loading|being (?:processed|loaded|indexed)|retry later|busier than usual", re.I
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one URL. Times in seconds.

    ``max_attempts`` counts the first try; a host that cannot be connected to at all (DNS failure, connection
    refused) gets ``connect_attempts`` and is then skipped for the rest of the client's life. Backoff after a failed attempt n (1-based) is
    ``min(backoff * 2**(n-1), max_backoff)``. A 429's ``Retry-After`` is honoured up to ``max_retry_after``.
    """

    max_attempts: int = 4
    connect_attempts: int = 2
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = 60.0


class HttpError(SourceUnavailable):
    """A request failed for good (after retries). ``status`` is the last HTTP status (None: no response)."""

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return ""


class HttpClient:
    """GET with retries over one session; ``timeout`` is per request (connect and read), in seconds."""

    def __init__(
        self,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.sleep = sleep
        self.log: list[dict[str, Any]] = []
        self.unreachable: dict[str, str] = {}  # host -> connection error seen

    def close(self) -> None:
        self.session.close()

    def get_json(self, url: str, params: dict | None = None) -> Any:
        """GET ``url`` and parse its JSON body (retrying unparsable bodies); raises :class:`HttpError`."""
        return self._get(url, params, parse=_parse_json)

    def get_bytes(self, url: str, params: dict | None = None) -> tuple[bytes, str]:
        """GET ``url`` (redirects followed) and return ``(body, final_url)``; raises :class:`HttpError`."""
        return self._get(url, params, parse=lambda r: (r.content, r.url))

    def _get(self, url: str, params: dict | None, parse: Callable[[requests.Response], Any]) -> Any:
        policy = self.policy
        host = urlsplit(url).netloc
        if host in self.unreachable:
            self.log.append(
                {"url": url, "params": params or {}, "attempt": 0, "error": "host unreachable earlier"}
            )
            raise HttpError(
                f"GET {url} skipped: {host} was unreachable earlier ({self.unreachable[host]})", url
            )
        last_error = "no attempt made"
        last_status: int | None = None
        attempts = policy.max_attempts
        for attempt in range(1, policy.max_attempts + 1):
            if attempt > attempts:
                break
            entry: dict[str, Any] = {"url": url, "params": params or {}, "attempt": attempt}
            self.log.append(entry)
            wait = min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff)
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.Timeout:
                last_error, last_status = f"timed out after {self.timeout:g} s", None
            except requests.ConnectionError as error:
                last_error, last_status = f"cannot connect: {error}", None
                attempts = min(attempts, policy.connect_attempts)
                if attempt >= attempts:
                    self.unreachable[host] = last_error[:200]
            except requests.RequestException as error:
                last_error, last_status = f"{type(error).__name__}: {error}", None
            else:
                last_status = entry["status"] = response.status_code
                if response.history:
                    entry["redirects"] = [r.status_code for r in response.history]
                    entry["final_url"] = response.url
                if response.status_code == 429:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                    last_error = "429 Too Many Requests"
                    if retry_after is not None:
                        wait = min(retry_after, policy.max_retry_after)
                        last_error += f" (Retry-After: {response.headers['Retry-After']})"
                elif response.status_code >= 500:
                    last_error = f"HTTP {response.status_code}: {_error_text(response)}".rstrip(": ")
                elif response.status_code >= 400:
                    message = f"HTTP {response.status_code} from {response.url}: {_error_text(response)}"
                    entry["error"] = message
                    raise HttpError(message, url, response.status_code)
                elif _NOT_READY.search(_error_text(response) if _looks_like_error(response) else ""):
                    last_error = f"service not ready: {_error_text(response)}"
                else:
                    try:
                        return parse(response)
                    except ValueError as error:
                        last_error = f"unparsable body: {error}"
            entry["error"] = last_error
            if attempt < attempts:
                entry["wait_s"] = round(wait, 3)
                self.sleep(wait)
        raise HttpError(
            f"GET {url} failed after {min(attempt, attempts)} attempt(s): {last_error}", url, last_status
        )


def _looks_like_error(response: requests.Response) -> bool:
    return (
        response.headers.get("Content-Type", "").startswith("application/json")
        and b'"error"' in response.content[:2000]
    )


def _parse_json(response: requests.Response) -> Any:
    try:
        return json.loads(response.content)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON ({len(response.content)} bytes): {error}") from error
