"""The flow definitions of ``serve``: validated, numbered, persisted, announced.

``FlowStore`` keeps the definitions ``PUT /flow/{name}/json`` installs (persisted to the
``flows_file`` setting when one is named: written whole to a temporary file, then renamed, so a
crash leaves the old or the new file, never half of one) and the ones the Prometheus flow
scrape makes on the fly (``ensure``: one per distinct query, named ``prometheus_N``, not
persisted, forgotten ``SCRAPE_FLOW_IDLE`` seconds after their last scrape, at most
``MAX_SCRAPE_FLOWS``). Every change gives the changed definition a new generation (so partial
sums of its previous version are told apart) and calls ``announce`` with the whole active set.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.aggregate.health import HEALTH_PREFIX
from collector.flows.definition import FlowDefinition, parse_definition
from collector.flows.filter import FlowSpecError

log = logging.getLogger("fabricscope")

MAX_DEFINITIONS = 64
MAX_SCRAPE_FLOWS = 32
SCRAPE_FLOW_IDLE = 300.0  # seconds, as the sFlow-RT prometheus app
FILE_VERSION = 1

Active = list[tuple[FlowDefinition, int]]


class FlowFileError(ValueError):
    """The flows file cannot be read; ``str()`` names the file and the problem."""


class FlowStore:
    """Named and scrape-made flow definitions (module docstring)."""

    def __init__(
        self,
        path: Path | None,
        announce: Callable[[Active], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._announce = announce
        self._clock = clock
        self._named: dict[str, tuple[FlowDefinition, int]] = {}
        self._scrape: dict[str, tuple[FlowDefinition, int]] = {}  # query → definition
        self._scrape_used: dict[str, float] = {}
        self._generation = 0
        self._scrape_id = 0

    # -----------------------------------------------------------------------------------------

    def load(self) -> int:
        """Read the flows file (absent: none yet); returns how many; ``FlowFileError``."""
        if self.path is None or not self.path.exists():
            return 0
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FlowFileError(f"flows file {self.path}: {exc}") from None
        flows = document.get("flows") if isinstance(document, dict) else None
        if not isinstance(flows, dict):
            raise FlowFileError(f'flows file {self.path}: expected {{"flows": {{name: …}}}}')
        for name, body in flows.items():
            try:
                self._named[name] = (parse_definition(name, body), self._next())
            except FlowSpecError as exc:
                raise FlowFileError(f"flows file {self.path}: flow {name}: {exc}") from None
        self._changed(save=False)
        return len(self._named)

    def _next(self) -> int:
        self._generation += 1
        return self._generation

    def _changed(self, save: bool = True) -> None:
        if save and self.path is not None:
            self._save(self.path)
        self._announce(self.active())

    def _save(self, path: Path) -> None:
        document = {
            "version": FILE_VERSION,
            "flows": {name: d.to_json() for name, (d, _) in sorted(self._named.items())},
        }
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:  # the definition stays active; only persistence failed
            log.error("flows file %s not written: %s", path, exc)

    # -----------------------------------------------------------------------------------------

    def active(self) -> Active:
        """Every active definition with its generation."""
        return [*self._named.values(), *self._scrape.values()]

    def get(self, name: str) -> FlowDefinition | None:
        """A definition by name (named or scrape-made)."""
        for definition, _ in self.active():
            if definition.name == name:
                return definition
        return None

    def named(self) -> dict[str, FlowDefinition]:
        """The named definitions (``GET /flow/json``)."""
        return {name: d for name, (d, _) in sorted(self._named.items())}

    def put(self, name: str, document: Any) -> FlowDefinition:
        """Install or replace a named definition (``FlowSpecError`` when it does not parse)."""
        if name.startswith(HEALTH_PREFIX):
            raise FlowSpecError("name", f"names beginning {HEALTH_PREFIX!r} are reserved", name)
        definition = parse_definition(name, document)
        held = self._named.get(name)
        if held is not None and held[0] == definition:
            return held[0]  # the same again: keep its sums
        if held is None and len(self._named) >= MAX_DEFINITIONS:
            raise FlowSpecError("name", f"at most {MAX_DEFINITIONS} flow definitions")
        self._named[name] = (definition, self._next())
        self._changed()
        return definition

    def delete(self, name: str) -> bool:
        """Remove a named definition; False when there was none."""
        if self._named.pop(name, None) is None:
            return False
        self._changed()
        return True

    def ensure(self, document: dict[str, Any]) -> FlowDefinition:
        """The scrape-made definition of one query (made on its first scrape)."""
        query = json.dumps(document, sort_keys=True)
        held = self._scrape.get(query)
        self._scrape_used[query] = self._clock()
        if held is not None:
            return held[0]
        definition = parse_definition(f"prometheus_{self._scrape_id}", document)
        if len(self._scrape) >= MAX_SCRAPE_FLOWS:
            self._scrape_used.pop(query, None)
            raise FlowSpecError(
                "query", f"at most {MAX_SCRAPE_FLOWS} distinct flow scrapes at a time"
            )
        self._scrape_id += 1
        self._scrape[query] = (definition, self._next())
        self._changed(save=False)
        return definition

    def reap(self) -> None:
        """Forget scrape-made definitions not scraped for ``SCRAPE_FLOW_IDLE`` seconds."""
        deadline = self._clock() - SCRAPE_FLOW_IDLE
        idle = [q for q, used in self._scrape_used.items() if used < deadline]
        for query in idle:
            del self._scrape_used[query]
            self._scrape.pop(query, None)
        if idle:
            self._changed(save=False)
