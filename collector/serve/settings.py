"""``fabricscope serve`` settings: one pydantic model fed by defaults, a TOML file, env, flags.

The only module that reads ``Settings``: ``serve_parts`` narrows it, once, into each
component's own small settings (``ReceiverSettings``, ``AggregatorSettings``, …).

Precedence, lowest first: defaults < config file (``--config``, TOML, keys = field names) <
environment (``FABRICSCOPE_<FIELD>``, e.g. ``FABRICSCOPE_SFLOW_BIND``) < command-line flags.
A bad value is reported as one line naming the field and where it came from.
"""

from __future__ import annotations

import math
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from collector.aggregate.aggregator import ROCE_LATENESS_BUCKETS, AggregatorSettings
from collector.aggregate.health import HealthSettings
from collector.aggregate.period import PeriodParams
from collector.bus.ledger import SHARD_NAME, shard_of_host
from collector.bus.settings import DEFAULT_STREAM, BusSettings, ConsumerSettings, PublisherSettings
from collector.compat.face import CompatSettings
from collector.http.settings import HttpSettings
from collector.influx.target import MIN_BACKOFF, InfluxSettings, PushLimits
from collector.receive.admission import AdmissionRule, parse_allowed_agents
from collector.receive.listener import BindAddress
from collector.receive.receivers import ReceiverSettings
from collector.receive.socket_ring import DEFAULT_RING_BYTES, MIN_RING_BYTES
from collector.receive.state import StateSettings

ENV_PREFIX = "FABRICSCOPE_"
# Secrets are never command-line flags: any user of the host can read a process's arguments.
SECRET_FIELDS = ("api_token",)
# An empty value of these in the environment means "not set" (.env.example leaves them empty,
# and compose passes an empty value on).
EMPTY_MEANS_UNSET = ("api_token", "api_token_file", "allowed_agents")
MAX_TOKEN_BYTES = 4096


class SettingsError(ValueError):
    """A setting that cannot be used; ``str()`` is one line naming it."""


def parse_bind(value: object) -> BindAddress:
    """Parse ``HOST:PORT`` or ``[IPV6]:PORT``; the host must be an IP literal."""
    if isinstance(value, BindAddress):
        return value
    if not isinstance(value, str):
        raise ValueError("expected HOST:PORT")
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
    else:
        host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT (IPv6: [ADDR]:PORT)")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} out of range")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host)
    except OSError:
        raise ValueError(f"{host!r} is not an IP address") from None
    return BindAddress(host, port)


Bind = Annotated[BindAddress, BeforeValidator(parse_bind)]


def parse_http_url(value: object) -> str:
    """An ``http://`` or ``https://`` base URL with a host, without query or fragment; no
    trailing slash."""
    if not isinstance(value, str):
        raise ValueError("expected an http:// or https:// URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: no query or fragment expected")
    return value.strip().rstrip("/")


InfluxUrl = Annotated[str, BeforeValidator(parse_http_url)]


