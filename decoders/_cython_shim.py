"""Stand-in for the ``cython`` module when Cython is not installed at run time.

Both compiled modules, ``decoders.fastpath`` and ``collector.receive._accounting``, are written
in Cython's pure-Python mode: their ``cython.*`` decorators and type declarations compile to C
when the module is built, and do nothing when it runs as plain Python. Cython ships its own no-op
version of them (``Cython.Shadow``), but Cython is only a build-time requirement, so this module
provides the few names the two sources use. It is also what mypy checks them against, hence the
typing below. ``decoders.build_select`` is the other half: which build runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F")
T = TypeVar("T")

compiled = False


class CType:
    """A C scalar type; ``T[n]`` is an array type, ``T[::1]`` a typed memoryview."""

    @overload
    def __getitem__(self, item: int) -> CArray: ...
    @overload
    def __getitem__(self, item: slice) -> CView: ...
    def __getitem__(self, item: int | slice) -> CArray | CView:
        return CArray(item) if isinstance(item, int) else CView()


class CArray:
    """A C array type of ``size`` items."""

    def __init__(self, size: int) -> None:
        self.size = size


class CView:
    """A typed memoryview type."""


class CDoubleArray(CArray):
    """A C array of doubles (declared, a list of floats)."""


class CDouble(CType):
    """The C ``double`` type (a declared scalar of it is a ``float``)."""

    @overload
    def __getitem__(self, item: int) -> CDoubleArray: ...
    @overload
    def __getitem__(self, item: slice) -> CView: ...
    def __getitem__(self, item: int | slice) -> CDoubleArray | CView:
        return CDoubleArray(item) if isinstance(item, int) else CView()


short = longlong = ulonglong = uchar = Py_ssize_t = bint = const_uchar = void = CType()
double = CDouble()


def _identity(f: F) -> F:
    return f


cfunc = ccall = cclass = inline = final = _identity


def locals(**_types: object) -> Callable[[F], F]:
    """Declare the C types of arguments and locals (no-op)."""
    return _identity


def returns(_type: object) -> Callable[[F], F]:
    """Declare the C return type (no-op)."""
    return _identity


def exceptval(_value: object = None, *, check: bool = True) -> Callable[[F], F]:
    """Declare the C error return value (no-op)."""
    return _identity


@overload
def declare(ctype: CDouble, value: float | None = None, **_kw: object) -> float: ...  # type: ignore[overload-overlap]
@overload
def declare(ctype: CDoubleArray, value: None = None, **_kw: object) -> list[float]: ...  # type: ignore[overload-overlap]
@overload
def declare(ctype: CArray, value: None = None, **_kw: object) -> list[int]: ...
@overload
def declare(ctype: CView, value: None = None, **_kw: object) -> Any: ...
@overload
def declare(ctype: CType, value: int = 0, **_kw: object) -> int: ...
@overload
def declare(ctype: type[T], value: T | None = None, **_kw: object) -> T: ...
def declare(ctype: object, value: Any = None, **_kw: object) -> Any:
    """A C variable: an array becomes a zero-filled list, a scalar is its ``value``."""
    if isinstance(ctype, CDoubleArray):
        return [0.0] * ctype.size
    if isinstance(ctype, CArray):
        return [0] * ctype.size
    return value


def cast(_type: object, value: T) -> T:
    """A C cast (identity in plain Python)."""
    return value
