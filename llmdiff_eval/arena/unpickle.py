"""A restricted unpickler for the legacy LMArena ``elo_results_YYYYMMDD.pkl`` files.

A pickle can name any importable callable and have it called on load, so ``pickle.load`` on downloaded bytes runs
whatever the file says. This unpickler resolves only an allow-list of constructors needed to rebuild the pandas /
numpy objects of the leaderboard tables (DataFrame, Series, Index, block managers, ndarray, dtype, Timestamp,
datetime, ...). Every other global — plotly figures, ``os.system``, ``builtins.eval`` — is never imported: in
``strict`` mode loading stops with :class:`UnsafePickleError`; otherwise it is replaced by an inert
:class:`RefusedObject` that swallows its arguments, and its name is recorded in :attr:`RestrictedUnpickler.refused`.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any

# (module, name) pairs that may be resolved. Both the numpy 1.x (numpy.core) and 2.x (numpy._core) spellings, and
# the pandas spellings of pickles written by pandas 1.x-3.x (object-dtype columns).
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "slice"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("collections", "OrderedDict"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("pandas", "DataFrame"),
        ("pandas", "Series"),
        ("pandas", "Index"),
        ("pandas", "RangeIndex"),
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.series", "Series"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
        ("pandas.core.internals.blocks", "new_block"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
        ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
        ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (raised in strict mode)."""


class RefusedObject:
    """Stands in for an object whose class or constructor was refused; keeps only the refused name."""

    refused_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> RefusedObject:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<refused {self.refused_global}>"


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` resolving only :data:`ALLOWED_GLOBALS`; see the module docstring."""

    def __init__(self, file: io.BufferedIOBase, strict: bool = False) -> None:
        super().__init__(file)
        self.strict = strict
        self.refused: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return getattr(importlib.import_module(module), name)
        qualified = f"{module}.{name}"
        if self.strict:
            raise UnsafePickleError(
                f"refusing to load {qualified}: not on the restricted unpickler's allow-list"
            )
        if qualified not in self.refused:
            self.refused.append(qualified)
        return type(f"Refused_{name}", (RefusedObject,), {"refused_global": qualified})


def restricted_loads(data: bytes, strict: bool = False) -> tuple[Any, list[str]]:
    """Load pickle ``data`` with :class:`RestrictedUnpickler`; returns ``(object, refused global names)``."""
    unpickler = RestrictedUnpickler(io.BytesIO(data), strict=strict)
    return unpickler.load(), unpickler.refused
