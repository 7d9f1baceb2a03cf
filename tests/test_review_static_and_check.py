"""Review findings: odd input to the static-file route and to ``topology check``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.http.ui import static_file
from topology.check import check_text, parse_live
from topology.model import TopologyError

ROOT = Path(__file__).resolve().parent.parent


def test_static_file_with_a_name_too_long_for_the_filesystem_is_not_found(tmp_path: Path) -> None:
    """A /static/ path longer than NAME_MAX (255 bytes on Linux) is simply not a file."""
    (tmp_path / "app.js").write_text("x")
    assert static_file(tmp_path, "a" * 300) is None
    assert static_file(tmp_path, "d/" * 2500 + "f") is None  # longer than PATH_MAX in all
    assert static_file(tmp_path, "app.js") == (tmp_path / "app.js").resolve()


def test_check_refuses_deeply_nested_json_with_a_located_error() -> None:
    """JSON nested deeper than the parser's recursion allows is a TopologyError, not a crash."""
    deep = b'{"links": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(TopologyError) as caught:
        check_text(deep)
    assert "nested too deeply" in caught.value.message


def test_check_cli_exits_2_with_one_line_on_deeply_nested_json(tmp_path: Path) -> None:
    """The CLI names the file and exits 2 ("could not check"), without a traceback."""
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    done = subprocess.run(
        [sys.executable, "-m", "collector", "topology", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "nested too deeply" in lines[0]


def _ports_json(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {"time": 100.0, "flow_window": 30.0, "agents": [], "ports": []}
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_ports_json(time=10**400), "ports.time"),
        (_ports_json(flow_window=-(10**400)), "ports.flow_window"),
        (
            _ports_json(agents=[{"agent": "10.0.0.1", "hostname": None, "last_flow": 10**400}]),
            "agents[0].last_flow",
        ),
    ],
)
def test_live_view_with_a_number_beyond_float_names_the_field(
    document: dict[str, object], field: str
) -> None:
    """An integer too large for a float (valid JSON) is a ValueError naming the field."""
    json.dumps(document)  # the document is valid JSON
    with pytest.raises(ValueError) as caught:
        parse_live(document)
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_ports_json(time=float("nan")), "ports.time"),
        (_ports_json(flow_window=float("inf")), "ports.flow_window"),
        (
            _ports_json(
                agents=[{"agent": "10.0.0.1", "hostname": None, "last_flow": float("-inf")}]
            ),
            "agents[0].last_flow",
        ),
    ],
)
def test_live_view_with_nan_or_infinity_names_the_field(
    document: dict[str, object], field: str
) -> None:
    """Python's JSON reader takes NaN and Infinity; compared with them, every node would be
    reported without flows (or none would), so they are refused, naming the field."""
    text = json.dumps(document)
    with pytest.raises(ValueError) as caught:
        parse_live(json.loads(text))
    assert str(caught.value).startswith(f"{field}: ")
