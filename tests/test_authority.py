"""Writes need authority: the address and token rule, then real ``serve`` processes over HTTP.

* the rule itself (``collector.http.authority.write_refusal``) for every method, client address
  and header shape that matters;
* a collector with a token (from ``--api-token-file``): reads open, writes 401 without the
  header, 403 with another token, 200 with it, at the native and the topology app's paths;
* a collector with no token: writes from 127.0.0.1 and ::1 accepted;
* a client that is not on loopback: a network namespace joined to this one by a veth pair,
  made by the test (needs root), talking to a collector bound to this side's veth address;
  without a token its writes get 403 naming the setting, with one they need it;
* the settings: a bad, empty or missing token file is one line naming the option and exit 2;
  ``--api-token`` is refused; the token never appears in the collector's log.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.http.authority import TOKEN_SETTING, is_loopback, write_refusal
from collector.serve.settings import load_settings, serve_parts
from tests.e2e_support import ROOT, env, start_serve

TOKEN = "s3cr3t-Token_0123456789"
TOPOLOGY = {
    "links": {"L1": {"node1": "leaf1", "port1": "swp1", "node2": "spine1", "port2": "swp1"}},
    "nodes": {"leaf1": {"agent": "10.0.0.1", "ports": {"swp1": {"ifindex": "3"}}}},
}
BODY = json.dumps(TOPOLOGY).encode()
APP_PATH = "/app/topology/scripts/topology.js/topology/json"
TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# The rule


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("::ffff:127.0.0.9", True),
        ("10.0.0.1", False),
        ("192.0.2.2", False),
        ("128.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("localhost", False),  # a name is not an address: never trusted
    ],
)
def test_loopback_addresses(peer: str | None, loopback: bool) -> None:
    assert is_loopback(peer) is loopback


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
@pytest.mark.parametrize("token", [None, TOKEN])
def test_reads_are_open_to_anyone(method: str, token: str | None) -> None:
    assert write_refusal(method, None, "192.0.2.9", token) is None


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH", "PROPFIND", "put"])
def test_without_a_token_writes_need_a_loopback_client(method: str) -> None:
    assert write_refusal(method, None, "127.0.0.1", None) is None
    assert write_refusal(method, None, "::1", None) is None
    refusal = write_refusal(method, f"Bearer {TOKEN}", "192.0.2.9", None)
    assert refusal is not None and refusal.status == 403
    assert "api_token" in refusal.message and "FABRICSCOPE_API_TOKEN" in refusal.message
    assert refusal.headers == ()  # no challenge: a token would not help


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("", 401),
        ("Bearer", 401),
        ("Bearer   ", 401),
        (f"Basic {TOKEN}", 401),
        (f"Token {TOKEN}", 401),
        ("Bearer wrong", 403),
        (f"Bearer {TOKEN}x", 403),
        (f"Bearer {TOKEN[:-1]}", 403),
        ("Bearer s3cr3t-Tökén", 403),
        (f"Bearer {TOKEN}", None),
        (f"bearer {TOKEN}", None),  # the scheme is case-insensitive (RFC 9110)
        (f"  Bearer  {TOKEN}  ", None),
    ],
)
def test_with_a_token_every_client_needs_it(authorization: str | None, status: int | None) -> None:
    for peer in ("127.0.0.1", "192.0.2.9"):  # loopback is no exception once a token is set
        refusal = write_refusal("PUT", authorization, peer, TOKEN)
        assert (refusal.status if refusal is not None else None) == status
        if refusal is not None:
            assert TOKEN not in refusal.message
            challenge = dict(refusal.headers)["WWW-Authenticate"]
            assert challenge.startswith("Bearer realm=")
            assert ('error="invalid_token"' in challenge) is (status == 403)


# ---------------------------------------------------------------------------------------------
# Real collectors


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
) -> Answer:
    """One HTTP request from this process (no proxy, bounded in time)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read().decode())
    finally:
        connection.close()


