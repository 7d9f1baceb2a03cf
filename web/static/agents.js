// The Agents tab: is anything arriving? Per-agent health from /agents/json.

import { HttpError, getJSON } from "./api.js";
import { ago, count, si } from "./format.js";
import { SortableTable } from "./table.js";
import { figureCard } from "./topology.js";

const STALE_SECONDS = 10;

const name = (a) => (a.sub_agent ? `${a.agent}:${a.sub_agent}` : a.agent);
const rate = (v) => si(v, "/s");
const kind = (key) => (a) => a.samples_per_second?.[key];
const reasons = (a) =>
  Object.entries(a.decode_errors_by_reason ?? {})
    .map(([reason, n]) => `${reason}: ${n}`)
    .join(", ");

/** Flatten the totals object into (key, label, value) cards. */
function totalsCards(totals, prefix = "") {
  const cards = [];
  for (const [key, value] of Object.entries(totals ?? {})) {
    const label = `${prefix}${key}`.replaceAll("_", " ");
    if (typeof value === "number") {
      const shown = Number.isInteger(value) ? count(value) : si(value);
      const problem = /lost|error|restart|order|unknown/.test(key) && value > 0;
      cards.push(figureCard(`${prefix}${key}`, label, shown, problem));
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      cards.push(...totalsCards(value, `${prefix}${key} `));
    }
  }
  return cards;
}

export class AgentsView {
  constructor(root) {
    this.interval = 2000;
    this.totals = root.querySelector("#agents-totals");
    this.note = root.querySelector("#agents-note");
    this.silent = root.querySelector("#agents-silent");
    this.table = new SortableTable(
      root.querySelector("#agents-table"),
      [
        { key: "agent", label: "Agent", value: name },
        { key: "node", label: "Node", value: (a) => a.node },
        { key: "in_topology", label: "In topology", value: (a) => (a.in_topology ? "yes" : "no") },
        { key: "last_seen", label: "Last seen", numeric: true, value: (a) => -a.age_s, text: (a) => ago(a.age_s) },
        { key: "datagrams", label: "Datagrams/s", numeric: true, value: (a) => a.datagrams_per_second, text: (a) => rate(a.datagrams_per_second) },
        { key: "flow", label: "Flow samples/s", numeric: true, value: kind("flow"), text: (a) => rate(kind("flow")(a)) },
        { key: "counter", label: "Counter samples/s", numeric: true, value: kind("counter"), text: (a) => rate(kind("counter")(a)) },
        { key: "drop", label: "Drop samples/s", numeric: true, value: kind("drop"), text: (a) => rate(kind("drop")(a)) },
        { key: "sampling", label: "Sampling rates", value: (a) => (a.sampling_rates ?? []).join(", ") || null },
        { key: "effective", label: "Effective rate", numeric: true, value: (a) => a.effective_sampling_rate, text: (a) => count(a.effective_sampling_rate) },
        { key: "lost", label: "Datagrams lost", numeric: true, value: (a) => a.datagrams_lost, text: (a) => count(a.datagrams_lost) },
        { key: "order", label: "Out of order", numeric: true, value: (a) => a.out_of_order, text: (a) => count(a.out_of_order) },
        { key: "restarts", label: "Restarts", numeric: true, value: (a) => a.restarts, text: (a) => count(a.restarts) },
        { key: "errors", label: "Decode errors", numeric: true, value: (a) => a.decode_errors, text: (a) => count(a.decode_errors), title: reasons },
      ],
      {
        sortKey: "agent",
        rowKey: name,
        rowClass: (a) => (a.age_s > STALE_SECONDS || !a.in_topology ? "warn" : ""),
        emptyText: "no agent has sent anything yet",
      },
    );
  }

  async refresh() {
    let answer;
    // the switches of the topology that send nothing at all have no row: name them too
    const status = getJSON("/topology/status/json").catch(() => null);
    try {
      answer = await getJSON("/agents/json");
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      this.note.textContent = `agent health not available: ${error.message}`;
      return;
    }
    const agents = answer.agents ?? [];
    this.totals.replaceChildren(...totalsCards(answer.totals));
    this.note.textContent = `${agents.length} agents; rows in red have not been heard from for ${STALE_SECONDS} s or are not in the topology.`;
    this.table.setRows(agents);
    const silent = (await status)?.unmonitored_nodes ?? [];
    this.silent.hidden = !silent.length;
    this.silent.dataset.nodes = silent.join(",");
    this.silent.textContent = `Topology nodes no agent is heard from: ${silent.join(", ")}`;
  }
}
