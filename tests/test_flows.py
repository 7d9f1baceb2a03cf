"""Flow definitions, the filter grammar, the receiver engine on both decode paths, the
aggregator's tables.

Oracles: hand-built datagrams (encoded, then received through a real ``Pipeline`` on the fast
path and on the full decoder), whose keys and sums are worked out by hand from the frames
written (frame length x sampling rate); the filter truth tables written out; smoothing checked
against the closed form of an exponential moving average.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from collector.aggregate.flow_table import AgentSelector, FlowTables, idle_seconds
from collector.delta import FlowPartial
from collector.flows.definition import FlowDefinition, parse_definition
from collector.flows.extract import TEXTS
from collector.flows.filter import FlowSpecError, compile_filter, filter_keys, parse_filter
from collector.flows.keys import KEYS
from collector.receive.pipeline import Pipeline
from collector.receive.state import FabricState
from decoders.encode import sampled_header
from decoders.frames import reth, rocev2_frame
from decoders.records import (
    DataSource,
    DropSample,
    ExtendedFunction,
    ExtendedLinuxDropReason,
    FlowSample,
    Interface,
)
from tests.fabric_builders import LEAF1, LEAF1_CORE, LEAF1_EDGE, TOPOLOGY, datagram, wire
from topology import PortResolver, TopologyIndex, parse_topology

# ---------------------------------------------------------------------------------------------
# Definitions


def test_a_definition_gets_sflow_rt_defaults_and_clamps() -> None:
    d = parse_definition("pair", {"keys": "ipsource, ipdestination"})
    assert (d.keys, d.value, d.values, d.filter, d.n, d.t, d.dropped, d.fs) == (
        ("ipsource", "ipdestination"), "bytes", (), None, 5, 2.0, False, ",",
    )  # fmt: skip
    clamped = parse_definition("x", {"keys": ["ibbtdestqp"], "n": 1, "t": 0.01, "value": "frames"})
    assert (clamped.n, clamped.t) == (5, 0.2)
    clamped = parse_definition("x", {"keys": "agent", "n": "50", "t": 1e6, "dropped": "false"})
    assert (clamped.n, clamped.t, clamped.dropped) == (20, 600.0, False)
    again = parse_definition("pair", d.to_json())
    assert again == d
    assert parse_definition("x", {"keys": "reason", "dropped": True, "values": "frames"}).sums == (
        "bytes",
        "frames",
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "keys: missing"),
        ({"keys": ""}, "keys: at least one key is needed"),
        ({"keys": "ipsource,ipsauce"}, "keys: unknown key at 'ipsauce' (offset 9)"),
        ({"keys": "group:ipsource:x"}, "keys: key functions are not supported"),
        ({"keys": "reason"}, "keys: a drop notification key needs dropped=true at 'reason'"),
        ({"keys": "agent", "value": "ipsource"}, "value: expected bytes, frames or a numeric"),
        ({"keys": "agent", "n": "lots"}, "n: expected a number at 'lots'"),
        ({"keys": "agent", "t": True}, "t: expected a number"),
        ({"keys": "agent", "dropped": 1}, "dropped: expected true or false"),
        ({"keys": "agent", "fs": ""}, "fs: expected a string of 1-16 characters"),
        ({"keys": "agent", "colour": "red"}, "definition: unknown attribute at 'colour'"),
        (
            {"keys": "agent", "filter": "ipsource=1&"},
            "expected a key at 'end of filter' (offset 11)",
        ),
        ({"keys": "agent", "filter": "(ipsource=1"}, "filter: expected ')' at 'end of filter'"),
        ({"keys": "agent", "filter": "ipsource=1)"}, "filter: unexpected text at ')' (offset 10)"),
        ({"keys": "agent", "filter": "ipsrc=1"}, "filter: unknown key at 'ipsrc' (offset 0)"),
        ({"keys": "agent", "filter": "ipsource 1"}, "filter: expected = != ~ or !~ after ipsource"),
        ({"keys": "agent", "filter": "ipsource=1,"}, "filter: expected a value"),
        ({"keys": "agent", "filter": "ipsource~a[b"}, "filter: bad regular expression"),
        ({"keys": "agent", "filter": "reason=x"}, "filter: a drop notification key needs"),
    ],
)
def test_a_definition_that_does_not_parse_names_the_field_token_and_offset(
    document: dict[str, object], message: str
) -> None:
    with pytest.raises(FlowSpecError) as error:
        parse_definition("bad", document)
    assert message in str(error.value)


def test_a_name_must_be_plain() -> None:
    with pytest.raises(FlowSpecError, match="name"):
        parse_definition("a/b", {"keys": "agent"})


# ---------------------------------------------------------------------------------------------
# The filter grammar


def _evaluate(text: str, values: dict[str, str | None]) -> bool:
    tree = parse_filter(text)
    slots = {key: i for i, key in enumerate(sorted(filter_keys(tree)))}
    row = [values.get(key) for key in sorted(slots)]
    return compile_filter(tree, slots)(row)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("ipsource=10.0.0.1", {"ipsource": "10.0.0.1"}, True),
        ("ipsource=10.0.0.2,10.0.0.1", {"ipsource": "10.0.0.1"}, True),
        ("ipsource!=10.0.0.2,10.0.0.1", {"ipsource": "10.0.0.1"}, False),
        ("ipsource=10.0.0.1", {}, False),  # absent equals nothing
        ("ipsource!=10.0.0.1", {}, True),
        ("ibbtopname~RDMA_WRITE_.*", {"ibbtopname": "RDMA_WRITE_ONLY"}, True),
        ("ibbtopname~WRITE", {"ibbtopname": "RDMA_WRITE_ONLY"}, False),  # full match
        ("ibbtopname~(SEND|RDMA_READ)_.*", {"ibbtopname": "SEND_ONLY"}, True),  # | in a group
        ("ibbtopname!~SEND_.*", {"ibbtopname": "SEND_ONLY"}, False),
        ("ibbtopname!~SEND_.*", {}, True),
        (
            "ipprotocol=17&udpdestinationport=4791",
            {"ipprotocol": "17", "udpdestinationport": "4791"},
            True,
        ),
        (
            "ipprotocol=6|udpdestinationport=4791",
            {"ipprotocol": "17", "udpdestinationport": "4791"},
            True,
        ),
        (
            "ipprotocol=6|ipdscp=26&ipecn=3",
            {"ipprotocol": "17", "ipdscp": "26", "ipecn": "2"},
            False,
        ),
        (
            "(ipprotocol=6|ipdscp=26)&ipecn=2",
            {"ipprotocol": "17", "ipdscp": "26", "ipecn": "2"},
            True,
        ),
        (" ( ipecn = 3 | ipecn=2 ) & ipdscp != 0 ", {"ipdscp": "26", "ipecn": "2"}, True),
    ],
)
def test_filter_truth(text: str, values: dict[str, str | None], expected: bool) -> None:
    assert _evaluate(text, values) is expected


def test_every_key_has_an_extractor_and_an_id() -> None:
    assert set(TEXTS) == set(KEYS)


# ---------------------------------------------------------------------------------------------
# The engine, on both decode paths


def _resolver() -> PortResolver:
    return PortResolver(TopologyIndex(parse_topology(TOPOLOGY)))


def _frame(src: str, dst: str, qp: int, opcode: int = 0x0A, ext: bytes = b"", ecn: int = 2):
    frame = rocev2_frame(
        opcode, dest_qp=qp, psn=1, ext=ext, payload=b"\x00" * 40, src_ip=src, dst_ip=dst, ecn=ecn
    )
    return frame


def _sample(seq: int, frame: bytes, frame_length: int, rate: int, source: int) -> FlowSample:
    header = sampled_header(1, frame_length, 4, frame[:128])
    return FlowSample(
        False, seq, DataSource(0, source), rate, seq * rate, 0,
        Interface(0, source), Interface(0, LEAF1_CORE if source == LEAF1_EDGE else LEAF1_EDGE),
        (header,),
    )  # fmt: skip


A, B, C = "10.128.0.1", "10.128.0.2", "10.128.0.3"
SAMPLES = (  # (src, dst, qp, frame length, rate, data source)
    (A, B, 17, 4158, 1000, LEAF1_EDGE),
    (A, B, 17, 4158, 1000, LEAF1_EDGE),
    (A, C, 18, 1086, 500, LEAF1_EDGE),
    (B, A, 19, 1086, 2000, LEAF1_CORE),
)


def _datagrams() -> list[bytes]:
    samples = tuple(
        _sample(i + 1, _frame(src, dst, qp), length, rate, source)
        for i, (src, dst, qp, length, rate, source) in enumerate(SAMPLES)
    )
    drops = (
        DropSample(True, 1, DataSource(0, LEAF1_EDGE), 0, LEAF1_EDGE, LEAF1_CORE, 259,
                   (ExtendedLinuxDropReason("TC_EGRESS"), ExtendedFunction("tcf_classify"),
                    sampled_header(1, 1086, 4, _frame(A, C, 18)[:128]))),
        DropSample(True, 2, DataSource(0, LEAF1_EDGE), 0, LEAF1_EDGE, 0, 259,
                   (sampled_header(1, 4158, 4, _frame(A, B, 17)[:128]),)),
    )  # fmt: skip
    return [wire(datagram(LEAF1, 1, samples[:2])), wire(datagram(LEAF1, 2, samples[2:] + drops))]


DEFINITIONS = [
    (parse_definition("pair", {"keys": "ipsource,ipdestination", "values": "frames"}), 1),
    (parse_definition("qp", {"keys": "ibbtdestqp,ingressport", "value": "frames"}), 2),
    (parse_definition("edge", {"keys": "ipdestination", "filter": "ingressrole=edge&ipecn=2"}), 3),
    (parse_definition("why", {"keys": "reason,node,linuxreason", "dropped": True}), 4),
    (
        parse_definition(
            "dropsrc", {"keys": "ipsource,ingressport", "dropped": True, "value": "frames"}
        ),
        5,
    ),
]


def _run(fast: bool) -> dict[str, FlowPartial]:
    state = FabricState(_resolver())
    state.set_flows(DEFINITIONS)
    pipeline = Pipeline(state, fast=fast)
    for data in _datagrams():
        pipeline.handle(data, 100.0)
    delta = state.drain(100.5)
    assert delta.counters.get("internal_errors") is None
    return delta.flows


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full"])
def test_the_engine_sums_each_sample_scaled_by_its_rate(fast: bool) -> None:
    flows = _run(fast)
    edge = (LEAF1, str(LEAF1_EDGE), "edge", "leaf1")
    core = (LEAF1, str(LEAF1_CORE), "core", "leaf1")
    assert flows["pair"].generation == 1
    assert flows["pair"].sums == {
        (*edge, A, B): [2 * 4158 * 1000.0, 2 * 1000.0],
        (*edge, A, C): [1086 * 500.0, 500.0],
        (*core, B, A): [1086 * 2000.0, 2000.0],
    }
    assert flows["qp"].sums == {
        (*edge, "17", "swp3"): [2000.0],
        (*edge, "18", "swp3"): [500.0],
        (*core, "19", "swp1"): [2000.0],
    }
    assert flows["edge"].sums == {(*edge, B): [2 * 4158 * 1000.0], (*edge, C): [1086 * 500.0]}
    # drop notifications: one frame each, their own frame length, the drop fields as keys
    assert flows["why"].sums == {(*edge, "no_buffer_space", "leaf1", "TC_EGRESS"): [1086.0]}
    assert flows["dropsrc"].sums == {(*edge, A, "swp3"): [2.0]}


def test_both_decode_paths_give_the_same_sums() -> None:
    assert _run(True) == _run(False)


def test_rows_seen_before_give_what_making_their_keys_again_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rows alike but for one input of one key each: every key must tell them apart
    base: dict[str, object] = {"src_ip": A, "dst_ip": B}
    variants = [
        rocev2_frame(0x0A, dest_qp=17, psn=1, payload=b"\x00" * 40, **{**base, **kw})  # type: ignore[arg-type]
        for kw in (
            {}, {"ecn": 3}, {"dscp": 10}, {"src_mac": "02:00:00:00:00:09"},
            {"dst_mac": "02:00:00:00:00:08"}, {"vlans": (7,)}, {"src_port": 5000},
            {"solicited_event": True}, {"pkey": 0x7FFF}, {"dst_ip": C}, {"src_ip": C},
        )
    ]  # fmt: skip
    variants += [_frame(A, B, 18), _frame(A, B, 17, opcode=0x06, ext=reth(1, 2, 4096))]
    n = len(variants)
    samples = tuple(  # each variant twice from the same port: the second is a hit
        _sample(i + 1, frame, 1000 + i % n, 10 * (i + 1), LEAF1_EDGE if i % n % 2 else LEAF1_CORE)
        for i, frame in enumerate([*variants, *variants])
    )
    data = [wire(datagram(LEAF1, 1, samples[:n])), wire(datagram(LEAF1, 2, samples[n:]))]
    absent = {"vlan", "tcpsourceport", "tcpdestinationport", "ip6source", "ip6destination",
              "ibbtrdmalen", "ibbtaethack"}  # fmt: skip
    every = [k for k, spec in KEYS.items() if not spec.dropped_only and k not in absent]
    half = len(every) // 2  # at most 16 keys a definition
    definitions = [
        (parse_definition("all", {"keys": every[:half], "values": "frames,ibbtrdmalen"}), 1),
        (parse_definition("rest", {"keys": every[half:]}), 4),
        (parse_definition("mac", {"keys": "macsource,macdestination,vlan"}), 2),
        (parse_definition("few", {"keys": "ipdscp,ipecn", "filter": "ibbtse!=1"}), 3),
    ]

    def run() -> dict[str, FlowPartial]:
        state = FabricState(_resolver())
        state.set_flows(definitions)
        pipeline = Pipeline(state, fast=True)
        for d in data:
            pipeline.handle(d, 100.0)
        return state.drain(100.5).flows

    cached = run()
    from collector.flows import engine

    monkeypatch.setattr(engine, "SEEN_CACHE", 0)  # every row made again
    assert run() == cached
    texts = {text for key in [*cached["all"].sums, *cached["rest"].sums] for text in key[4:]}
    # each variant's own input reached a key text (none was taken for another row's)
    assert {"3", "10", "020000000009", "020000000008", "5000", "32767", C, "18", "6"} <= texts
    assert {k[4:][every[half:].index("ibbtse")] for k in cached["rest"].sums} == {"0", "1"}
    assert [k[4:] for k in cached["mac"].sums] == [("020000000001", "020000000002", "7")]
    assert {k[4:] for k in cached["few"].sums} == {("26", "2"), ("26", "3"), ("10", "2")}


def test_no_definition_costs_nothing_once_the_keys_are_probed() -> None:
    state = FabricState(_resolver())
    pipeline = Pipeline(state, fast=True)
    frame = _frame(A, B, 17)
    samples = tuple(_sample(i + 1, frame, 1086, 100, LEAF1_EDGE) for i in range(40))
    for seq in range(1, 4):
        pipeline.handle(wire(datagram(LEAF1, seq, samples)), 100.0)
    assert not state.flows.active and not state.flows.busy_rows  # the probe budget is spent
    assert state.flows.busy_drops  # no drop notification yet: its own budget is untouched
    drop = DropSample(True, 1, DataSource(0, LEAF1_EDGE), 0, LEAF1_EDGE, 0, 259,
                      (ExtendedLinuxDropReason("TC_EGRESS"),))  # fmt: skip
    pipeline.handle(wire(datagram(LEAF1, 4, (*samples[:30], drop))), 100.5)
    delta = state.drain(101.0)
    assert {"reason", "linuxreason"} <= set(delta.flow_keys)  # not crowded out by the flows
    assert delta.flows == {}
    assert {"ipsource", "ibbtdestqp", "udpdestinationport", "ingressport"} <= set(delta.flow_keys)
    assert "tcpsourceport" not in delta.flow_keys  # no TCP sample seen
    assert state.flows.busy_rows  # probing again in the next tick


def test_a_new_set_of_definitions_keeps_the_unchanged_ones_sums() -> None:
    state = FabricState(_resolver())
    state.set_flows(DEFINITIONS[:2])
    pipeline = Pipeline(state, fast=True)
    first, second = _datagrams()
    pipeline.handle(first, 100.0)
    replaced = parse_definition("qp", {"keys": "ibbtdestqp", "value": "bytes"})
    state.set_flows([DEFINITIONS[0], (replaced, 9)])  # pair unchanged, qp replaced
    pipeline.handle(second, 100.2)
    flows = state.drain(100.5).flows
    edge = (LEAF1, str(LEAF1_EDGE), "edge", "leaf1")
    core = (LEAF1, str(LEAF1_CORE), "core", "leaf1")
    assert flows["pair"] == _run(True)["pair"]  # both datagrams, as if nothing had changed
    # the replaced one: only the second datagram's samples (QP 17 was in the first)
    assert flows["qp"] == FlowPartial(
        9, {(*edge, "18"): [1086 * 500.0], (*core, "19"): [1086 * 2000.0]}
    )


def test_a_tick_keeps_a_bounded_number_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.flows import engine

    monkeypatch.setattr(engine, "MAX_KEYS_PER_TICK", 2)
    flows = _run(True)
    assert len(flows["pair"].sums) == 2 and flows["pair"].dropped == 1


# ---------------------------------------------------------------------------------------------
# The aggregator's tables


def _key(agent: str, source: str, role: str, node: str, *texts: str) -> tuple[str, ...]:
    return (agent, source, role, node, *texts)


def _tables(definition: FlowDefinition, max_keys: int = 100) -> FlowTables:
    tables = FlowTables(max_keys)
    tables.set_definitions([(definition, 7)])
    return tables


def test_rates_follow_an_exponential_moving_average_and_idle_keys_expire() -> None:
    definition = parse_definition("pair", {"keys": "ipsource", "t": 4})
    tables = _tables(definition)
    key = _key(LEAF1, "5", "edge", "leaf1", A)
    tables.tick(0.0)
    for second in range(1, 11):
        tables.merge({"pair": FlowPartial(7, {key: [5000.0]})}, {})
        tables.tick(float(second))
    rate = tables.tables["pair"].rates[key][0]
    assert rate == pytest.approx(5000.0 * (1 - math.exp(-10 / 4)))
    tables.merge({"pair": FlowPartial(6, {key: [1e9]})}, {})  # an older generation: stale
    tables.tick(11.0)
    assert tables.stale == 1
    assert tables.tables["pair"].rates[key][0] == pytest.approx(rate * math.exp(-1 / 4))
    tables.tick(10.0 + idle_seconds(4) + 0.5)
    assert tables.tables["pair"].rates == {}


def test_a_table_is_bounded_and_counts_what_it_refuses() -> None:
    tables = _tables(parse_definition("pair", {"keys": "ipsource"}), max_keys=2)
    keys = [_key(LEAF1, "5", "edge", "leaf1", f"10.0.0.{i}") for i in range(5)]
    tables.merge({"pair": FlowPartial(7, {k: [1.0] for k in keys}, dropped=3)}, {})
    tables.tick(1.0)
    tables.tick(2.0)
    assert len(tables.tables["pair"].rates) == 2
    dropped, held = tables.counts()
    assert dropped == {("pair", "aggregator"): 3.0, ("pair", "receiver"): 3.0}
    assert held == {("pair",): 2.0}


def test_agg_modes_and_agent_selectors() -> None:
    definition = parse_definition("pair", {"keys": "ipsource,ipdestination", "t": 0.2, "n": 5})
    tables = _tables(definition)
    leaf_edge = _key(LEAF1, "5", "edge", "leaf1", A, B)
    spine_core = _key("10.0.0.3", "3", "core", "spine1", A, B)
    leaf2_edge = _key("10.0.0.2", "3", "core", "leaf2", A, B)
    other = _key("192.0.2.9", "1", "unmapped", "", C, A)
    sums = {leaf_edge: [100.0], spine_core: [80.0], leaf2_edge: [70.0], other: [5.0]}
    tables.tick(0.0)
    tables.merge({"pair": FlowPartial(7, sums)}, {})
    tables.tick(1000.0)  # one long tick: the average has converged (alpha = 1)
    table = tables.tables["pair"]
    everyone = AgentSelector.parse("ALL")
    rate = {k: v[0] for k, v in table.rates.items()}

    def top(mode: str, selector: AgentSelector = everyone) -> list[tuple[str, float]]:
        return [(f.key, f.value) for f in table.active(selector, 10, 0.0, mode)]

    ab = f"{A},{B}"
    assert top("max") == [(ab, rate[leaf_edge]), (f"{C},{A}", rate[other])]
    assert top("sum")[0] == (ab, rate[leaf_edge] + rate[spine_core] + rate[leaf2_edge])
    assert top("edge") == [(ab, rate[leaf_edge])]
    assert top("core") == [(ab, rate[spine_core] + rate[leaf2_edge])]
    assert top("sum", AgentSelector.parse("TOPOLOGY"))[0][1] == pytest.approx(250.0 / 1000)
    assert top("sum", AgentSelector.parse("192.0.2.9")) == [(f"{C},{A}", rate[other])]
    assert top("sum", AgentSelector.parse("spine1;leaf2")) == [
        (ab, rate[spine_core] + rate[leaf2_edge])
    ]
    assert top("max", AgentSelector.parse("EDGE")) == [(ab, rate[leaf_edge])]
    assert table.active(everyone, 1, 0.0, "max")[0].agent == LEAF1
    assert table.active(everyone, 10, rate[other] * 2, "max")[0].key == ab  # minValue


def test_n_keeps_each_data_sources_largest() -> None:
    definition = parse_definition("qp", {"keys": "ibbtdestqp", "n": 5})
    tables = _tables(definition)
    sums = {_key(LEAF1, "5", "edge", "leaf1", str(qp)): [float(qp)] for qp in range(1, 9)}
    tables.tick(0.0)
    tables.merge({"qp": FlowPartial(7, sums)}, {})
    tables.tick(1000.0)
    found = tables.tables["qp"].active(AgentSelector.parse("ALL"), 100, 0.0, "max")
    assert [f.key for f in found] == ["8", "7", "6", "5", "4"]


# ---------------------------------------------------------------------------------------------
# The serve room's store: generations, persistence, scrape-made definitions


def test_the_store_numbers_persists_and_forgets(tmp_path: Path) -> None:
    from collector.serve import flow_store
    from collector.serve.flow_store import FlowFileError, FlowStore

    announced: list[list[tuple[FlowDefinition, int]]] = []
    now = [1000.0]
    path = tmp_path / "flows.json"
    store = FlowStore(path, announced.append, clock=lambda: now[0])
    pair = store.put("pair", {"keys": "ipsource,ipdestination"})
    assert [(d.name, g) for d, g in announced[-1]] == [("pair", 1)]
    store.put("pair", {"keys": "ipsource, ipdestination"})  # the same definition: no change
    assert len(announced) == 1
    store.put("pair", {"keys": "ipsource,ipdestination", "t": 10})
    assert [(d.name, g) for d, g in announced[-1]] == [("pair", 2)]
    assert json.loads(path.read_text())["flows"]["pair"]["t"] == 10.0
    assert not (tmp_path / "flows.json.tmp").exists()
    scraped = store.ensure({"keys": "ibbtdestqp", "value": "frames"})
    assert scraped.name == "prometheus_0" and store.get("prometheus_0") == scraped
    assert store.ensure({"keys": "ibbtdestqp", "value": "frames"}) is scraped
    assert sorted(json.loads(path.read_text())["flows"]) == ["pair"]  # not persisted
    now[0] += flow_store.SCRAPE_FLOW_IDLE - 1
    store.reap()
    assert store.get("prometheus_0") is not None
    now[0] += 2
    store.reap()
    assert store.get("prometheus_0") is None
    assert [d.name for d, _ in announced[-1]] == ["pair"]
    for i in range(flow_store.MAX_SCRAPE_FLOWS):
        store.ensure({"keys": "agent", "value": "frames", "n": 5 + i % 16, "t": 1 + i})
    with pytest.raises(FlowSpecError, match="at most 32 distinct flow scrapes"):
        store.ensure({"keys": "agent", "value": "bytes"})
    assert store.delete("pair") and not store.delete("pair")
    for i in range(flow_store.MAX_DEFINITIONS):
        store.put(f"f{i}", {"keys": "agent"})
    with pytest.raises(FlowSpecError, match="at most 64 flow definitions"):
        store.put("one_more", {"keys": "agent"})

    again = FlowStore(path, announced.append)
    assert again.load() == flow_store.MAX_DEFINITIONS
    assert again.named()["f3"] == parse_definition("f3", {"keys": "agent"})
    assert pair.keys == ("ipsource", "ipdestination")
    path.write_text("{not json")
    with pytest.raises(FlowFileError, match="flows file"):
        FlowStore(path, announced.append).load()
    assert FlowStore(tmp_path / "absent.json", announced.append).load() == 0
