"""Review findings in the topology importers."""

from __future__ import annotations

import json

import pytest

from topology.importers import ImportOptions, Source, TopologyImportError, import_netq


def test_netq_bare_array_errors_name_the_row_as_it_is_in_the_file() -> None:
    """``netq show lldp json`` may be a bare array: its rows are ``[i]``, not ``lldp[i]``."""
    rows = [
        {"hostname": "leaf1", "ifname": "swp1", "peerHostname": "spine1", "peerIfname": "swp1"},
        {"ifname": "swp2", "peerHostname": "spine1", "peerIfname": "swp2"},
    ]
    with pytest.raises(TopologyImportError) as caught:
        import_netq([Source("n.json", json.dumps(rows))], ImportOptions())
    assert str(caught.value) == "n.json: [1].hostname: missing"
    wrapped = json.dumps({"lldp": rows})
    with pytest.raises(TopologyImportError) as caught:
        import_netq([Source("n.json", wrapped)], ImportOptions())
    assert str(caught.value) == "n.json: lldp[1].hostname: missing"