def check_ring_bytes(value: object) -> int:
    """The socket reader's ring: 0 (the receive loop reads the socket) or at least 256 KiB."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a number of bytes")
    try:
        size = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of bytes") from None
    if size != 0 and size < MIN_RING_BYTES:
        raise ValueError(f"0 (off) or at least {MIN_RING_BYTES} bytes")
    return size


RingBytes = Annotated[int, BeforeValidator(check_ring_bytes)]


def check_api_token(value: object) -> str:
    """An API token: printable ASCII without spaces (what a Bearer header can carry), with
    surrounding white space (a file's final newline) removed."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        raise ValueError("expected a string")
    token = value.strip()
    if not token:
        raise ValueError("empty")
    if not all(0x21 <= ord(ch) <= 0x7E for ch in token):
        raise ValueError("only printable ASCII without spaces can be sent as a Bearer token")
    return token


ApiToken = Annotated[SecretStr, BeforeValidator(check_api_token)]
AllowedAgents = Annotated[AdmissionRule, BeforeValidator(parse_allowed_agents)]


def parse_nats_urls(value: object) -> tuple[str, ...]:
    """Comma-separated ``nats://`` or ``tls://`` URLs with a host (the servers of one bus)."""
    if isinstance(value, tuple):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected nats://HOST:PORT[,nats://HOST:PORT...]")
    urls = tuple(part.strip() for part in value.split(",") if part.strip())
    if not urls:
        raise ValueError("expected nats://HOST:PORT[,nats://HOST:PORT...]")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("nats", "tls") or not parts.hostname:
            raise ValueError(f"{url!r} is not a nats:// or tls:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            raise ValueError(f"{url!r}: bad port") from None
    return urls


def check_shard(value: object) -> str:
    """A shard name: 1-64 letters, digits, '_' or '-' (one NATS subject token)."""
    if not isinstance(value, str) or not SHARD_NAME.fullmatch(value):
        raise ValueError("1-64 letters, digits, '_' or '-'")
    return value


NatsUrls = Annotated[tuple[str, ...], BeforeValidator(parse_nats_urls)]
ShardName = Annotated[str, BeforeValidator(check_shard)]


class Settings(BaseModel):
    """Every ``serve`` setting with its default."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    sflow_bind: Bind = Field(default=BindAddress("0.0.0.0", 6343))
    http_bind: Bind = Field(default=BindAddress("0.0.0.0", 8008))
    # seconds a client has to send a request head (or a body a handler reads): then 408
    http_request_timeout: float = Field(default=10.0, gt=0, le=3600)
    topology: Path | None = None
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    rcvbuf_bytes: int = Field(default=32 * 1024 * 1024, ge=65536)
    # the compiled socket reader's ring per receiver (docs/tuning.md); 0: the loop reads itself
    receive_ring_bytes: RingBytes = DEFAULT_RING_BYTES
    per_port_metrics: bool = False
    agent_timeout: float = Field(default=180.0, gt=0)
    max_agents: int = Field(default=10_000, ge=1)
    trim_dscp: int = Field(default=11, ge=-1, le=63)
    smoothing_seconds: float = Field(default=2.0, gt=0)
    tick_seconds: float = Field(default=1.0, gt=0, le=60)
    decoder: str = Field(default="auto", pattern="^(auto|full|fast)$")
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    # --- the compatible face (sFlow-RT ai-metrics; docs/compat.md)
    prometheus_prefix: str = Field(default="sflow_", pattern="^([a-zA-Z_:][a-zA-Z0-9_:]*)?$")
    prometheus_type: bool = False  # add "# TYPE ... gauge" lines (prometheus.type=yes)
    # spelling of the operations{name} labels: Linux ib_pack.h or the IBTA opcode table
    operation_names: str = Field(default="linux", pattern="^(linux|ibta)$")
    # period detection (ai.flow.fast, ai.threshold.t, ai.load.*, ai.period.*)
    period_flow_fast: float = Field(default=0.1, gt=0, le=10)
    period_threshold_t: float = Field(default=0.2, ge=0, le=10)
    period_load_window: int = Field(default=20, ge=1, le=3600)
    period_load_sensitivity: float = Field(default=2.0, gt=0)
    period_load_repeat: int = Field(default=2, ge=1, le=100)
    period_window: int = Field(default=20, ge=1, le=10_000)
    period_sensitivity: float = Field(default=2.0, gt=0)
    period_repeat: int = Field(default=2, ge=1, le=100)
    period_misses: float = Field(default=4.0, gt=0)
    period_stale: float = Field(default=10.0, gt=0)
    period_cv: float = Field(default=0.5, gt=0)
    # which estimate sflow_ai_period reports: the reference's, or ours (aggregate/period.py)
    period_method: str = Field(default="compatible", pattern="^(compatible|fine)$")
    # direct push to InfluxDB v2 (docs/influxdb-push.md); the token comes from the environment
    influx_url: InfluxUrl | None = None
    influx_org: str | None = Field(default=None, min_length=1)
    influx_bucket: str | None = Field(default=None, min_length=1)
    influx_interval: float = Field(default=10.0, ge=0.05, le=3600)
    influx_precision: str = Field(default="ms", pattern="^(s|ms|us|ns)$")
    influx_batch_points: int = Field(default=5000, ge=1, le=1_000_000)
    influx_buffer_points: int = Field(default=100_000, ge=1)
    influx_buffer_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    influx_max_backoff: float = Field(default=60.0, gt=0, le=3600)
    # --- who may change the collector (docs/security.md); the token from env, config or a file
    api_token: ApiToken | None = None
    api_token_file: Path | None = None
    # whose sFlow counts: CIDRs and/or "topology"; empty: every agent (a warning at start)
    allowed_agents: AllowedAgents = Field(default_factory=AdmissionRule)
    # --- flow definitions (docs/flows.md): where PUT /flow/{name}/json persists them
    flows_file: Path | None = None
    flow_max_keys: int = Field(default=10_000, ge=100, le=1_000_000)
    # --- fabric-health events (docs/fabric-health.md): off by default, for its definitions cost
    # the receivers much of their no-loss rate while the flow engine is plain Python
    health: bool = False
    # --- scale-out over NATS JetStream (docs/scale-out.md)
    publish: NatsUrls | None = None  # serve: publish this host's deltas to the bus
    shard: ShardName | None = None  # this host's shard name (default: from the host name)
    nats: NatsUrls | None = None  # aggregate: the bus whose deltas it merges
    bus_stream: str = Field(default=DEFAULT_STREAM, pattern="^[A-Za-z0-9_-]{1,64}$")
    bus_replicas: int = Field(default=1, ge=1, le=5)
    bus_max_age: float = Field(default=86_400.0, gt=0)
    bus_consumer: ShardName | None = None  # aggregate: durable name (default: from host name)
    bus_checkpoint_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    nats_credentials: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None


FIELDS = tuple(Settings.model_fields)


def period_params(settings: Settings) -> PeriodParams:
    """The period detector's parameters from the settings."""
    return PeriodParams(
        flow_fast=settings.period_flow_fast,
        threshold_t=settings.period_threshold_t,
        load_window=settings.period_load_window,
        load_sensitivity=settings.period_load_sensitivity,
        load_repeat=settings.period_load_repeat,
        period_window=settings.period_window,
        period_sensitivity=settings.period_sensitivity,
        period_repeat=settings.period_repeat,
        misses=settings.period_misses,
        stale=settings.period_stale,
        cv=settings.period_cv,
    )


@dataclass(frozen=True, slots=True)
class ServeParts:
    """``Settings`` narrowed to each component of ``serve``: what the service wires."""

    sflow_bind: BindAddress
    http_bind: BindAddress
    http: HttpSettings
    workers: int
    rcvbuf_bytes: int
    topology_file: Path | None
    per_port_metrics: bool
    receiver: ReceiverSettings
    aggregator: AggregatorSettings
    compat: CompatSettings
    influx: InfluxSettings | None
    api_token: str | None = field(default=None, repr=False)  # writes need it (None: loopback)
    flows_file: Path | None = None  # flow definitions persist here (None: not persisted)
    publisher: PublisherSettings | None = None  # serve --publish
    bus_source: ConsumerSettings | None = None  # aggregate: deltas come from the bus


def _bus(settings: Settings, servers: tuple[str, ...]) -> BusSettings:
    return BusSettings(
        servers=servers,
        stream=settings.bus_stream,
        replicas=settings.bus_replicas,
        max_age_seconds=settings.bus_max_age,
        credentials=settings.nats_credentials,
        tls_ca=settings.nats_tls_ca,
        tls_cert=settings.nats_tls_cert,
        tls_key=settings.nats_tls_key,
    )


def bus_parts(
    settings: Settings, aggregate: bool
) -> tuple[PublisherSettings | None, ConsumerSettings | None]:
    """``serve``: the publisher (with --publish); ``aggregate``: the consumer (--nats)."""
    host = shard_of_host(socket.gethostname())
    if aggregate:
        if settings.nats is None:
            return None, None
        consumer = settings.bus_consumer or f"aggregate-{host}"
        return None, ConsumerSettings(
            _bus(settings, settings.nats), consumer, settings.bus_checkpoint_seconds
        )
    if settings.publish is None:
        return None, None
    return PublisherSettings(_bus(settings, settings.publish), settings.shard or host), None


def serve_parts(settings: Settings, aggregate: bool = False) -> ServeParts:
    """The one place ``Settings`` is narrowed into the components' own settings
    (``aggregate``: for ``fabricscope aggregate``, whose deltas come from the bus)."""
    publisher, bus_source = bus_parts(settings, aggregate)
    influx = None
    if settings.influx_url and settings.influx_org and settings.influx_bucket:
        influx = InfluxSettings(
            settings.influx_url,
            settings.influx_org,
            settings.influx_bucket,
            settings.influx_precision,
            PushLimits(
                interval=settings.influx_interval,
                batch_points=settings.influx_batch_points,
                buffer_points=settings.influx_buffer_points,
                buffer_bytes=settings.influx_buffer_bytes,
                min_backoff=min(MIN_BACKOFF, settings.influx_max_backoff),
                max_backoff=settings.influx_max_backoff,
            ),
        )
    return ServeParts(
        sflow_bind=settings.sflow_bind,
        http_bind=settings.http_bind,
        http=HttpSettings(request_timeout=settings.http_request_timeout),
        workers=settings.workers,
        rcvbuf_bytes=settings.rcvbuf_bytes,
        topology_file=settings.topology,
        per_port_metrics=settings.per_port_metrics,
        receiver=ReceiverSettings(
            state=StateSettings(
                agent_timeout=settings.agent_timeout,
                max_agents=settings.max_agents,
                trim_dscp=settings.trim_dscp,
                per_port=settings.per_port_metrics,
            ),
            tick_seconds=settings.tick_seconds,
            decoder=settings.decoder,
            log_level=settings.log_level,
            admission=settings.allowed_agents,
            ring_bytes=settings.receive_ring_bytes,
        ),
        aggregator=AggregatorSettings(
            smoothing_seconds=settings.smoothing_seconds,
            status_timeout=settings.agent_timeout,
            per_port=settings.per_port_metrics,
            max_flow_keys=settings.flow_max_keys,
            period=period_params(settings),
            health=HealthSettings(enabled=settings.health),
            # aggregate: a shard's RoCE buckets are a tick older, plus the bus's transit (1 s)
            roce_lateness_buckets=ROCE_LATENESS_BUCKETS
            + (math.ceil(settings.tick_seconds * 10) + 10 if aggregate else 0),
        ),
        compat=CompatSettings(
            prefix=settings.prometheus_prefix,
            types=settings.prometheus_type,
            operation_names=settings.operation_names,
            period_method=settings.period_method,
        ),
        influx=influx,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
        flows_file=settings.flows_file,
        publisher=publisher,
        bus_source=bus_source,
    )


def flag_of(field: str) -> str:
    """The command-line flag of a setting."""
    return "--" + field.replace("_", "-")


def env_of(field: str) -> str:
    """The environment variable of a setting."""
    return ENV_PREFIX + field.upper()


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        f: env[env_of(f)]
        for f in FIELDS
        if env_of(f) in env and (env[env_of(f)] or f not in EMPTY_MEANS_UNSET)
    }


def _read_token_file(path: Path, where: str) -> str:
    """The API token held in ``path``; ``SettingsError`` naming the setting when unusable."""

    def refuse(why: str) -> SettingsError:
        return SettingsError(f"invalid api_token_file (from {where}): {path}: {why}")

    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise refuse(f"longer than {MAX_TOKEN_BYTES} bytes, not a token")
    try:
        return check_api_token(raw.decode("ascii"))
    except UnicodeDecodeError:
        raise refuse("only printable ASCII can be sent as a Bearer token") from None
    except ValueError as exc:
        raise refuse(str(exc)) from None


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    for key in data:
        if key not in FIELDS:
            raise SettingsError(f"config file {path}: unknown setting {key!r}")
    return data


def load_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources and validate; raises ``SettingsError`` with a one-line message."""
    env = os.environ if env is None else env
    origin: dict[str, str] = {}
    values: dict[str, Any] = {}
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    if config_file is not None:
        for key, value in _from_file(config_file).items():
            values[key], origin[key] = value, f"config file {config_file}"
    for key, value in _from_env(env).items():
        values[key], origin[key] = value, env_of(key)
    for key, value in flags.items():
        if value is not None and key in FIELDS:
            values[key], origin[key] = value, flag_of(key)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        where = origin.get(field, "default")
        raise SettingsError(f"invalid {field} (from {where}): {message}") from None
    if settings.influx_url is not None:
        for needed in ("influx_org", "influx_bucket"):
            if getattr(settings, needed) is None:
                where = origin["influx_url"]
                raise SettingsError(f"missing {needed}: influx_url (from {where}) needs it")
    if settings.api_token_file is not None:
        where = origin["api_token_file"]
        if settings.api_token is not None:
            raise SettingsError(
                f"api_token (from {origin['api_token']}) and api_token_file (from {where}) "
                "are both set: use one"
            )
        token = _read_token_file(settings.api_token_file, where)
        settings = settings.model_copy(update={"api_token": SecretStr(token)})
    return settings
