"""``fabricscope serve``: arguments and entry point (registered in ``collector.cli``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from collector.serve.flow_store import FlowFileError
from collector.serve.settings import (
    FIELDS,
    SECRET_FIELDS,
    Settings,
    SettingsError,
    env_of,
    flag_of,
    load_settings,
)
from topology.model import TopologyError

HELP = "receive sFlow over UDP, aggregate AI-fabric metrics, serve them for Prometheus"

_HELP: dict[str, str] = {
    "sflow_bind": "UDP address for sFlow, HOST:PORT or [IPV6]:PORT (default 0.0.0.0:6343)",
    "http_bind": "HTTP address for /metrics and /topology/json (default 0.0.0.0:8008)",
    "http_request_timeout": "seconds a client has to send its request head (or a body that is "
    "read); then 408 and closed (default 10)",
    "topology": "sFlow-RT topology JSON file (reloaded on SIGHUP)",
    "workers": "receiving processes on SO_REUSEPORT (default: CPU count; 1 = single process)",
    "rcvbuf_bytes": "SO_RCVBUF to request per socket (default 32 MiB)",
    "receive_ring_bytes": "ring of the compiled socket reader per receiver, which keeps reading "
    "the socket while the receiver is busy (default 32 MiB; 0: no reader thread)",
    "per_port_metrics": "also export per-port series (node/port labels)",
    "agent_timeout": "seconds without a datagram before an agent is forgotten (default 180)",
    "max_agents": "agents with their own series at most (default 10000)",
    "trim_dscp": "DSCP marking trimmed packets, -1 disables (default 11)",
    "smoothing_seconds": "time constant of the *_per_second gauges (default 2)",
    "tick_seconds": "how often receivers hand over deltas (default 1)",
    "decoder": "auto, full or fast (default auto)",
    "log_level": "debug, info, warning or error (default info)",
    "prometheus_prefix": "prefix of the sFlow-RT-compatible series (default sflow_)",
    "prometheus_type": "add '# TYPE ... gauge' lines to the sFlow-RT-compatible text",
    "operation_names": "operations{name} labels: linux (RC:RDMA_WRITE_MIDDLE, default) or ibta "
    "(RC:RDMA WRITE Middle)",
    "period_flow_fast": "period: smoothing of the fast RoCE rate, s (default 0.1)",
    "period_threshold_t": "period: re-arm time below the threshold, s (default 0.2)",
    "period_load_window": "period: load baseline window, 1 s values (default 20)",
    "period_load_sensitivity": "period: load baseline sensitivity, sigmas (default 2)",
    "period_load_repeat": "period: anomalous loads in a row for a step change (default 2)",
    "period_window": "period: interval baseline window, cycles (default 20)",
    "period_sensitivity": "period: interval baseline sensitivity, sigmas (default 2)",
    "period_repeat": "period: anomalous intervals in a row to accept a change (default 2)",
    "period_misses": "period: missed cycles before the threshold is reset (default 4)",
    "period_stale": "period: periods without a crossing before it reads 0 (default 10)",
    "period_cv": "period: largest sdev/mean of a valid period (default 0.5)",
    "period_method": "period: estimate sflow_ai_period reports, compatible (the reference's "
    "algorithm, default) or fine (ours: sharper, resolves shorter periods)",
    "influx_url": "push to InfluxDB v2 at this URL (token from FABRICSCOPE_INFLUX_TOKEN)",
    "influx_org": "InfluxDB organization (required with --influx-url)",
    "influx_bucket": "InfluxDB bucket (required with --influx-url)",
    "influx_interval": "seconds between pushes (default 10)",
    "influx_precision": "timestamp precision: s, ms, us or ns (default ms)",
    "influx_batch_points": "lines per write request at most (default 5000)",
    "influx_buffer_points": "points held while unsent; the oldest are dropped (default 100000)",
    "influx_buffer_bytes": "bytes held while unsent (default 64 MiB)",
    "influx_max_backoff": "longest wait between retries, s (default 60)",
    "allowed_agents": "agents whose sFlow is counted: comma-separated CIDRs and/or the word "
    "'topology' (the agents of its nodes block); default: every agent",
    "flows_file": "JSON file the flow definitions (PUT /flow/{name}/json) persist in across "
    "restarts (created when missing; default: not persisted; docs/flows.md)",
    "flow_max_keys": "keys one flow definition keeps at most; more are counted in "
    "fabricscope_flow_keys_dropped_total (default 10000)",
    "health": "turn the fabric-health analysis on: events for incast, ECMP collisions, links "
    "and agents; the receivers sum four flow definitions more (docs/fabric-health.md)",
    "publish": "also publish this host's deltas to NATS JetStream at nats://HOST:4222[,...] "
    "(docs/scale-out.md)",
    "shard": "this host's shard name on the bus (default: the host name)",
    "nats": "aggregate: the NATS JetStream servers whose deltas it merges, nats://HOST:4222[,...]",
    "bus_stream": "JetStream stream of the deltas (default FABRICSCOPE_DELTAS)",
    "bus_replicas": "replicas of the stream when it is created (default 1; 3 on a cluster)",
    "bus_max_age": "seconds the stream keeps deltas (default 86400)",
    "bus_consumer": "aggregate: durable consumer and checkpoint name (default aggregate-HOST)",
    "bus_checkpoint_seconds": "aggregate: seconds between checkpoints of its totals (default 5)",
    "nats_credentials": "NATS .creds file (JWT and NKey seed) for the bus",
    "nats_tls_ca": "CA bundle to verify tls:// bus servers with",
    "nats_tls_cert": "client certificate for the bus (mutual TLS)",
    "nats_tls_key": "key of --nats-tls-cert",
    "api_token_file": "file holding the token writes (PUT/POST/DELETE) need as 'Authorization: "
    "Bearer' (or the token itself in env FABRICSCOPE_API_TOKEN); neither: writes from loopback "
    "clients only (docs/security.md)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serve flags; each also settable as FABRICSCOPE_<NAME> or in the --config file."""
    parser.add_argument("--config", type=Path, help="TOML file of settings (keys = flag names)")
    for field in FIELDS:
        if field in SECRET_FIELDS:
            # A flag's value is visible to every user of the host (ps): refused, and declared
            # so that argparse cannot take it for an abbreviation of a longer flag.
            parser.add_argument(flag_of(field), dest=f"refused_{field}", help=argparse.SUPPRESS)
            continue
        help_text = f"{_HELP.get(field, '')} [env {env_of(field)}]"
        if Settings.model_fields[field].annotation is bool:
            parser.add_argument(flag_of(field), action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag_of(field), default=None, help=help_text)


