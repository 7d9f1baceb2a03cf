"""The dashboards read only what we export.

A real ``fabricscope serve`` fed by ``fabricscope simulate`` (a small oversubscribed fabric, so that
congestion, drops and every AI-metrics family have series) is scraped on ``/metrics`` and on the
sFlow-RT compatible path. The InfluxDB template's Flux queries are checked against the points
Telegraf's ``metric_version = 1`` makes of those scrapes (``collector.influx.telegraf_v1``); the
Grafana dashboard's PromQL against the scraped series and labels, and evaluated by a real Prometheus
that scraped both faces meanwhile (each expression over families with series must return data). Both
checkers are shown to catch a query naming something we do not export."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from collector.families import FAMILIES
from collector.http.ai_metrics import AI_METRICS_BASE
from collector.influx.telegraf_v1 import Point, points_from_exposition
from simulator.fabric import FabricSpec, build_fabric, topology_json
from tests.e2e_support import ROOT, simulate, start_serve, terminate
from topology.index import ROLES

# The module-scoped fixture (a collector, a browser or a long simulation) is set up once only if
# the module's tests stay on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("dashboards")

INFLUX_TEMPLATE = ROOT / "dashboards" / "influxdb" / "ai_metrics.json"
GRAFANA_DASHBOARD = ROOT / "dashboards" / "grafana" / "ai_metrics.json"
ALERT_RULES = ROOT / "dashboards" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "dashboards" / "prometheus" / "alerts_test.yml"
COMPAT_PATH = f"{AI_METRICS_BASE}/prometheus/txt"
# The reference's twelve charts, in its order (three rows of four).
TITLES = [
    "Total Traffic", "Operations", "Core Link Traffic", "Edge Link Traffic",
    "RDMA Operations", "RDMA Bytes", "Credits", "Period",
    "Congestion", "Errors", "Discards", "Drop Reasons",
]  # fmt: skip
# One leaf uplink for four 400G hosts per leaf: the ring crosses it, so ECN and CNP appear.
SPEC = FabricSpec(leaves=2, spines=1, hosts_per_leaf=4, uplinks_per_leaf=1)
SIM = [
    "--leaves", "2", "--spines", "1", "--hosts-per-leaf", "4", "--uplinks-per-leaf", "1",
    "--seed", "5", "--duration", "4", "--sampling-rate", "20000", "--polling-interval", "1",
    "--rate-scale", "2", "--max-rate", "3000",
    "--drop-rate", "acl=6", "--drop-rate", "netfilter=4", "--drop-limit", "1000",
]  # fmt: skip
# Columns every Flux table has besides the tags.
FLUX_COLUMNS = {"_measurement", "_field", "_value", "_time", "_start", "_stop"}


@dataclass(frozen=True)
class Scrapes:
    """One scrape of each face, as text, and a Prometheus that scraped both meanwhile."""

    native: str
    compat: str
    scraped_at: float  # Unix time just after the two scrapes
    prometheus_port: int | None  # None: Prometheus not installed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return str(r.read().decode())


def _start_prometheus(directory: Path, http_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """A Prometheus scraping both faces twice a second (as compose.local.yml does, faster)."""
    port = _free_port()
    config = directory / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "500ms", "scrape_timeout": "500ms"},
                "scrape_configs": [
                    {"job_name": job, "metrics_path": path,
                     "static_configs": [{"targets": [f"127.0.0.1:{http_port}"]}]}
                    for job, path in (("fabricscope", "/metrics"),
                                      ("sflow-rt-ai-metrics", COMPAT_PATH))
                ],
            }
        )
    )  # fmt: skip
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Ready, and both targets scraped (Prometheus applies new targets on a 5 s tick).
    up = f"http://127.0.0.1:{port}/api/v1/query?query=up"
    deadline = time.monotonic() + 30
    while True:
        try:
            if len(json.loads(_get(up))["data"]["result"]) == 2:
                return process, port
        except OSError:
            pass  # not listening yet
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError("prometheus did not scrape both targets within 30 s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def scrapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrapes]:
    directory = tmp_path_factory.mktemp("dash")
    topology = directory / "topology.json"
    topology.write_text(json.dumps(topology_json(build_fabric(SPEC))))
    # trimmed packets: the simulator marks RoCEv2 with DSCP 26, so that family gets series too
    served = start_serve(topology, 1, "--trim-dscp", "26")
    prometheus: subprocess.Popen[bytes] | None = None
    prometheus_port = None
    try:
        if shutil.which("prometheus"):
            prometheus, prometheus_port = _start_prometheus(directory, served.http_port)
        simulate(["--collector", f"127.0.0.1:{served.sflow_port}", *SIM])
        time.sleep(0.5)  # a few ticks: the compatible points are rebuilt once per tick
        base = f"http://127.0.0.1:{served.http_port}"
        native, compat = _get(f"{base}/metrics"), _get(f"{base}{COMPAT_PATH}")
        yield Scrapes(native, compat, time.time(), prometheus_port)
    finally:
        if prometheus is not None:
            terminate(prometheus)
        served.stop()


@pytest.fixture(scope="module")
def points(scrapes: Scrapes) -> list[Point]:
    """What Telegraf (metric_version 1, default url tag, omit_hostname) writes for both faces."""
    return points_from_exposition(
        scrapes.compat, url=f"http://fabricscope:8008{COMPAT_PATH}"
    ) + points_from_exposition(scrapes.native, url="http://fabricscope:8008/metrics")


# -- the InfluxDB side ------------------------------------------------------------------------


def _template() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(INFLUX_TEMPLATE.read_text())
    return loaded


def _charts() -> list[dict[str, Any]]:
    [dashboard] = [o for o in _template() if o["kind"] == "Dashboard"]
    charts: list[dict[str, Any]] = dashboard["spec"]["charts"]
    return charts


def _quoted(text: str) -> list[str]:
    return re.findall(r'"([^"]*)"', text)


_TAG_REF = r'r\.([A-Za-z_][A-Za-z0-9_]*)|r\["([^"]+)"\]'


def flux_reads(query: str) -> dict[str, set[str]]:
    """Measurements, fields and tags a Flux query filters or groups on."""
    measurements = set(re.findall(r'r\._measurement\s*==\s*"([^"]+)"', query))
    fields = set(re.findall(r'r\._field\s*==\s*"([^"]+)"', query))
    tags: set[str] = set()
    for dot, bracket in re.findall(rf'(?:{_TAG_REF})\s*(?:==|!=)\s*"', query):
        tags.add(dot or bracket)
    for dot, bracket in re.findall(rf"exists\s+(?:{_TAG_REF})", query):
        tags.add(dot or bracket)
    for columns in re.findall(r"group\(\s*columns:\s*\[([^\]]*)\]", query):
        tags.update(_quoted(columns))
    tags -= FLUX_COLUMNS
    return {"measurements": measurements, "fields": fields, "tags": tags}


def flux_problems(query: str, points: list[Point]) -> list[str]:
    """Why a Flux query would read nothing from ``points`` (empty: it reads what exists)."""
    reads = flux_reads(query)
    problems = []
    for variable in ("v.bucket", "v.timeRangeStart", "v.timeRangeStop"):
        if variable not in query:
            problems.append(f"does not use {variable}")
    if re.search(r"r\._(measurement|field)\s*(!=|=~|!~)", query):
        problems.append(
            "filters _measurement or _field other than by ==, which this check cannot follow"
        )
    if not reads["measurements"] or not reads["fields"]:
        problems.append("does not name a _measurement and a _field")
    by_measurement: dict[str, list[Point]] = defaultdict(list)
    for p in points:
        by_measurement[p.measurement].append(p)
    for m in sorted(reads["measurements"]):
        if m not in by_measurement:
            problems.append(f"measurement {m} is not written")
            continue
        for f in sorted(reads["fields"]):
            if not any(f in p.fields for p in by_measurement[m]):
                problems.append(f"measurement {m} has no field {f}")
        for t in sorted(reads["tags"]):
            if not any(t in p.tags for p in by_measurement[m]):
                problems.append(f"measurement {m} has no tag {t}")
    return problems


def test_influx_template_is_a_v2_template_with_the_twelve_panels() -> None:
    template = _template()
    assert {o["apiVersion"] for o in template} == {"influxdata.com/v2alpha1"}
    assert all(o["metadata"]["name"] and "spec" in o for o in template)
    [bucket] = [o for o in template if o["kind"] == "Variable"]
    assert bucket["spec"]["name"] == "bucket"  # what v.bucket refers to
    charts = _charts()
    assert [c["name"] for c in charts] == TITLES
    cells: set[tuple[int, int]] = set()
    for chart in charts:
        # what InfluxDB's template parser requires of an XY chart
        assert chart["kind"] == "Xy" and chart["queries"], chart["name"]
        assert chart["geom"] in {"line", "step", "stacked", "monotoneX", "bar"}
        assert chart["position"] in {"overlaid", "stacked"}
        assert {a["name"] for a in chart["axes"]} >= {"x", "y"}
        assert chart["colors"] and all(
            re.fullmatch(r"#[0-9A-F]{6}", c["hex"]) for c in chart["colors"]
        )
        assert chart["width"] > 0 and chart["height"] > 0
        assert chart["xPos"] + chart["width"] <= 12  # the InfluxDB grid is 12 wide
        cells.update(
            (x, y)
            for x in range(chart["xPos"], chart["xPos"] + chart["width"])
            for y in range(chart["yPos"], chart["yPos"] + chart["height"])
        )
    assert len(cells) == sum(c["width"] * c["height"] for c in charts)  # no two overlap


def test_every_flux_query_reads_points_telegraf_writes(points: list[Point]) -> None:
    problems = [
        f"{chart['name']}: {problem}"
        for chart in _charts()
        for query in chart["queries"]
        for problem in flux_problems(query["query"], points)
    ]
    assert problems == [], "\n".join(problems)


def test_influx_panels_cover_every_compatible_series(scrapes: Scrapes) -> None:
    read = set().union(
        *(flux_reads(q["query"])["measurements"] for c in _charts() for q in c["queries"])
    )
    exported = {p.measurement for p in points_from_exposition(scrapes.compat)}
    # the reference's charts leave out trimmed packets; the Grafana extras show them
    assert exported - read == {"sflow_ai_trim_pps"}
    assert read <= exported


def test_flux_checker_catches_what_is_not_written(points: list[Point]) -> None:
    total = _charts()[0]["queries"][0]["query"]
    operations = _charts()[1]["queries"][0]["query"]
    assert flux_problems(total, points) == []
    assert flux_problems(operations, points) == []
    assert flux_problems(total.replace('"sflow_ai_bps"', '"sflow_ai_bits"'), points) == [
        "measurement sflow_ai_bits is not written"
    ]
    # with --prometheus-type the field would be gauge; our default scrape has value
    assert flux_problems(total.replace('"value"', '"gauge"'), points) == [
        "measurement sflow_ai_bps has no field gauge"
    ]
    assert flux_problems(operations.replace("exists r.name", "exists r.opname"), points) == [
        "measurement sflow_ai_operations has no tag opname"
    ]
    grouped = operations + '\n  |> group(columns: ["url", "op", "_measurement"])'
    assert flux_problems(grouped, points) == ["measurement sflow_ai_operations has no tag op"]
    assert flux_problems(grouped.replace('"op", ', ""), points) == []
    assert (
        flux_problems(
            total.replace('r._measurement == "sflow_ai_bps"', "r._measurement =~ /sflow/"), points
        )[-1]
        == "does not name a _measurement and a _field"
    )


# -- the Grafana side -------------------------------------------------------------------------

_PROMQL_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*")|(?P<range>\[[^\]]*\])|(?P<braces>\{[^}]*\})'
    r"|(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<other>\S)"
)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregation operators may be followed by their by/without clause instead of "(".
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_KEYWORDS = _GROUPING | _AGGREGATIONS | {"bool", "and", "or", "unless", "offset"}
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class Selector:
    """A metric name and its label matchers (name, op, value)."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]


