"""The web UI in a real headless Chromium against a real ``serve`` fed live by ``simulate``.

One collector, one simulation and one browser page for the module. The fabric (2 leaves, 3
spines, 3 hosts per leaf) runs with spine2 unmonitored, leaf1-spine1 down, background drops,
and a foreign agent the test sends itself. Expected values come from the simulator's fabric
tables (hosts behind ports, agents of switches) and from the collector's JSON endpoints read
by the test itself; the page must show the same. Every tab must load without console errors.

Screenshots of every tab are written to a temporary directory, or to
``$FABRICSCOPE_SCREENSHOT_DIR`` (``docs/img`` refreshes the README's pictures; the module then
first waits until the period is detected, so the pictures show a settled fabric).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from decoders.encode import encode_datagram
from decoders.records import CounterSample, Datagram, DataSource, PortName
from simulator.fabric import Fabric, FabricSpec, build_fabric, topology_json
from tests.e2e_support import ROOT, Served, env, start_serve, terminate

# The module-scoped fixture (a collector, a browser or a long simulation) is set up once only if
# the module's tests stay on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("web_ui")

try:
    from playwright.sync_api import Page, ViewportSize, sync_playwright
except ImportError:  # pragma: no cover - the skip below says so
    sync_playwright = None  # type: ignore[assignment]

AI = "/app/ai-metrics/scripts/metrics.js"
SPEC = FabricSpec(leaves=2, spines=3, hosts_per_leaf=3, uplinks_per_leaf=3)
UNMONITORED = "spine2"
DOWN_LINK = "leaf1-spine1"
FOREIGN = "192.0.2.77"
SIM = [
    "--leaves", "2", "--spines", "3", "--hosts-per-leaf", "3", "--uplinks-per-leaf", "3",
    "--seed", "7", "--forever", "--sampling-rate", "20000", "--polling-interval", "1",
    "--fault", f"unmonitored:{UNMONITORED}", "--fault", f"linkdown:{DOWN_LINK}",
    "--drop-rate", "acl=6", "--drop-rate", "netfilter=4", "--drop-limit", "1000",
]  # fmt: skip
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
WAIT_MS = 20_000
# Chromium logs every non-2xx fetch as a console error; the steps that provoke one on purpose
# allow exactly this message.
BAD_REQUEST = "the server responded with a status of 400"

# chart id -> the points names it draws (the top-5 charts draw the object's keys)
CHART_POINTS = {
    "bps": ["bps"],
    "core": [f"core_{q}_bps" for q in ("max", "q3", "med", "q1", "min")],
    "edge": [f"edge_{q}_bps" for q in ("max", "q3", "med", "q1", "min")],
    "rdma_ops": ["rdma_ops"],
    "rdma_bytes": ["rdma_bytes"],
    "credits": ["aeth_credits_max", "aeth_credits_avg", "aeth_credits_min"],
    "period": ["period"],
    "congestion": ["ecn_pps", "cnp_pps", "trim_pps"],
    "errors": ["errors_in", "errors_out"],
    "discards": ["discards_in", "discards_out"],
}
TOP_CHARTS = {"operations": "top-5-operations", "drops": "top-5-drop-reasons"}


@dataclass
class UI:
    """The running collector, its fabric, the browser page and what its console said."""

    served: Served
    fabric: Fabric
    page: Page
    shots: Path
    console_errors: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.served.http_port}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return json.loads(response.read())

    def open(self, tab: str) -> None:
        self.page.goto(f"{self.base}/#{tab}")
        self.page.wait_for_selector(f"#view-{tab}:not([hidden])", timeout=WAIT_MS)

    def wait_for(self, script: str, arg: Any = None) -> Any:
        return self.page.wait_for_function(script, arg=arg, timeout=WAIT_MS).json_value()

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def assert_clean_console(self, allowed: str | None = None) -> None:
        errors = [e for e in self.console_errors if allowed is None or allowed not in e]
        self.console_errors.clear()
        assert errors == [], errors


def _send_foreign_agent(port: int) -> None:
    """Three datagrams from an agent that belongs to no topology node."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in (1, 2, 3):
            sample = CounterSample(False, seq, DataSource(0, 7), (PortName("uplink0"),))
            sock.sendto(
                encode_datagram(Datagram(FOREIGN, 1, 0, seq, 5000 + seq * 1000, (sample,))),
                ("127.0.0.1", port),
            )