def token_file(tmp_path: Path, text: str = TOKEN + "\n") -> Path:
    path = tmp_path / "api-token"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_a_token_guards_every_write_and_no_read(tmp_path: Path) -> None:
    served = start_serve(None, 1, "--api-token-file", str(token_file(tmp_path)))
    try:
        port = served.http_port

        def call(method: str, path: str, token: str | None = None) -> Answer:
            return request("127.0.0.1", port, method, path, BODY, token)

        for path in ("/topology/json", "/metrics", "/topology/status/json", APP_PATH):
            assert call("GET", path).status == 200, path
        for method, path in (("PUT", "/topology/json"), ("PUT", APP_PATH), ("POST", APP_PATH)):
            missing = call(method, path)
            assert missing.status == 401, (method, path)
            assert missing.headers["WWW-Authenticate"] == 'Bearer realm="fabricscope"'
            assert call(method, path, "not-the-token").status == 403
        # nothing was installed by the refused writes
        assert json.loads(call("GET", "/topology/json").text) == {}
        first = call("PUT", "/topology/json", TOKEN)
        assert first.status == 200 and json.loads(first.text)["version"] == 1
        second = call("POST", APP_PATH, TOKEN)
        assert second.status == 200 and json.loads(second.text)["version"] == 2
        assert json.loads(call("GET", "/topology/json").text)["links"] == TOPOLOGY["links"]
        # a method no route takes still needs the token before anything else is said
        assert call("DELETE", "/topology/json").status == 401
        assert call("DELETE", "/topology/json", TOKEN).status == 405
    finally:
        log = served.stop()
    assert TOKEN not in log and TOKEN not in "".join(served.log)


def test_without_a_token_loopback_clients_may_write() -> None:
    for bind, host in (("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")):
        served = start_serve(None, 1, "--http-bind", bind)
        try:
            answer = request(host, served.http_port, "PUT", "/topology/json", BODY)
            assert answer.status == 200, (host, answer)
            assert json.loads(answer.text)["version"] == 1
        finally:
            served.stop()


# ---------------------------------------------------------------------------------------------
# A client that is not on loopback


