"""The traffic model: NCCL-style collectives over RoCEv2, background traffic, ECMP and ECN.

Pure and deterministic: no clocks, no I/O; every random choice comes from a ``random.Random``
passed in. The model works in *rates*: for a given fabric state (which jobs are exchanging, which
links are down) :meth:`TrafficModel.rates` gives every subflow its packet rate per packet type and
every hop its ECN CE fraction. The engine (``simulator.run``) turns rates into exact integer
packet counts per time slice with carried remainders, which is what the truth file reports and
what the sFlow agents sample from.

Vocabulary:

* **NIC**: a GPU NIC (fabric endpoint), see ``simulator.fabric``.
* **flow**: one RC queue-pair connection between two NICs, carrying data from ``a`` to ``b``.
  It has two **subflows**: *data* (a → b: RDMA WRITE First/Middle/Last, or READ responses) and
  *control* (b → a: ACKs with AETH credits, the NCCL clear-to-send WRITE Only, NAK / RNR NAK,
  READ requests, CNPs). Background TCP/UDP flows are modelled the same way.
* **hop**: one switch on a subflow's path; each subflow is seen (and sampled) at the *ingress*
  port of every hop: the source leaf's edge port, the spine's port, the destination leaf's port.
* **profile**: the packet mix of a subflow per message (e.g. one FIRST, k − 2 MIDDLE, one LAST).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from decoders.rocev2 import CREDIT_TABLE, OPCODES
from simulator.fabric import Fabric

__all__ = [
    "COLLECTIVES",
    "PTYPES",
    "JobSchedule",
    "PacketType",
    "Profile",
    "RateState",
    "TrafficModel",
    "TrafficSpec",
]

COLLECTIVES = ("ring", "tree", "allgather", "reducescatter")
SCENARIO_JOB = -2  # the job of a scenario's flows (-1: background)

# ---------------------------------------------------------------------------------------------
# Packet types

T_WRITE_FIRST = 0
T_WRITE_MIDDLE = 1
T_WRITE_LAST_IMM = 2
T_WRITE_ONLY = 3
T_SEND_ONLY = 4
T_READ_REQUEST = 5
T_READ_RESP_FIRST = 6
T_READ_RESP_MIDDLE = 7
T_READ_RESP_LAST = 8
T_READ_RESP_ONLY = 9
T_ACK = 10
T_NAK = 11
T_RNR_NAK = 12
T_CNP = 13
T_TCP_DATA = 14
T_TCP_ACK = 15
T_UDP = 16
T_WRITE_LAST = 17  # appended: the earlier type numbers (and every seeded run) stay as they were
N_TYPES = 18


@dataclass(frozen=True, slots=True)
class PacketType:
    """One kind of packet: BTH opcode (−1 for non-RoCE) and the headers after the BTH."""

    name: str
    opcode: int
    reth: bool = False
    aeth: bool = False
    immdt: bool = False
    cnp: bool = False
    l4: str = "roce"  # roce, tcp, udp

    @property
    def label(self) -> str:
        """``TRANSPORT:OPERATION`` as the decoder labels it; the plain name for non-RoCE."""
        if self.opcode < 0:
            return self.name
        transport, operation = OPCODES[self.opcode]
        return f"{transport}:{operation}"

    @property
    def roce(self) -> bool:
        """True for RoCEv2 packets (UDP 4791 + BTH)."""
        return self.l4 == "roce"

    def ext_bytes(self) -> int:
        """Bytes of extension headers after the BTH."""
        if self.cnp:
            return 16
        return 16 * self.reth + 4 * self.aeth + 4 * self.immdt


PTYPES: tuple[PacketType, ...] = (
    PacketType("WRITE_FIRST", 0x06, reth=True),
    PacketType("WRITE_MIDDLE", 0x07),
    PacketType("WRITE_LAST_IMM", 0x09, immdt=True),
    PacketType("WRITE_ONLY", 0x0A, reth=True),
    PacketType("SEND_ONLY", 0x04),
    PacketType("READ_REQUEST", 0x0C, reth=True),
    PacketType("READ_RESP_FIRST", 0x0D, aeth=True),
    PacketType("READ_RESP_MIDDLE", 0x0E),
    PacketType("READ_RESP_LAST", 0x0F, aeth=True),
    PacketType("READ_RESP_ONLY", 0x10, aeth=True),
    PacketType("ACK", 0x11, aeth=True),
    PacketType("NAK", 0x11, aeth=True),
    PacketType("RNR_NAK", 0x11, aeth=True),
    PacketType("CNP", 0x81, cnp=True),
    PacketType("TCP_DATA", -1, l4="tcp"),
    PacketType("TCP_ACK", -1, l4="tcp"),
    PacketType("UDP", -1, l4="udp"),
    PacketType("WRITE_LAST", 0x08),
)
assert len(PTYPES) == N_TYPES

ETH_BYTES = 14
FCS_BYTES = 4
ICRC_BYTES = 4
UDP_BYTES = 8
BTH_BYTES = 12
TCP_BYTES = 32  # 20 + timestamps option
TCP_MSS = 1448  # 1500 MTU − IPv4 20 − TCP 32
UDP_PAYLOAD = 1200
SEND_BYTES = 128
NAK_SYNDROME = 0x60  # NAK, PSN sequence error
RNR_SYNDROME = 0x20 | 14  # RNR NAK, 1.28 ms timer


def frame_bytes(ptype: int, payload: int, ip_version: int) -> int:
    """Frame length on the wire (Ethernet header … FCS, as sFlow's frame_length counts it)."""
    pt = PTYPES[ptype]
    ip = 20 if ip_version == 4 else 40
    if pt.l4 == "tcp":
        return ETH_BYTES + ip + TCP_BYTES + payload + FCS_BYTES
    if pt.l4 == "udp":
        return ETH_BYTES + ip + UDP_BYTES + payload + FCS_BYTES
    pad = -payload % 4
    return (
        ETH_BYTES
        + ip
        + UDP_BYTES
        + BTH_BYTES
        + pt.ext_bytes()
        + payload
        + pad
        + ICRC_BYTES
        + FCS_BYTES
    )


# ---------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    """Parameters of the traffic model (see ``docs/simulator.md`` for each)."""

    collectives: tuple[str, ...] = ("ring",)
    jobs: int = 1
    period: float = 0.5
    duty: float = 0.5
    jitter: float = 0.05
    load: float = 0.8
    message_size: int = 524288
    mtu: int = 4096
    read_fraction: float = 0.1
    send_ratio: float = 0.125
    ack_every: int = 8
    nak_ratio: float = 2e-4
    rnr_ratio: float = 1e-4
    cts_size: int = 64
    cts_ratio: float = 1.0
    write_imm_fraction: float = 1.0
    background: float = 0.02
    placement: str = "random"
    ip_version: int = 4
    ecn_kmin: float = 0.85
    ecn_kmax: float = 1.5
    ecn_pmax: float = 0.1
    cnp_interval_us: float = 50.0
    buffer_drop_coef: float = 2e-7

    def validate(self) -> None:
        """Raise ``ValueError`` with one clear line when a parameter is out of range."""
        for c in self.collectives:
            if c not in COLLECTIVES:
                raise ValueError(f"collective {c!r} is not one of {COLLECTIVES}")
        if not self.collectives:
            raise ValueError("need at least one collective")
        if self.jobs < 1:
            raise ValueError("need at least one job")
        if not 0.01 <= self.period <= 3600:
            raise ValueError("period must be within 0.01 … 3600 s")
        if not 0 < self.duty <= 1:
            raise ValueError("duty (exchange fraction of the period) must be in (0, 1]")
        if not 0 <= self.jitter <= 0.5:
            raise ValueError("jitter must be within 0 … 0.5 (fraction of the period)")
        if not 0 <= self.write_imm_fraction <= 1:
            raise ValueError("write-imm-fraction must be within 0 … 1")
        if not 0 <= self.cts_ratio <= 16:
            raise ValueError("cts-ratio must be within 0 … 16 (CTS writes per message)")
        if not 0 <= self.load <= 1:
            raise ValueError("load must be within 0 … 1 (fraction of NIC line rate)")
        if self.mtu not in (256, 512, 1024, 2048, 4096):
            raise ValueError("RoCE MTU must be 256, 512, 1024, 2048 or 4096")
        if not 1 <= self.message_size <= 1 << 31:
            raise ValueError("message size must be 1 B … 2 GiB")
        if not 0 <= self.read_fraction <= 1:
            raise ValueError("read fraction must be within 0 … 1")
        if not 0 <= self.background <= 1:
            raise ValueError("background must be within 0 … 1 (fraction of NIC line rate)")
        if self.placement not in ("random", "packed"):
            raise ValueError("placement must be 'random' or 'packed'")
        if self.ip_version not in (4, 6):
            raise ValueError("IP version must be 4 or 6")
        if self.ack_every < 1:
            raise ValueError("ack-every must be at least 1")


# ---------------------------------------------------------------------------------------------
# Profiles: packet mix of one subflow per message


@dataclass(frozen=True, slots=True)
class Profile:
    """The packets of one subflow per message: types, counts, payloads, DMA lengths, frames."""

    name: str
    roce: bool
    types: tuple[int, ...]
    per_msg: tuple[float, ...]
    payload: tuple[int, ...]
    dma: tuple[int, ...]
    frame: tuple[int, ...]
    cnp_index: int = -1  # index in ``types`` of the CNP entry (rate added by the model)

    @property
    def wire_per_msg(self) -> float:
        """Frame bytes per message."""
        return sum(c * f for c, f in zip(self.per_msg, self.frame, strict=True))


def _profile(
    name: str, entries: Sequence[tuple[int, float, int, int]], ip_version: int, roce: bool = True
) -> Profile:
    types = tuple(e[0] for e in entries)
    cnp = types.index(T_CNP) if T_CNP in types else -1
    return Profile(
        name,
        roce,
        types,
        tuple(e[1] for e in entries),
        tuple(e[2] for e in entries),
        tuple(e[3] for e in entries),
        tuple(frame_bytes(t, e[2], ip_version) for t, e in zip(types, entries, strict=True)),
        cnp,
    )


def build_profiles(spec: TrafficSpec) -> dict[str, Profile]:
    """Profiles for write/read RoCE flows and background TCP/UDP, from the spec."""
    m, mtu, v = spec.message_size, spec.mtu, spec.ip_version
    k = -(-m // mtu)
    last = m - (k - 1) * mtu
    acks = -(-k // spec.ack_every)
    good = max(0.0, 1.0 - spec.nak_ratio - spec.rnr_ratio)
    if k == 1:
        write_data = [(T_WRITE_ONLY, 1.0, m, m)]
        read_data = [(T_READ_RESP_ONLY, 1.0, m, 0)]
    else:
        write_data = [
            (T_WRITE_FIRST, 1.0, mtu, m),
            (T_WRITE_MIDDLE, float(k - 2), mtu, 0),
            (T_WRITE_LAST_IMM, spec.write_imm_fraction, last, 0),
            (T_WRITE_LAST, 1.0 - spec.write_imm_fraction, last, 0),
        ]
        read_data = [
            (T_READ_RESP_FIRST, 1.0, mtu, 0),
            (T_READ_RESP_MIDDLE, float(k - 2), mtu, 0),
            (T_READ_RESP_LAST, 1.0, last, 0),
        ]
    write_data += [(T_SEND_ONLY, spec.send_ratio, SEND_BYTES, 0), (T_ACK, 1.0, 0, 0)]
    write_ctrl = [
        (T_ACK, (acks + spec.send_ratio) * good, 0, 0),
        (T_NAK, (acks + spec.send_ratio) * spec.nak_ratio, 0, 0),
        (T_RNR_NAK, (acks + spec.send_ratio) * spec.rnr_ratio, 0, 0),
        (T_WRITE_ONLY, spec.cts_ratio, spec.cts_size, spec.cts_size),
        (T_CNP, 0.0, 0, 0),
    ]
    read_ctrl = [(T_READ_REQUEST, 1.0, 0, m), (T_CNP, 0.0, 0, 0)]
    return {
        "write_data": _profile("write_data", [e for e in write_data if e[1] > 0], v),
        "write_ctrl": _profile("write_ctrl", write_ctrl, v),
        "read_data": _profile("read_data", [e for e in read_data if e[1] > 0], v),
        "read_ctrl": _profile("read_ctrl", read_ctrl, v),
        "tcp_data": _profile("tcp_data", [(T_TCP_DATA, 1.0, TCP_MSS, 0)], v, roce=False),
        "tcp_ctrl": _profile("tcp_ctrl", [(T_TCP_ACK, 0.5, 0, 0)], v, roce=False),
        "udp": _profile("udp", [(T_UDP, 1.0, UDP_PAYLOAD, 0)], v, roce=False),
    }


# ---------------------------------------------------------------------------------------------
# Compute / exchange schedule of one job


@dataclass(slots=True)
class JobSchedule:
    """Cycles of one job: compute, then exchange for ``duty`` of the cycle; lengths jittered.

    Cycle ``c`` spans ``[start, end)`` with the exchange in ``[xstart, end)``; a cycle lasts
    ``period × (1 + jitter × N(0, 1))`` (clipped to ≥ 0.2 × period). Generated lazily.
    """

    period: float
    duty: float
    jitter: float
    rng: random.Random
    cycles: list[tuple[float, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        start = -self.rng.random() * self.period
        self.cycles.append(self._cycle(start))

    def _cycle(self, start: float) -> tuple[float, float, float]:
        length = self.period * max(0.2, 1.0 + self.jitter * self.rng.gauss(0.0, 1.0))
        end = start + length
        return (start, end - self.duty * length, end)

    def _extend(self, t: float) -> None:
        while self.cycles[-1][2] <= t:
            self.cycles.append(self._cycle(self.cycles[-1][2]))

    def _find(self, t: float) -> tuple[float, float, float]:
        self._extend(t)
        for cyc in reversed(self.cycles):
            if cyc[0] <= t:
                return cyc
        return self.cycles[0]

    def exchanging(self, t: float) -> bool:
        """True when the job is in its exchange phase at ``t``."""
        _, xstart, end = self._find(t)
        return xstart <= t < end

    def next_change(self, t: float) -> float:
        """The first phase boundary strictly after ``t``."""
        _start, xstart, end = self._find(t)
        return xstart if t < xstart else end

    def forget_before(self, t: float) -> list[tuple[float, float, float]]:
        """Drop and return the cycles that ended at or before ``t`` (kept: the current one)."""
        done = [c for c in self.cycles if c[2] <= t]
        if done:
            self.cycles = [c for c in self.cycles if c[2] > t]
        return done


# ---------------------------------------------------------------------------------------------
# The model


Hop = tuple[int, int, int, int, bytes, bytes]  # switch, in port, out port, ttl, src mac, dst mac


@dataclass(slots=True)
class RateState:
    """Rates for one fabric state: per subflow, packets/s of each profile type; CE per hop."""

    active: list[int]  # subflows with traffic
    rates: list[list[float]]  # per subflow (empty when idle)
    ce: list[list[float]]  # per subflow: CE fraction at the ingress of each hop
    ce_recv: list[float]  # per subflow: CE fraction at the receiver
    utilisation: dict[int, float]  # egress port → offered / capacity (ports with traffic)
    drops_pps: dict[int, float]  # egress port → buffer drops/s (congested ports)
    paths: list[list[Hop]]
    dropping: dict[int, list[int]]  # congested egress port → RoCE data subflows through it


class TrafficModel:
    """Flows, subflows and their paths for a fabric; rates for a given state.

    Subflow tables are parallel lists indexed by subflow id: ``sub_src``/``sub_dst`` (NICs),
    ``sub_profile`` (Profile), ``sub_peer`` (the other direction, −1 for one-way UDP),
    ``sub_data`` (True for the direction that carries the data), ``sub_job`` (−1 background),
    ``sub_qp`` (destination QP), ``sub_sport`` (UDP/TCP source port), ``sub_credit`` (AETH
    credit code of its ACKs).
    """

    def __init__(self, fabric: Fabric, spec: TrafficSpec, rng: random.Random) -> None:
        """Build the flows of every job and the background flows (deterministic in ``rng``)."""
        spec.validate()
        self.fabric = fabric
        self.spec = spec
        self.profiles = build_profiles(spec)
        self.sub_src: list[int] = []
        self.sub_dst: list[int] = []
        self.sub_profile: list[Profile] = []
        self.sub_peer: list[int] = []
        self.sub_data: list[bool] = []
        self.sub_job: list[int] = []
        self.sub_qp: list[int] = []
        self.sub_sport: list[int] = []
        self.sub_credit: list[int] = []
        self.job_collective: list[str] = []
        self.job_subs: list[list[int]] = []
        self.background_subs: list[int] = []
        # scenario flows (simulator.scenarios): steady elephants switched on at the scenario's
        # start, each with its own load and, when pinned, the uplink ECMP cannot move it off
        self.scenario_subs: list[int] = []
        self.scenario_load: dict[int, float] = {}
        self.pinned_uplink: dict[int, int] = {}
        self._rng = rng
        self._build_jobs()
        self._build_background()
        self._paths_cache: dict[frozenset[int], list[list[Hop]]] = {}
        self._rates_cache: dict[tuple[tuple[bool, ...], frozenset[int], bool], RateState] = {}
        # Per leaf: uplinks; per spine: leaf → ports towards that leaf.
        self._uplinks = [fabric.uplinks_of(leaf) for leaf in range(fabric.n_leaves)]
        self._downlinks: list[dict[int, list[int]]] = []
        for s in range(fabric.n_leaves, fabric.n_switches):
            first, count = fabric.switch_ports[s]
            by_leaf: dict[int, list[int]] = {}
            for p in range(first, first + count):
                peer = fabric.port_peer[p]
                if peer >= 0:
                    by_leaf.setdefault(fabric.port_switch[peer], []).append(p)
            self._downlinks.append(by_leaf)

    @property
    def n_subs(self) -> int:
        """Number of subflows."""
        return len(self.sub_src)

    # -- construction --------------------------------------------------------------------------

    def _hosts_nics(self) -> list[list[int]]:
        fab = self.fabric
        per_host: list[list[int]] = [[] for _ in range(fab.hosts)]
        for n in range(fab.n_nics):
            per_host[fab.nic_host[n]].append(n)
        return per_host

    def _add_flow(self, a: int, b: int, job: int, mode: str) -> None:
        rng = self._rng
        data_p = self.profiles[f"{mode}_data"] if mode != "udp" else self.profiles["udp"]
        sport = 49152 + rng.randrange(16384)
        credit = rng.randrange(6, 15)
        d = len(self.sub_src)
        self._append_sub(a, b, data_p, True, job, rng.randrange(1, 1 << 24), sport, credit)
        if mode == "udp":
            self.sub_peer.append(-1)
            return
        ctrl_p = self.profiles[f"{mode}_ctrl"]
        self.sub_peer.append(d + 1)
        self._append_sub(b, a, ctrl_p, False, job, rng.randrange(1, 1 << 24), sport, credit)
        self.sub_peer.append(d)

    def _append_sub(
        self,
        src: int,
        dst: int,
        profile: Profile,
        data: bool,
        job: int,
        qp: int,
        sport: int,
        credit: int,
    ) -> None:
        self.sub_src.append(src)
        self.sub_dst.append(dst)
        self.sub_profile.append(profile)
        self.sub_data.append(data)
        self.sub_job.append(job)
        self.sub_qp.append(qp)
        self.sub_sport.append(sport)
        self.sub_credit.append(credit)

    def _build_jobs(self) -> None:
        spec, rng = self.spec, self._rng
        per_host = self._hosts_nics()
        hosts = list(range(len(per_host)))
        if spec.placement == "random":
            rng.shuffle(hosts)
        jobs = min(spec.jobs, max(1, len(hosts) // 2)) if len(hosts) > 1 else 1
        size = len(hosts) // jobs
        for j in range(jobs):
            members = hosts[j * size : (j + 1) * size if j < jobs - 1 else len(hosts)]
            collective = spec.collectives[j % len(spec.collectives)]
            self.job_collective.append(collective)
            first = len(self.sub_src)
            pairs: list[tuple[int, int]] = []
            n = len(members)
            if n >= 2:
                if collective == "tree":
                    for i in range(1, n):
                        parent = (i - 1) // 2
                        pairs.append((members[i], members[parent]))
                        pairs.append((members[parent], members[i]))
                else:  # ring, allgather, reducescatter: ring neighbours
                    pairs = [(members[i], members[(i + 1) % n]) for i in range(n)]
                    if n == 2:
                        pairs = [*pairs[:1], (members[1], members[0])]
            for ha, hb in pairs:
                nics_a, nics_b = per_host[ha], per_host[hb]
                for r in range(min(len(nics_a), len(nics_b))):
                    mode = "read" if rng.random() < spec.read_fraction else "write"
                    self._add_flow(nics_a[r], nics_b[r], j, mode)
            self.job_subs.append(list(range(first, len(self.sub_src))))

    def _build_background(self) -> None:
        spec, rng, fab = self.spec, self._rng, self.fabric
        if spec.background <= 0 or fab.n_nics < 2:
            return
        first = len(self.sub_src)
        for a in range(fab.n_nics):
            b = rng.randrange(fab.n_nics - 1)
            if b >= a:
                b += 1
            self._add_flow(a, b, -1, "udp" if a % 4 == 3 else "tcp")
        self.background_subs = list(range(first, len(self.sub_src)))

    def add_scenario_flow(self, a: int, b: int, load: float, uplink: int = -1) -> int:
        """A steady RDMA WRITE flow from NIC ``a`` to NIC ``b`` at ``load`` of ``a``'s line rate,
        on while the scenario is; ``uplink`` ≥ 0 pins its data direction to that leaf uplink
        (a polarised hash). Returns the data subflow's id. Call before the first ``paths``."""
        d = len(self.sub_src)
        self._add_flow(a, b, SCENARIO_JOB, "write")
        for s in range(d, len(self.sub_src)):
            self.scenario_subs.append(s)
        self.scenario_load[d] = load
        if uplink >= 0:
            self.pinned_uplink[d] = uplink
        self._paths_cache.clear()
        self._rates_cache.clear()
        return d

    # -- paths ---------------------------------------------------------------------------------

    def _hash(self, sub: int, salt: bytes) -> int:
        src = self.fabric.nic_ip[self.sub_src[sub]]
        dst = self.fabric.nic_ip[self.sub_dst[sub]]
        sport = self.sub_sport[sub].to_bytes(2, "big")
        return zlib.crc32(salt + src + dst + sport + b"\x12\xb7\x11")

    def path(self, sub: int, down: frozenset[int]) -> list[Hop]:
        """The hops of subflow ``sub`` with the links in ``down`` avoided (ECMP by 5-tuple)."""
        fab = self.fabric
        a, b = self.sub_src[sub], self.sub_dst[sub]
        pa, pb = fab.nic_port[a], fab.nic_port[b]
        la, lb = fab.port_switch[pa], fab.port_switch[pb]
        src_mac, la_mac = fab.nic_mac(a), fab.switch_mac(la)
        if la == lb:
            return [(la, pa, pb, 64, src_mac, la_mac)]
        # A routed fabric withdraws a spine's route to lb when all its links to lb are down, so
        # ECMP at la only spreads over uplinks to spines that can still reach lb.
        ups = [
            u
            for u in self._uplinks[la]
            if fab.port_link[u] not in down and self._reaches(fab.port_peer[u], lb, down)
        ]
        if not ups:
            ups = self._uplinks[la]  # every uplink down: keep the path (traffic is blackholed)
        pin = self.pinned_uplink.get(sub, -1)
        up = pin if pin in ups else ups[self._hash(sub, b"L") % len(ups)]
        sp = fab.port_peer[up]
        spine = fab.port_switch[sp]
        downs_all = self._downlinks[spine - fab.n_leaves].get(lb, [])
        downs = [d for d in downs_all if fab.port_link[d] not in down] or downs_all
        dn = downs[self._hash(sub, b"S") % len(downs)]
        lb_in = fab.port_peer[dn]
        spine_mac = fab.switch_mac(spine)
        return [
            (la, pa, up, 64, src_mac, la_mac),
            (spine, sp, dn, 63, la_mac, spine_mac),
            (lb, lb_in, pb, 62, spine_mac, fab.switch_mac(lb)),
        ]

    def _reaches(self, spine_port: int, leaf: int, down: frozenset[int]) -> bool:
        """Whether the spine of ``spine_port`` has a live link down to ``leaf``."""
        fab = self.fabric
        spine = fab.port_switch[spine_port]
        links = self._downlinks[spine - fab.n_leaves].get(leaf, [])
        return any(fab.port_link[d] not in down for d in links)

    def paths(self, down: frozenset[int]) -> list[list[Hop]]:
        """Paths of every subflow for a set of down links (cached)."""
        cached = self._paths_cache.get(down)
        if cached is None:
            cached = [self.path(s, down) for s in range(self.n_subs)]
            if len(self._paths_cache) > 8:
                self._paths_cache.clear()
            self._paths_cache[down] = cached
        return cached

    # -- rates ---------------------------------------------------------------------------------

    def rates(
        self, exchanging: tuple[bool, ...], down: frozenset[int], scenario_on: bool = False
    ) -> RateState:
        """Rates for one state: which jobs exchange, which links are down, whether the
        scenario's flows are on (cached)."""
        key = (exchanging, down, scenario_on)
        cached = self._rates_cache.get(key)
        if cached is None:
            cached = self._compute(exchanging, down, scenario_on)
            if len(self._rates_cache) > 64:
                self._rates_cache.clear()
            self._rates_cache[key] = cached
        return cached

    def _compute(
        self, exchanging: tuple[bool, ...], down: frozenset[int], scenario_on: bool
    ) -> RateState:
        fab, spec = self.fabric, self.spec
        paths = self.paths(down)
        n = self.n_subs
        nic_bps = fab.port_speed
        # Nominal message rates of the data subflows.
        msg_rate = [0.0] * n
        for j, subs in enumerate(self.job_subs):
            if j < len(exchanging) and exchanging[j]:
                for s in subs:
                    if self.sub_data[s]:
                        bps = spec.load * nic_bps[fab.nic_port[self.sub_src[s]]]
                        msg_rate[s] = bps / (8.0 * self.sub_profile[s].wire_per_msg)
        for s in self.background_subs:
            if self.sub_data[s]:
                bps = spec.background * nic_bps[fab.nic_port[self.sub_src[s]]]
                msg_rate[s] = bps / (8.0 * self.sub_profile[s].wire_per_msg)
        if scenario_on:
            for s, load in self.scenario_load.items():
                bps = load * nic_bps[fab.nic_port[self.sub_src[s]]]
                msg_rate[s] = bps / (8.0 * self.sub_profile[s].wire_per_msg)
        for s in range(n):
            peer = self.sub_peer[s]
            if not self.sub_data[s] and peer >= 0:
                msg_rate[s] = msg_rate[peer]
        # Offered load per egress port.
        offered: dict[int, float] = {}
        for s in range(n):
            r = msg_rate[s]
            if r > 0:
                bps = r * 8.0 * self.sub_profile[s].wire_per_msg
                for hop in paths[s]:
                    offered[hop[2]] = offered.get(hop[2], 0.0) + bps
        util = {p: bps / nic_bps[p] for p, bps in offered.items()}
        # Bottleneck factor per flow (data direction), applied to both directions.
        for s in range(n):
            if self.sub_data[s] and msg_rate[s] > 0:
                worst = max(util[hop[2]] for hop in paths[s])
                if worst > 1.0:
                    msg_rate[s] /= worst
                    peer = self.sub_peer[s]
                    if peer >= 0:
                        msg_rate[peer] = msg_rate[s]
        # ECN marking probability per egress port (RED-like on offered utilisation).
        kmin, kmax, pmax = spec.ecn_kmin, spec.ecn_kmax, spec.ecn_pmax
        span = max(1e-9, kmax - kmin)
        mark = {p: pmax * min(1.0, (u - kmin) / span) for p, u in util.items() if u > kmin}
        active: list[int] = []
        rates: list[list[float]] = [[] for _ in range(n)]
        ce: list[list[float]] = [[] for _ in range(n)]
        ce_recv = [0.0] * n
        cnp_cap = 1e6 / spec.cnp_interval_us
        for s in range(n):
            r = msg_rate[s]
            if r <= 0:
                continue
            prof = self.sub_profile[s]
            active.append(s)
            rates[s] = [r * c for c in prof.per_msg]
            fractions: list[float] = []
            keep = 1.0
            for hop in paths[s]:
                fractions.append(1.0 - keep if prof.roce else 0.0)
                keep *= 1.0 - mark.get(hop[2], 0.0)
            ce[s] = fractions
            ce_recv[s] = 1.0 - keep if prof.roce else 0.0
        for s in active:
            prof = self.sub_profile[s]
            if prof.cnp_index >= 0:
                peer = self.sub_peer[s]
                data_pps = sum(rates[peer]) if peer >= 0 else 0.0
                rates[s][prof.cnp_index] = min(cnp_cap, data_pps * ce_recv[peer])
        pps: dict[int, float] = {}
        for s in active:
            total = sum(rates[s])
            for hop in paths[s]:
                pps[hop[2]] = pps.get(hop[2], 0.0) + total
        drops = {
            p: spec.buffer_drop_coef * (u - 1.0) * pps.get(p, 0.0)
            for p, u in util.items()
            if u > 1.0
        }
        dropping: dict[int, list[int]] = {p: [] for p in drops}
        for s in active:
            if self.sub_data[s] and self.sub_profile[s].roce:
                for hop in paths[s]:
                    through = dropping.get(hop[2])
                    if through is not None:
                        through.append(s)
        return RateState(active, rates, ce, ce_recv, util, drops, paths, dropping)

    def credits(self, sub: int) -> int:
        """AETH credits advertised by the ACKs of ``sub``."""
        value = CREDIT_TABLE[self.sub_credit[sub]]
        return value if value is not None else 0


def geometric_skip(rng_random: float, log_keep: float) -> int:
    """Packets until the next sample when each packet is sampled with probability 1/N.

    ``log_keep`` = log(1 − 1/N); the result is ≥ 1 (geometric distribution).
    """
    if log_keep == 0.0:
        return 1
    return 1 + int(math.log(1.0 - rng_random) / log_keep)
