"""Error types of the bottom layers, in one place so every layer (and the CLI's error handler) can name them.

Every error the library raises for bad input or a bad file derives from :class:`LlmdiffError` and carries a message
that says what is wrong and what to do; the CLI prints it without a traceback (``--debug`` keeps the traceback).
Errors of one domain library (e.g. ``ArenaError``, ``AnnotationError``) live in that library and derive from
``LlmdiffError`` too.
"""

from __future__ import annotations


class LlmdiffError(Exception):
    """Base of every expected llmdiff-eval error: the message names the culprit and the remedy."""


class ConfigError(LlmdiffError, ValueError):
    """The run configuration is invalid; the message says which key to fix."""


class CorpusError(LlmdiffError, ValueError):
    """The corpus is misconfigured, unreadable or empty (message says which source and what to do)."""


class HarvestError(LlmdiffError, ValueError):
    """Bad harvest settings (e.g. a layer the model does not have)."""


class CrosscoderError(LlmdiffError, ValueError):
    """Bad input to the train stage; the message says what to fix."""


class CacheError(LlmdiffError, RuntimeError):
    """An activation cache is missing, incomplete, corrupt or incompatible (message names the file and the fix)."""


class DeviceError(LlmdiffError, ValueError):
    """A device was asked for that this machine's torch cannot use (e.g. ``cuda`` on a CPU-only build)."""


class RunDirError(LlmdiffError, ValueError):
    """The run directory belongs to another run, or cannot hold this one; the message says what to pass."""


class ScorecardError(LlmdiffError, ValueError):
    """Inputs of the scorecard are missing or inconsistent; the message says what to do."""


class CausalError(LlmdiffError, ValueError):
    """Bad input to the causal stage or ``steer`` (an unknown latent set, fine-tune or prompt file, a run without a
    trained crosscoder); the message says what to pass instead."""
