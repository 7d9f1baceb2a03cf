"""The flow accounting to use: the compiled build when it is there, else plain Python.

``collector/_accounting.py`` is one source with two builds: the module itself (plain Python) and
``collector._accounting_c``, the same file compiled by Cython at install time (see ``setup.py``).
Chosen at import exactly like ``decoders.fast`` chooses the scan:

* ``FABRICSCOPE_PURE`` set (to anything but ``""``/``0``) → the plain-Python module;
* else the compiled module if it imports and is not older than ``_accounting.py``;
* else the plain-Python module.

``IMPLEMENTATION`` says which ("compiled" or "pure") and ``REASON`` why.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import cast

from collector import _accounting as _pure
from decoders.fast import PURE_ENV

COMPILED_MODULE = "collector._accounting_c"
_STALE_SLACK_S = 2.0  # an install writes both files within this; an edit comes much later


def compiled_module() -> tuple[ModuleType | None, str]:
    """The compiled build and "" if it is usable, else None and why not."""
    try:
        module = importlib.import_module(COMPILED_MODULE)
    except ImportError as exc:
        return None, f"compiled module not available ({exc})"
    try:
        built = Path(str(module.__file__)).stat().st_mtime
        source = Path(str(_pure.__file__)).stat().st_mtime
    except OSError:
        return module, ""
    if source > built + _STALE_SLACK_S:
        return None, "compiled module is older than collector/_accounting.py (rebuild it)"
    return module, ""


def _select() -> tuple[ModuleType, str, str]:
    if os.environ.get(PURE_ENV, "").strip() not in ("", "0"):
        return _pure, "pure", f"{PURE_ENV} is set"
    module, why_not = compiled_module()
    if module is None:
        return _pure, "pure", why_not
    return module, "compiled", "compiled module imported"


_impl, IMPLEMENTATION, REASON = _select()

FlowAccounting = cast("type[_pure.FlowAccounting]", _impl.FlowAccounting)
"""Per-row flow accounting of the selected build (see ``collector._accounting``)."""
PureFlowAccounting = _pure.FlowAccounting
"""The plain-Python build, always available (tests compare the two)."""
