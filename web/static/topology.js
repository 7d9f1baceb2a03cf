// The Topology tab: status figures with the offending names, per-link load, upload.

import { HttpError, getJSON, putJSON } from "./api.js";
import { si } from "./format.js";
import { SortableTable } from "./table.js";

const FIGURES = [
  ["nodes-total", "nodes", (s) => s.nodes?.total],
  ["nodes-unmonitored", "nodes unmonitored", (s) => s.nodes?.unmonitored],
  ["nodes-noflows", "nodes without flows", (s) => s.nodes?.noflows],
  ["links-total", "links", (s) => s.links?.total],
  ["links-unmonitored", "links unmonitored", (s) => s.links?.unmonitored],
  ["links-down", "links down", (s) => s.links?.down],
  ["agents-total", "agents", (s) => s.agents?.total],
  ["agents-unknown", "agents not in the topology", (s) => s.agents?.unknown],
];

const PROBLEMS = [
  ["unmonitored_nodes", "Unmonitored nodes", (v) => v],
  ["noflows_nodes", "Nodes without flows", (v) => v],
  ["unmonitored_links", "Unmonitored links", (v) => v],
  ["down_links", "Links down", (v) => v],
  ["unknown_agents", "Agents not in the topology", (a) => (a.sub_agent ? `${a.agent}:${a.sub_agent}` : a.agent)],
];

/** A figure card: a value and what it counts; `bad` marks it as a problem. */
export function figureCard(key, label, value, bad = false) {
  const card = document.createElement("div");
  card.className = "figure";
  card.dataset.figure = key;
  if (bad) card.classList.add("bad");
  const number = document.createElement("span");
  number.className = "value";
  number.textContent = value ?? "–";
  const text = document.createElement("span");
  text.className = "label";
  text.textContent = label;
  card.append(number, text);
  return card;
}

const percent = (u) => (u === null || u === undefined ? "–" : `${(100 * u).toFixed(1)} %`);

export class TopologyView {
  constructor(root) {
    this.interval = 2000;
    this.status = root.querySelector("#topology-status");
    this.problems = root.querySelector("#topology-problems");
    this.linksNote = root.querySelector("#links-note");
    this.links = new SortableTable(
      root.querySelector("#links-table"),
      [
        { key: "name", label: "Link", value: (l) => l.name },
        { key: "end1", label: "End 1", value: (l) => `${l.node1} ${l.port1}` },
        { key: "end2", label: "End 2", value: (l) => `${l.node2} ${l.port2}` },
        { key: "status", label: "Status", value: (l) => l.status },
        { key: "speed", label: "Speed", numeric: true, value: (l) => l.speed_bps, text: (l) => si(l.speed_bps, "bit/s") },
        { key: "bps12", label: "1 → 2", numeric: true, value: (l) => l.bps_1to2, text: (l) => si(l.bps_1to2, "bit/s") },
        { key: "bps21", label: "2 → 1", numeric: true, value: (l) => l.bps_2to1, text: (l) => si(l.bps_2to1, "bit/s") },
        { key: "utilization", label: "Utilization", numeric: true, value: (l) => l.utilization, text: (l) => percent(l.utilization) },
      ],
      { sortKey: "utilization", descending: true, rowKey: (l) => l.name, emptyText: "no links in the topology" },
    );
    this.form = root.querySelector("#topology-form");
    this.text = root.querySelector("#topology-text");
    this.result = root.querySelector("#topology-result");
    this.error = root.querySelector("#topology-error");
    root.querySelector("#topology-file").addEventListener("change", (e) => this.readFile(e.target.files[0]));
    root.querySelector("#topology-load-current").addEventListener("click", () => this.loadCurrent());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });
  }

  async refresh() {
    const [status, links] = await Promise.all([getJSON("/topology/status/json"), this.fetchLinks()]);
    this.showStatus(status);
    if (links) {
      this.linksNote.textContent = "Bit rates from the interface counters of each end; sort by any column.";
      this.links.setRows(links.links ?? []);
    }
  }

  async fetchLinks() {
    try {
      return await getJSON("/links/json");
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      this.linksNote.textContent = `link load not available: ${error.message}`;
      return null;
    }
  }

  showStatus(status) {
    if (!status.topology) {
      this.status.replaceChildren(figureCard("none", "no topology loaded: upload one below", "–"));
      this.problems.replaceChildren();
      return;
    }
    this.status.replaceChildren(
      ...FIGURES.map(([key, label, get]) =>
        figureCard(key, label, get(status), !key.endsWith("total") && get(status) > 0),
      ),
    );
    const blocks = [];
    for (const [key, title, name] of PROBLEMS) {
      const items = status[key] ?? [];
      if (!items.length) continue;
      const block = document.createElement("div");
      block.className = "problem";
      const heading = document.createElement("h3");
      heading.textContent = title;
      const list = document.createElement("ul");
      list.dataset.list = key;
      for (const item of items) {
        const li = document.createElement("li");
        li.textContent = name(item);
        list.append(li);
      }
      block.append(heading, list);
      blocks.push(block);
    }
    this.problems.replaceChildren(...blocks);
  }

  async readFile(file) {
    if (!file) return;
    this.text.value = await file.text();
    this.result.textContent = `${file.name} loaded: press Replace topology to install it`;
  }

  async loadCurrent() {
    const current = await getJSON("/topology/json");
    this.text.value = JSON.stringify(current, null, 1);
    this.result.textContent = "current topology loaded";
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message ?? "";
  }

  async upload() {
    this.showError(null);
    const body = this.text.value.trim();
    if (!body) {
      this.showError("topology: empty, choose a file or paste the JSON document");
      return;
    }
    this.result.textContent = "sending…";
    try {
      const answer = await putJSON("/topology/json", body);
      this.result.textContent = `installed, topology version ${answer.version}`;
      await this.refresh();
    } catch (error) {
      this.result.textContent = "refused, the current topology stays";
      this.showError(error instanceof HttpError ? error.message : `collector unreachable: ${error.message}`);
    }
  }
}