def _until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    if sync_playwright is None:
        pytest.skip("playwright not installed")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed")
    work = tmp_path_factory.mktemp("web_ui")
    fabric = build_fabric(SPEC)
    topology = work / "topology.json"
    topology.write_text(json.dumps(topology_json(fabric)))
    shots = Path(os.environ.get("FABRICSCOPE_SCREENSHOT_DIR") or work / "img")
    shots.mkdir(parents=True, exist_ok=True)
    served = start_serve(topology, 1, "--health")
    simulation = subprocess.Popen(
        [sys.executable, "-m", "collector", "simulate", "--quiet",
         "--collector", f"127.0.0.1:{served.sflow_port}", *SIM],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT,
    )  # fmt: skip
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            state = UI(served, fabric, page, shots)
            page.on(
                "console",
                lambda m: state.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: state.console_errors.append(f"pageerror: {e}"))
            _send_foreign_agent(served.sflow_port)
            # traffic seen, a few trend points, drops and every host located
            _until(lambda: state.get(f"{AI}/metric/json")["bps"] > 0, "traffic")
            _until(lambda: len(state.get(f"{AI}/trend/json")["trend"]["times"]) >= 4, "trend")
            _until(lambda: state.get("/drops/json?after=0&limit=5")["events"], "drops")
            if os.environ.get("FABRICSCOPE_SCREENSHOT_DIR"):
                # pictures for the docs: let the period detector settle (about 35 s)
                _until(lambda: state.get(f"{AI}/metric/json")["period"] > 0, "period", 120)
            yield state
            browser.close()
    finally:
        terminate(simulation, timeout=10)
        served.stop()


# ---------------------------------------------------------------------------------------------
# Traffic