def promql_reads(expr: str) -> tuple[list[Selector], set[str]]:
    """The selectors of a PromQL expression and the labels its by/on/… clauses name."""
    tokens = [(m.lastgroup, m.group()) for m in _PROMQL_TOKEN.finditer(expr)]
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in _GROUPING and following == "(":
            close = next(j for j in range(i + 2, len(tokens)) if tokens[j][1] == ")")
            grouping.update(t for k, t in tokens[i + 2 : close] if k == "ident")
            i = close + 1
            continue
        if kind == "ident" and text not in _KEYWORDS and following != "(":
            matchers: tuple[tuple[str, str, str], ...] = ()
            if following.startswith("{"):
                body = following[1:-1]
                found = list(_MATCHER.finditer(body))
                assert "".join(m.group() for m in found) == body, f"cannot read {following}"
                matchers = tuple((m.group(1), m.group(2), m.group(3)) for m in found)
                i += 1
            selectors.append(Selector(text, matchers))
        i += 1
    return selectors, grouping


Series = dict[str, list[dict[str, str]]]


def exported_series(*texts: str) -> Series:
    """Every sample name of the scrapes with the label sets it has; a family declared by a TYPE
    line without a sample yet (a counter still at zero) is exported too, with no label sets."""
    out: Series = defaultdict(list)
    for text in texts:
        for name, kind in re.findall(r"^# TYPE (\S+) (\w+)$", text, re.M):
            suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
            for suffix in suffixes:
                out.setdefault(name + suffix, [])
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name].append(dict(sample.labels))
    return out