@dataclass(frozen=True)
class Namespace:
    """A network namespace reachable from here over a veth pair."""

    name: str
    host_address: str  # this side's end (the collector binds it)
    client_address: str  # the namespace's end

    def request(self, method: str, port: int, path: str, token: str | None = None) -> Answer:
        """One HTTP request made from inside the namespace to the collector."""
        script = (
            "import http.client, json, sys\n"
            "host, port, method, path, token = sys.argv[1:6]\n"
            "headers = {'Authorization': 'Bearer ' + token} if token else {}\n"
            "c = http.client.HTTPConnection(host, int(port), timeout=10)\n"
            "c.request(method, path, body=sys.stdin.buffer.read() or None, headers=headers)\n"
            "r = c.getresponse()\n"
            "print(json.dumps([r.status, dict(r.getheaders()), r.read().decode()]))\n"
        )
        argv = [self.host_address, str(port), method, path, token or ""]
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", script, *argv],
            input=BODY if method != "GET" else b"",
            capture_output=True,
            timeout=TIMEOUT + 5,
            check=True,
        )
        status, headers, text = json.loads(result.stdout)
        return Answer(status, headers, text)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a network namespace needs root and iproute2's ip")
    tag = str(os.getpid() % 100_000)
    name, host_if, ns_if = f"fsauth{tag}", f"fsah{tag}", f"fsan{tag}"
    # A /30 of the benchmarking range 198.18.0.0/15, chosen by process so parallel runs differ.
    net = ipaddress.ip_network("198.18.0.0/15")
    base = net.network_address + (os.getpid() % (net.num_addresses // 4)) * 4
    host_address, client_address = str(base + 1), str(base + 2)
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{host_address}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{client_address}/30", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        for args in (("link", "del", host_if), ("netns", "del", name)):
            subprocess.run(["ip", *args], capture_output=True, timeout=10)
        pytest.skip(f"a network namespace needs root and iproute2's ip: {exc.stderr!r}")
    try:
        yield Namespace(name, host_address, client_address)
    finally:
        for args in (("link", "del", host_if), ("netns", "del", name)):
            subprocess.run(["ip", *args], capture_output=True, timeout=10)


def test_a_client_off_loopback_cannot_write_without_a_token(namespace: Namespace) -> None:
    served = start_serve(None, 1, "--http-bind", f"{namespace.host_address}:0")
    try:
        port = served.http_port
        assert namespace.request("GET", port, "/topology/json").status == 200
        refused = namespace.request("PUT", port, "/topology/json", TOKEN)
        assert refused.status == 403
        assert TOKEN_SETTING in refused.text
        assert namespace.request("POST", port, APP_PATH).status == 403
        # the same collector, asked from its own address (not loopback either), also refuses
        local = request(namespace.host_address, port, "PUT", "/topology/json", BODY)
        assert local.status == 403
        assert json.loads(request(namespace.host_address, port, "GET", "/topology/json").text) == {}
    finally:
        served.stop()


def test_a_client_off_loopback_writes_with_the_token(namespace: Namespace, tmp_path: Path) -> None:
    served = start_serve(
        None,
        1,
        "--http-bind",
        f"{namespace.host_address}:0",
        "--api-token-file",
        str(token_file(tmp_path)),
    )
    try:
        port = served.http_port
        assert namespace.request("PUT", port, "/topology/json").status == 401
        assert namespace.request("PUT", port, "/topology/json", "nope").status == 403
        accepted = namespace.request("PUT", port, "/topology/json", TOKEN)
        assert accepted.status == 200 and json.loads(accepted.text)["version"] == 1
    finally:
        served.stop()


# ---------------------------------------------------------------------------------------------
# Settings


def _serve_error(*args: str, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--sflow-bind", "127.0.0.1:0",
         "--http-bind", "127.0.0.1:0", *args],
        capture_output=True, text=True, timeout=30, env={**env(), **(extra_env or {})}, cwd=ROOT,
    )  # fmt: skip
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("", "empty"),
        ("\n  \n", "empty"),
        ("two words\n", "printable ASCII"),
        ("tökén\n", "printable ASCII"),
        ("x" * 5000, "longer than 4096 bytes"),
    ],
)
def test_a_bad_token_file_is_one_line_naming_the_option(
    tmp_path: Path, content: str, why: str
) -> None:
    path = token_file(tmp_path, content)
    code, err = _serve_error("--api-token-file", str(path))
    assert code == 2
    assert err.count("\n") == 1 and "--api-token-file" in err and why in err, err


def test_a_missing_or_unreadable_token_file_is_refused(tmp_path: Path) -> None:
    code, err = _serve_error("--api-token-file", str(tmp_path / "absent"))
    assert code == 2 and err.count("\n") == 1
    assert "--api-token-file" in err and "No such file" in err
    code, err = _serve_error("--api-token-file", str(tmp_path))  # a directory
    assert code == 2 and err.count("\n") == 1 and "--api-token-file" in err


def test_the_token_is_never_a_flag_and_never_twice() -> None:
    code, err = _serve_error("--api-token", TOKEN)
    assert code == 2 and "FABRICSCOPE_API_TOKEN" in err and TOKEN not in err
    code, err = _serve_error(extra_env={"FABRICSCOPE_API_TOKEN": "with space"})
    assert code == 2 and "FABRICSCOPE_API_TOKEN" in err and "with space" not in err


def test_the_token_from_the_environment_reaches_the_app_and_no_repr() -> None:
    parts = serve_parts(load_settings({}, env={"FABRICSCOPE_API_TOKEN": f" {TOKEN}\n"}))
    assert parts.api_token == TOKEN
    assert TOKEN not in repr(parts)
    assert TOKEN not in repr(load_settings({}, env={"FABRICSCOPE_API_TOKEN": TOKEN}))
    # compose hands an unset variable over as "": that is no token, not an empty one
    assert serve_parts(load_settings({}, env={"FABRICSCOPE_API_TOKEN": ""})).api_token is None


def test_token_from_env_and_file_together_is_refused(tmp_path: Path) -> None:
    path = token_file(tmp_path)
    code, err = _serve_error(
        "--api-token-file", str(path), extra_env={"FABRICSCOPE_API_TOKEN": "other"}
    )
    assert code == 2 and "use one" in err and TOKEN not in err and "other" not in err
