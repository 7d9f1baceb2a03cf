// The Locate tab: where an IP or MAC address enters the fabric.

import { HttpError, getJSON } from "./api.js";
import { ago } from "./format.js";
import { SortableTable } from "./table.js";

export class LocateView {
  constructor(root) {
    this.interval = null; // answers on demand only
    this.input = root.querySelector("#locate-address");
    this.message = root.querySelector("#locate-message");
    this.table = new SortableTable(
      root.querySelector("#locate-table"),
      [
        { key: "node", label: "Node", value: (r) => r.node },
        { key: "port", label: "Port", value: (r) => r.port },
        { key: "agent", label: "Agent", value: (r) => r.agent },
        { key: "ifindex", label: "ifIndex", numeric: true, value: (r) => r.ifindex },
        { key: "mac", label: "MAC", value: (r) => r.mac },
        { key: "ip", label: "IP", value: (r) => r.ip },
        { key: "last_seen", label: "Last seen", numeric: true, value: (r) => r.last_seen, text: (r) => ago(Date.now() / 1000 - r.last_seen) },
      ],
      { sortKey: "last_seen", descending: true, rowKey: (r) => `${r.node}:${r.port}`, emptyText: "" },
    );
    root.querySelector("#locate-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.lookup(this.input.value.trim());
    });
  }

  async lookup(address) {
    if (!address) return;
    const asked = (this.asked = (this.asked ?? 0) + 1); // only the latest question is answered
    this.message.dataset.state = "busy";
    this.message.textContent = `looking up ${address}…`;
    try {
      const rows = await getJSON("/locate/json", { address });
      if (asked !== this.asked) return;
      this.table.setRows(rows);
      this.message.dataset.state = rows.length ? "found" : "unknown";
      this.message.textContent = rows.length
        ? `${address}: ${rows.length === 1 ? "one location" : `${rows.length} locations`}`
        : `${address}: not seen entering the fabric (yet)`;
    } catch (error) {
      if (asked !== this.asked) return;
      this.table.setRows([]);
      this.message.dataset.state = "error";
      this.message.textContent = error instanceof HttpError ? error.message : `collector unreachable: ${error.message}`;
    }
  }

  async refresh() {}
}
