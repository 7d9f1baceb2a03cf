"""``fabricscope topology import | diff | export`` as a user runs them.

The simulator's topology (written by ``fabricscope simulate --topology-out``) must come back
unchanged through DOT export and import; Graphviz must render the export; ``diff`` must report
hand-made changes line by line with diff(1)'s exit codes. Inputs whose size the file system
does not tell (a device, a pipe) are read only up to the size bound, by ``import`` and ``check``
alike, and ``-o`` gives its file the mode a plain write would.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from collector.cli.main import main
from collector.cli.topology_files import write_output
from simulator.fabric import FabricSpec, build_fabric, write_topology
from tests.e2e_support import ROOT, env, simulate
from topology import load_topology, parse_topology
from topology.dot import topology_to_dot
from topology.importers import ImportOptions, Source, import_dot

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "topology"
ADDRESS_SPACE = 1 << 30  # 1 GiB: far above the 64 MiB input bound, far below "everything"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def round_trip(capsys: pytest.CaptureFixture[str], topology: Path, tmp: Path) -> Path:
    """export → DOT → import; returns the re-imported JSON file."""
    dot, back = tmp / "fabric.dot", tmp / "back.json"
    assert run(capsys, "topology", "export", str(topology), "-o", str(dot))[0] == 0
    status, _, err = run(capsys, "topology", "import", "--from", "dot", str(dot), "-o", str(back))
    assert status == 0, err
    return back


# ---------------------------------------------------------------------------------------------
# The simulator's topology round-trips through DOT


def test_simulated_topology_round_trips_through_dot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    topology = tmp_path / "sim.json"
    simulate([
        "--pcap", str(tmp_path / "run.pcap"), "--topology-out", str(topology),
        "--duration", "0.5", "--leaves", "3", "--spines", "2", "--uplinks-per-leaf", "4",
        "--hosts-per-leaf", "2", "--port-style", "ethernet",
    ])  # fmt: skip
    back = round_trip(capsys, topology, tmp_path)
    assert load_topology(back) == load_topology(topology)
    # Parallel links keep their names (leafX-spineY-2) and every host port its ifindex.
    original = json.loads(topology.read_text())
    assert json.loads(back.read_text()) == original
    assert "leaf1-spine1-2" in original["links"]


@pytest.mark.parametrize(
    "spec",
    [
        FabricSpec(leaves=4, spines=2, hosts_per_leaf=3, rails=2, nics_per_host=2),
        FabricSpec(leaves=40, spines=4, hosts_per_leaf=8, agent_base="fd00:10::1"),
    ],
    ids=["rails", "40-leaves-ipv6-agents"],
)
def test_generated_topologies_round_trip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: FabricSpec
) -> None:
    topology = tmp_path / "sim.json"
    write_topology(build_fabric(spec), str(topology))
    assert load_topology(round_trip(capsys, topology, tmp_path)) == load_topology(topology)


def test_graphviz_renders_the_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz dot not installed")
    topology = tmp_path / "fabric.json"
    status, _, err = run(
        capsys, "topology", "import", "--from", "dot", str(FIXTURES / "fabric.dot"),
        "-o", str(topology),
    )  # fmt: skip
    assert status == 0, err
    svg = tmp_path / "fabric.svg"
    status, out, err = run(capsys, "topology", "export", str(topology), "--svg", str(svg))
    assert (status, out, err) == (0, "", "")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    # Switch names in boxes, port names at the link ends (slashes and breakouts intact).
    assert {"leaf1", "leaf2", "spine1", "spine2"} <= texts
    assert {"swp53s1", "Ethernet2/1/2", "Ethernet1/1", "swp49"} <= texts
    ids = {g.get("id") for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert "leaf1-spine2-a" in ids  # the link name is the edge's id


def test_svg_without_graphviz_says_so(tmp_path: Path) -> None:
    topology = tmp_path / "t.json"
    write_topology(build_fabric(FabricSpec(leaves=2, spines=1, hosts_per_leaf=1)), str(topology))
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "collector", "topology", "export", str(topology),
         "-o", str(tmp_path / "t.dot"), "--svg", str(tmp_path / "t.svg")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**env(), "PATH": str(empty_path)},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        "fabricscope: error: --svg needs Graphviz's 'dot' program, which is not installed "
        "(apt install graphviz)\n"
    )
    assert (tmp_path / "t.dot").read_text().startswith("// 3 switches, 2 links")
    assert not (tmp_path / "t.svg").exists()


# ---------------------------------------------------------------------------------------------
# import on the command line


def test_import_writes_the_file_and_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "topology.json"
    status, out, err = run(
        capsys, "topology", "import", "--from", "netq", str(FIXTURES / "netq-lldp.json"),
        "--switches", "leaf*,spine*", "-o", str(out_file),
    )  # fmt: skip
    assert (status, out) == (0, "")
    assert err.splitlines() == [
        "fabricscope: 4 switches, 8 links, 0 agents from 1 file(s) (netq)",
        "fabricscope: 5 switch ports face hosts or other devices (left edge)",
        "fabricscope: 9 LLDP rows repeat a link already seen (merged)",
        "fabricscope: 1 reporting devices are not switches: server01",
    ]
    assert len(load_topology(out_file).links) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topology.json"]  # no temp file left


def test_import_from_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = 'graph { a:"Ethernet1/1" -- b:swp1 }'
    done = subprocess.run(
        [sys.executable, "-m", "collector", "topology", "import", "--from", "dot", "-"],
        input=text, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "links": {"a-b": {"node1": "a", "port1": "Ethernet1/1", "node2": "b", "port2": "swp1"}}
    }


@pytest.mark.parametrize(
    ("args", "content", "expected"),
    [
        (["--from", "dot"], "graph {\n a -- b\n}\n", "{f}: line 2: edge a -- b has no port"),
        (
            ["--from", "clab"],
            '{"nodes": {}, "links": []}',
            "no switch-to-switch links found in {f}",
        ),
        (["--from", "netq"], "[1, 2", "{f}: line 1: invalid JSON: "),
        (["--from", "netbox", "--roles", "leaf"], '{"results": []}', "--roles needs the devices"),
    ],
)
def test_import_errors(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    content: str,
    expected: str,
) -> None:
    bad = tmp_path / "input.txt"
    bad.write_text(content)
    status, out, err = run(capsys, "topology", "import", *args, str(bad))
    assert (status, out) == (1, "")
    assert err.startswith("fabricscope: error: " + expected.format(f=bad))
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--from", "dot", "--roles", "leaf"], "--roles applies to --from netbox only"),
        (["--from", "netq", "--name", "leaf1"], "--name applies to --from eapi only"),
        (["--from", "dot", "--switches", "leaf*"], "--switches does not apply to --from dot"),
    ],
)
def test_import_options_of_another_source_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    status, out, err = run(capsys, "topology", "import", *args, str(FIXTURES / "fabric.dot"))
    assert (status, out) == (2, "")
    assert err.startswith(f"fabricscope: error: {expected}")


def test_import_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    status, _, err = run(capsys, "topology", "import", "--from", "clab", str(missing))
    assert (status, err) == (1, f"fabricscope: error: {missing}: No such file or directory\n")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _fabricscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("topology", "import", "--from", "netq", "/dev/zero"), 1),
        (("topology", "check", "/dev/zero"), 2),
    ],
    ids=["import", "check"],
)
def test_an_endless_input_stops_at_the_size_bound(args: tuple[str, ...], status: int) -> None:
    """A device or pipe reports size 0, so its size must be bounded while reading it: an endless
    one is refused as too large, with one line naming it, instead of read until memory runs out."""
    done = _fabricscope(*args)
    assert done.returncode == status, done.stderr[-500:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "/dev/zero" in lines[0] and "larger than" in lines[0], lines


# ---------------------------------------------------------------------------------------------
# diff


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


OLD: dict[str, Any] = {
    "links": {
        "L1": {"node1": "leaf1", "port1": "swp51", "node2": "spine1", "port2": "Ethernet1/1"},
        "L2": {"node1": "leaf2", "port1": "swp51", "node2": "spine1", "port2": "Ethernet1/2"},
        "L3": {"node1": "leaf1", "port1": "swp52", "node2": "spine2", "port2": "Ethernet1/1"},
        "L4": {"node1": "leaf3", "port1": "swp51", "node2": "spine2", "port2": "Ethernet1/3"},
    },
    "nodes": {
        "leaf1": {"agent": "10.0.0.1", "ports": {"swp1": {"ifindex": "3"}, "swp2": {"ifindex": 4}}},
        "spine1": {"agent": "10.0.0.11"},
    },
}


def _new() -> dict[str, Any]:
    new: dict[str, Any] = json.loads(json.dumps(OLD))
    links = new["links"]
    links["L2"]["port2"] = "Ethernet1/4"  # recabled: one link removed, one added
    links["uplink-3"] = links.pop("L3")  # same cable, new name
    del links["L4"]  # leaf3 gone with its only link
    links["L5"] = {"node1": "leaf4", "port1": "swp51", "node2": "spine1", "port2": "Ethernet1/5"}
    new["nodes"]["leaf1"]["ports"]["swp1"] = {"ifindex": "7"}
    del new["nodes"]["leaf1"]["ports"]["swp2"]
    new["nodes"]["spine1"]["agent"] = "10.0.0.12"
    new["nodes"]["leaf4"] = {"agent": "10.0.0.4"}
    return new


def test_diff_same_is_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", OLD)
    # The same topology written differently: link ends swapped, ifindex as integer.
    same = json.loads(json.dumps(OLD))
    link = same["links"]["L1"]
    link["node1"], link["port1"], link["node2"], link["port2"] = (
        link["node2"], link["port2"], link["node1"], link["port1"],
    )  # fmt: skip
    same["nodes"]["leaf1"]["ports"]["swp1"]["ifindex"] = 3
    status, out, _ = run(capsys, "topology", "diff", str(old), str(_write(tmp_path / "s", same)))
    assert (status, out) == (0, "same topology: 4 links\n")


def test_diff_reports_each_change(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old, new = _write(tmp_path / "old.json", OLD), _write(tmp_path / "new.json", _new())
    status, out, _ = run(capsys, "topology", "diff", str(old), str(new))
    assert status == 1
    assert out.splitlines() == [
        "- link L2: leaf2/swp51 -- spine1/Ethernet1/2",
        "- link L4: leaf3/swp51 -- spine2/Ethernet1/3",
        "+ link L2: leaf2/swp51 -- spine1/Ethernet1/4",
        "+ link L5: leaf4/swp51 -- spine1/Ethernet1/5",
        "~ link L3 renamed uplink-3: leaf1/swp52 -- spine2/Ethernet1/1",
        "- node leaf3",
        "+ node leaf4",
        "~ node leaf1: port swp1 ifindex 3 -> 7",
        "~ node leaf1: port swp2 ifindex 4 -> -",
        "~ node spine1: agent 10.0.0.11 -> 10.0.0.12",
        "links: 2 added, 2 removed, 1 renamed; nodes: 1 added, 1 removed, 3 changed",
    ]
    status, out, _ = run(capsys, "topology", "diff", "--json", str(old), str(new))
    document = json.loads(out)
    assert status == 1 and document["same"] is False
    assert [r["name"] for r in document["links"]["removed"]] == ["L2", "L4"]
    assert document["links"]["renamed"] == [{"old": "L3", "new": "uplink-3"}]
    assert document["nodes"] == {
        "added": ["leaf4"],
        "removed": ["leaf3"],
        "changed": [
            {"node": "leaf1", "field": "ifindex", "port": "swp1", "old": 3, "new": 7},
            {"node": "leaf1", "field": "ifindex", "port": "swp2", "old": 4, "new": None},
            {"node": "spine1", "field": "agent", "old": "10.0.0.11", "new": "10.0.0.12"},
        ],
    }


def test_diff_trouble_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", OLD)
    bad = tmp_path / "bad.json"
    bad.write_text('{"links": {"L1": {"node1": "a"}}}')
    status, out, err = run(capsys, "topology", "diff", str(old), str(bad))
    assert (status, out) == (2, "")
    assert err == f"fabricscope: error: {bad}: links.L1.port1: field required (and 2 more)\n"


def test_export_of_a_bad_file_names_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    status, _, err = run(capsys, "topology", "export", str(missing))
    assert status == 1 and err.startswith(f"fabricscope: error: {missing}: ")
    assert os.listdir(tmp_path) == []


def test_output_to_a_pipe_writes_into_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # -o names a FIFO (as it could name /dev/stdout): written into, not replaced by a file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    status, _, err = run(
        capsys, "topology", "import", "--from", "dot", str(FIXTURES / "fabric.dot"),
        "-o", str(fifo),
    )  # fmt: skip
    reader.join(timeout=30)
    assert status == 0, err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert len(json.loads(received[0])["links"]) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_output_through_a_symlink_replaces_its_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "current.json"
    link.symlink_to(real)
    status, _, err = run(
        capsys, "topology", "import", "--from", "dot", str(FIXTURES / "fabric.dot"),
        "-o", str(link),
    )  # fmt: skip
    assert status == 0, err
    assert link.is_symlink()
    assert len(load_topology(real).links) == 8


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_file_gets_the_mode_a_plain_write_would_give(tmp_path: Path) -> None:
    """-o replaces the file atomically, through a temporary file that mkstemp creates 0600: the
    result must still be readable by others as open() would make it (a collector running as
    another user reloads it), and a file that existed keeps its own mode."""
    new = tmp_path / "new.json"
    write_output(str(new), "{}\n", io.StringIO())
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()
    existing = tmp_path / "existing.json"
    existing.write_text("old\n")
    existing.chmod(0o640)
    write_output(str(existing), "{}\n", io.StringIO())
    assert existing.read_text() == "{}\n"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640


# Names as awkward as the model allows: quotes, backslashes, DOT keywords and punctuation,
# non-ASCII, spaces and newlines (port names in the ifindex list may not hold whitespace).
_NAME = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=12,
) | st.sampled_from(['a"b', "c\\", "\\\n", "graph", "Ethernet1/1:n", "x -- y", "<b>", "-1"])
_PORT = _NAME.filter(lambda s: not any(c.isspace() for c in s))


@settings(max_examples=40, deadline=None)
@given(
    ends=st.lists(st.tuples(_NAME, _NAME, _NAME, _NAME), min_size=1, max_size=6),
    agents=st.dictionaries(_NAME, st.dictionaries(_PORT, st.integers(1, 2**32 - 1), max_size=3)),
)
def test_dot_writer_and_reader_agree_on_any_names(
    ends: list[tuple[str, str, str, str]], agents: dict[str, dict[str, int]]
) -> None:
    links: dict[str, Any] = {}
    used: set[tuple[str, str]] = set()
    for i, (n1, p1, n2, p2) in enumerate(ends):
        if (n1, p1) in used or (n2, p2) in used or (n1, p1) == (n2, p2):
            continue
        used |= {(n1, p1), (n2, p2)}
        links[f"{n1}\\{i}"] = {"node1": n1, "port1": p1, "node2": n2, "port2": p2}
    assume(links)
    nodes = {
        name: {
            "agent": f"10.9.{i // 256}.{i % 256}",
            "ports": {p: {"ifindex": x} for p, x in ports.items()},
        }
        for i, (name, ports) in enumerate(agents.items())
    }
    assume(all(len(set(ports.values())) == len(ports) for ports in agents.values()))
    topology = parse_topology({"links": links, "nodes": nodes})
    back = import_dot([Source("t.dot", topology_to_dot(topology))], ImportOptions()).topology
    assert back == topology