def promql_problems(expr: str, series: Series, legend: str = "") -> list[str]:
    """Why a PromQL expression would select nothing we export (empty: it names what exists)."""
    selectors, grouping = promql_reads(expr)
    problems = [] if selectors else ["names no metric"]
    for s in selectors:
        if s.name not in series:
            problems.append(f"{s.name} is not exported")
            continue
        labelsets = series[s.name]
        for label, op, value in s.matchers:
            if not any(label in ls for ls in labelsets):
                problems.append(f"{s.name} has no label {label}")
            elif op == "=" and not any(ls.get(label) == value for ls in labelsets):
                problems.append(f'{s.name} has no series with {label}="{value}"')
            elif op == "=~" and not any(re.fullmatch(value, ls.get(label, "")) for ls in labelsets):
                problems.append(f'{s.name} has no series with {label}=~"{value}"')
    known = {label for s in selectors for ls in series.get(s.name, []) for label in ls}
    for label in sorted(grouping | set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))):
        if label not in known:
            problems.append(f"no selected series has a label {label}")
    return problems


def _grafana() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(GRAFANA_DASHBOARD.read_text())
    return loaded


def _grafana_panels() -> list[dict[str, Any]]:
    return [p for p in _grafana()["panels"] if p["type"] != "row"]


def test_grafana_dashboard_layout_and_datasource() -> None:
    dashboard = _grafana()
    panels = _grafana_panels()
    assert [p["title"] for p in panels[:12]] == TITLES
    assert len(panels) > 12  # the row of fabricscope extras
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "prometheus"}, p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == "prometheus" for t in p["targets"])
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24


