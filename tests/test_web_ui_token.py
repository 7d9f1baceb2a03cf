"""The web UI's topology upload against a collector that has an API token, in headless Chromium.

The collector answers the upload with 401; the page must ask for the token in its dialog, send
the upload again with it, keep it for the tab (a second upload needs no dialog), ask again when
the collector refuses a token, and leave the topology alone when the user cancels.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_support import Served, start_serve
from tests.test_web_ui import CHROMIUM_ARGS, VIEWPORT, WAIT_MS, sync_playwright

TOKEN = "ui-token-7f3a9c"
TOPOLOGY = {
    "links": {"L1": {"node1": "leaf1", "port1": "swp1", "node2": "spine1", "port2": "swp1"}},
    "nodes": {"leaf1": {"agent": "10.0.0.1", "ports": {"swp1": {"ifindex": "3"}}}},
}
# Chromium logs every non-2xx fetch as a console error; these are provoked on purpose.
REFUSED = ("status of 401", "status of 403")


def _version(served: Served) -> int:
    url = f"http://127.0.0.1:{served.http_port}/topology/status/json"
    with urllib.request.urlopen(url, timeout=10) as response:
        version: int = json.loads(response.read())["version"]
    return version


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[Any, Served, list[str]]]:
    if sync_playwright is None:
        pytest.skip("playwright not installed")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    served = start_serve(None, 1, "--api-token-file", str(token_file))
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport=VIEWPORT)
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            tab.goto(f"http://127.0.0.1:{served.http_port}/#topology")
            tab.wait_for_selector("#view-topology:not([hidden])", timeout=WAIT_MS)
            yield tab, served, errors
            browser.close()
    finally:
        served.stop()


def _upload(tab: Any, topology: dict[str, Any]) -> None:
    tab.fill("#topology-text", json.dumps(topology))
    tab.click("#topology-submit")


def test_the_upload_asks_for_the_token_keeps_it_and_asks_again_when_refused(page: Any) -> None:
    tab, served, errors = page
    dialog = tab.locator("#token-dialog")
    result = tab.locator("#topology-result")
    _upload(tab, TOPOLOGY)
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    assert "Authorization: Bearer" in tab.locator("#token-reason").inner_text()  # the 401's text
    assert _version(served) == 0
    # a wrong token: refused, the dialog comes back saying so
    tab.fill("#token-input", "not-it")
    tab.click("#token-send")
    tab.wait_for_function(
        "() => document.querySelector('#token-reason').textContent.includes('refused')",
        timeout=WAIT_MS,
    )
    assert dialog.is_visible()
    assert _version(served) == 0
    tab.fill("#token-input", TOKEN)
    tab.click("#token-send")
    tab.wait_for_function(
        "() => document.querySelector('#topology-result').textContent.startsWith('installed')",
        timeout=WAIT_MS,
    )
    assert result.inner_text() == "installed, topology version 1"
    assert not dialog.is_visible()
    assert _version(served) == 1
    assert tab.evaluate("() => sessionStorage.getItem('fabricscope.apiToken')") == TOKEN
    # kept for the tab: the next upload goes through without asking
    _upload(tab, TOPOLOGY)
    tab.wait_for_function(
        "() => document.querySelector('#topology-result').textContent.endsWith('version 2')",
        timeout=WAIT_MS,
    )
    assert not dialog.is_visible()
    assert _version(served) == 2
    assert [e for e in errors if not any(r in e for r in REFUSED)] == []


def test_cancelling_the_dialog_leaves_the_topology_alone(page: Any) -> None:
    tab, served, errors = page
    _upload(tab, TOPOLOGY)
    dialog = tab.locator("#token-dialog")
    dialog.wait_for(state="visible", timeout=WAIT_MS)
    tab.click("#token-cancel")
    error = tab.locator("#topology-error")
    error.wait_for(state="visible", timeout=WAIT_MS)
    assert "Authorization: Bearer" in error.inner_text()
    assert "refused" in tab.locator("#topology-result").inner_text()
    assert not dialog.is_visible()
    assert _version(served) == 0
    assert tab.evaluate("() => sessionStorage.getItem('fabricscope.apiToken')") is None
    assert [e for e in errors if not any(r in e for r in REFUSED)] == []
