"""Helpers shared by the CLI modules."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

# Errors the library raises for bad input carry a message that says what to do: show it, not a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    PermissionError,
    KeyError,
    RuntimeError,
)


def fail_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into a one-line ``Error: ...`` and exit code 1 (``LLMDIFF_DEBUG=1`` keeps tracebacks)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            if os.environ.get("LLMDIFF_DEBUG"):
                raise
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            raise click.ClickException(f"{type(error).__name__}: {message}") from error

    return wrapper