def _chart_latest(ui: UI) -> dict[str, Any]:
    """Every chart's latest point as the page holds it: {chart: {name: value}}, plus times."""
    charts: dict[str, Any] = ui.page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#charts figure.chart')].map(
             (f) => [f.dataset.chart, {time: Number(f.dataset.latestTime),
                                      latest: JSON.parse(f.dataset.latest || '{}')}]))"""
    )
    return charts


def _matches(charts: dict[str, Any], points: dict[str, Any]) -> bool:
    for chart, names in CHART_POINTS.items():
        latest = charts[chart]["latest"]
        for name in names:
            if latest.get(name) != pytest.approx(points[name], rel=1e-9, abs=1e-12):
                return False
    for chart, key in TOP_CHARTS.items():
        shown = charts[chart]["latest"]
        if shown.keys() != points[key].keys():
            return False
        if any(shown[k] != pytest.approx(v, rel=1e-9) for k, v in points[key].items()):
            return False
    return True


def test_traffic_charts_show_the_metric_json_values(ui: UI) -> None:
    ui.open("traffic")
    ui.wait_for(
        """() => { const charts = [...document.querySelectorAll('#charts figure.chart')];
                   return charts.length === 12 && charts.every((f) => f.dataset.latestTime); }"""
    )
    titles = ui.page.locator("#charts figure.chart .title").all_inner_texts()
    assert titles == [
        "Total Traffic", "Operations", "Core Link Traffic", "Edge Link Traffic",
        "RDMA Operations", "RDMA Bytes", "Credits", "Period", "Congestion", "Errors",
        "Discards", "Drop Reasons",
    ]  # fmt: skip
    units = ui.page.locator("#charts figure.chart .unit").all_inner_texts()
    assert {"bit/s", "ops/s", "bytes", "s"} <= set(units)
    # The chart's latest point is one of the ticks metric/json served: collect metric/json
    # at every tick (0.2 s) until the page shows a point from one of the collected ones.
    seen: list[dict[str, Any]] = []
    charts: dict[str, Any] = {}
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        seen.append(ui.get(f"{AI}/metric/json"))
        charts = _chart_latest(ui)
        if len(seen) > 5 and any(_matches(charts, points) for points in seen):
            break
        time.sleep(0.05)
    match = next((p for p in seen if _matches(charts, p)), None)
    assert match is not None, (charts, seen[-1])
    assert match["bps"] > 0 and match["rdma_ops"] > 0 and match["edge_max_bps"] > 0
    assert match["core_max_bps"] > 0 and match["top-5-operations"]
    # the readout writes the latest values next to their series
    readout = ui.page.locator("#readout-bps")
    assert readout.get_attribute("data-mode") == "latest"
    assert float(readout.locator("[data-series=bps]").get_attribute("data-value") or 0) > 0
    assert "Gbit/s" in readout.inner_text() or "Tbit/s" in readout.inner_text()
    ui.screenshot("traffic")
    ui.assert_clean_console()


def test_click_on_a_chart_shows_the_values_at_that_time(ui: UI) -> None:
    ui.open("traffic")
    ui.wait_for("() => document.querySelector('#chart-rdma_ops').dataset.latestTime")
    over = ui.page.locator("#chart-rdma_ops .u-over")
    box = over.bounding_box()
    assert box is not None
    over.click(position={"x": box["width"] * 0.6, "y": box["height"] / 2})
    ui.page.mouse.move(0, 0)  # away from the chart: the readout stays on the pinned time
    readout = ui.page.locator("#readout-rdma_ops")
    ui.wait_for("() => document.querySelector('#readout-rdma_ops').dataset.pinned === 'true'")
    pinned_time = int(readout.get_attribute("data-time") or 0)
    shown = float(readout.locator("[data-series=rdma_ops]").get_attribute("data-value") or -1)
    trend = ui.get(f"{AI}/trend/json")["trend"]
    assert pinned_time in trend["times"]
    assert shown == pytest.approx(trend["trends"]["rdma_ops"][trend["times"].index(pinned_time)])
    assert "(pinned)" in readout.inner_text()
    # keyboard: Escape releases, End pins the latest point, arrows move along
    chart = ui.page.locator("#chart-rdma_ops")
    chart.press("Escape")
    assert readout.get_attribute("data-pinned") == "false"
    before = int(chart.get_attribute("data-latest-time") or 0)
    chart.press("End")  # the latest point at the time of the key press (a new one may follow)
    pinned = int(readout.get_attribute("data-time") or 0)
    assert before <= pinned <= int(chart.get_attribute("data-latest-time") or 0)
    assert readout.get_attribute("data-pinned") == "true"
    chart.press("ArrowLeft")
    assert int(readout.get_attribute("data-time") or 0) < pinned
    chart.press("Escape")
    # the periodicity pop-up (opened from the keyboard: Enter on its button is the button's,
    # not the chart's pin) plots the fast signal and the detector's figures
    ui.page.focus("#periodicity-open")
    ui.page.keyboard.press("Enter")
    ui.wait_for("() => document.querySelectorAll('#periodicity-figures dd').length >= 5")
    ui.wait_for("() => document.querySelector('#periodicity-chart canvas')")
    signal = ui.get(f"{AI}/period/json")["fabricscope"]["signal"]
    assert len(signal["times"]) > 10 and max(signal["values"]) > 0
    ui.screenshot("periodicity")
    ui.page.keyboard.press("Escape")
    ui.wait_for("() => !document.querySelector('#periodicity').open")
    ui.assert_clean_console()


# ---------------------------------------------------------------------------------------------
# Topology


def test_topology_status_links_and_a_refused_upload(ui: UI) -> None:
    ui.open("topology")
    ui.wait_for("() => document.querySelector('[data-list=unknown_agents]')")
    figure = ui.page.locator("#topology-status [data-figure] .value")
    values = dict(
        zip(
            ui.page.locator("#topology-status [data-figure]").evaluate_all(
                "(cards) => cards.map((c) => c.dataset.figure)"
            ),
            figure.all_inner_texts(),
            strict=True,
        )
    )
    links = topology_json(ui.fabric)["links"]
    assert values["nodes-total"] == str(len(ui.fabric.switch_names))
    assert values["nodes-unmonitored"] == "1" and values["links-down"] == "1"
    assert values["links-total"] == str(len(links))
    lists = ui.page.locator("#topology-problems ul").evaluate_all(
        "(uls) => Object.fromEntries(uls.map((u) => [u.dataset.list,"
        " [...u.children].map((li) => li.textContent)]))"
    )
    assert lists["unmonitored_nodes"] == [UNMONITORED]
    assert lists["down_links"] == [DOWN_LINK]
    assert sorted(lists["unmonitored_links"]) == sorted(
        name for name, link in links.items() if UNMONITORED in (link["node1"], link["node2"])
    )
    assert lists["unknown_agents"] == [FOREIGN]
    # the link table: every link once; sorted by name from its header button, by keyboard
    ui.wait_for("() => document.querySelectorAll('#links-table tbody tr[data-key]').length > 0")
    rows = ui.page.locator("#links-table tbody tr[data-key]")
    assert sorted(rows.evaluate_all("(rs) => rs.map((r) => r.dataset.key)")) == sorted(links)
    header = ui.page.locator("#links-table th[data-key=name] button")
    header.focus()
    ui.page.keyboard.press("Enter")
    assert ui.page.locator("#links-table th[data-key=name]").get_attribute("aria-sort") in (
        "ascending",
        "descending",
    )
    order = rows.evaluate_all("(rs) => rs.map((r) => r.dataset.key)")
    assert order in (sorted(links), sorted(links, reverse=True))
    down = ui.page.locator(f"#links-table tr[data-key='{DOWN_LINK}'] td[data-key=status]")
    assert down.inner_text() == "down"

    # a topology with a link to a port of an unknown node is refused with the collector's message
    version = ui.get("/topology/status/json")["version"]
    bad = {"links": {"x": {"node1": "leaf1", "port1": "swp1", "node2": "nowhere"}}, "nodes": {}}
    body = json.dumps(bad)
    request = urllib.request.Request(ui.base + "/topology/json", data=body.encode(), method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    message = refused.value.read().decode().strip()
    assert refused.value.code == 400 and message
    ui.page.fill("#topology-text", body)
    ui.page.click("#topology-submit")
    error = ui.page.locator("#topology-error")
    error.wait_for(state="visible", timeout=WAIT_MS)
    assert error.inner_text() == message
    assert "refused" in ui.page.locator("#topology-result").inner_text()
    assert ui.get("/topology/status/json")["version"] == version
    ui.screenshot("topology")
    ui.assert_clean_console(allowed=BAD_REQUEST)


# ---------------------------------------------------------------------------------------------
# Locate


def test_locate_finds_a_simulated_host(ui: UI) -> None:
    fabric = ui.fabric
    nic = fabric.n_nics - 1  # a host on the last leaf
    port = fabric.nic_port[nic]
    node, port_name = fabric.port_label(port).split(":")
    ip = str(ipaddress.ip_address(fabric.nic_ip[nic]))
    mac = fabric.nic_mac(nic).hex(":")
    _until(lambda: ui.get(f"/locate/json?address={ip}"), f"{ip} learnt")
    ui.open("locate")
    for address in (mac.upper(), ip):
        ui.page.fill("#locate-address", address)
        ui.page.press("#locate-address", "Enter")
        ui.wait_for(
            "(a) => document.querySelector('#locate-message').dataset.state === 'found' &&"
            " document.querySelector('#locate-message').textContent.startsWith(a)",
            address,
        )
        cells = ui.page.locator("#locate-table tbody tr").first.locator("td")
        row = dict(
            zip(
                cells.evaluate_all("(tds) => tds.map((td) => td.dataset.key)"),
                cells.all_inner_texts(),
                strict=True,
            )
        )
        assert (row["node"], row["port"]) == (node, port_name)
        assert row["agent"] == fabric.agents[fabric.port_switch[port]]
        assert row["ifindex"] == str(fabric.port_ifindex[port])
        assert (row["mac"], row["ip"]) == (mac, ip)
    ui.screenshot("locate")
    # not an address: the collector's message, no result
    ui.page.fill("#locate-address", "not-an-address")
    ui.page.press("#locate-address", "Enter")
    ui.wait_for("() => document.querySelector('#locate-message').dataset.state === 'error'")
    assert ui.page.locator("#locate-table tbody tr[data-key]").count() == 0
    ui.assert_clean_console(allowed=BAD_REQUEST)


# ---------------------------------------------------------------------------------------------
# Drops


def test_drops_table_fills_and_filters(ui: UI) -> None:
    ui.open("drops")
    ui.wait_for("() => document.querySelectorAll('#drops-table tbody tr[data-key]').length >= 5")
    snapshot = ui.page.evaluate(
        """() => ({
          ids: [...document.querySelectorAll('#drops-table tbody tr[data-key]')]
                 .map((r) => Number(r.dataset.key)),
          reasons: Object.fromEntries([...document.querySelectorAll(
                     '#drop-reasons-table tbody tr[data-key]')].map((r) => [r.dataset.key,
                     Number(r.querySelector('td[data-key=count]').textContent.replace(/,/g, ''))])),
          rows: [...document.querySelectorAll('#drops-table tbody tr[data-key]')].map((r) =>
                  Object.fromEntries([...r.cells].map((c) => [c.dataset.key, c.textContent]))),
        })"""
    )
    newest = max(snapshot["ids"])
    events: list[dict[str, Any]] = []
    after = 0
    for _ in range(20):  # pages of at most 1,000
        page = ui.get(f"/drops/json?after={after}&limit=1000")
        events += [e for e in page["events"] if e["id"] <= newest]
        if not page["events"] or page["events"][-1]["id"] >= newest:
            break
        after = page["events"][-1]["id"]
    # every notification the collector holds up to the newest shown is counted by reason
    assert snapshot["reasons"] == dict(Counter(e["reason_name"] for e in events))
    by_id = {e["id"]: e for e in events}
    times = [by_id[i]["time"] for i in snapshot["ids"]]
    assert times == sorted(times, reverse=True)  # newest first
    for row, event_id in zip(snapshot["rows"], snapshot["ids"], strict=True):
        event = by_id[event_id]
        assert row["node"] == event["node"] and row["reason"] == event["reason_name"]
        assert row["src"].startswith(event["src_ip"])
        if event["linux_reason"]:
            assert (row["linux"], row["function"]) == (event["linux_reason"], event["function"])
    assert any(row["linux"] == "NETFILTER_DROP" for row in snapshot["rows"])
    ui.screenshot("drops")
    # a filter: only acl drops remain
    ui.page.fill("#drops-filter", "reason=acl")
    ui.page.press("#drops-filter", "Enter")
    ui.wait_for(
        """() => { const r = [...document.querySelectorAll(
                     '#drops-table tbody tr[data-key] td[data-key=reason]')];
                   return r.length > 0 && r.every((td) => td.textContent === 'acl'); }"""
    )
    assert ui.page.locator("#drop-reasons-table tbody tr[data-key]").evaluate_all(
        "(rs) => rs.map((r) => r.dataset.key)"
    ) == ["acl"]
    # a bad filter: the collector's message
    ui.page.fill("#drops-filter", "colour=red")
    ui.page.press("#drops-filter", "Enter")
    error = ui.page.locator("#drops-error")
    error.wait_for(state="visible", timeout=WAIT_MS)
    assert "colour" in error.inner_text()
    ui.page.fill("#drops-filter", "")
    ui.page.press("#drops-filter", "Enter")
    error.wait_for(state="hidden", timeout=WAIT_MS)
    ui.assert_clean_console(allowed=BAD_REQUEST)


# ---------------------------------------------------------------------------------------------
# Flows (browse-flows) and the Drops tab's top drops (browse-drops)

# what the page adds to its /flowquery/ALL/json queries (flows.js: TOP_N, SMOOTHING_S)
FLOW_QUERY = {"n": "10", "t": "2", "maxFlows": "10"}


def _flow_answer(ui: UI, definition: dict[str, str], dropped: bool) -> dict[str, float]:
    """The collector's top flows of a definition, {flow key: value per second}."""
    query = {**definition, **FLOW_QUERY, "dropped": "true" if dropped else "false"}
    answer = ui.get("/flowquery/ALL/json?" + urllib.parse.urlencode(query))
    return {flow["key"]: flow["value"] for flow in answer["flows"]}


