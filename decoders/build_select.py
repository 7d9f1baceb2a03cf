"""Choose between a compiled build and its plain-Python source (one source, two builds).

``decoders/fastpath.py`` and ``collector/receive/_accounting.py`` are written in Cython's
pure-Python mode; ``setup.py`` compiles each under another module name. At import the compiled build
is used unless ``FABRICSCOPE_PURE`` is set or the build is older than its source (an editable
checkout edited since the last ``pip install -e .``), in which case the plain module runs."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

PURE_ENV = "FABRICSCOPE_PURE"
# An install writes the source and the build within this many seconds; an edit comes much later.
STALE_SLACK_S = 2.0


def pure_requested() -> bool:
    """True when ``FABRICSCOPE_PURE`` asks for the plain-Python builds."""
    return os.environ.get(PURE_ENV, "").strip() not in ("", "0")


def compiled_build(name: str, pure: ModuleType) -> tuple[ModuleType | None, str]:
    """The compiled module ``name`` and "" if it is usable, else None and why not."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return None, f"compiled module not available ({exc})"
    try:
        built = Path(str(module.__file__)).stat().st_mtime
        source = Path(str(pure.__file__)).stat().st_mtime
    except OSError:
        return module, ""
    if source > built + STALE_SLACK_S:
        return None, f"compiled module is older than {pure.__name__} (rebuild it)"
    return module, ""


def select_build(name: str, pure: ModuleType) -> tuple[ModuleType, str, str]:
    """(module, "compiled" | "pure", why) for the compiled build ``name`` of ``pure``."""
    if pure_requested():
        return pure, "pure", f"{PURE_ENV} is set"
    module, why_not = compiled_build(name, pure)
    if module is None:
        return pure, "pure", why_not
    return module, "compiled", "compiled module imported"
