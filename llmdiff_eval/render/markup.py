"""HTML building blocks shared by the report and its latent browser: escaping of every data string, and contexts whose
activating tokens are marked ``<<like this>>``. Reference: docs/scorecard.md."""

from __future__ import annotations

import html
import re
from typing import Any

MARK_PATTERN = re.compile(r"<<(.+?)>>", re.DOTALL)


def esc(value: Any) -> str:
    """``value`` as HTML text (``None`` → empty): ``& < > " '`` escaped, safe in text and in quoted attributes."""
    return html.escape("" if value is None else str(value))


def highlight(marked_text: str) -> str:
    """HTML for a context whose activating tokens are wrapped ``<<like this>>``: escaped text, ``<mark>`` tokens.

    The text is split on the markers first and every piece is escaped before ``<mark>`` is added.
    """
    pieces = MARK_PATTERN.split(marked_text)
    return "".join(
        f"<mark>{html.escape(piece)}</mark>" if index % 2 else html.escape(piece)
        for index, piece in enumerate(pieces)
    )