def _chart_matches_api(
    ui: UI, chart: str, definition: dict[str, str], dropped: bool, scale: float
) -> dict[str, float]:
    """The chart's latest point is one of the answers the collector gave for the same
    definition (the page asks once a second; the test asks every 50 ms until one matches)."""
    figure = f"#chart-{chart}"
    seen: list[dict[str, float]] = []
    shown: dict[str, float] = {}
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        seen.append(_flow_answer(ui, definition, dropped))
        shown = json.loads(ui.page.locator(figure).get_attribute("data-latest") or "{}")
        if shown and any(
            shown.keys() == answer.keys()
            and all(shown[k] == pytest.approx(v * scale, rel=1e-9) for k, v in answer.items())
            for answer in seen
        ):
            return shown
        time.sleep(0.05)
    raise AssertionError((shown, seen[-3:]))


def _docs_picture(ui: UI, name: str) -> None:
    """A screenshot; for the docs (``$FABRICSCOPE_SCREENSHOT_DIR``) after 20 s of trend."""
    ui.page.evaluate("() => document.activeElement?.blur()")
    if os.environ.get("FABRICSCOPE_SCREENSHOT_DIR"):
        ui.page.wait_for_timeout(20_000)
    ui.screenshot(name)


def _options(ui: UI, input_id: str) -> list[str]:
    options: list[str] = ui.page.locator(f"#{input_id}-options option").evaluate_all(
        "(os) => os.map((o) => o.value)"
    )
    return options


