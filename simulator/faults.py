"""Faults on demand: agent restart, lost datagrams, link down, unmonitored switch, bad sampling.

Syntax of one fault (``--fault``, repeatable)::

    KIND:TARGET[=VALUE][@START[+DURATION]]

==============  =================================  =================================================
kind            target / value                     effect
==============  =================================  =================================================
restart         switch                             at START: datagram and sample sequence numbers,
                                                   sample pools and uptime restart from zero
loss            probability (0…1)                  datagrams lost on the way, in the window
linkdown        link name (as in the topology)     both ports oper-down, ECMP avoids the link
unmonitored     switch                             the switch's agent sends nothing in the window
samplingrate    switch=N                           the switch samples 1-in-N in the window
==============  =================================  =================================================

START defaults to 0 (restart: required), DURATION to the end of the run. Examples:
``restart:leaf2@30``, ``loss:0.01``, ``loss:0.2@10+5``, ``linkdown:leaf1-spine1@20+10``,
``unmonitored:spine2``, ``samplingrate:leaf3=1000``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.fabric import Fabric

__all__ = ["FAULT_KINDS", "Fault", "parse_fault"]

FAULT_KINDS = ("restart", "loss", "linkdown", "unmonitored", "samplingrate")


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: kind, target (switch/link name or probability text), value, window."""

    kind: str
    target: str
    value: float
    start: float
    end: float

    def active(self, t: float) -> bool:
        """True when ``t`` lies in the fault's window."""
        return self.start <= t < self.end

    def as_dict(self) -> dict[str, object]:
        """JSON form for the truth file."""
        return {
            "kind": self.kind,
            "target": self.target,
            "value": self.value,
            "start": self.start,
            "end": None if math.isinf(self.end) else self.end,
        }


def parse_fault(text: str) -> Fault:
    """Parse ``KIND:TARGET[=VALUE][@START[+DURATION]]``; ``ValueError`` with a clear message."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in FAULT_KINDS:
        raise ValueError(f"fault {text!r}: kind must be one of {', '.join(FAULT_KINDS)}")
    body, at, window = rest.partition("@")
    start, end = 0.0, math.inf
    if at:
        start_text, plus, dur_text = window.partition("+")
        try:
            start = float(start_text)
            if plus:
                end = start + float(dur_text)
        except ValueError:
            raise ValueError(f"fault {text!r}: bad time window {window!r}") from None
        if start < 0 or end <= start:
            raise ValueError(f"fault {text!r}: the window must start ≥ 0 and last > 0")
    elif kind == "restart":
        raise ValueError(f"fault {text!r}: a restart needs a time, e.g. restart:leaf1@30")
    target, eq, value_text = body.partition("=")
    value = 0.0
    if kind == "loss":
        try:
            value = float(target)
        except ValueError:
            raise ValueError(f"fault {text!r}: loss takes a probability, e.g. loss:0.01") from None
        if not 0 <= value <= 1:
            raise ValueError(f"fault {text!r}: loss probability must be within 0 … 1")
    elif kind == "samplingrate":
        try:
            value = float(int(value_text))
        except ValueError:
            raise ValueError(f"fault {text!r}: use samplingrate:SWITCH=N") from None
        if value < 1:
            raise ValueError(f"fault {text!r}: the sampling rate must be ≥ 1")
    elif eq:
        raise ValueError(f"fault {text!r}: {kind} takes no value")
    if not target:
        raise ValueError(f"fault {text!r}: missing target")
    return Fault(kind, target, value, start, end)


def check_targets(faults: list[Fault], fabric: Fabric) -> None:
    """``ValueError`` when a fault names a switch or link the fabric does not have."""
    for f in faults:
        if f.kind in ("restart", "unmonitored", "samplingrate"):
            if f.target not in fabric.switch_index:
                raise ValueError(f"fault {f.kind}: no switch named {f.target!r}")
        elif f.kind == "linkdown" and f.target not in fabric.link_index:
            raise ValueError(f"fault linkdown: no link named {f.target!r}")