def test_every_promql_expr_names_exported_series(scrapes: Scrapes) -> None:
    series = exported_series(scrapes.native, scrapes.compat)
    problems = [
        f"{p['title']} {t['refId']}: {problem}"
        for p in _grafana_panels()
        for t in p["targets"]
        for problem in promql_problems(t["expr"], series, t.get("legendFormat", ""))
    ]
    assert problems == [], "\n".join(problems)


def test_both_dashboards_chart_the_same_compatible_series() -> None:
    influx = {
        c["name"]: set().union(*(flux_reads(q["query"])["measurements"] for q in c["queries"]))
        for c in _charts()
    }
    grafana = {
        p["title"]: {s.name for t in p["targets"] for s in promql_reads(t["expr"])[0]}
        for p in _grafana_panels()[:12]
    }
    assert grafana == influx


def test_promql_checker_catches_what_is_not_exported(scrapes: Scrapes) -> None:
    series = exported_series(scrapes.native, scrapes.compat)
    ops = 'sum by (operation) (rate(fabricscope_rocev2_operations_total{role="edge"}[5m]))'
    assert promql_problems(ops, series, "{{operation}}") == []
    assert promql_problems("sflow_ai_bits", series) == ["sflow_ai_bits is not exported"]
    assert promql_problems(ops.replace("role=", "port_role="), series) == [
        "fabricscope_rocev2_operations_total has no label port_role"
    ]
    assert promql_problems(ops.replace('"edge"', '"spine"'), series) == [
        'fabricscope_rocev2_operations_total has no series with role="spine"'
    ]
    assert promql_problems(ops.replace("by (operation)", "by (op)"), series) == [
        "no selected series has a label op"
    ]
    assert promql_problems("sflow_ai_drops", series, "{{name}}") == [
        "no selected series has a label name"
    ]
    assert promql_problems("rate(fabricscope_datagrams[1m])", series) == [
        "fabricscope_datagrams is not exported"
    ]


