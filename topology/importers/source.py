"""An input file of an importer, the located import error, and JSON reading that names places.

Every importer reads ``Source`` objects (a display name and the text) and raises
``TopologyImportError`` whose ``str()`` is one line: ``FILE: line N: message`` for text formats,
``FILE: results[3].a_terminations[0]: message`` for JSON objects.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

MAX_SOURCE_BYTES = 64 * 1024 * 1024


class TopologyImportError(ValueError):
    """Input an importer cannot use; ``str()`` names the file and the line or JSON object."""

    def __init__(self, source: str, where: str, message: str) -> None:
        self.source = source
        self.where = where
        self.message = message
        parts = [p for p in (source, where) if p]
        super().__init__(": ".join([*parts, message]))


@dataclass(frozen=True, slots=True)
class Source:
    """One input file: the name shown in errors and its decoded text."""

    name: str
    text: str

    def error(self, where: str, message: str) -> TopologyImportError:
        """A ``TopologyImportError`` located in this file."""
        return TopologyImportError(self.name, where, message)

    def json(self) -> Any:
        """The file parsed as JSON; an error names the line and column."""
        if len(self.text) > MAX_SOURCE_BYTES:
            raise self.error("", f"larger than {MAX_SOURCE_BYTES} bytes")
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            raise self.error(f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise self.error("", "invalid JSON: nested too deeply") from None


def source_from_bytes(name: str, data: bytes) -> Source:
    """A ``Source`` from raw bytes (UTF-8, a BOM allowed); undecodable bytes are an error."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TopologyImportError(name, f"byte {exc.start}", "not UTF-8 text") from None
    return Source(name, text)


def field(source: Source, where: str, obj: Any, key: str) -> str:
    """``obj[key]`` as a non-empty string, or an error naming ``where.key``."""
    if not isinstance(obj, dict):
        raise source.error(where, f"expected an object, found {type_name(obj)}")
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        found = "missing" if value is None else f"not a non-empty string ({type_name(value)})"
        raise source.error(f"{where}.{key}" if where else key, found)
    return value.strip()


def type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """What the user told the import beyond the files.

    ``switches``: glob patterns of switch names (LLDP and containerlab sources; empty: every
    device that reports, or every non-host kind); ``roles``: NetBox device roles (slug or name)
    whose cables are kept; ``name``: the switch an Arista eAPI file belongs to.
    """

    switches: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    name: str | None = None

    def matches_switch(self, node: str) -> bool:
        """True when ``node`` matches a ``switches`` pattern (always, with no patterns)."""
        return not self.switches or any(fnmatchcase(node, p) for p in self.switches)


def agent_address(source: Source, where: str, text: str) -> str:
    """An IPv4/IPv6 address from ``text`` (a ``/prefix`` is dropped), or an error at ``where``."""
    address = text.strip().split("/", 1)[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise source.error(where, f"{text!r} is not an IP address") from None
