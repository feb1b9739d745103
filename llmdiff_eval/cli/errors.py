"""The CLI's one error handler: expected failures become a message that names the culprit and the remedy; every
other exception keeps its traceback. ``llmdiff-eval --debug ...`` (or ``LLMDIFF_DEBUG=1``) shows tracebacks for all.

What is expected: the library's own errors (:class:`~llmdiff_eval.errors.LlmdiffError`), invalid values
(``ValueError``, which the config dataclasses raise with the key to fix), files that are missing, unreadable or
unwritable, a full disk, a corrupt SQLite file, and Ctrl-C. Finished outputs are never
lost to any of them: every write is atomic (docs/troubleshooting.md).
"""

from __future__ import annotations

import errno
import os
import sqlite3

import click

from llmdiff_eval.errors import LlmdiffError

EXPECTED: tuple[type[BaseException], ...] = (LlmdiffError, ValueError, OSError, sqlite3.DatabaseError)
"""Errors shown as a message. Anything else (a ``RuntimeError`` from torch, a ``KeyError`` from a bug) keeps its
traceback: it is not the user's input that is wrong."""


def debug_enabled() -> bool:
    return bool(os.environ.get("LLMDIFF_DEBUG"))


def explain(error: BaseException) -> str:
    """One paragraph for an expected error: what is wrong, which file, what to do."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f" writing {error.filename}" if error.filename else ""
        return (
            f"no space left on the device{where}. Free some space (or pass another --run-dir / --out on a larger "
            "disk) and rerun the same command: finished outputs are intact and the run resumes where it stopped."
        )
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write {error.filename or 'a file'}: {error.strerror}. Make the run directory writable (or pass "
            "another --run-dir / --out) and rerun; nothing finished was changed."
        )
    if isinstance(error, FileNotFoundError) and error.filename is None:
        return str(error)
    if isinstance(error, sqlite3.DatabaseError):
        return (
            f"a SQLite file is corrupt or not a database ({error}). annotations.sqlite is a cache: move it aside and "
            "rerun (finished annotations are in annotations/*.parquet); examples.sqlite is rebuilt by "
            "`llmdiff-eval analyze RUN_DIR --force`."
        )
    return f"{type(error).__name__}: {error}"


def run_guarded(invoke, ctx: click.Context):
    """``invoke(ctx)`` with expected errors turned into ``Error: ...`` (exit 1) and Ctrl-C into exit 130."""
    try:
        return invoke(ctx)
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        click.echo(
            "\nInterrupted. Everything that finished is saved; rerun the same command to go on.", err=True
        )
        ctx.exit(130)
    except EXPECTED as error:
        if debug_enabled():
            raise
        raise click.ClickException(explain(error)) from error