def test_every_promql_expr_parses_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    exprs = [t["expr"] for p in _grafana_panels() for t in p["targets"]]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                # Grafana substitutes $__rate_interval before the query reaches Prometheus
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": e.replace("$__rate_interval", "1m")}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "rules.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_every_promql_expr_returns_data_from_a_real_prometheus(scrapes: Scrapes) -> None:
    if scrapes.prometheus_port is None:
        pytest.skip("prometheus not installed")
    series = exported_series(scrapes.native, scrapes.compat)
    evaluate_at = scrapes.scraped_at + 1.0  # Prometheus has scraped the final state by then
    time.sleep(max(0.0, evaluate_at + 0.5 - time.time()))
    checked, empty = 0, []
    for p in _grafana_panels():
        for t in p["targets"]:
            selectors, _ = promql_reads(t["expr"])
            if not all(series.get(s.name) for s in selectors):
                continue  # a family still without series (a counter at zero): nothing to return
            query = urllib.parse.urlencode(
                {"query": t["expr"].replace("$__rate_interval", "10s"), "time": evaluate_at}
            )
            body = json.loads(
                _get(f"http://127.0.0.1:{scrapes.prometheus_port}/api/v1/query?{query}")
            )
            assert body["status"] == "success", body
            checked += 1
            if not body["data"]["result"]:
                empty.append(f"{p['title']} {t['refId']}: {t['expr']}")
    assert empty == []
    assert checked >= 30  # nearly every expression had series to return


# ---------------------------------------------------------------------------------------------
# Prometheus alerting rules (dashboards/prometheus/alerts.yml)


def _alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERT_RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    check = subprocess.run(
        [promtool, "check", "rules", str(ALERT_RULES)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(_alert_rules())} rules found" in check.stdout
    # the unit tests feed synthetic series with hand-computed outcomes (fire / do not fire)
    tests = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        capture_output=True, text=True, timeout=60, cwd=ALERT_TESTS.parent,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    fired = set(
        re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", ALERT_TESTS.read_text())
    )
    assert {rule["alert"] for rule in _alert_rules()} == tested == fired  # each seen firing


def _declared_labels(metric: str) -> set[str]:
    """The label names families.py declares for a native series (with its suffixes)."""
    base = metric.removeprefix("fabricscope_")
    for suffix in ("_total", "_per_second", "_bucket", "_count", "_sum", ""):
        name = base.removesuffix(suffix) if suffix else base
        family = next((f for f in FAMILIES if f.name == name), None)
        if family is not None:
            return set(family.labels) | ({"le"} if suffix == "_bucket" else set())
    return set()


def test_every_alert_expr_names_exported_series(scrapes: Scrapes) -> None:
    """Every alert reads series the collector exports, with labels it has. A short run cannot
    show every label value, so two gaps are checked against the declaration instead: a label
    of a counter still at zero (no sample yet), and a port role the scrape did not happen to
    carry (edge, core and unmapped always exist)."""
    series = exported_series(scrapes.native, scrapes.compat)
    problems = []
    for rule in _alert_rules():
        for problem in promql_problems(rule["expr"], series):
            label = re.fullmatch(r"no selected series has a label (\w+)", problem)
            declared = {
                lbl for s in promql_reads(rule["expr"])[0] for lbl in _declared_labels(s.name)
            }
            if label and label.group(1) in declared:
                continue
            role = re.fullmatch(r'(\w+) has no series with role="(\w+)"', problem)
            if role and role.group(2) in ROLES and "role" in _declared_labels(role.group(1)):
                continue
            problems.append(f"{rule['alert']}: {problem}")
    assert problems == [], "\n".join(problems)
    grouped = {label for rule in _alert_rules() for label in promql_reads(rule["expr"])[1]}
    assert grouped - {"le"} <= {"reason", "role", "direction"}


def test_alert_checker_catches_what_is_not_exported(scrapes: Scrapes) -> None:
    series = exported_series(scrapes.native, scrapes.compat)
    assert promql_problems("rate(fabricscope_no_such_total[5m]) > 0", series)
    assert promql_problems('fabricscope_links{status="broken"} > 0', series)
    assert _declared_labels("fabricscope_decode_errors_total") == {"reason"}
    assert _declared_labels("fabricscope_port_utilization_ratio_bucket") >= {"role", "le"}
