"""Build hook for the optional C builds: the decoder fast path, the flow accounting, the reader.

Project metadata lives in pyproject.toml; this file only adds three extension modules. Two are
one ``.py`` source each in Cython pure-Python mode compiled under another name:
``decoders/fastpath.py`` as ``decoders._fastpath_c`` (``decoders.fast`` chooses between the two)
and ``collector/receive/_accounting.py`` as ``collector.receive._accounting_c``
(``collector.receive.accounting`` chooses). The plain modules stay importable as themselves.
The third, ``collector.receive._socket_ring`` (plain C, Linux only), reads the sFlow socket in
its own thread; without it the receive loop reads the socket itself
(``collector.receive.socket_ring`` says which).

* Cython comes from ``[build-system] requires``, so ``pip install .`` / ``pip install -e .`` need
  nothing beyond PyPI and a C compiler.
* ``FABRICSCOPE_PURE=1`` skips compiling (pure-Python install).
* Any failure to cythonize or compile (no compiler, no Python headers, no Cython) prints a warning
  and installs without the extension: the pure module does the same work, only slower.
* ``FABRICSCOPE_CYTHON_CHECKS=1`` keeps bounds checks in the C build (for fuzzing).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# (compiled module, its one pure-Python-mode source)
MODULES = (
    ("decoders._fastpath_c", "decoders/fastpath.py"),
    ("collector.receive._accounting_c", "collector/receive/_accounting.py"),
)
# (module, its C source): built as they are, no Cython
C_MODULES = (("collector.receive._socket_ring", "collector/receive/_socket_ring.c"),)


def _warn(message: str) -> None:
    print(
        f"*** fabricscope: {message}; installing the pure-Python modules instead", file=sys.stderr
    )


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "no", "false")


def _c_extensions() -> list[Any]:
    if not sys.platform.startswith("linux"):  # recvmmsg and eventfd
        return []
    return [
        Extension(module, [source], extra_compile_args=["-std=gnu11"], libraries=["pthread"])
        for module, source in C_MODULES
    ]


def _extensions() -> list[Any]:
    if _flag("FABRICSCOPE_PURE"):
        print("fabricscope: FABRICSCOPE_PURE is set, not compiling the C modules", file=sys.stderr)
        return []
    return _cython_extensions() + _c_extensions()


def _cython_extensions() -> list[Any]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not available")
        return []
    checks = _flag("FABRICSCOPE_CYTHON_CHECKS")
    extensions = [Extension(module, [source]) for module, source in MODULES]
    try:
        # One .py source each: Cython takes the module name from the Extension, so the C module
        # is decoders._fastpath_c while decoders/fastpath.py stays a plain module (same for the
        # accounting).
        return list(
            cythonize(
                extensions,
                build_dir="build/cython",
                quiet=True,
                compiler_directives={
                    "language_level": 3,
                    "annotation_typing": False,
                    "boundscheck": checks,
                    "wraparound": False,
                    "initializedcheck": checks,
                    "cdivision": True,
                    "warn.unreachable": False,  # the `if cython.compiled` plain-Python branches
                },
            )
        )
    except Exception as exc:  # a broken Cython must not break the install
        _warn(f"cythonize failed ({exc})")
        return []


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing: the extension is an optional speed-up."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            _warn(f"building the C extension failed ({exc})")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"compiling {ext.name} failed ({exc})")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
