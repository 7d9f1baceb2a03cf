// The Drops tab: the top drops by any flow keys (browse-drops), and dropped-packet
// notifications as they arrive, with filters and reason totals.

import { HttpError, getJSON } from "./api.js";
import { FlowBrowser } from "./flows.js";
import { clockMs, count } from "./format.js";
import { SortableTable } from "./table.js";

const PAGE = 1000; // the collector's largest page
const MAX_PAGES = 12; // per refresh: the collector holds at most 10,000
const SHOWN = 500; // rows in the table, newest first

const endpoint = (ip, port) => (ip ? (port === null || port === undefined ? ip : `${ip}:${port}`) : null);
// ifIndex 0 is sFlow's "unknown interface" (the CLI writes "-" too)
const portText = (name, ifindex) => name ?? (ifindex > 0 ? `ifindex ${ifindex}` : null);

export class DropsView {
  constructor(root) {
    this.interval = 1000;
    this.filter = "";
    this.paused = false;
    this.error = root.querySelector("#drops-error");
    this.countText = root.querySelector("#drops-count");
    this.input = root.querySelector("#drops-filter");
    this.pauseButton = root.querySelector("#drops-pause");
    this.table = new SortableTable(
      root.querySelector("#drops-table"),
      [
        { key: "time", label: "Time", numeric: true, value: (e) => e.time, text: (e) => clockMs(e.time * 1000) },
        { key: "node", label: "Node", value: (e) => e.node ?? e.agent },
        { key: "port", label: "Port", value: (e) => portText(e.port, e.source_ifindex) },
        { key: "in", label: "In", value: (e) => portText(e.in_port, e.in_ifindex) },
        { key: "out", label: "Out", value: (e) => portText(e.out_port, e.out_ifindex) },
        { key: "reason", label: "Reason", value: (e) => e.reason_name, title: (e) => `code ${e.reason}` },
        { key: "linux", label: "Linux reason", value: (e) => e.linux_reason },
        { key: "function", label: "Function", value: (e) => e.function },
        { key: "trap", label: "Trap", value: (e) => e.trap, title: (e) => (e.trap_group ? `group ${e.trap_group}` : "") },
        { key: "protocol", label: "Proto", value: (e) => e.protocol },
        { key: "src", label: "Source", value: (e) => endpoint(e.src_ip, e.src_port), title: (e) => e.src_mac ?? "" },
        { key: "dst", label: "Destination", value: (e) => endpoint(e.dst_ip, e.dst_port), title: (e) => e.dst_mac ?? "" },
        { key: "opcode", label: "RoCEv2", value: (e) => e.roce_opcode },
        { key: "qp", label: "QP", numeric: true, value: (e) => e.dest_qp },
      ],
      { sortKey: "time", descending: true, rowKey: (e) => String(e.id), emptyText: "no drop notifications yet" },
    );
    this.reasons = new SortableTable(
      root.querySelector("#drop-reasons-table"),
      [
        { key: "reason", label: "Reason", value: (r) => r.reason },
        { key: "count", label: "Notifications", numeric: true, value: (r) => r.count, text: (r) => count(r.count) },
        { key: "last", label: "Last", numeric: true, value: (r) => r.last, text: (r) => clockMs(r.last * 1000) },
      ],
      { sortKey: "count", descending: true, rowKey: (r) => r.reason, emptyText: "none" },
    );
    root.querySelector("#drops-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.filter = this.input.value.trim();
      this.reset();
      this.refreshNotifications().catch(() => {});
    });
    this.pauseButton.addEventListener("click", () => {
      this.paused = !this.paused;
      this.pauseButton.setAttribute("aria-pressed", String(this.paused));
      this.pauseButton.textContent = this.paused ? "Resume" : "Pause";
    });
    this.top = new FlowBrowser(root.querySelector("#dropflows"), {
      id: "dropflows",
      tab: "drops",
      dropped: true,
      defaults: { keys: "reason", value: "frames", example: "reason=acl&node=leaf1" },
    });
    this.reset();
  }

  restore(params) {
    this.top.restore(params);
  }

  reset() {
    // an answer to a request made before the reset (old filter) is thrown away
    this.generation = (this.generation ?? 0) + 1;
    this.after = 0;
    this.events = [];
    this.byReason = new Map();
    this.seen = 0;
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message ?? "";
  }

  async refresh() {
    const top = this.top.refresh();
    await this.refreshNotifications();
    await top;
  }

  async refreshNotifications() {
    if (this.paused) return;
    const generation = this.generation;
    let added = 0;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      let answer;
      try {
        answer = await getJSON("/drops/json", { after: this.after, limit: PAGE, filter: this.filter });
      } catch (error) {
        if (generation !== this.generation) return;
        if (!(error instanceof HttpError)) throw error;
        this.showError(`filter: ${error.message}`);
        return;
      }
      if (generation !== this.generation) return;
      this.showError(null);
      if (answer.total < this.after) this.reset(); // the collector restarted
      const events = answer.events ?? [];
      for (const event of events) this.count(event);
      this.events.push(...events);
      added += events.length;
      // `last` is the last id examined: a filter matching nothing still moves on
      this.after = answer.last ?? (events.length ? events[events.length - 1].id : this.after);
      if (events.length < PAGE) break;
    }
    if (this.events.length > SHOWN) this.events.splice(0, this.events.length - SHOWN);
    if (added || !this.table.rows.length) this.show();
  }

  count(event) {
    this.seen += 1;
    const reason = event.reason_name ?? `code ${event.reason}`;
    const entry = this.byReason.get(reason) ?? { reason, count: 0, last: 0 };
    entry.count += 1;
    entry.last = Math.max(entry.last, event.time);
    this.byReason.set(reason, entry);
  }

  show() {
    this.table.setRows(this.events);
    this.reasons.setRows([...this.byReason.values()]);
    this.countText.textContent = `(${count(this.seen)}${this.filter ? " matching" : ""}, newest ${SHOWN} shown)`;
  }
}
