"""The container packaging, checked without a Docker engine.

* ``compose.yml`` and ``compose.local.yml`` against the compose specification schema
  (check-jsonschema's vendored copy); the Dockerfile through hadolint.
* The inline configs: Telegraf's parses as TOML with the expected plugins and options and leaves
  its ``${…}`` variables to Telegraf; Prometheus's passes ``promtool check config``; every URL
  and scrape path they name is fetched from a real ``fabricscope serve``; Grafana's provisioning
  points at the data source and dashboard it mounts.
* Every variable the compose files read is in ``.env.example``, which holds no secret.
* The entry point's branches run under ``sh`` with a stand-in ``fabricscope`` on PATH, and the
  command lines it builds parse with the real CLI; the health check probes a real serve,
  straight to it even with HTTP_PROXY set.
* The image's build: the build context (``.dockerignore``) and COPY lines carry every file of every
  package ``pyproject.toml`` installs, the builder runs the same ``pip install`` of that package and
  checks for each compiled module ``setup.py`` builds.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.cli.main import build_parser
from collector.serve.settings import Settings
from tests.e2e_support import Served, start_serve
from tests.fabric_builders import TOPOLOGY

# The module-scoped fixture (a collector, a browser or a long simulation) is set up once only if
# the module's tests stay on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("packaging")

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yml"
COMPOSE_LOCAL = ROOT / "compose.local.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
ENV_EXAMPLE = ROOT / ".env.example"
# The path sFlow-RT's ai-metrics app serves its Prometheus text at, as Telegraf is pointed at it in
# the reference set-up (written out here, not imported, so a renamed route fails this test).
REFERENCE_PROMETHEUS_PATH = "/app/ai-metrics/scripts/metrics.js/prometheus/txt"
IMAGE_TOPOLOGY = "/etc/fabricscope/topology.json"
TOOL_TIMEOUT = 60.0


def _tool(name: str) -> str:
    """A command-line tool from PATH or beside this Python (the venv's bin), else skip."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} not installed")
    return found


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT, **kwargs)


def _load_yaml(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _config_content(compose: dict[str, Any], name: str) -> str:
    """An inline config as the container sees it: compose's ``$$`` escape is a literal ``$``."""
    content: str = compose["configs"][name]["content"]
    unescaped = content.replace("$$", "")
    assert "$" not in unescaped, f"config {name}: a `$` compose would substitute (write `$$`)"
    return content.replace("$$", "$")


def _service_config_target(service: dict[str, Any], source: str) -> str:
    targets = [c["target"] for c in service.get("configs", []) if c["source"] == source]
    assert len(targets) == 1, f"config {source} is not mounted exactly once"
    return str(targets[0])


def _compose_variables(text: str) -> set[str]:
    """Names compose substitutes: ``${NAME…}`` and ``$NAME``, not the ``$$`` escape."""
    text = text.replace("$$", "")
    braced = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)
    bare = re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text)
    return set(braced) | set(bare)


def _strings(node: object) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included (compose interpolates values)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip().removeprefix("#").strip()
        name, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            values[name] = value
    return values


