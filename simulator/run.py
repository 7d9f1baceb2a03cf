"""The simulation engine: virtual time in, datagrams out.

Time is passed in, never read: :meth:`Simulation.run_until` advances virtual time (seconds from
the start of the run) in *epochs* — stretches during which every rate is constant (no job changes
phase, no fault starts or ends, no second boundary is crossed). For each epoch the engine

1. asks the traffic model for the rates of the current state,
2. turns rates into exact integer packet counts per subflow and packet type (remainders carried
   to the next epoch), which feed the truth and the interface counters,
3. builds, per ingress port, the population of packets it saw (cells: subflow × hop × type),
4. samples each port 1-in-N with a per-port skip counter (geometric skips: every packet is
   sampled independently with probability 1/N, as the statistical tests assume), placing each
   sample at its time inside the epoch, in 10 ms slices,
5. schedules counter polls and drop events, and then emits everything slice by slice: flow
   samples from byte templates patched in place, the rest through the record encoder, packed
   into per-agent datagrams of at most ``datagram_size`` bytes, flushed when full or when the
   oldest sample has waited ``max_datagram_age``.

Real-time pacing lives in the sink (``simulator.output.UdpSink``), not here.
"""

from __future__ import annotations

import math
import random
import socket
import struct
import zlib
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from decoders import frames as F
from decoders.records import PfcCounters
from simulator.agent import (
    Agent,
    DatagramSink,
    counter_sample,
    drop_sample,
    host_sample,
    optics_record,
)
from simulator.config import BUFFER_DROP, DROP_KINDS, SimConfig
from simulator.fabric import EDGE, Fabric, build_fabric
from simulator.faults import Fault, check_targets
from simulator.scenarios import ScenarioPlan, build_scenario
from simulator.templates import TemplateCache, build_frame
from simulator.traffic import (
    PTYPES,
    T_ACK,
    T_CNP,
    JobSchedule,
    RateState,
    TrafficModel,
)
from simulator.truth import SecondBin, Truth

__all__ = ["Simulation"]

_PACK5 = struct.Struct(">5I").pack_into
_PACK_U32 = struct.Struct(">I").pack_into
_PACK_LE32 = struct.Struct("<I").pack_into
_PACK_EXT = struct.Struct(">IIII").pack_into  # delay, then 1040's tag and length, then depth

_EV_COUNTERS = 0
_EV_HOST = 1
_EV_DROP = 2
_EV_BUFFER_DROP = 3

_MAX_EPOCH = 1.0
_EPS = 1e-9

SecondCallback = Callable[[dict[str, Any]], None]


def _log_keep(rate: int) -> float:
    return -math.inf if rate <= 1 else math.log(1.0 - 1.0 / rate)