def _legend(ui: UI, chart: str) -> list[str]:
    legend: list[str] = ui.page.locator(f"#readout-{chart} button[data-series]").evaluate_all(
        "(bs) => bs.map((b) => b.dataset.series)"
    )
    return legend


def _wait_for_chart(ui: UI, chart: str, definition: dict[str, str]) -> None:
    ui.wait_for(
        """([id, d]) => { const f = document.querySelector('#chart-' + id);
             return f && f.dataset.keys === d.keys && f.dataset.value === d.value &&
                    f.dataset.filter === (d.filter ?? '') &&
                    Object.keys(JSON.parse(f.dataset.latest || '{}')).length > 0; }""",
        [chart, definition],
    )


def test_flows_tab_top_n_legend_filter_and_shared_address(ui: UI) -> None:
    ui.open("flows")
    # the tab's link alone: the default definition is written into the address
    ui.wait_for("() => location.hash.startsWith('#flows?keys=')")
    # completion: after "ipsource," the keys the collector has seen, each once
    ui.page.fill("#flows-keys", "ipsource,")
    ui.wait_for("() => document.querySelectorAll('#flows-keys-options option').length > 3")
    options = _options(ui, "flows-keys")
    seen = set(ui.get("/flowkeys/json"))
    assert all(o.startswith("ipsource,") for o in options)
    completed = {o.removeprefix("ipsource,") for o in options}
    assert completed <= seen - {"ipsource"} and len(completed) == len(options)
    assert {"ipdestination", "ibbtopname", "ibbtdestqp", "ingressnode"} <= completed
    # the filter completes a key where a comparison starts (from the same list)
    ui.page.fill("#flows-filter", "ipecn=3&ibbtop")
    ui.wait_for("() => document.querySelectorAll('#flows-filter-options option').length > 0")
    assert set(_options(ui, "flows-filter")) == {f"ipecn=3&{k}=" for k in completed | {"ipsource"}}

    # a definition typed in: GPU pairs entering the fabric
    definition = {"keys": "ipsource,ipdestination", "value": "bytes", "aggMode": "edge"}
    ui.page.fill("#flows-keys", definition["keys"])
    ui.page.fill("#flows-value", definition["value"])
    ui.page.fill("#flows-filter", "")
    ui.page.select_option("#flows-aggMode", "edge")
    ui.page.press("#flows-value", "Enter")
    _wait_for_chart(ui, "flows", definition)
    shown = _chart_matches_api(ui, "flows", definition, False, 8.0)  # bytes drawn as bit/s
    hosts = {str(ipaddress.ip_address(ip)) for ip in ui.fabric.nic_ip}
    for key in shown:
        source, destination = key.split(",")
        assert source in hosts and destination in hosts and source != destination
    legend = _legend(ui, "flows")
    assert set(legend) == set(shown) and 0 < len(legend) <= 10
    _docs_picture(ui, "flows")
    # ... and a value of a key on screen where a value is being typed
    ui.page.fill("#flows-filter", "ipsource=")
    ui.wait_for("() => document.querySelectorAll('#flows-filter-options option').length > 0")
    sources = {o.removeprefix("ipsource=") for o in _options(ui, "flows-filter")}
    assert {key.split(",")[0] for key in shown} <= sources <= hosts
    ui.page.fill("#flows-filter", "")

    # a legend entry adds its key=value terms to the filter; the chart asks again
    picked = legend[0]
    source, destination = picked.split(",")
    expected = f"ipsource={source}&ipdestination={destination}"
    ui.page.locator(f"#readout-flows button[data-series='{picked}']").click()
    assert ui.page.input_value("#flows-filter") == expected
    narrowed = {**definition, "filter": expected}
    _wait_for_chart(ui, "flows", narrowed)
    shown = _chart_matches_api(ui, "flows", narrowed, False, 8.0)
    assert list(shown) == [picked]
    address = ui.page.url
    assert urllib.parse.parse_qs(address.split("#flows?", 1)[1]) == {
        k: [v] for k, v in narrowed.items()
    }
    # Back returns to the definition before the click (each change is a history entry)
    ui.page.go_back()
    ui.wait_for("() => document.querySelector('#flows-filter').value === ''")
    _wait_for_chart(ui, "flows", definition)
    ui.page.go_forward()
    _wait_for_chart(ui, "flows", narrowed)

    # the address opens the same view in another page
    browser = ui.page.context.browser
    assert browser is not None
    other = browser.new_page(viewport=VIEWPORT)
    try:
        other.goto(address)
        other.wait_for_selector("#view-flows:not([hidden])", timeout=WAIT_MS)
        restored = {
            name: other.input_value(f"#flows-{name}") for name in ("keys", "value", "filter")
        }
        assert restored == {k: narrowed[k] for k in ("keys", "value", "filter")}
        assert other.input_value("#flows-aggMode") == "edge"
        other.wait_for_function(
            "(k) => document.querySelector('#readout-flows button[data-series]')?.dataset.series"
            " === k",
            arg=picked,
            timeout=WAIT_MS,
        )
    finally:
        other.close()

    # a filter that does not parse: the collector's message naming the token
    ui.page.fill("#flows-filter", "ipsauce=1")
    ui.page.press("#flows-filter", "Enter")
    error = ui.page.locator("#flows-error")
    error.wait_for(state="visible", timeout=WAIT_MS)
    assert "ipsauce" in error.inner_text()
    ui.assert_clean_console(allowed=BAD_REQUEST)