# ---------------------------------------------------------------------------------------------
# Linters and schemas


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_LOCAL], ids=lambda p: p.name)
def test_compose_file_matches_the_compose_spec(path: Path) -> None:
    tool = _tool("check-jsonschema")
    result = _run([tool, "--builtin-schema", "vendor.compose-spec", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_check_rejects_a_broken_file(tmp_path: Path) -> None:
    """The schema check above can fail: a misspelt key in a copy of compose.yml is refused."""
    tool = _tool("check-jsonschema")
    compose = _load_yaml(COMPOSE)
    compose["services"]["fabricscope"]["restart_policy"] = "unless-stopped"
    broken = tmp_path / "compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    result = _run([tool, "--builtin-schema", "vendor.compose-spec", str(broken)])
    assert result.returncode != 0
    assert "restart_policy" in result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    tool = _tool("hadolint")
    result = _run([tool, str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_builds_and_runs_the_image() -> None:
    """The image is checked in its own CI step: ``make test`` leaves the ``container`` tests out,
    ``make test-container`` (which builds the image) runs exactly those, and .ci/run calls it."""
    makefile = (ROOT / "Makefile").read_text()
    recipes = dict(re.findall(r"^([a-z-]+):[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.MULTILINE))
    assert '-m "not container"' in recipes["test"]
    assert "-m container tests/test_container.py" in recipes["test-container"]
    assert re.search(r"^test-container:.* image-debian", makefile, re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test-container\b", ci, re.MULTILINE)
    assert ci.index("\nmake test\n") < ci.index("\nmake test-container")
    assert "pytest.mark.container" in (ROOT / "tests" / "test_container.py").read_text()


# ---------------------------------------------------------------------------------------------
# compose.yml: fabricscope and Telegraf


def test_fabricscope_service_publishes_what_the_image_exposes_and_serve_binds() -> None:
    service = _load_yaml(COMPOSE)["services"]["fabricscope"]
    defaults = Settings()
    published = {p.split(":", 1)[1] for p in service["ports"]}
    assert published == {f"{defaults.sflow_bind.port}/udp", str(defaults.http_bind.port)}
    exposed = re.findall(r"^EXPOSE\s+(.+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert len(exposed) == 1
    assert set(exposed[0].split()) == published
    assert service["build"] == "."
    assert service["image"]
    assert service["restart"] == "unless-stopped"
    # The documented topology mount: a directory holding topology.json at the image's path.
    assert f":{Path(IMAGE_TOPOLOGY).parent}:ro" in COMPOSE.read_text()


def test_telegraf_config_parses_with_the_expected_plugins() -> None:
    compose = _load_yaml(COMPOSE)
    telegraf = compose["services"]["telegraf"]
    assert telegraf["image"].startswith("telegraf:")
    assert _service_config_target(telegraf, "telegraf_conf") == "/etc/telegraf/telegraf.conf"
    config = tomllib.loads(_config_content(compose, "telegraf_conf"))

    (prometheus,) = config["inputs"]["prometheus"]
    assert prometheus["urls"] == [f"http://fabricscope:8008{REFERENCE_PROMETHEUS_PATH}"]
    assert prometheus["metric_version"] == 1

    (influx,) = config["outputs"]["influxdb_v2"]
    # Telegraf substitutes these from its environment when it loads the file.
    assert influx["urls"] == ["${INFLUX_URL}"]
    assert influx["token"] == "${INFLUX_TOKEN}"
    assert influx["organization"] == "${INFLUX_ORG}"
    assert influx["bucket"] == "${INFLUX_BUCKET}"
    # ... and compose hands each to the container from .env.
    for name in ("INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_BUCKET"):
        assert _compose_variables(str(telegraf["environment"][name])) == {name}


def test_compose_variables_are_all_in_env_example_without_secrets() -> None:
    example = _env_example()
    for path in (COMPOSE, COMPOSE_LOCAL):
        used = set().union(*map(_compose_variables, _strings(_load_yaml(path))))
        assert used, f"{path.name}: no variables found (the scan is broken)"
        missing = used - set(example)
        assert not missing, f"{path.name} reads {sorted(missing)}, not in .env.example"
    for name in ("INFLUX_TOKEN", "INFLUX_URL", "GRAFANA_ADMIN_PASSWORD", "FABRICSCOPE_API_TOKEN"):
        assert example[name] == "", f".env.example sets {name}"
    ignored = _run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env is not git-ignored"


def test_compose_defaults_are_never_empty_and_pass_through_names_are_documented() -> None:
    """podman-compose 1.0 leaves ``${VAR:-}`` (an empty default) as literal text, so an optional
    setting is written as a pass-through entry (no value) instead, and .env.example names it."""
    example = _env_example()
    for path in (COMPOSE, COMPOSE_LOCAL):
        text = path.read_text()
        empty = re.findall(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-\}", text)
        assert not empty, f"{path.name}: empty default {empty[0]}"
    environment = _load_yaml(COMPOSE)["services"]["fabricscope"]["environment"]
    passed = [name for name, value in environment.items() if value is None]
    assert {"FABRICSCOPE_API_TOKEN", "FABRICSCOPE_ALLOWED_AGENTS"} <= set(passed)
    assert set(passed) <= set(example), "a pass-through name is missing from .env.example"


# ---------------------------------------------------------------------------------------------
# compose.local.yml: Prometheus and Grafana


def _prometheus_config(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    compose = _load_yaml(COMPOSE_LOCAL)
    content = _config_content(compose, "prometheus_yml")
    path = tmp_path / "prometheus.yml"
    path.write_text(content)
    # the rule files it names sit beside it in the container, as the compose configs put them
    for name in yaml.safe_load(content).get("rule_files", []):
        (tmp_path / name).write_text((ROOT / "dashboards" / "prometheus" / name).read_text())
    return path, yaml.safe_load(content)


def test_local_override_runs_prometheus_and_grafana_instead_of_telegraf(tmp_path: Path) -> None:
    services = _load_yaml(COMPOSE_LOCAL)["services"]
    base = _load_yaml(COMPOSE)["services"]
    assert "profiles" not in base["telegraf"]
    assert services["telegraf"]["profiles"], "the override must park Telegraf behind a profile"
    assert {"prometheus", "grafana"} <= set(services)
    config_path, _ = _prometheus_config(tmp_path)
    target = _service_config_target(services["prometheus"], "prometheus_yml")
    assert f"--config.file={target}" in services["prometheus"]["command"]
    assert config_path.exists()


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    tool = _tool("promtool")
    path, _ = _prometheus_config(tmp_path)
    result = _run([tool, "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = yaml.safe_load((ROOT / "dashboards" / "prometheus" / "alerts.yml").read_text())
    rules = sum(len(group["rules"]) for group in alerts["groups"])
    assert f"SUCCESS: {rules} rules found" in result.stdout + result.stderr  # alerts.yml loaded


def test_local_override_mounts_the_alert_rules_where_prometheus_reads_them() -> None:
    compose = _load_yaml(COMPOSE_LOCAL)
    target = _service_config_target(compose["services"]["prometheus"], "prometheus_alerts")
    rules = yaml.safe_load(_config_content(compose, "prometheus_yml"))["rule_files"]
    config = _service_config_target(compose["services"]["prometheus"], "prometheus_yml")
    assert [str(Path(config).parent / r) for r in rules] == [target]
    assert compose["configs"]["prometheus_alerts"]["file"] == "./dashboards/prometheus/alerts.yml"


def test_grafana_provisions_the_prometheus_source_and_the_dashboard() -> None:
    compose = _load_yaml(COMPOSE_LOCAL)
    grafana = compose["services"]["grafana"]
    (source,) = yaml.safe_load(_config_content(compose, "grafana_datasource"))["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose["services"]["prometheus"]["ports"]
    (provider,) = yaml.safe_load(_config_content(compose, "grafana_dashboards"))["providers"]
    dashboard_target = _service_config_target(grafana, "grafana_ai_metrics_dashboard")
    assert Path(dashboard_target).parent == Path(provider["options"]["path"])
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == dashboard_target
    dashboard_file = ROOT / compose["configs"]["grafana_ai_metrics_dashboard"]["file"]
    assert dashboard_file == ROOT / "dashboards" / "grafana" / "ai_metrics.json"
    dashboard = json.loads(dashboard_file.read_text())
    # Provisioned dashboards get no import prompt: every data source they name must be ours.
    uids = {
        ref["uid"]
        for ref in _datasource_refs(dashboard)
        if isinstance(ref, dict) and not str(ref.get("uid", "")).startswith("$")
    }
    assert uids <= {source["uid"]}, f"dashboard names data sources {uids - {source['uid']}}"
    if not uids:  # panels without a data source use the default one
        assert source["isDefault"] is True


def _datasource_refs(node: object) -> Iterator[object]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


# ---------------------------------------------------------------------------------------------
# What Telegraf and Prometheus scrape, from a real collector


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    topology = tmp_path_factory.mktemp("topology") / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))
    process = start_serve(topology, 1)
    try:
        yield process
    finally:
        process.stop()


def _get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def _scrape_until(port: int, path: str, sample: str, timeout: float = 15.0) -> str:
    """GET ``path`` until a line starts with ``sample`` (the first tick may not have run)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = _get(port, path)
        assert status == 200
        if any(line.startswith(sample) for line in body.splitlines()):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: no {sample} within {timeout} s:\n{body[:2000]}")
        time.sleep(0.3)


def test_telegraf_url_is_served(served: Served) -> None:
    compose = _load_yaml(COMPOSE)
    config = tomllib.loads(_config_content(compose, "telegraf_conf"))
    (url,) = config["inputs"]["prometheus"][0]["urls"]
    host, _, path = url.removeprefix("http://").partition("/")
    assert host == f"fabricscope:{Settings().http_bind.port}"
    assert "fabricscope" in compose["services"]
    body = _scrape_until(served.http_port, "/" + path, "sflow_ai_bps ")
    assert "# TYPE" not in body  # untyped samples: Telegraf v1 writes them as field `value`


def test_prometheus_scrape_paths_are_served(served: Served, tmp_path: Path) -> None:
    _, config = _prometheus_config(tmp_path)
    jobs = config["scrape_configs"]
    assert {job.get("metrics_path", "/metrics") for job in jobs} == {
        "/metrics",
        REFERENCE_PROMETHEUS_PATH,
    }
    expected_sample = {"/metrics": "fabricscope_", REFERENCE_PROMETHEUS_PATH: "sflow_ai_bps "}
    for job in jobs:
        path = job.get("metrics_path", "/metrics")
        (static,) = job["static_configs"]
        assert static["targets"] == [f"fabricscope:{Settings().http_bind.port}"]
        _scrape_until(served.http_port, path, expected_sample[path])


def test_local_prometheus_config_scrapes_a_real_collector(served: Served, tmp_path: Path) -> None:
    """The override's Prometheus config in a real Prometheus, its targets pointed at a real
    serve: every job is up and its series are there."""
    binary = _tool("prometheus")
    _, config = _prometheus_config(tmp_path)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s")
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{served.http_port}"]}]
    config_path = tmp_path / "prometheus-local.yml"
    config_path.write_text(yaml.safe_dump(config))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    wanted = {
        "up": {job: 1.0 for job in jobs},
        "sflow_ai_bps": {"sflow-rt-ai-metrics": 0.0},
        "fabricscope_workers": {"fabricscope": 1.0},
    }
    seen: dict[str, dict[str, float]] = {}
    try:
        deadline = time.monotonic() + 40.0
        while seen != wanted and time.monotonic() < deadline:
            time.sleep(0.5)
            for expr in wanted:
                try:
                    seen[expr] = _prometheus_query(port, expr)
                except OSError:
                    break  # Prometheus still starting
    finally:
        prometheus.kill()  # a throwaway server on a temporary directory: nothing to flush
        prometheus.wait(timeout=20)
    assert seen == wanted


def _prometheus_query(port: int, expr: str) -> dict[str, float]:
    """An instant query's values keyed by job."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    return {r["metric"]["job"]: float(r["value"][1]) for r in body["data"]["result"]}


# ---------------------------------------------------------------------------------------------
# Health check


def _healthcheck(bind: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run the health check against ``bind``, without this shell's FABRICSCOPE_* or proxy
    variables (only those in ``extra_env``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FABRICSCOPE_") and "proxy" not in k.lower()
    }
    env.update(FABRICSCOPE_HTTP_BIND=bind, **extra_env)
    return _run([sys.executable, str(HEALTHCHECK)], env=env)


def test_healthcheck_passes_on_a_live_collector_and_fails_without_one(served: Served) -> None:
    assert _healthcheck(f"127.0.0.1:{served.http_port}").returncode == 0
    assert _healthcheck(f"0.0.0.0:{served.http_port}").returncode == 0  # probes 127.0.0.1
    # A port nobody listens on: the serve's own UDP port number, over TCP.
    failed = _healthcheck(f"127.0.0.1:{served.sflow_port}")
    assert failed.returncode == 1
    assert f"http://127.0.0.1:{served.sflow_port}/healthz" in failed.stderr


def test_healthcheck_passes_against_a_healthy_server(served: Served) -> None:
    done = _healthcheck(f"127.0.0.1:{served.http_port}")
    assert done.returncode == 0, done.stderr


def test_healthcheck_ignores_proxy_variables(served: Served) -> None:
    """An image run behind a corporate proxy (HTTP_PROXY set, no NO_PROXY) still probes the
    collector on loopback, not the proxy: here a proxy address where nothing listens."""
    dead = "http://127.0.0.1:9"  # discard port: nothing listens there
    done = _healthcheck(f"127.0.0.1:{served.http_port}", http_proxy=dead, HTTP_PROXY=dead)
    assert done.returncode == 0, done.stderr


def test_image_healthcheck_runs_the_copied_script() -> None:
    text = DOCKERFILE.read_text()
    copied = dict(
        (src, dst) for src, dst in re.findall(r"^COPY\s+(docker/\S+)\s+(\S+)$", text, re.MULTILINE)
    )
    (command,) = re.findall(r'^\s+CMD \["python", "([^"]+)"\]$', text, re.MULTILINE)
    assert copied["docker/healthcheck.py"] == command


# ---------------------------------------------------------------------------------------------
# Entry point


@dataclass
class EntryRun:
    """One run of the entry point with a stand-in ``fabricscope``."""

    returncode: int
    stderr: str
    argv: list[str] | None  # what the stand-in received, None when it never ran
    exec_replaced_shell: bool


def _run_entrypoint(tmp_path: Path, *args: str, script: Path = ENTRYPOINT, **env: str) -> EntryRun:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    record = tmp_path / "argv.json"
    record.unlink(missing_ok=True)
    stand_in = bin_dir / "fabricscope"
    # Records its pid and arguments; the pid equals the shell's when the script used `exec`.
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps([os.getpid(), sys.argv[1:]]))\n"
    )
    stand_in.chmod(0o755)
    shell = shutil.which("dash") or "sh"  # Debian's /bin/sh; POSIX only
    process = subprocess.Popen(
        [shell, str(script), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = process.communicate(timeout=TOOL_TIMEOUT)
    if not record.exists():
        return EntryRun(process.returncode, stderr, None, False)
    pid, argv = json.loads(record.read_text())
    return EntryRun(process.returncode, stderr, argv, pid == process.pid)


def _parsed(argv: list[str]) -> Any:
    """The real CLI's reading of the command line the entry point built."""
    return build_parser().parse_args(argv)


def test_entrypoint_runs_the_demo_on_all_addresses_without_a_topology(tmp_path: Path) -> None:
    if Path(IMAGE_TOPOLOGY).exists():
        pytest.skip(f"{IMAGE_TOPOLOGY} exists on this machine")
    run = _run_entrypoint(tmp_path)
    assert run.returncode == 0
    assert run.argv is not None and run.argv[0] == "demo"
    assert run.exec_replaced_shell
    assert _parsed(run.argv).http_host == "0.0.0.0"
    assert _parsed(run.argv).http_port == 8008
    assert "demo" in run.stderr and IMAGE_TOPOLOGY in run.stderr
    # the demo answers where the health check looks: FABRICSCOPE_HTTP_BIND's port
    moved = _run_entrypoint(tmp_path, FABRICSCOPE_HTTP_BIND="0.0.0.0:9100")
    assert moved.argv is not None and _parsed(moved.argv).http_port == 9100


def test_entrypoint_serves_the_mounted_topology(tmp_path: Path) -> None:
    # The script with its image path pointed at a file here: the branch the image takes when
    # a topology is mounted at /etc/fabricscope/topology.json.
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))
    text = ENTRYPOINT.read_text()
    assignment = f"default_topology={IMAGE_TOPOLOGY}\n"
    assert text.count(assignment) == 1
    script = tmp_path / "entrypoint.sh"
    script.write_text(text.replace(assignment, f"default_topology={topology}\n"))
    run = _run_entrypoint(tmp_path, script=script)
    assert run.returncode == 0
    assert run.argv is not None and run.exec_replaced_shell
    args = _parsed(run.argv)
    assert (run.argv[0], Path(args.topology)) == ("serve", topology)
    assert f"mkdir -p {Path(IMAGE_TOPOLOGY).parent}" in DOCKERFILE.read_text()


def test_entrypoint_serves_a_topology_named_in_the_environment(tmp_path: Path) -> None:
    topology = tmp_path / "fabric.json"
    topology.write_text(json.dumps(TOPOLOGY))
    run = _run_entrypoint(tmp_path, FABRICSCOPE_TOPOLOGY=str(topology))
    assert run.returncode == 0
    assert run.argv == ["serve"]  # serve reads FABRICSCOPE_TOPOLOGY itself
    assert run.exec_replaced_shell
    _parsed(run.argv)


def test_entrypoint_refuses_a_missing_topology_named_in_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    run = _run_entrypoint(tmp_path, FABRICSCOPE_TOPOLOGY=str(missing))
    assert run.returncode == 1
    assert run.argv is None
    assert run.stderr.strip() == (
        f"fabricscope: error: FABRICSCOPE_TOPOLOGY={missing}: no such file"
    )


def test_entrypoint_passes_arguments_through(tmp_path: Path) -> None:
    run = _run_entrypoint(tmp_path, "decode", "--summary", "a file.pcap")
    assert run.returncode == 0
    assert run.argv == ["decode", "--summary", "a file.pcap"]
    assert run.exec_replaced_shell


def test_entrypoint_is_the_image_entrypoint_and_executable() -> None:
    text = DOCKERFILE.read_text()
    (entry,) = re.findall(r'^ENTRYPOINT \["([^"]+)"\]$', text, re.MULTILINE)
    assert re.search(rf"^COPY docker/entrypoint\.sh {re.escape(entry)}$", text, re.MULTILINE)
    assert os.access(ENTRYPOINT, os.X_OK)
    mode = _run(["git", "ls-files", "-s", "docker/entrypoint.sh"], cwd=ROOT).stdout.split()
    assert not mode or mode[0] == "100755", "docker/entrypoint.sh is not executable in git"


# ---------------------------------------------------------------------------------------------
# The image build: context, COPY lines, the install


@dataclass
class Stage:
    """One FROM … stage of the Dockerfile."""

    name: str
    workdir: str = "/"
    copies: list[tuple[list[str], str, bool]] = field(default_factory=list)  # (srcs, dest, --from)
    runs: list[str] = field(default_factory=list)
    user: str | None = None


def _dockerfile_stages() -> list[Stage]:
    """The stages, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        pending += raw.rstrip().removesuffix("\\")
        if not raw.rstrip().endswith("\\"):
            if pending.strip():
                logical.append(" ".join(pending.split()))
            pending = ""
    stages: list[Stage] = []
    for line in logical:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name))
        elif stages and word == "WORKDIR":
            stages[-1].workdir = rest
        elif stages and word == "COPY":
            tokens = shlex.split(rest)
            from_stage = any(t.startswith("--from=") for t in tokens)
            paths = [t for t in tokens if not t.startswith("--")]
            stages[-1].copies.append((paths[:-1], paths[-1], from_stage))
        elif stages and word == "RUN":
            stages[-1].runs.append(rest)
        elif stages and word == "USER":
            stages[-1].user = rest
    return stages


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: ``*`` and ``?`` within a path element, ``**`` across elements."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _in_build_context(paths: set[str]) -> set[str]:
    """The paths .dockerignore lets into the build context: the last rule that matches the path
    or one of its parent directories decides, ``!`` rules let it in (Docker's semantics)."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            rules.append((negated, _dockerignore_regex(pattern)))
    kept: set[str] = set()
    for path in paths:
        parts = path.split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        excluded = False
        for negated, regex in rules:
            if any(regex.match(prefix) for prefix in prefixes):
                excluded = not negated
        if not excluded:
            kept.add(path)
    return kept


def _tracked_files() -> set[str]:
    result = _run(["git", "ls-files", "-z"], cwd=ROOT)
    if result.returncode != 0:
        pytest.skip("not a git checkout (git ls-files failed)")
    return {p for p in result.stdout.split("\0") if p and (ROOT / p).is_file()}


def _files_on_disk(top: str) -> set[str]:
    found: set[str] = set()
    for directory, _, names in os.walk(ROOT / top):
        found.update(str((Path(directory) / n).relative_to(ROOT)) for n in names)
    return found


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _module_tables() -> dict[str, list[tuple[str, str]]]:
    """setup.py's MODULES (Cython) and C_MODULES tables of (module, source), read, not run."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    tables = {
        t.id: list(ast.literal_eval(node.value))
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id in ("MODULES", "C_MODULES")
    }
    assert set(tables) == {"MODULES", "C_MODULES"}, "setup.py lacks a module table"
    return tables


def _compiled_modules() -> set[str]:
    """Every compiled module setup.py builds."""
    return {module for table in _module_tables().values() for module, _ in table}


def _assemble(stage: Stage, context: set[str], into: Path) -> None:
    """Carry out the stage's COPY lines from the build context (files only, as COPY does)."""
    for sources, dest, from_stage in stage.copies:
        if from_stage:
            continue
        base = into / stage.workdir.lstrip("/") / dest.removeprefix("./").rstrip("/")
        for source in sources:
            source = source.rstrip("/")
            if source in context:
                target = base / Path(source).name if dest.endswith("/") else base
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / source, target)
                continue
            members = [p for p in context if p.startswith(source + "/")]
            assert members, f"COPY {source}: nothing in the build context"
            for path in members:
                target = base / Path(path).relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / path, target)


def test_build_context_carries_every_package_file_and_no_build_products() -> None:
    tracked = _tracked_files()
    packages = _pyproject()["tool"]["setuptools"]["packages"]
    needed = {"pyproject.toml", "setup.py", _pyproject()["project"]["readme"]}
    needed |= {p for p in tracked if p.split("/")[0] in {*packages, "docker"}}
    context = _in_build_context(tracked)
    assert not needed - context, f"left out of the build context: {sorted(needed - context)}"
    assert "tests/test_packaging.py" not in context  # the allowlist really leaves things out
    on_disk = set().union(*(_files_on_disk(p) for p in packages))
    # what an install writes beside the sources (a hand-written C source is tracked)
    products = {p for p in on_disk if p.endswith((".so", ".c", ".pyc")) and p not in tracked}
    assert not products & _in_build_context(on_disk), "build products in the build context"


def test_pyproject_installs_every_package_and_data_file() -> None:
    """What a non-editable install (the image's) gets: every package directory of the tree and
    every non-Python file, through pyproject's package list and package-data globs."""
    setuptools = _pyproject()["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    tops = {p.split(".")[0] for p in packages}
    data = setuptools.get("package-data", {})
    c_sources = {source for _, source in _module_tables()["C_MODULES"]}  # build input only
    for path in _tracked_files():
        parts = path.split("/")
        if parts[0] not in tops or len(parts) < 2 or path in c_sources:
            continue
        if parts[-1] == "__init__.py":
            package = ".".join(parts[:-1])
            assert package in packages, f"{package} is not in pyproject's packages"
        elif not path.endswith(".py"):
            relative = "/".join(parts[1:])
            globs = data.get(parts[0], [])
            assert any(fnmatch.fnmatchcase(relative, g) for g in globs), (
                f"{path} is not in pyproject's package-data"
            )


def test_builder_installs_the_package_from_its_copied_sources(tmp_path: Path) -> None:
    builder, runtime = _dockerfile_stages()
    packages = _pyproject()["tool"]["setuptools"]["packages"]
    tree = tmp_path / "image"
    _assemble(builder, _in_build_context(_tracked_files()), tree)
    src = tree / builder.workdir.lstrip("/")
    # Everything `pip install` reads: the metadata, the readme it names, every package file.
    for name in ("pyproject.toml", "setup.py", _pyproject()["project"]["readme"]):
        assert (src / name).is_file(), f"{name} is not copied into {builder.workdir}"
    for path in _tracked_files():
        if path.split("/")[0] in packages:
            assert (src / path).is_file(), f"{path} is not copied into the builder"

    # The install: the copied directory itself, and a failed compile fails the build.
    (install,) = [r for r in builder.runs if "pip install" in r]
    flags = r"(?: --[\w-]+)*"
    assert re.search(
        rf"pip install{flags} --no-cache-dir{flags} {re.escape(builder.workdir)}(\s|$)", install
    )
    imported = set(re.findall(r"import ([\w.]+(?:, [\w.]+)*)", install)[0].split(", "))
    assert imported == _compiled_modules()
    # ... checked from outside the source tree, which would shadow the installed package (and
    # its compiled modules) on sys.path (issue 15; tests/test_container.py runs the build).
    check = install.index('python -c "import')
    moves = re.findall(r"\bcd (\S+)", install[:check])
    assert moves and not moves[-1].startswith(builder.workdir), "the import check runs in /src"

    # The copied tree imports on its own (plain Python: compiling is the image's job).
    program = (
        "import pkgutil, importlib, sys\n"
        f"tops = {packages!r}\n"
        "names = list(tops)\n"
        "for top in tops:\n"
        "    m = importlib.import_module(top)\n"
        "    names += [n for _, n, _ in pkgutil.walk_packages(m.__path__, top + '.')\n"
        "              if not n.endswith('__main__') and not n.endswith('_c')]\n"
        "for n in names:\n"
        "    f = importlib.import_module(n).__file__ or ''\n"
        "    assert f.startswith(sys.argv[1]), (n, f)\n"
        "print(len(names))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(src), "FABRICSCOPE_PURE": "1"}
    result = _run([sys.executable, "-c", program, str(src)], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > len(packages)

    # The runtime stage: only the virtualenv from the builder, run by an unprivileged user.
    venvs = [dest for _, dest, from_stage in runtime.copies if from_stage]
    assert venvs == ["/opt/fabricscope"]
    assert f"python -m venv {venvs[0]}" in " ".join(builder.runs)
    assert runtime.user is not None
    assert runtime.user.split(":")[0].isdigit() and runtime.user.split(":")[0] != "0"


# ---------------------------------------------------------------------------------------------
# The user docs name only series and command lines that exist

USER_DOCS = ("getting-started.md", "switches.md", "tuning.md", "troubleshooting.md")


def _doc_command_lines(text: str) -> Iterator[str]:
    """Every ``fabricscope SUBCOMMAND …`` command line of a doc: code-block lines, and inline code
    with a flag in it (inline code without one only names a sub-command)."""
    snippets = [s for s in re.findall(r"`(fabricscope [^`]+)`", text) if " -" in s]
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL):
        snippets += [line for line in block.splitlines() if "fabricscope " in line]
    for snippet in snippets:
        found = re.search(
            r"(?:^|[|;&]\s*|\s)(fabricscope\s+[a-z].*)$", re.split(r"#|\s[<>]", snippet)[0]
        )
        if found:
            yield found.group(1).strip()


@pytest.mark.parametrize("name", USER_DOCS)
def test_user_doc_names_existing_series_and_commands(name: str) -> None:
    from collector.families import FAMILIES, PREFIX

    text = (ROOT / "docs" / name).read_text()
    known = {f.name for f in FAMILIES}
    for series in set(re.findall(r"\bfabricscope_[a-z0-9_]+", text)):
        base = series.removeprefix(PREFIX).removesuffix("_total")
        prefix_of_one = any(k.startswith(base + "_") for k in known)  # e.g. in a grep pattern
        assert base in known or base.removesuffix("_per_second") in known or prefix_of_one, (
            f"{name}: {series}"
        )
    for command in _doc_command_lines(text):
        argv = shlex.split(command)[1:]
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:  # --help exits 0; a bad flag or value exits 2
            if exc.code != 0:
                raise AssertionError(f"{name}: `{command}` does not parse") from exc
