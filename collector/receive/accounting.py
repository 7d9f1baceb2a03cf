"""The flow accounting to use: the compiled build when it is there, else plain Python.

``collector/receive/_accounting.py`` is one source with two builds: the module itself (plain
Python) and ``collector.receive._accounting_c``, the same file compiled by Cython at install time
(see ``setup.py``).
Chosen at import exactly like ``decoders.fast`` chooses the scan:

* ``FABRICSCOPE_PURE`` set (to anything but ``""``/``0``) → the plain-Python module;
* else the compiled module if it imports and is not older than ``_accounting.py``;
* else the plain-Python module.

``IMPLEMENTATION`` says which ("compiled" or "pure") and ``REASON`` why.
"""

from __future__ import annotations

from types import ModuleType
from typing import cast

from collector.receive import _accounting as _pure
from decoders.build_select import compiled_build, select_build

COMPILED_MODULE = "collector.receive._accounting_c"


def compiled_module() -> tuple[ModuleType | None, str]:
    """The compiled build and "" if it is usable, else None and why not."""
    return compiled_build(COMPILED_MODULE, _pure)


_impl, IMPLEMENTATION, REASON = select_build(COMPILED_MODULE, _pure)

FlowAccounting = cast("type[_pure.FlowAccounting]", _impl.FlowAccounting)
"""Per-row flow accounting of the selected build (see ``collector.receive._accounting``)."""
FlowSource = cast("type[_pure.FlowSource]", _impl.FlowSource)
"""One flow-sample data source's last sequence, pool and drops, of the selected build."""
PureFlowAccounting = _pure.FlowAccounting
"""The plain-Python build, always available (tests compare the two)."""