def run(args: argparse.Namespace) -> int:
    """Validate the settings, then serve until SIGTERM/SIGINT."""
    return run_command(args, aggregate=False)


def run_command(args: argparse.Namespace, aggregate: bool) -> int:
    """``serve`` or ``aggregate``: validate the settings, then run until SIGTERM/SIGINT."""
    from collector.serve.service import run_service  # deferred: aiohttp/uvloop only when serving

    for field in SECRET_FIELDS:
        if getattr(args, f"refused_{field}", None) is not None:
            print(
                f"fabricscope: error: {flag_of(field)} is not accepted (the arguments of a "
                f"process are visible to every user): use {env_of(field)} or "
                f"{flag_of(field)}-file FILE",
                file=sys.stderr,
            )
            return 2
    flags = {field: getattr(args, field, None) for field in FIELDS}
    try:
        settings = load_settings(flags, config_file=args.config)
        if aggregate and settings.nats is None:
            raise SettingsError("missing nats: aggregate needs --nats nats://HOST:4222[,...]")
    except SettingsError as exc:
        print(f"fabricscope: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        return run_service(settings, aggregate)
    except TopologyError as exc:
        print(f"fabricscope: error: topology {exc}", file=sys.stderr)
        return 1
    except FlowFileError as exc:
        print(f"fabricscope: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fabricscope: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        if exc.name != "nats":
            raise
        print(
            "fabricscope: error: publish and nats need the NATS client: "
            "pip install 'fabricscope[nats]'",
            file=sys.stderr,
        )
        return 2