def test_flow_filter_completion_and_narrowing_rules(ui: UI) -> None:
    """The page's own rules, run in the page: where a completion starts and how a legend
    entry's terms join a filter (| binds looser than &, so such a filter is bracketed)."""
    ui.open("flows")
    got = ui.page.evaluate(
        """async () => {
             const f = await import('/static/flows.js');
             const values = (key) => (key === 'ipsource' ? ['10.0.0.1', '10.0.0.2'] : []);
             return {
               keys: f.keyOptions('ipsource, ipdest', ['agent', 'ipsource', 'ipdestination']),
               start: f.filterOptions('(ipecn=3|ibb', ['ipecn', 'ibbtopname'], values),
               value: f.filterOptions('ipecn=3&ipsource!=10.0.0.9,10.', ['ipsource'], values),
               other: f.filterOptions('ipecn=', ['ipecn'], values),
               plain: f.narrowed('', 'reason=acl'),
               and: f.narrowed('node=leaf1', 'reason=acl'),
               or: f.narrowed('node=leaf1|node=leaf2', 'reason=acl'),
             };
           }"""
    )
    assert got == {
        "keys": ["ipsource,agent", "ipsource,ipdestination"],
        "start": ["(ipecn=3|ipecn=", "(ipecn=3|ibbtopname="],
        "value": ["ipecn=3&ipsource!=10.0.0.9,10.0.0.1", "ipecn=3&ipsource!=10.0.0.9,10.0.0.2"],
        "other": [],
        "plain": "reason=acl",
        "and": "node=leaf1&reason=acl",
        "or": "(node=leaf1|node=leaf2)&reason=acl",
    }
    ui.assert_clean_console()


