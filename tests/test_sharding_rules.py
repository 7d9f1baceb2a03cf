"""The Prometheus-only sharding rules (dashboards/prometheus/sharding.yml, docs/scale-out.md):
every additive native family has its ``sum without (instance)`` rule, nothing that cannot be
summed has one, and a real promtool evaluates them over two shards' series to their sums."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from collector.families import COUNTER, FAMILIES, HISTOGRAM

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "dashboards" / "prometheus" / "sharding.yml"
# not fabric totals: per-agent and per-worker series, the bus's own, the push's, the flow
# tables' and topology bookkeeping; and the period detector's cycles (a detection per shard)
DATAGRAMS = "fabric:fabricscope_datagrams_total:sum"
INGRESS = "fabric:fabricscope_ingress_bytes_total:sum"
DELAY = "fabric:fabricscope_transit_delay_seconds_bucket:sum"
# fabric-health events are judged over the whole fabric: a shard's own are not a share of them
NOT_SUMMED = (
    "agent_", "bus_", "worker_", "influx_", "flow_", "topology_", "period_", "events",
)  # fmt: skip


def _rules() -> dict[str, str]:
    document = yaml.safe_load(RULES.read_text())
    (group,) = document["groups"]
    return {rule["record"]: rule["expr"] for rule in group["rules"]}


def _additive() -> set[str]:
    names: set[str] = set()
    for family in FAMILIES:
        if family.per_port or family.name.startswith(NOT_SUMMED):
            continue
        if family.type == COUNTER:
            names.add(f"fabricscope_{family.name}_total")
        elif family.type == HISTOGRAM:
            names |= {f"fabricscope_{family.name}_{s}" for s in ("bucket", "sum", "count")}
    return names


def test_every_additive_family_has_its_sum_and_nothing_else_does() -> None:
    rules = _rules()
    summed = {record.split(":")[1] for record in rules}
    assert summed == _additive()
    for record, expr in rules.items():
        assert expr == f"sum without (instance) ({record.split(':')[1]})"
    assert "fabricscope_datagrams_total" in summed
    assert not any("period" in name or "quartile" in name for name in summed)


def test_promtool_sums_two_shards(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    # two shards' series, hand-written; the expected values are their sums by hand
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'fabricscope_datagrams_total{job="fs",instance="a:8008"}',
                     "values": "100 250"},
                    {"series": 'fabricscope_datagrams_total{job="fs",instance="b:8008"}',
                     "values": "40 70"},
                    {"series": 'fabricscope_ingress_bytes_total{job="fs",instance="a:8008",'
                               'role="edge"}', "values": "1000 3000"},
                    {"series": 'fabricscope_ingress_bytes_total{job="fs",instance="b:8008",'
                               'role="edge"}', "values": "500 600"},
                    {"series": 'fabricscope_ingress_bytes_total{job="fs",instance="b:8008",'
                               'role="core"}', "values": "7 9"},
                    {"series": 'fabricscope_transit_delay_seconds_bucket{job="fs",'
                               'instance="a:8008",role="core",le="1e-06"}', "values": "3 5"},
                    {"series": 'fabricscope_transit_delay_seconds_bucket{job="fs",'
                               'instance="b:8008",role="core",le="1e-06"}', "values": "4 4"},
                ],
                "promql_expr_test": [
                    {"expr": "fabric:fabricscope_datagrams_total:sum", "eval_time": "1m",
                     "exp_samples": [{"labels": f'{DATAGRAMS}{{job="fs"}}', "value": 320}]},
                    {"expr": "fabric:fabricscope_ingress_bytes_total:sum", "eval_time": "1m",
                     "exp_samples": [
                         {"labels": f'{INGRESS}{{job="fs",role="core"}}', "value": 9},
                         {"labels": f'{INGRESS}{{job="fs",role="edge"}}', "value": 3600},
                     ]},
                    {"expr": "fabric:fabricscope_transit_delay_seconds_bucket:sum",
                     "eval_time": "0m",
                     "exp_samples": [
                         {"labels": f'{DELAY}{{job="fs",role="core",le="1e-06"}}', "value": 7},
                     ]},
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "sharding_test.yml"
    path.write_text(yaml.safe_dump(test))
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the check can fail: a wrong expected sum is reported
    test["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = 321  # type: ignore[index]
    path.write_text(yaml.safe_dump(test))
    wrong = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode != 0
