"""The container image, built and run (``make test-container``, which CI runs).

``make test-container`` builds the image on a Debian base made with debootstrap and runs this
file with ``FABRICSCOPE_IMAGE`` naming it (and ``FABRICSCOPE_ENGINE``: podman, or docker). The
rest of the suite leaves these tests out (``make test`` runs ``-m "not container"``); run on
their own without an image they skip, which fails under FABRICSCOPE_REQUIRE_TOOLS=1.

* The image: Docker format with the HEALTHCHECK, an unprivileged user, the compiled modules, no
  compiler, no tests, no ``.git``, no build secret, and a size within budget.
* The demo (no topology, no arguments): the HEALTHCHECK command passes, every process runs as
  the image's uid, the demo serves non-zero ``sflow_ai_bps``, SIGTERM stops it within 10 s.
* A topology directory mounted at /etc/fabricscope: served instead of the demo (sFlow sent to
  the published UDP port is counted), reloaded on SIGHUP; FABRICSCOPE_* variables move the HTTP
  port (the health check follows) and set the workers; SIGTERM stops it within 10 s.
* compose.yml, unchanged: ``podman-compose up`` (or ``docker compose up``) of the fabricscope
  service, which turns healthy and serves the demo on the published ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fabric_builders import LEAF1, LEAF1_EDGE, TOPOLOGY, datagram, flow, wire, write_first

pytestmark = [pytest.mark.container, pytest.mark.xdist_group("container")]

ROOT = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("FABRICSCOPE_IMAGE", "")
ENGINE = os.environ.get("FABRICSCOPE_ENGINE", "podman")
UID = 10001
COMPAT_PATH = "/app/ai-metrics/scripts/metrics.js/prometheus/txt"
# Debian's python3 and the virtualenv come to ~200 MB; a compiler or a build tree would not fit.
SIZE_BUDGET = 300 * 10**6
STOP_WITHIN_S = 10.0
START_TIMEOUT_S = 40.0
# The names this module gives its containers and compose project (removed whatever happens).
PREFIX = f"fabricscope-test-{os.getpid()}"


def _engine(*args: str, timeout: float = 60.0, check: bool = True) -> str:
    """Run the container engine; its stdout. A failure shows stderr."""
    result = subprocess.run(
        [ENGINE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{ENGINE} {' '.join(args)}: exit {result.returncode}\n{result.stderr}"
        )
    return result.stdout


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    """``inspect`` of the image under test."""
    if not IMAGE:
        pytest.skip("FABRICSCOPE_IMAGE is not set: `make test-container` builds the image")
    if shutil.which(ENGINE) is None:
        pytest.skip(f"{ENGINE} not installed")
    inspected: dict[str, Any] = json.loads(_engine("image", "inspect", IMAGE))[0]
    return inspected


def _healthcheck(image: dict[str, Any]) -> list[str]:
    """The image's HEALTHCHECK command (podman shows it beside Config, Docker inside it)."""
    check = image.get("Healthcheck") or image["Config"].get("Healthcheck")
    assert check, "no HEALTHCHECK in the image (podman keeps it only with --format docker)"
    test: list[str] = check["Test"]
    assert test[0] == "CMD", test
    return test[1:]


@dataclass
class Container:
    """A detached container of the image and the host ports its ports are published on."""

    name: str
    ports: dict[str, int]

    def url(self, path: str, port: str = "8008/tcp") -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    def get(self, path: str, port: str = "8008/tcp") -> str:
        with urllib.request.urlopen(self.url(path, port), timeout=10) as response:
            body: str = response.read().decode()
            return body

    def logs(self) -> str:
        result = subprocess.run(
            [ENGINE, "logs", self.name], capture_output=True, text=True, timeout=30, check=False
        )
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(_engine("container", "inspect", self.name))[0]["State"]
        return state

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ENGINE, "exec", self.name, *argv],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    def wait_healthy(self, image: dict[str, Any]) -> None:
        """Until the image's HEALTHCHECK command passes in the container (bounded)."""
        command = _healthcheck(image)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            result = self.exec(*command)
            if result.returncode == 0:
                return
            if not self.state()["Running"] or time.monotonic() > deadline:
                raise AssertionError(
                    f"health check {command}: {result.stderr}\nlogs:\n{self.logs()[-3000:]}"
                )
            time.sleep(0.5)

    def stop_with_sigterm(self) -> tuple[float, int]:
        """SIGTERM to the container's main process; (seconds until it exited, exit code)."""
        start = time.monotonic()
        _engine("kill", "--signal", "TERM", self.name)
        code = _engine("wait", self.name, timeout=STOP_WITHIN_S + 20).strip().splitlines()[-1]
        return time.monotonic() - start, int(code)


