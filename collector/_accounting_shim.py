"""Stand-in for the ``cython`` module for ``collector/_accounting.py`` when Cython is absent.

The names of ``decoders._cython_shim`` plus the few more the accounting module uses (``double``,
``ulonglong``, ``cast``). Also what mypy checks the accounting module against.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

from decoders._cython_shim import (
    CArray,
    CType,
    CView,
    Py_ssize_t,
    bint,
    ccall,
    cclass,
    cfunc,
    compiled,
    const_uchar,
    exceptval,
    final,
    inline,
    locals,
    longlong,
    returns,
    short,
    uchar,
    void,
)
from decoders._cython_shim import (
    declare as _declare,
)

__all__ = [
    "CArray",
    "CDouble",
    "CType",
    "CView",
    "Py_ssize_t",
    "bint",
    "cast",
    "ccall",
    "cclass",
    "cfunc",
    "compiled",
    "const_uchar",
    "declare",
    "double",
    "exceptval",
    "final",
    "inline",
    "locals",
    "longlong",
    "returns",
    "short",
    "uchar",
    "ulonglong",
    "void",
]

T = TypeVar("T")


class CDouble(CType):
    """The C ``double`` type (a declared scalar of it is a ``float``)."""


double = CDouble()
ulonglong = CType()


@overload
def declare(ctype: CDouble, value: float | None = None, **_kw: object) -> float: ...  # type: ignore[overload-overlap]
@overload
def declare(ctype: CArray, value: None = None, **_kw: object) -> list[int]: ...
@overload
def declare(ctype: CView, value: None = None, **_kw: object) -> Any: ...
@overload
def declare(ctype: CType, value: int = 0, **_kw: object) -> int: ...
@overload
def declare(ctype: type[T], value: T | None = None, **_kw: object) -> T: ...
def declare(ctype: object, value: Any = None, **_kw: object) -> Any:
    """A C variable (see ``decoders._cython_shim.declare``)."""
    return _declare(ctype, value, **_kw)  # type: ignore[call-overload]


def cast(_type: object, value: T) -> T:
    """A C cast (identity in plain Python)."""
    return value
