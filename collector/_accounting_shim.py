"""Stand-in for the ``cython`` module for ``collector/_accounting.py`` when Cython is absent.

The names of ``decoders._cython_shim`` plus the few more the accounting module uses (``double``,
``ulonglong``, ``cast``). Also what mypy checks the accounting module against.
"""

from __future__ import annotations

from typing import TypeVar

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
    declare,
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

__all__ = [
    "CArray",
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

double = ulonglong = CType()


def cast(_type: object, value: T) -> T:
    """A C cast (identity in plain Python)."""
    return value