@contextlib.contextmanager
def _run(suffix: str, *options: str, ports: tuple[str, ...] = ("8008/tcp",)) -> Iterator[Container]:
    """``run -d`` the image with each port published on a free port of 127.0.0.1."""
    name = f"{PREFIX}-{suffix}"
    publish = [f"--publish=127.0.0.1::{port}" for port in ports]
    _engine("run", "--detach", f"--name={name}", *publish, *options, IMAGE)
    try:
        found: dict[str, int] = {}
        for port in ports:
            # "127.0.0.1:40123" (one line per address)
            mapping = _engine("port", name, port).split()[0]
            found[port] = int(mapping.rpartition(":")[2])
        yield Container(name, found)
    finally:
        _engine("rm", "--force", name, check=False)


def _samples(body: str, name: str, **labels: str) -> list[float]:
    """The values of the samples ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return [
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and want <= set(sample.labels.items())
    ]


def _metric(body: str, name: str, **labels: str) -> float:
    """The sum of those samples (0 when there is none)."""
    return sum(_samples(body, name, **labels))


def _scrape_until(fetch: Callable[[], str], name: str, timeout: float = 20.0) -> float:
    """Scrape until the samples of ``name`` add up to more than 0; that sum."""
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.URLError, ConnectionError):
            body = fetch()
            if _metric(body, name) > 0:
                return _metric(body, name)
        time.sleep(0.5)
    raise AssertionError(f"no non-zero {name} within {timeout} s:\n{body[:2000]}")


def _processes(pid: int) -> list[int]:
    """The process and its descendants, from the host's /proc (a rootful engine's view)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rpartition(")")[2].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _ids(pid: int, field: str) -> set[int]:
    """The real, effective, saved and filesystem ids (``Uid`` or ``Gid``) of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return {int(x) for x in line.split()[1:]}
    raise AssertionError(f"/proc/{pid}/status has no {field}")


# ---------------------------------------------------------------------------------------------
# The image


def test_image_is_docker_format_with_healthcheck_user_and_entrypoint(image: dict[str, Any]) -> None:
    config = image["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["/usr/local/bin/fabricscope-entrypoint"]
    assert set(config["ExposedPorts"]) == {"6343/udp", "8008/tcp"}
    assert _healthcheck(image) == ["python", "/usr/local/lib/fabricscope/healthcheck.py"]
    print(f"\n{IMAGE}: {image['Size'] / 1e6:.0f} MB")
    assert image["Size"] < SIZE_BUDGET, f"{image['Size'] / 1e6:.0f} MB"


# Run in the image from /, as its user: what is on the file system and what imports.
INVENTORY = r"""
import importlib.util, json, os, shutil, sys
from decoders import fast
from collector.receive import accounting
compilers = ["gcc", "cc", "c++", "g++", "clang", "tcc", "cpp", "cython", "cythonize", "ld"]
found = {"compilers": [c for c in compilers if shutil.which(c)], "paths": []}
names = set(sys.argv[1:])
for top, dirs, files in os.walk("/"):
    if top in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    for entry in dirs + files:
        path = os.path.join(top, entry)
        # .git anywhere; the test tree, the checkout, the C sources Cython wrote; a GCC install
        if (entry == ".git" or path.endswith(tuple(names)) or path == "/src"
                or entry in ("fastpath.c", "_accounting.c", "cc1")
                or path.startswith("/run/secrets/")):
            found["paths"].append(path)
