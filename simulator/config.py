"""One frozen configuration for a simulator run (fabric, traffic, agents, drops, faults)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.fabric import FabricSpec
from simulator.faults import Fault
from simulator.traffic import TrafficSpec

__all__ = ["DEFAULT_DROP_RATES", "DROP_KINDS", "SimConfig"]

# Background drop processes (events/s over the whole fabric); buffer drops come from congestion.
# name → (sFlow reason code, hardware trap group/name or software function/Linux reason)
DROP_KINDS: dict[str, tuple[int, str, str, str]] = {
    "acl": (258, "hw", "acl_drops", "ingress_flow_action_drop"),
    "ttl_exceeded": (257, "hw", "l3_exceptions", "ttl_value_is_too_small"),
    "blackhole_route": (269, "hw", "l3_drops", "blackhole_route"),
    "netfilter": (258, "sw", "nf_hook_slow", "NETFILTER_DROP"),
    "no_socket": (3, "sw", "__udp4_lib_rcv", "NO_SOCKET"),
}
BUFFER_DROP = (259, "hw", "buffer_drops", "tail_drop")
DEFAULT_DROP_RATES: dict[str, float] = {
    "acl": 2.0,
    "ttl_exceeded": 0.5,
    "blackhole_route": 0.5,
    "netfilter": 1.0,
    "no_socket": 0.5,
}

DEFAULT_START_TIME = 1735689600.0  # 2025-01-01T00:00:00Z: pcap timestamps are reproducible


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything one run needs; the same config and seed give the same bytes."""

    fabric: FabricSpec = field(default_factory=FabricSpec)
    traffic: TrafficSpec = field(default_factory=TrafficSpec)
    seed: int = 1
    duration: float | None = 10.0  # None: until stopped
    start_time: float = DEFAULT_START_TIME
    sampling_rate: int = 0  # 0: link speed in Mb/s (Cumulus-style default)
    polling_interval: float = 20.0
    header_bytes: int = 128
    datagram_size: int = 1400
    max_datagram_age: float = 0.05  # s: an agent flushes a partial datagram after this long
    slice: float = 0.01  # s: time resolution of emission
    drop_rates: tuple[tuple[str, float], ...] = tuple(DEFAULT_DROP_RATES.items())
    drop_limit: float = 10.0  # notifications/s per agent (token bucket, burst = limit)
    error_ports: int = 1
    error_rate: float = 0.5  # FCS errors/s on each error port
    optics: bool = False
    pfc: bool = False
    flow_extensions: bool = False  # 1036 + 1039 + 1040 on flow samples (not tshark 4.0 clean)
    faults: tuple[Fault, ...] = ()
    scenario: str = "healthy"  # simulator.scenarios: one cause of trouble, with its truth
    scenario_start: float = 3.0  # s of virtual time when the scenario's cause starts

    def validate(self) -> None:
        """Raise ``ValueError`` (one clear line) when a value is out of range."""
        self.fabric.validate()
        self.traffic.validate()
        if self.duration is not None and not 0 < self.duration <= 10**7:
            raise ValueError("duration must be positive")
        if self.sampling_rate < 0:
            raise ValueError("sampling rate must be ≥ 1 (0 = link speed in Mb/s)")
        if self.polling_interval <= 0:
            raise ValueError("polling interval must be positive")
        if not 64 <= self.header_bytes <= 256:
            raise ValueError("header bytes must be within 64 … 256")
        if not 576 <= self.datagram_size <= 9000:
            raise ValueError("datagram size must be within 576 … 9000 bytes")
        if not 0.001 <= self.slice <= 0.1:
            raise ValueError("slice must be within 1 … 100 ms")
        if self.max_datagram_age < self.slice:
            raise ValueError("max datagram age must be at least one slice")
        for name, rate in self.drop_rates:
            if name not in DROP_KINDS:
                raise ValueError(f"drop kind {name!r} is not one of {', '.join(DROP_KINDS)}")
            if rate < 0:
                raise ValueError("drop rates must be ≥ 0")
        if self.drop_limit < 0 or self.error_rate < 0 or self.error_ports < 0:
            raise ValueError("drop limit, error rate and error ports must be ≥ 0")
        if self.scenario_start < 0:
            raise ValueError("scenario start must be ≥ 0")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the truth file's ``config``)."""
        d = asdict(self)
        d["faults"] = [f.as_dict() for f in self.faults]
        d["drop_rates"] = dict(self.drop_rates)
        d["fabric"]["uplinks_per_leaf"] = self.fabric.uplinks
        if self.scenario == "healthy":
            # the healthy fabric's truth stays as it was before scenarios existed
            del d["scenario"], d["scenario_start"]
        return d
