// The Events tab: the fabric-health event stream (/events/json, docs/fabric-health.md):
// incast, ECMP collisions, links down/up, agents silent/back, newest first, with a count per type.

import { getJSON } from "./api.js";
import { clockMs, count, si } from "./format.js";
import { SortableTable } from "./table.js";
import { figureCard } from "./topology.js";

const PAGE = 1000; // the collector's largest page
const MAX_PAGES = 10; // per refresh: the collector holds at most 10,000
const SHOWN = 500; // rows in the table, newest first
const TYPES = ["incast_congestion", "ecmp_collision", "link_down", "link_up", "agent_silent", "agent_back", "drop_surge"];
const PROBLEMS = new Set(["incast_congestion", "ecmp_collision", "link_down", "agent_silent", "drop_surge"]);

/** Where an event happened: node:port, the link, or the agent. */
function where(e) {
  if (e.link) return e.link;
  if (e.port) return `${e.node}:${e.port}`;
  return e.node ? `${e.node} (${e.agent})` : e.agent;
}

/** What it found: the pairs with their rates, and the type's own figures. */
function details(e) {
  const parts = [];
  if (e.utilisation !== undefined) parts.push(`${(100 * e.utilisation).toFixed(0)} %`);
  if (e.pairs) parts.push(e.pairs.map((p) => `${p.source} → ${p.destination} ${si(p.bps, "b/s")}`).join(", "));
  if (e.ecn_marked_per_second !== undefined) parts.push(`ECN ${si(e.ecn_marked_per_second, "/s")}`);
  if (e.cnp_per_second !== undefined) parts.push(`CNP ${si(e.cnp_per_second, "/s")}`);
  if (e.idle_uplinks) parts.push(`idle ${e.idle_uplinks.join(", ")}`);
  if (e.drops_per_second !== undefined) {
    const reasons = Object.entries(e.reasons ?? {}).map(([r, n]) => `${r} ${n}`).join(", ");
    parts.push(`${si(e.drops_per_second, " drops/s")} (${reasons})`);
  }
  if (e.peer_node) parts.push(`${e.node}:${e.port} – ${e.peer_node}:${e.peer_port}`);
  return parts.join(" · ") || null;
}

export class EventsView {
  constructor(root) {
    this.interval = 1000;
    this.totals = root.querySelector("#events-totals");
    this.countText = root.querySelector("#events-count");
    this.table = new SortableTable(
      root.querySelector("#events-table"),
      [
        { key: "time", label: "Time", numeric: true, value: (e) => e.time, text: (e) => clockMs(e.time * 1000) },
        { key: "type", label: "Type", value: (e) => e.type },
        { key: "where", label: "Where", value: where },
        { key: "details", label: "Details", value: details },
      ],
      { sortKey: "time", descending: true, rowKey: (e) => String(e.id), emptyText: "no events: the fabric looks healthy" },
    );
    this.after = 0;
    this.events = [];
    this.byType = Object.fromEntries(TYPES.map((t) => [t, 0]));
    this.showTotals();
  }

  async refresh() {
    let added = 0;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const answer = await getJSON("/events/json", { after: this.after, limit: PAGE });
      if (answer.last < this.after) {
        // the collector restarted: start again
        this.after = 0;
        this.events = [];
        this.byType = Object.fromEntries(TYPES.map((t) => [t, 0]));
        continue;
      }
      const events = answer.events ?? [];
      for (const event of events) this.byType[event.type] = (this.byType[event.type] ?? 0) + 1;
      this.events.push(...events);
      added += events.length;
      this.after = answer.next ?? this.after;
      if (this.after >= answer.last) break;
    }
    if (this.events.length > SHOWN) this.events.splice(0, this.events.length - SHOWN);
    if (added || !this.table.rows.length) {
      this.table.setRows(this.events);
      this.showTotals();
    }
  }

  showTotals() {
    this.totals.replaceChildren(
      ...TYPES.map((t) => figureCard(t, t.replaceAll("_", " "), count(this.byType[t]), PROBLEMS.has(t) && this.byType[t] > 0)),
    );
    const seen = Object.values(this.byType).reduce((a, b) => a + b, 0);
    this.countText.textContent = `(${count(seen)}, newest ${SHOWN} shown)`;
  }
}