found["tests_importable"] = importlib.util.find_spec("tests") is not None
found["implementations"] = [fast.IMPLEMENTATION, accounting.IMPLEMENTATION]
found["cwd"] = os.getcwd()
print(json.dumps(found))
"""


def test_image_holds_no_compiler_tests_git_or_secret_and_runs_compiled(
    image: dict[str, Any],
) -> None:
    ours = sorted(f"/tests/{p.name}" for p in (ROOT / "tests").glob("*.py"))
    assert "/tests/test_container.py" in ours
    out = _engine(
        "run", "--rm", "--entrypoint=python", IMAGE, "-c", INVENTORY, *ours, "/.dockerignore"
    )
    found = json.loads(out)
    assert found["compilers"] == [], found["compilers"]
    assert found["paths"] == [], found["paths"]
    assert not found["tests_importable"]
    assert found["implementations"] == ["compiled", "compiled"]
    assert found["cwd"] == "/"


def test_arguments_run_that_sub_command(image: dict[str, Any]) -> None:
    out = _engine("run", "--rm", IMAGE, "demo", "--help")
    assert "--leaves" in out
    missing = subprocess.run(
        [ENGINE, "run", "--rm", "--env=FABRICSCOPE_TOPOLOGY=/etc/fabricscope/nope.json", IMAGE],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "FABRICSCOPE_TOPOLOGY=/etc/fabricscope/nope.json: no such file" in missing.stderr


# ---------------------------------------------------------------------------------------------
# The demo: no topology, no arguments


@pytest.fixture(scope="module")
def demo(image: dict[str, Any]) -> Iterator[Container]:
    with _run("demo") as container:
        container.wait_healthy(image)
        yield container


def test_demo_passes_the_healthcheck(demo: Container) -> None:
    assert demo.get("/healthz") == "ok\n"
    if ENGINE.endswith("podman"):  # podman's own runner of the image's HEALTHCHECK
        _engine("healthcheck", "run", demo.name)
        assert demo.state()["Health"]["Status"] == "healthy"


def test_demo_runs_as_the_unprivileged_user(demo: Container) -> None:
    pid = int(demo.state()["Pid"])
    processes = _processes(pid)
    # exec all the way: the main process is fabricscope itself (it gets SIGTERM), and the demo
    # runs a collector beside the simulator
    assert b"fabricscope" in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert len(processes) >= 2, processes
    for process in processes:
        assert _ids(process, "Uid") == {UID}, process
        assert _ids(process, "Gid") == {UID}, process
    assert demo.exec("id", "-u").stdout.strip() == str(UID)


def test_demo_serves_nonzero_sflow_ai_bps(demo: Container) -> None:
    assert _scrape_until(lambda: demo.get(COMPAT_PATH), "sflow_ai_bps") > 0
    assert _scrape_until(lambda: demo.get("/metrics"), "fabricscope_datagrams_total") > 0
    assert "running the demo fabric" in demo.logs()


def test_demo_stops_on_sigterm_within_10_s(demo: Container) -> None:
    seconds, code = demo.stop_with_sigterm()
    assert seconds < STOP_WITHIN_S, f"{seconds:.1f} s"
    assert code in (0, 128 + 2, 128 + 15), f"exit {code} (137: killed)"
    assert "shutting down" in demo.logs()


# ---------------------------------------------------------------------------------------------
# A mounted topology, FABRICSCOPE_* settings

HTTP_PORT = "9100/tcp"


@pytest.fixture(scope="module")
def topology_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("etc-fabricscope")
    (directory / "topology.json").write_text(json.dumps(TOPOLOGY))
    # readable by the container's user, as a directory of the host's would be
    directory.chmod(0o755)
    (directory / "topology.json").chmod(0o644)
    return directory


@pytest.fixture(scope="module")
def served(image: dict[str, Any], topology_dir: Path) -> Iterator[Container]:
    with _run(
        "topology",
        f"--volume={topology_dir}:/etc/fabricscope:ro",
        f"--env=FABRICSCOPE_HTTP_BIND=0.0.0.0:{HTTP_PORT.split('/')[0]}",
        "--env=FABRICSCOPE_WORKERS=3",
        "--env=FABRICSCOPE_TICK_SECONDS=0.2",
        ports=(HTTP_PORT, "6343/udp"),
    ) as container:
        container.wait_healthy(image)  # the health check follows FABRICSCOPE_HTTP_BIND
        yield container


def _links(container: Container) -> dict[str, Any]:
    links: dict[str, Any] = json.loads(container.get("/topology/json", HTTP_PORT))["links"]
    return links


def test_mounted_topology_is_served_instead_of_the_demo(served: Container) -> None:
    assert _links(served) == TOPOLOGY["links"]
    logs = served.logs()
    assert "running the demo fabric" not in logs
    # the settings from the environment: the HTTP port (we are talking to it) and the workers
    assert re.search(r"listening: sflow udp 0\.0\.0\.0 port 6343, http 0\.0\.0\.0 port 9100, "
                     r"workers 3", logs), logs  # fmt: skip
    metrics = served.get("/metrics", HTTP_PORT)
    assert _metric(metrics, "fabricscope_topology_loaded") == 1
    assert _metric(metrics, "fabricscope_datagrams_total") == 0  # no demo feeding it

    # sFlow to the published UDP port is collected against the mounted topology
    payload = wire(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (write_first(),)),)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sock.sendto(payload, ("127.0.0.1", served.ports["6343/udp"]))
            metrics = served.get("/metrics", HTTP_PORT)
            if _metric(metrics, "fabricscope_ingress_frames_total", role="edge") > 0:
                break
            time.sleep(0.5)
    assert _metric(metrics, "fabricscope_ingress_frames_total", role="edge") > 0, metrics


def test_mounted_topology_reloads_on_sighup(served: Container, topology_dir: Path) -> None:
    links: dict[str, Any] = TOPOLOGY["links"]  # type: ignore[assignment]
    edited = {**TOPOLOGY, "links": {"L1": links["L1"]}}
    # as an editor saves: a new file in place of the old (the directory mount sees it)
    new = topology_dir / "topology.json.new"
    new.write_text(json.dumps(edited))
    new.chmod(0o644)
    new.replace(topology_dir / "topology.json")
    _engine("kill", "--signal", "HUP", served.name)
    deadline = time.monotonic() + 20
    while _links(served) != edited["links"]:
        assert time.monotonic() < deadline, f"not reloaded: {_links(served)}"
        time.sleep(0.3)
    metrics = served.get("/metrics", HTTP_PORT)
    assert _metric(metrics, "fabricscope_topology_version") == 2
    assert _metric(metrics, "fabricscope_topology_reloads_total", result="ok") >= 1


def test_served_topology_stops_on_sigterm_within_10_s(served: Container) -> None:
    seconds, code = served.stop_with_sigterm()
    assert seconds < STOP_WITHIN_S, f"{seconds:.1f} s"
    assert code in (0, 128 + 15), f"exit {code} (137: killed)"


# ---------------------------------------------------------------------------------------------
# compose.yml, unchanged, with podman-compose (or docker compose)


def _compose_command() -> list[str]:
    if ENGINE.endswith("docker"):
        return [ENGINE, "compose"]
    tool = shutil.which("podman-compose")
    if tool is None:
        pytest.skip("podman-compose not installed")
    return [tool]


def _host_ports_free(tcp: int, udp: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("0.0.0.0", tcp))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("0.0.0.0", udp))
    except OSError:
        return False
    return True


def test_compose_brings_up_the_fabricscope_service_healthy(image: dict[str, Any]) -> None:
    compose_file = yaml.safe_load((ROOT / "compose.yml").read_text())
    service = compose_file["services"]["fabricscope"]
    if not _host_ports_free(8008, 6343):
        pytest.skip("host port 8008/tcp or 6343/udp in use: compose.yml publishes them")
    command = _compose_command()
    project = PREFIX
    if service["image"] != IMAGE:  # compose runs the image it names (--no-build: ours)
        _engine("tag", IMAGE, service["image"])
    base = [*command, "--project-name", project, "--file", str(ROOT / "compose.yml")]

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
        )

    try:
        up = compose("up", "--detach", "--no-build", "fabricscope")
        assert up.returncode == 0, up.stdout + up.stderr
        names = _engine(
            "ps", "--filter", f"label=com.docker.compose.project={project}",
            "--format", "{{.Names}}",
        ).split()  # fmt: skip
        assert len(names) == 1, names  # fabricscope only: Telegraf's image cannot be fetched here
        container = Container(names[0], {"8008/tcp": 8008})
        container.wait_healthy(image)
        if ENGINE.endswith("podman"):
            _engine("healthcheck", "run", container.name)
        inspected = json.loads(_engine("container", "inspect", container.name))[0]
        assert "FABRICSCOPE_WORKERS=2" in inspected["Config"]["Env"]
        assert inspected["HostConfig"]["RestartPolicy"]["Name"] == service["restart"]
        assert _scrape_until(lambda: container.get(COMPAT_PATH), "sflow_ai_bps") > 0
        start = time.monotonic()
        down = compose("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert time.monotonic() - start < STOP_WITHIN_S + 5
    finally:
        compose("down")
        _engine("network", "rm", f"{project}_default", check=False)
