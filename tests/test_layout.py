"""The collector's rooms and their import rules, read off the real import graph.

Every ``import`` of the runtime packages counts, including imports inside functions; only the
bodies of ``if TYPE_CHECKING:`` are left out (they never run). The rules are the ones the
sub-packages' ``__init__`` docstrings state (docs/design.md has the map):

* no import cycle anywhere in the runtime packages;
* ``collector.receive`` never reaches asyncio or aiohttp, nor another room of the collector but
  ``collector.flows`` (the flow engine runs in the receivers);
* ``collector.flows`` never reaches asyncio, aiohttp or another room; its vocabulary (keys,
  filter, definition) reaches nothing but the standard library and the shared vocabulary, and
  is all of it the aggregator may use;
* ``collector.http`` never reaches ``collector.receive`` or ``decoders``;
* the client commands of ``collector.cli`` reach neither ``decoders`` nor aiohttp;
* ``collector.aggregate`` reaches neither ``decoders``, the receive side, the faces nor asyncio
  (of ``collector.flows`` only its vocabulary);
* ``collector.bus`` reaches only the shared vocabulary of the collector (never the receive
  side, the decoders, the aggregator or a face), and of the outside asyncio and ``nats``;
* the shared vocabulary at the top of ``collector`` imports no room; nothing else lives there.

"Reaches" is transitive, and importing ``a.b`` also runs ``a/__init__.py``, as Python does.
Beside the static graph, a fresh interpreter imports the client commands and the receive side
and the test looks at what really landed in ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("decoders", "topology", "collector", "simulator", "web")
ROOMS = (
    "flows", "receive", "aggregate", "compat", "prometheus", "http", "influx", "bus", "serve",
    "cli",
)  # fmt: skip
# the modules of collector.flows the aggregator and the faces may use (standard library only)
FLOW_VOCABULARY = ("collector.flows.keys", "collector.flows.filter", "collector.flows.definition")
SHARED_VOCABULARY = ("delta", "delta_codec", "families", "drop_events", "addresses")
CLIENT_COMMANDS = ("client", "remote", "agents", "topology_check", "exits", "flows", "events")


# ---------------------------------------------------------------------------------------------
# Reading the graph


def module_of(path: Path) -> str:
    """The dotted module name of a source file below ``ROOT``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module name ``source`` may import when it runs (``from a import b`` gives both
    ``a`` and ``a.b``: the caller keeps the ones that exist)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    found.discard("")
    return found


def read_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module → the project modules it imports, module → the other top-level names it
    imports) over the runtime packages."""
    files = {
        module_of(path): path
        for top in RUNTIME_PACKAGES
        for path in sorted((root / top).rglob("*.py"))
    }
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for module, path in files.items():
        names = runtime_imports(path.read_text(), module, path.name == "__init__.py")
        edges[module] = {n for n in names if n in files and n != module}
        external[module] = {
            n.split(".")[0] for n in names if n.split(".")[0] not in RUNTIME_PACKAGES
        }
    return edges, external


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing
    itself), each sorted: Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges.get(node, ()):
                        cycles.append(sorted(component))
    return cycles


def reached(edges: Mapping[str, set[str]], starts: Iterable[str]) -> set[str]:
    """Every project module that runs when ``starts`` are imported (parent packages too)."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(edges.get(module, ()))
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return seen


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    return read_graph()


def _room(edges: Mapping[str, set[str]], room: str) -> list[str]:
    return sorted(m for m in edges if m == room or m.startswith(room + "."))


def _inside(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _externals(external: Mapping[str, set[str]], modules: Iterable[str]) -> set[str]:
    return {name for m in modules for name in external.get(m, set())}


# ---------------------------------------------------------------------------------------------
# The checker itself can fail


def test_the_reader_sees_imports_in_functions_and_skips_type_checking_blocks() -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import a.b\n"
        "if TYPE_CHECKING:\n"
        "    import never.runs\n"
        "else:\n"
        "    import fallback\n"
        "def f():\n"
        "    from c import d\n"
        "    from . import sibling\n"
    )
    found = runtime_imports(source, "pkg.mod")
    assert {"a.b", "fallback", "c", "c.d", "pkg", "pkg.sibling"} <= found
    assert "never.runs" not in found