def test_drops_tab_top_drops_by_reason(ui: UI) -> None:
    ui.open("drops")
    ui.wait_for("() => location.hash.startsWith('#drops?keys=reason')")
    definition = {"keys": "reason", "value": "frames"}
    _wait_for_chart(ui, "dropflows", definition)
    shown = _chart_matches_api(ui, "dropflows", definition, True, 1.0)
    reasons = {e["reason_name"] for e in ui.get("/drops/json?after=0&limit=1000")["events"]}
    assert set(shown) <= reasons and {"acl"} <= set(shown)
    if os.environ.get("FABRICSCOPE_SCREENSHOT_DIR"):
        _docs_picture(ui, "drops")  # the docs' picture of the tab: with its trend
    # from the keyboard: Enter on a focused legend entry
    ui.page.locator("#readout-dropflows button[data-series='acl']").focus()
    ui.page.keyboard.press("Enter")
    assert ui.page.input_value("#dropflows-filter") == "reason=acl"
    narrowed = {**definition, "filter": "reason=acl"}
    _wait_for_chart(ui, "dropflows", narrowed)
    assert list(_chart_matches_api(ui, "dropflows", narrowed, True, 1.0)) == ["acl"]
    assert "filter=reason%3Dacl" in ui.page.url
    ui.assert_clean_console()


# ---------------------------------------------------------------------------------------------
# Agents


def test_agents_lists_every_simulated_switch(ui: UI) -> None:
    fabric = ui.fabric
    monitored = {
        agent: name
        for agent, name in zip(fabric.agents, fabric.switch_names, strict=True)
        if name != UNMONITORED
    }
    ui.open("agents")
    ui.wait_for(
        "(n) => document.querySelectorAll('#agents-table tbody tr[data-key]').length >= n",
        len(monitored) + 1,
    )
    rows = ui.page.locator("#agents-table tbody tr[data-key]").evaluate_all(
        """(rs) => rs.map((r) => Object.fromEntries(
             [...r.cells].map((c) => [c.dataset.key, c.textContent])))"""
    )
    by_agent = {row["agent"]: row for row in rows}
    assert set(by_agent) == set(monitored) | {FOREIGN}
    for agent, name in monitored.items():
        assert by_agent[agent]["node"] == name and by_agent[agent]["in_topology"] == "yes"
        # rates come from flow samples: every leaf has hosts sending; a spine may carry none
        # (spine1 has lost its link to leaf1, so ECMP sends nothing through it)
        rates = by_agent[agent]["sampling"]
        assert (rates == "20000") if name.startswith("leaf") else (rates in ("20000", "–"))
    assert by_agent[FOREIGN]["in_topology"] == "no"
    # the unmonitored switch has no row, and is named as silent
    silent = ui.page.locator("#agents-silent")
    silent.wait_for(state="visible", timeout=WAIT_MS)
    assert silent.get_attribute("data-nodes") == UNMONITORED
    ui.screenshot("agents")
    ui.assert_clean_console()