class Simulation:
    """One simulated fabric sending sFlow to a sink; deterministic in ``config.seed``."""

    def __init__(self, config: SimConfig, sink: DatagramSink, *, keep_truth: bool = True) -> None:
        """Build the fabric, the traffic model and the agents; nothing is emitted yet."""
        config.validate()
        self.config = cfg = config
        self.sink = sink
        seed = cfg.seed
        self.fabric: Fabric = build_fabric(cfg.fabric)
        fab = self.fabric
        check_targets(list(cfg.faults), fab)
        self.model = TrafficModel(fab, cfg.traffic, random.Random(f"fabricscope:{seed}:model"))
        # the scenario adds its flows before anything sizes per-subflow state
        self.scenario: ScenarioPlan = build_scenario(
            cfg.scenario, fab, self.model, cfg.scenario_start
        )
        self.faults: tuple[Fault, ...] = cfg.faults + self.scenario.faults
        tr = cfg.traffic
        self.schedules = [
            JobSchedule(tr.period, tr.duty, tr.jitter, random.Random(f"fabricscope:{seed}:job{j}"))
            for j in range(len(self.model.job_subs))
        ]
        self._rng = random.Random(f"fabricscope:{seed}:sample")
        self._events = random.Random(f"fabricscope:{seed}:events")
        self._loss_rng = random.Random(f"fabricscope:{seed}:loss")
        setup = random.Random(f"fabricscope:{seed}:setup")
        self.agents = [
            Agent(s, fab.switch_names[s], fab.agents[s], -setup.uniform(86400.0, 30 * 86400.0))
            for s in range(fab.n_switches)
        ]
        n = fab.n_ports
        self.base_rate = [
            cfg.sampling_rate or max(1, fab.port_speed[p] // 1_000_000) for p in range(n)
        ]
        self.port_rate = list(self.base_rate)
        self.skip = [
            1 + int(math.log(1.0 - self._rng.random()) / _log_keep(r)) if r > 1 else 1
            for r in self.port_rate
        ]
        self.source_id = [fab.port_ifindex[p] for p in range(n)]  # compact: type 0 << 24 | index
        self.pool = [0] * n
        self.fseq = [0] * n
        self.cseq = [0] * n
        self.dseq = [0] * n
        self.dsup = [0] * n
        self.host_seq = [0] * fab.n_switches
        self.in_oct = [0] * n
        self.in_pkts = [0] * n
        self.out_oct = [0] * n
        self.out_pkts = [0] * n
        self.in_disc = [0] * n
        self.in_err = [0] * n
        self.out_disc = [0] * n
        self.pfc_requests = [0] * n
        self.pfc_us = [0.0] * n
        interval = cfg.polling_interval
        self.poll_offset = [setup.uniform(0.0, interval) for _ in range(n)]
        self.host_offset = [setup.uniform(0.0, interval) for _ in range(fab.n_switches)]
        self.temperature = [setup.randrange(38000, 52000) for _ in range(n)]
        candidates = list(range(n))
        self.error_ports = sorted(setup.sample(candidates, min(cfg.error_ports, n)))
        self.edge_ports = [p for p in range(n) if fab.port_role[p] == EDGE]
        self.sub_psn = [setup.randrange(1 << 24) for _ in range(self.model.n_subs)]
        self.sub_carry = [[0.0] * len(prof.types) for prof in self.model.sub_profile]
        self._types_of = [prof.types for prof in self.model.sub_profile]
        self._ce_carry: dict[int, float] = {}
        self._recv_carry: dict[int, float] = {}
        self._drop_carry: dict[str, float] = {}
        self._buffer_carry: dict[int, float] = {}
        self._error_carry: dict[int, float] = {}
        self._scenario_carry: dict[tuple[str, int], float] = {}
        self._log_keep_cache: dict[int, float] = {}
        self.templates = TemplateCache(self.model, cfg.header_bytes, cfg.flow_extensions)
        self._paths: list[Any] | None = None
        self.down: frozenset[int] = frozenset()
        self.loss = 0.0
        self._restarts_done: set[int] = set()
        self.truth = Truth(fab, len(self.schedules), cfg.start_time, keep=keep_truth)
        self.t = 0.0
        self._pending: dict[int, float] = {}
        self._last_flush = 0.0
        self._util: dict[int, float] = {}
        self._drop_rates = [(k, r) for k, r in cfg.drop_rates if r > 0]
        self._bin: SecondBin = self.truth.current

    # -- faults --------------------------------------------------------------------------------

    def _fault_boundaries(self, t: float) -> float:
        nxt = math.inf
        if self.scenario.start > t + _EPS:
            nxt = self.scenario.start
        for f in self.faults:
            for b in (f.start, f.end):
                if b > t + _EPS and b < nxt:
                    nxt = b
        return nxt

    def _apply_faults(self, t: float) -> None:
        fab = self.fabric
        faults = self.faults
        mid = t + _EPS
        down = frozenset(
            fab.link_index[f.target] for f in faults if f.kind == "linkdown" and f.active(mid)
        )
        self.down = down
        self.loss = max(
            (f.value for f in faults if f.kind == "loss" and f.active(mid)), default=0.0
        )
        unmonitored = {f.target for f in faults if f.kind == "unmonitored" and f.active(mid)}
        for ag in self.agents:
            was = ag.monitored
            ag.monitored = ag.name not in unmonitored
            if was and not ag.monitored:
                ag.discard()  # a silenced agent's pending datagram never leaves
                self._pending.pop(ag.index, None)
        overrides = {
            fab.switch_index[f.target]: int(f.value)
            for f in faults
            if f.kind == "samplingrate" and f.active(mid)
        }
        for s in range(fab.n_switches):
            first, count = fab.switch_ports[s]
            for p in range(first, first + count):
                self.port_rate[p] = overrides.get(s, self.base_rate[p])
        for i, f in enumerate(faults):
            if f.kind == "restart" and i not in self._restarts_done and f.start <= mid:
                self._restarts_done.add(i)
                s = fab.switch_index[f.target]
                ag = self.agents[s]
                ag.restart(f.start)
                self._pending.pop(s, None)
                first, count = fab.switch_ports[s]
                for p in range(first, first + count):
                    self.pool[p] = 0
                    self.fseq[p] = 0
                    self.cseq[p] = 0
                    self.dseq[p] = 0
                    self.dsup[p] = 0
                self.host_seq[s] = 0

    # -- main loop -----------------------------------------------------------------------------

    def run_until(self, until: float, on_second: SecondCallback | None = None) -> None:
        """Advance virtual time to ``until`` (seconds since the start), emitting as it goes."""
        while self.t < until - _EPS:
            t0 = self.t
            t1 = min(until, math.floor(t0 + _EPS) + 1.0, t0 + _MAX_EPOCH)
            for sched in self.schedules:
                t1 = min(t1, sched.next_change(t0 + _EPS))
            t1 = min(t1, self._fault_boundaries(t0))
            if t1 - t0 < _EPS:
                t1 = t0 + _EPS * 10
            self._epoch(t0, t1)
            self.t = t1
            if abs(t1 - round(t1)) < _EPS and round(t1) > self._bin.second:
                self._close_second(round(t1), on_second)

    def finish(self) -> None:
        """Flush every agent's pending datagram and close the sink (end of the run)."""
        before = (self._bin.datagrams, self._bin.datagrams_lost)
        for s in list(self._pending):
            self._flush(self.agents[s], self.t)
        self.sink.close()
        sent = self._bin.datagrams - before[0]
        lost = self._bin.datagrams_lost - before[1]
        if self._bin.second > 0 and (sent or lost):
            # the last datagrams belong to the last (closed) second
            self._bin.datagrams, self._bin.datagrams_lost = before
            self.truth.amend_last(sent, lost)

    def _close_second(self, nxt: int, on_second: SecondCallback | None) -> None:
        for j, sched in enumerate(self.schedules):
            self.truth.cycles[j].extend(sched.forget_before(float(nxt)))
        d = self.truth.close(nxt)
        self._bin = self.truth.current
        if on_second is not None:
            on_second(d)

    def truth_header(self) -> dict[str, Any]:
        """Header fields of the truth document (config, fabric, period, faults)."""
        cfg = self.config
        for j, sched in enumerate(self.schedules):
            # cycles complete by the current time
            self.truth.cycles[j].extend(sched.forget_before(self.t))
        return {
            "seed": cfg.seed,
            "start_time": cfg.start_time,
            "duration": self.t,
            "slice": cfg.slice,
            "config": cfg.as_dict(),
            "fabric": self.fabric.summary(),
            "sampling_rates": sorted(set(self.base_rate)),
            "period": self.truth.period_dict(
                cfg.traffic.period, cfg.traffic.jitter, cfg.traffic.duty, self.model.job_collective
            ),
            "faults": [f.as_dict() for f in cfg.faults],
            "subflows": self._subflows(),
            **({"scenario": self.scenario.truth()} if cfg.scenario != "healthy" else {}),
        }

    def _subflows(self) -> list[list[Any]]:
        """Per subflow id (the keys of each second's ``flows``): source and destination IP,
        destination QP (None unless RoCEv2), the job (-1: background)."""
        model, fab = self.model, self.fabric
        out: list[list[Any]] = []
        for s in range(model.n_subs):
            src, dst = fab.nic_ip[model.sub_src[s]], fab.nic_ip[model.sub_dst[s]]
            family = socket.AF_INET6 if len(src) == 16 else socket.AF_INET
            qp = model.sub_qp[s] if model.sub_profile[s].roce else None
            out.append(
                [socket.inet_ntop(family, src), socket.inet_ntop(family, dst), qp,
                 model.sub_job[s]]
            )  # fmt: skip
        return out

    # -- one epoch -----------------------------------------------------------------------------

    def _epoch(self, t0: float, t1: float) -> None:
        cfg, fab, model = self.config, self.fabric, self.model
        T = t1 - t0
        self._apply_faults(t0)
        mid = 0.5 * (t0 + t1)
        exchanging = tuple(s.exchanging(mid) for s in self.schedules)
        b = self._bin
        for j, ex in enumerate(exchanging):
            if ex:
                b.exchange[j] += T
        scenario_on = self.scenario.active(mid)
        rs: RateState = model.rates(exchanging, self.down, scenario_on)
        if rs.paths is not self._paths:
            self.templates.clear()
            self._paths = rs.paths
        self._util = rs.utilisation
        paths = rs.paths
        n_ports = fab.n_ports
        port_tot = [0] * n_ports
        in_bytes = [0] * n_ports
        out_frames = [0] * n_ports
        out_bytes = [0] * n_ports
        cells: dict[int, list[int]] = {}
        cums: dict[int, list[int]] = {}
        sub_tot: dict[int, int] = {}
        sub_cum: dict[int, list[int]] = {}
        ce_prob: dict[int, float] = {}
        monitored = [ag.monitored for ag in self.agents]
        sub_profile, sub_carry = model.sub_profile, self.sub_carry
        rates, ce_fracs, ce_recv = rs.rates, rs.ce, rs.ce_recv
        ce_carry, recv_carry = self._ce_carry, self._recv_carry
        types_tot = b.types
        edge_bytes = edge_frames = roce_bytes = roce_frames = 0
        ecn_ingress = ecn_marked = cnp_ingress = 0
        for s in rs.active:
            prof = sub_profile[s]
            carry = sub_carry[s]
            counts: list[int] = []
            tot = byt = 0
            frames_ = prof.frame
            ptypes = prof.types
            for i, r in enumerate(rates[s]):
                x = carry[i] + r * T
                k = int(x)
                carry[i] = x - k
                counts.append(k)
                if k:
                    tot += k
                    byt += k * frames_[i]
                    types_tot[ptypes[i]] += k
            if not tot:
                continue
            sub_tot[s] = tot
            acc = 0
            cum_types: list[int] = []
            for k in counts:
                acc += k
                cum_types.append(acc)
            sub_cum[s] = cum_types
            edge_bytes += byt
            edge_frames += tot
            held = b.flows.get(s)
            if held is None:
                b.flows[s] = [byt, tot]
            else:
                held[0] += byt
                held[1] += tot
            cnp = counts[prof.cnp_index] if prof.cnp_index >= 0 else 0
            if prof.roce:
                roce_bytes += byt
                roce_frames += tot
                for i, k in enumerate(counts):
                    if k:
                        t = ptypes[i]
                        if PTYPES[t].reth:
                            b.rdma_ops += k
                            b.rdma_dma_bytes += k * prof.dma[i]
                        elif t == T_ACK:
                            credits = model.credits(s)
                            b.acks += k
                            b.ack_credits += k * credits
                            if b.credit_min is None or credits < b.credit_min:
                                b.credit_min = credits
                            if b.credit_max is None or credits > b.credit_max:
                                b.credit_max = credits
            eligible = tot - cnp
            path = paths[s]
            fr = ce_fracs[s]
            cnp_ingress += cnp * len(path)
            for k_hop, hop in enumerate(path):
                pin, pout = hop[1], hop[2]
                in_bytes[pin] += byt
                out_frames[pout] += tot
                out_bytes[pout] += byt
                if k_hop and fr[k_hop] > 0.0 and eligible:
                    key = (s << 3) | k_hop
                    x = ce_carry.get(key, 0.0) + fr[k_hop] * eligible
                    m = int(x)
                    ce_carry[key] = x - m
                    if m:
                        ce_prob[key] = m / eligible
                        ecn_ingress += m
                run = port_tot[pin] + tot
                port_tot[pin] = run
                if monitored[hop[0]]:
                    cl = cells.get(pin)
                    if cl is None:
                        cells[pin] = [(s << 3) | k_hop]
                        cums[pin] = [run]
                    else:
                        cl.append((s << 3) | k_hop)
                        cums[pin].append(run)
            if ce_recv[s] > 0.0 and eligible:
                x = recv_carry.get(s, 0.0) + ce_recv[s] * eligible
                m = int(x)
                recv_carry[s] = x - m
                ecn_marked += m
        b.edge_bytes += edge_bytes
        b.edge_frames += edge_frames
        b.roce_bytes += roce_bytes
        b.roce_frames += roce_frames
        b.ecn_ingress += ecn_ingress
        b.ecn_marked += ecn_marked
        b.cnp_ingress += cnp_ingress
        bin_in_b, bin_in_f = b.port_in_bytes, b.port_in_frames
        bin_out_b, bin_out_f = b.port_out_bytes, b.port_out_frames
        touched_in = [p for p in range(n_ports) if port_tot[p]]
        for p in touched_in:
            bin_in_b[p] += in_bytes[p]
            bin_in_f[p] += port_tot[p]
        for p in range(n_ports):
            if out_frames[p]:
                bin_out_b[p] += out_bytes[p]
                bin_out_f[p] += out_frames[p]

        # Sampling: positions of sampled packets per port, placed in slices.
        dt = cfg.slice
        nb = max(1, math.ceil(T / dt - 1e-9))
        flow_buckets: list[list[int]] = [[] for _ in range(nb)]
        rnd = self._rng.random
        log = math.log
        skip, port_rate = self.skip, self.port_rate
        lk_cache = self._log_keep_cache
        for p in cums:
            tot = port_tot[p]
            sk = skip[p]
            if sk > tot:
                skip[p] = sk - tot
                continue
            rate = port_rate[p]
            lk = lk_cache.get(rate)
            if lk is None:
                lk = lk_cache[rate] = _log_keep(rate)
            scale = T / (tot * dt)
            half = 0.5 * scale
            last = nb - 1
            pos = sk - 1
            while pos < tot:
                bi = int(pos * scale + half)
                bucket = flow_buckets[bi if bi < last else last]
                bucket.append(p)
                bucket.append(pos)
                pos += 1 + int(log(1.0 - rnd()) / lk)
            skip[p] = pos - tot + 1

        other = self._other_events(t0, t1, T, rs, sub_tot, scenario_on)
        other_buckets: list[list[tuple[float, int, Any]]] = [[] for _ in range(nb)]
        for ev in other:
            other_buckets[min(nb - 1, int((ev[0] - t0) / dt))].append(ev)

        epoch = (t0, T, port_tot, in_bytes, out_frames, out_bytes)
        self._emit(t0, t1, nb, dt, flow_buckets, other_buckets, cells, cums, port_tot, sub_tot,
                   sub_cum, ce_prob, paths, epoch)  # fmt: skip

        # Errors on the error ports (FCS), then the cumulative counters.
        for p in self.error_ports:
            x = self._error_carry.get(p, 0.0) + cfg.error_rate * T
            k = int(x)
            self._error_carry[p] = x - k
            if k:
                self.in_err[p] += k
                b.errors_in += k
        if scenario_on:
            for p, per_s in self.scenario.errors.items():
                x = self._scenario_carry.get(("err", p), 0.0) + per_s * T
                k = int(x + _EPS)  # whole counts per second stay whole despite float sums
                self._scenario_carry[("err", p)] = x - k
                self.in_err[p] += k
                b.errors_in += k
        for p in touched_in:
            self.pool[p] += port_tot[p]
            self.in_pkts[p] += port_tot[p]
            self.in_oct[p] += in_bytes[p]
        for p in range(n_ports):
            if out_frames[p]:
                self.out_pkts[p] += out_frames[p]
                self.out_oct[p] += out_bytes[p]
        if cfg.pfc:
            for p, u in rs.utilisation.items():
                if u > 1.0:
                    paused = T * 1e6 * (1.0 - 1.0 / u)
                    self.pfc_us[p] += paused
                    self.pfc_requests[p] += int(paused / 3.3)
        for s, tot in sub_tot.items():
            self.sub_psn[s] = (self.sub_psn[s] + tot) & 0xFFFFFF

    # -- events other than flow samples ---------------------------------------------------------

    def _other_events(
        self,
        t0: float,
        t1: float,
        T: float,
        rs: RateState,
        sub_tot: dict[int, int],
        scenario_on: bool,
    ) -> list[tuple[float, int, Any]]:
        cfg, fab = self.config, self.fabric
        interval = cfg.polling_interval
        events: list[tuple[float, int, Any]] = []
        for s, ag in enumerate(self.agents):
            if not ag.monitored:
                continue
            first, count = fab.switch_ports[s]
            for p in range(first, first + count):
                off = self.poll_offset[p]
                k = math.ceil((t0 - off) / interval - 1e-12)
                tp = off + k * interval
                while tp < t1:
                    if tp >= t0:
                        events.append((tp, _EV_COUNTERS, p))
                    tp += interval
            off = self.host_offset[s]
            k = math.ceil((t0 - off) / interval - 1e-12)
            tp = off + k * interval
            while tp < t1:
                if tp >= t0:
                    events.append((tp, _EV_HOST, s))
                tp += interval
        rng = self._events
        if self.edge_ports:
            for name, rate in self._drop_rates:
                x = self._drop_carry.get(name, 0.0) + rate * T
                k = int(x)
                self._drop_carry[name] = x - k
                for _ in range(k):
                    p = self.edge_ports[rng.randrange(len(self.edge_ports))]
                    events.append((t0 + rng.random() * T, _EV_DROP, (name, p)))
        for p, pps in rs.drops_pps.items():
            x = self._buffer_carry.get(p, 0.0) + pps * T
            k = int(x)
            self._buffer_carry[p] = x - k
            if k:
                subs = [s for s in rs.dropping.get(p, ()) if s in sub_tot]
                for _ in range(k):
                    s = subs[rng.randrange(len(subs))] if subs else -1
                    events.append((t0 + rng.random() * T, _EV_BUFFER_DROP, (p, s)))
        if scenario_on:
            # the hot port's tail drops: the same notified out-discards as congestion's,
            # drawn from their own carry so the ordinary drop processes stay as they were
            for p, pps in self.scenario.discards.items():
                x = self._scenario_carry.get(("disc", p), 0.0) + pps * T
                k = int(x + _EPS)
                self._scenario_carry[("disc", p)] = x - k
                for j in range(k):
                    events.append((t0 + (j + 0.5) * T / k, _EV_BUFFER_DROP, (p, -1)))
        events.sort(key=lambda e: (e[0], e[1]))
        return events

    # -- emission ------------------------------------------------------------------------------

    def _flush(self, ag: Agent, t: float) -> None:
        # Datagram times never go backwards (events inside a slice are not strictly ordered).
        if t < self._last_flush:
            t = self._last_flush
        self._last_flush = t
        data = ag.finish(t)
        self._pending.pop(ag.index, None)
        b = self._bin
        if self.loss > 0.0 and self._loss_rng.random() < self.loss:
            b.datagrams_lost += 1
            return
        b.datagrams += 1
        self.sink.emit(self.config.start_time + t, ag, data)

    def _append(self, ag: Agent, t: float, data: bytes) -> None:
        if len(ag.buf) + len(data) > self.config.datagram_size and ag.n:
            self._flush(ag, t)
        if ag.n == 0:
            self._pending[ag.index] = t
        ag.buf += data
        ag.n += 1

    def _emit(
        self,
        t0: float,
        t1: float,
        nb: int,
        dt: float,
        flow_buckets: list[list[int]],
        other_buckets: list[list[tuple[float, int, Any]]],
        cells: dict[int, list[int]],
        cums: dict[int, list[int]],
        port_tot: list[int],
        sub_tot: dict[int, int],
        sub_cum: dict[int, list[int]],
        ce_prob: dict[int, float],
        paths: list[Any],
        epoch: tuple[float, float, list[int], list[int], list[int], list[int]],
    ) -> None:
        cfg, fab = self.config, self.fabric
        agents = self.agents
        port_switch = fab.port_switch
        rnd = self._rng.random
        tget = self.templates.cache.get
        tbuild = self.templates.build
        port_rate, source_id, pool, fseq = self.port_rate, self.source_id, self.pool, self.fseq
        sub_psn = self.sub_psn
        types_of = self._types_of
        dsize = cfg.datagram_size
        pending = self._pending
        flush = self._flush
        crc32 = zlib.crc32
        b = self._bin
        sampled = b.sampled_types
        util = self._util
        age = cfg.max_datagram_age
        n_flow = 0
        for bi in range(nb):
            tb0 = t0 + bi * dt
            tb1 = min(t1, tb0 + dt)
            ev = flow_buckets[bi]
            nev = len(ev) >> 1
            step = (tb1 - tb0) / nev if nev else 0.0
            for j in range(nev):
                p = ev[2 * j]
                pos = ev[2 * j + 1]
                t = tb0 + j * step
                ag = agents[port_switch[p]]
                tot = port_tot[p]
                # One draw picks the packet: the cell (subflow, hop) by cumulative counts,
                # then the type from the position left inside that cell.
                cu = cums[p]
                r = int(rnd() * tot)
                i = bisect_right(cu, r)
                if i:
                    r -= cu[i - 1]
                cell = cells[p][i]
                s = cell >> 3
                ptype = types_of[s][bisect_right(sub_cum[s], r)]
                code = (s << 8) | ((cell & 7) << 5) | ptype
                key = code << 1
                cp = ce_prob.get(cell)
                if cp is not None and ptype != T_CNP and rnd() < cp:
                    key |= 1
                tpl = tget(key)
                if tpl is None:
                    tpl = tbuild(key, paths[s][cell & 7], port_rate[p])
                data = tpl[0]
                buf = ag.buf
                if ag.n == 0:
                    pending[ag.index] = t
                elif len(buf) + len(data) > dsize:
                    flush(ag, t)
                    pending[ag.index] = t
                off = len(buf)
                buf += data
                seq = fseq[p] + 1
                fseq[p] = seq
                _PACK5(buf, off + 8, seq, source_id[p], port_rate[p], pool[p] + pos + 1, 0)
                psn_off = tpl[1]
                if psn_off >= 0:
                    word = tpl[2] | ((sub_psn[s] + pos * sub_tot[s] // tot) & 0xFFFFFF)
                    _PACK_U32(buf, off + psn_off, word)
                    if tpl[3] >= 0:
                        crc = crc32(tpl[5], crc32(word.to_bytes(4, "big"), tpl[4]))
                        _PACK_LE32(buf, off + tpl[3], crc)
                if tpl[6] >= 0:
                    out_port = paths[s][cell & 7][2]
                    u = util.get(out_port, 0.0)
                    depth = int(max(0.0, u - 0.7) * 4_000_000)
                    delay = 600 + depth * 8_000_000_000 // max(1, fab.port_speed[out_port])
                    _PACK_EXT(buf, off + tpl[6], min(delay, 0xFFFFFFFF), 1040, 4, depth)
                ag.n += 1
                sampled[ptype] += 1
            n_flow += nev
            for item in other_buckets[bi]:
                self._emit_other(item, epoch)
            if pending:
                limit = tb1 - age + _EPS
                for s_idx, first_t in list(pending.items()):
                    if first_t > limit:
                        break
                    flush(agents[s_idx], tb1)
        b.flow_samples += n_flow

    def _emit_other(
        self,
        item: tuple[float, int, Any],
        epoch: tuple[float, float, list[int], list[int], list[int], list[int]],
    ) -> None:
        t, kind, arg = item
        cfg, fab = self.config, self.fabric
        b = self._bin
        if kind == _EV_COUNTERS:
            p = arg
            t0, T, port_tot, in_bytes, out_frames, out_bytes = epoch
            frac = (t - t0) / T if T > 0 else 0.0
            link = fab.port_link[p]
            status = 1 if link >= 0 and link in self.down else 3
            counts = (
                self.in_oct[p] + int(frac * in_bytes[p]),
                self.in_pkts[p] + int(frac * port_tot[p]),
                self.out_oct[p] + int(frac * out_bytes[p]),
                self.out_pkts[p] + int(frac * out_frames[p]),
                self.in_disc[p],
                self.in_err[p],
                self.out_disc[p],
                0,
            )
            self.cseq[p] += 1
            optics = (
                optics_record(p, fab.port_speed[p], self.temperature[p]) if cfg.optics else None
            )
            pfc = None
            if cfg.pfc:
                req = self.pfc_requests[p] & 0xFFFFFFFF
                pfc = PfcCounters(req, 0, int(self.pfc_us[p]) & 0xFFFFFFFF, 0, 0)
            data = counter_sample(
                self.cseq[p],
                fab.port_ifindex[p],
                fab.port_speed[p],
                status,
                counts,
                fab.port_name(p),
                optics,
                pfc,
            )
            self._append(self.agents[fab.port_switch[p]], t, data)
            b.counter_samples += 1
        elif kind == _EV_HOST:
            s = arg
            self.host_seq[s] += 1
            data = host_sample(self.host_seq[s], fab.switch_names[s], cfg.seed)
            self._append(self.agents[s], t, data)
            b.counter_samples += 1
        elif kind == _EV_DROP:
            name, p = arg
            code, origin, detail_a, detail_b = DROP_KINDS[name]
            self._drop(t, p, p, -1, code, origin, detail_a, detail_b, name, -1)
        elif kind == _EV_BUFFER_DROP:
            p, sub = arg
            code, origin, detail_a, detail_b = BUFFER_DROP
            in_port = -1  # port indexes start at 0: -1 is "no port"
            if sub >= 0:
                for hop in self.model.paths(self.down)[sub]:
                    if hop[2] == p:
                        in_port = hop[1]
            source = in_port if in_port >= 0 else p
            self._drop(t, source, in_port, p, code, origin, detail_a, detail_b, "buffer", sub)

    def _drop(
        self,
        t: float,
        source_port: int,
        in_port: int,
        out_port: int,
        code: int,
        origin: str,
        detail_a: str,
        detail_b: str,
        name: str,
        sub: int,
    ) -> None:
        cfg, fab = self.config, self.fabric
        b = self._bin
        reason = Truth.reason_name(code)
        b.drops[reason] += 1
        b.drops_by_origin[f"{origin}:{detail_b}"] += 1
        b.drops_by_node[(reason, fab.switch_names[fab.port_switch[source_port]])] += 1
        if origin == "hw":
            if out_port >= 0:
                self.out_disc[out_port] += 1
                b.discards_out += 1
            else:
                self.in_disc[in_port] += 1
                b.discards_in += 1
        s = fab.port_switch[source_port]
        ag = self.agents[s]
        if not ag.monitored:
            return
        if not ag.take_token(t, cfg.drop_limit):
            self.dsup[source_port] += 1
            b.notifications_suppressed += 1
            return
        header, frame_length = self._drop_header(name, source_port, sub)
        self.dseq[source_port] += 1
        data = drop_sample(
            self.dseq[source_port],
            fab.port_ifindex[source_port],
            self.dsup[source_port],
            fab.port_ifindex[in_port] if in_port >= 0 else 0,
            fab.port_ifindex[out_port] if out_port >= 0 else 0,
            code,
            header[: cfg.header_bytes],
            frame_length,
            origin,
            detail_a,
            detail_b,
            round((cfg.start_time + t) * 1e9),
        )
        self._append(ag, t, data)
        b.notifications_sent += 1
        b.drop_samples += 1

    def _drop_header(self, name: str, port: int, sub: int) -> tuple[bytes, int]:
        fab, model = self.fabric, self.model
        rng = self._events
        if name == "buffer" and sub >= 0:
            hop = next(h for h in model.paths(self.down)[sub] if h[1] == port or h[2] == port)
            prof = model.sub_profile[sub]
            ptype = max(zip(prof.per_msg, prof.types, strict=True))[1]  # the commonest packet
            frame, _, _ = build_frame(model, sub, ptype, hop[3], hop[4], hop[5], False)
            return frame, len(frame) + 4
        s = fab.port_switch[port]
        nic = fab.port_nic[port]
        src_ip = fab.nic_ip[nic] if nic >= 0 else fab.nic_ip[0]
        v6 = len(src_ip) == 16
        src_mac = fab.nic_mac(nic if nic >= 0 else 0)
        dst_mac = fab.switch_mac(s)
        switch_ip = bytes(15) + bytes((1,)) if v6 else bytes((10, 0, 0, 1))
        if not v6 and not fab.ipv6_agents:
            switch_ip = socket.inet_pton(socket.AF_INET, fab.agents[s])
        ttl = 64
        if name == "acl":
            other = fab.nic_ip[rng.randrange(fab.n_nics)]
            l4 = F.tcp(40000 + rng.randrange(20000), 22, flags=0x02)
            proto, dst = F.IPPROTO_TCP, other
        elif name == "ttl_exceeded":
            other = fab.nic_ip[rng.randrange(fab.n_nics)]
            l4 = F.udp(40000 + rng.randrange(20000), 33434 + rng.randrange(30), bytes(32))
            proto, dst, ttl = F.IPPROTO_UDP, other, 1
        elif name == "blackhole_route":
            dst = (
                bytes.fromhex("20010db8") + bytes(11) + bytes((rng.randrange(1, 255),))
                if v6
                else bytes((198, 51, 100, rng.randrange(1, 255)))
            )
            l4 = F.tcp(40000 + rng.randrange(20000), 443, flags=0x02)
            proto = F.IPPROTO_TCP
        elif name == "netfilter":
            l4 = F.tcp(40000 + rng.randrange(20000), 179, flags=0x02)
            proto, dst = F.IPPROTO_TCP, switch_ip
        else:  # no_socket
            l4 = F.udp(49152 + rng.randrange(16384), 3784, bytes(24))
            proto, dst = F.IPPROTO_UDP, switch_ip
        if v6:
            if len(dst) != 16:
                dst = bytes(10) + b"\xff\xff" + dst
            ip = F.ipv6(src_ip, dst, proto, l4, hop_limit=ttl)
            frame = F.ethernet(dst_mac, src_mac, F.ETHERTYPE_IPV6, ip)
        else:
            ip = F.ipv4(src_ip, dst[-4:], proto, l4, ttl=ttl)
            frame = F.ethernet(dst_mac, src_mac, F.ETHERTYPE_IPV4, ip)
        return frame, len(frame) + 4