def test_cycles_are_found_in_a_graph_that_has_them() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(find_cycles(edges)) == [["a", "b", "c"], ["d"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_holds_the_imports_the_code_has(graph: tuple[dict, dict]) -> None:
    edges, external = graph
    # a module-level import, one inside a function and an external one, each known to exist
    assert "collector.receive.state" in edges["collector.receive.pipeline"]
    assert "collector.serve.service" in edges["collector.cli.serve"]  # imported in run()
    assert "aiohttp" in external["collector.http.app"]
    assert len(edges) > 90  # every runtime module is read


# ---------------------------------------------------------------------------------------------
# The rules


def test_no_import_cycle_in_the_runtime_packages(graph: tuple[dict, dict]) -> None:
    edges, _ = graph
    assert find_cycles(edges) == []


def test_receive_reaches_neither_asyncio_aiohttp_nor_another_room(
    graph: tuple[dict, dict],
) -> None:
    edges, external = graph
    modules = reached(edges, _room(edges, "collector.receive"))
    assert not _externals(external, modules) & {"asyncio", "aiohttp", "uvloop"}
    other_rooms = {f"collector.{room}" for room in ROOMS if room not in ("receive", "flows")}
    assert (
        sorted(m for m in modules if m.rpartition(".")[0] in other_rooms or m in other_rooms) == []
    )


def test_flows_reach_no_event_loop_nor_another_room(graph: tuple[dict, dict]) -> None:
    edges, external = graph
    modules = reached(edges, _room(edges, "collector.flows"))
    assert not _externals(external, modules) & {"asyncio", "aiohttp", "uvloop"}
    other_rooms = [f"collector.{room}" for room in ROOMS if room != "flows"]
    assert sorted(m for m in modules if _inside(m, other_rooms)) == []
    assert "collector.flows.engine" in edges["collector.receive.state"]


def test_the_flow_vocabulary_reaches_only_itself_and_the_shared_vocabulary(
    graph: tuple[dict, dict],
) -> None:
    edges, external = graph
    modules = reached(edges, FLOW_VOCABULARY)
    shared = [f"collector.{name}" for name in SHARED_VOCABULARY]
    allowed = {"collector", "collector.flows", *FLOW_VOCABULARY}
    assert sorted(m for m in modules if m not in allowed and not _inside(m, shared)) == []
    assert not _externals(external, modules) - set(sys.stdlib_module_names)


def test_http_reaches_neither_receive_nor_decoders(graph: tuple[dict, dict]) -> None:
    edges, _ = graph
    modules = reached(edges, _room(edges, "collector.http"))
    assert sorted(m for m in modules if _inside(m, ["collector.receive", "decoders"])) == []


def test_client_commands_reach_neither_decoders_nor_aiohttp(graph: tuple[dict, dict]) -> None:
    edges, external = graph
    commands = [f"collector.cli.{name}" for name in CLIENT_COMMANDS]
    modules = reached(edges, commands)
    assert sorted(m for m in modules if _inside(m, ["decoders"])) == []
    assert "aiohttp" not in _externals(external, modules)


def test_aggregate_reaches_no_decoder_receiver_face_or_event_loop(
    graph: tuple[dict, dict],
) -> None:
    edges, external = graph
    modules = reached(edges, _room(edges, "collector.aggregate"))
    forbidden = ["decoders", *(f"collector.{r}" for r in ROOMS if r not in ("aggregate", "flows"))]
    assert sorted(m for m in modules if _inside(m, forbidden)) == []
    flows = {m for m in modules if _inside(m, ["collector.flows"])} - {"collector.flows"}
    assert flows and flows <= set(FLOW_VOCABULARY)
    assert not _externals(external, modules) & {"asyncio", "aiohttp"}


def test_the_bus_reaches_only_the_shared_vocabulary(graph: tuple[dict, dict]) -> None:
    edges, external = graph
    modules = reached(edges, _room(edges, "collector.bus"))
    shared = [f"collector.{name}" for name in SHARED_VOCABULARY]
    outside = sorted(
        m for m in modules if not _inside(m, ["collector.bus", *shared]) and m != "collector"
    )
    assert outside == []
    assert "collector.delta_codec" in modules  # the versioned codec, never pickle
    allowed = set(sys.stdlib_module_names) | {"nats"}
    assert _externals(external, modules) - allowed == set()
    assert "nats" in _externals(external, modules)
    assert "pickle" not in _externals(external, modules)


def test_the_top_level_holds_only_the_shared_vocabulary(graph: tuple[dict, dict]) -> None:
    edges, _ = graph
    top = sorted(m for m in edges if m.count(".") == 1 and m.startswith("collector."))
    expected = sorted(
        [f"collector.{name}" for name in (*SHARED_VOCABULARY, *ROOMS)] + ["collector.__main__"]
    )
    assert top == expected
    rooms = [f"collector.{room}" for room in ROOMS]
    for name in SHARED_VOCABULARY:
        module = f"collector.{name}"
        assert sorted(m for m in reached(edges, [module]) if _inside(m, rooms)) == []


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_says_what_it_holds_and_what_it_may_import(room: str) -> None:
    init = ROOT / "collector" / room / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert len(doc.splitlines()) >= 3, f"{init}: docstring"
    assert "import" in doc, f"{init}: what it may import"
    # nothing but the docstring: importing a room must not load its modules
    assert [type(node).__name__ for node in tree.body] == ["Expr"]


# ---------------------------------------------------------------------------------------------
# What a real interpreter loads


def _loaded_by(modules: Iterable[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {sorted(modules)!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_a_client_command_loads_neither_the_decoder_nor_aiohttp() -> None:
    loaded = _loaded_by(f"collector.cli.{name}" for name in CLIENT_COMMANDS)
    assert "collector.cli.remote" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in ("decoders", "aiohttp")) == []


def test_the_receive_side_loads_no_event_loop() -> None:
    modules = _room(read_graph()[0], "collector.receive")
    loaded = _loaded_by(modules)
    assert "collector.receive.receivers" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in ("asyncio", "aiohttp", "uvloop")) == []