# ---------------------------------------------------------------------------------------------
# Events


def test_events_tab_shows_the_stream(ui: UI) -> None:
    """The link down from the start is one link_down event; the tab lists what
    /events/json holds, newest first, and counts it under its type."""
    held = _until(lambda: ui.get("/events/json?after=0")["events"], "an event")
    down = [e for e in held if e["type"] == "link_down"]
    assert [e["link"] for e in down] == [DOWN_LINK]
    ui.open("events")
    ui.wait_for(
        "(n) => document.querySelectorAll('#events-table tbody tr[data-key]').length >= n",
        len(held),
    )
    rows = ui.page.locator("#events-table tbody tr[data-key]").evaluate_all(
        """(rs) => rs.map((r) => [r.dataset.key, Object.fromEntries(
             [...r.cells].map((c) => [c.dataset.key, c.textContent]))])"""
    )
    shown = {int(key): row for key, row in rows}
    latest = ui.get("/events/json?after=0")["events"]
    assert set(shown) == {e["id"] for e in latest}
    assert [int(key) for key, _ in rows] == sorted(shown, reverse=True)
    for event in latest:
        assert shown[event["id"]]["type"] == event["type"]
    assert shown[down[0]["id"]]["where"] == DOWN_LINK
    figure = ui.page.locator("#events-totals [data-figure=link_down] .value")
    assert figure.text_content() == str(sum(e["type"] == "link_down" for e in latest))
    ui.screenshot("events")
    ui.assert_clean_console()


# ---------------------------------------------------------------------------------------------
# Screens and keyboard

SCREENS: dict[str, ViewportSize] = {
    "laptop": {"width": 1366, "height": 768},
    "wall": {"width": 3840, "height": 2160},
}
TABS = ("traffic", "flows", "topology", "locate", "drops", "agents", "events")


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_every_tab_fits_the_screen(ui: UI, screen: str) -> None:
    """No tab scrolls sideways on a laptop or a wall display; the Traffic grid uses the width
    (the reference's 4 x 3 on a wall display); no console errors on either."""
    browser = ui.page.context.browser
    assert browser is not None
    page = browser.new_page(viewport=SCREENS[screen])
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        for tab in TABS:
            page.goto(f"{ui.base}/#{tab}")
            page.wait_for_selector(f"#view-{tab}:not([hidden])", timeout=WAIT_MS)
            page.wait_for_timeout(300)  # the first fetch rendered
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, (screen, tab, overflow)
            # and no table hides columns behind a sideways scroll bar of its own
            hidden = page.evaluate(
                """() => [...document.querySelectorAll('.view:not([hidden]) .table-wrap')]
                         .map((w) => w.scrollWidth - w.clientWidth).filter((d) => d > 0)"""
            )
            assert hidden == [], (screen, tab, hidden)
        page.goto(f"{ui.base}/#traffic")
        page.wait_for_function(
            "() => document.querySelectorAll('#charts figure.chart').length === 12", timeout=WAIT_MS
        )
        columns = page.evaluate(
            """() => new Set([...document.querySelectorAll('#charts figure.chart')]
                             .map((f) => Math.round(f.getBoundingClientRect().left))).size"""
        )
        assert columns == (4 if screen == "wall" else 3), (screen, columns)
    finally:
        page.close()
    assert errors == [], errors


def test_tabs_are_reachable_by_keyboard(ui: UI) -> None:
    """Tab moves focus onto the tab list; arrow keys walk the tabs and Enter opens one."""
    browser = ui.page.context.browser
    assert browser is not None
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{ui.base}/#traffic")
        page.wait_for_selector("#view-traffic:not([hidden])", timeout=WAIT_MS)
        focused = []
        for _ in range(8):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("() => document.activeElement.id"))
            if focused[-1].startswith("tab-"):
                break
        assert focused[-1].startswith("tab-"), focused
        start = TABS.index(focused[-1].removeprefix("tab-"))
        page.keyboard.press("ArrowRight")
        after = TABS[(start + 1) % len(TABS)]
        assert page.evaluate("() => document.activeElement.id") == f"tab-{after}"
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#view-{after}:not([hidden])", timeout=WAIT_MS)
    finally:
        page.close()
