"""Twenty flow definitions for the benchmarks: what AI-fabric operators ask (docs/flows.md).

GPU pairs, queue pairs, opcodes per port, ECN-marked pairs, drops by reason and node, CNPs, …;
``bench/collector.py --flow-definitions N`` and ``bench/sample_cost.py --flow-definitions N``
make the first N active.
"""

from __future__ import annotations

FLOW_DEFINITIONS: tuple[dict[str, object], ...] = (
    {"keys": "ipsource,ipdestination", "value": "bytes"},
    {"keys": "ibbtdestqp", "value": "frames"},
    {"keys": "ibbtopname,ingressnode,ingressport", "value": "frames"},
    {"keys": "ipsource,ipdestination", "value": "frames", "filter": "ipecn=3"},
    {"keys": "reason,node", "value": "frames", "dropped": True},
    {"keys": "ipdestination,ibbtdestqp", "value": "frames", "filter": "ibbtopname=CNP"},
    {"keys": "egressnode,egressport", "value": "bytes", "filter": "egressrole=core"},
    {"keys": "ipsource", "value": "ibbtrdmalen", "filter": "ibbtopname~RDMA_WRITE_.*"},
    {"keys": "udpsourceport,udpdestinationport", "value": "bytes"},
    {"keys": "ipdscp,ipecn", "value": "frames"},
    {"keys": "macsource,macdestination", "value": "bytes"},
    {"keys": "ingressport,egressport", "value": "bytes", "filter": "ingressrole=edge"},
    {"keys": "ibbtoptransport", "value": "frames"},
    {"keys": "ip6source,ip6destination", "value": "bytes"},
    {"keys": "tcpsourceport,tcpdestinationport", "value": "bytes"},
    {"keys": "agent,inputifindex", "value": "frames"},
    {"keys": "ibbtaethack,ipsource", "value": "frames"},
    {"keys": "linuxreason,function", "value": "frames", "dropped": True},
    {
        "keys": "ipsource,ipdestination",
        "value": "bytes",
        "filter": "ibbtdestqp!=1,2,3&ipprotocol=17",
    },
    {"keys": "vlan,ipprotocol", "value": "frames"},
)
