"""The one check of a config mapping's keys against its dataclass: an unknown key is an error that lists the valid
ones (each section raises its own error type, so callers can tell a bad corpus from a bad harvest setting)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


def reject_unknown_keys(cls: type, data: Mapping[str, Any], prefix: str, error: type[Exception]) -> None:
    """Raise ``error("<prefix> [...]; valid keys: [...]")`` if ``data`` has keys that ``cls`` has no field for;
    ``prefix`` names the section, e.g. ``"unknown harvest key(s)"`` or ``"run.yaml.crosscoder: unknown key(s)"``."""
    valid = sorted(field.name for field in dataclasses.fields(cls))
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise error(f"{prefix} {unknown}; valid keys: {valid}")
