// A table whose column headers are buttons that sort it (mouse and keyboard alike).

/**
 * columns: [{key, label, value: row => sortable value, text?: row => string, numeric?: bool,
 *            title?: row => string}]; rowClass?: row => class name of the row
 * Cells are written with textContent only: every string comes from the network.
 */
export class SortableTable {
  constructor(table, columns, { sortKey, descending = false, rowKey, rowClass, emptyText = "nothing yet" }) {
    this.table = table;
    this.columns = columns;
    this.sortKey = sortKey ?? columns[0].key;
    this.descending = descending;
    this.rowKey = rowKey;
    this.rowClass = rowClass;
    this.emptyText = emptyText;
    this.rows = [];
    this.head = table.createTHead();
    this.body = table.createTBody();
    this.renderHead();
  }

  renderHead() {
    const tr = document.createElement("tr");
    for (const column of this.columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = column.key;
      if (column.numeric) th.classList.add("num");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = column.label;
      button.addEventListener("click", () => this.sortBy(column.key));
      th.append(button);
      tr.append(th);
    }
    this.head.replaceChildren(tr);
    this.markSort();
  }

  markSort() {
    for (const th of this.head.querySelectorAll("th")) {
      const sorted = th.dataset.key === this.sortKey;
      th.setAttribute("aria-sort", sorted ? (this.descending ? "descending" : "ascending") : "none");
    }
  }

  sortBy(key) {
    if (key === this.sortKey) this.descending = !this.descending;
    else {
      this.sortKey = key;
      this.descending = Boolean(this.columns.find((c) => c.key === key)?.numeric);
    }
    this.markSort();
    this.render();
  }

  setRows(rows) {
    this.rows = rows;
    this.render();
  }

  sorted() {
    const column = this.columns.find((c) => c.key === this.sortKey) ?? this.columns[0];
    const sign = this.descending ? -1 : 1;
    const missing = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
    return [...this.rows].sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      if (missing(x) || missing(y)) return missing(x) - missing(y);
      if (typeof x === "number" && typeof y === "number") return sign * (x - y);
      return sign * String(x).localeCompare(String(y), "en", { numeric: true });
    });
  }

  render() {
    const fragment = document.createDocumentFragment();
    for (const row of this.sorted()) {
      const tr = document.createElement("tr");
      if (this.rowKey) tr.dataset.key = this.rowKey(row);
      const extra = this.rowClass?.(row);
      if (extra) tr.className = extra;
      for (const column of this.columns) {
        const td = document.createElement("td");
        const value = column.value(row);
        td.textContent = column.text ? column.text(row) : value ?? "–";
        td.dataset.key = column.key;
        if (column.numeric) td.classList.add("num");
        if (column.title) td.title = column.title(row);
        tr.append(td);
      }
      fragment.append(tr);
    }
    if (!this.rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = this.columns.length;
      td.className = "empty";
      td.textContent = this.emptyText;
      tr.append(td);
      fragment.append(tr);
    }
    this.body.replaceChildren(fragment);
  }
}
