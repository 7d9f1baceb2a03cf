// The Traffic tab: ai-metrics' twelve charts over the last 5 minutes, from trend/json, and the
// Periodicity pop-up from period/json.

import { AI_METRICS, getJSON, poll } from "./api.js";
import { clock, si, tick } from "./format.js";

export const COLORS = [
  "#2f6fd0", "#e0542c", "#239c62", "#9a57c8", "#c99400", "#1597a8", "#8c564b", "#d85aa8", "#5f7d1f", "#7a869a",
];
const WINDOW_MS = 300_000;
const MAX_POINTS = 300;
const MAX_TOP_SERIES = 8;
const PERIODICITY_POLL_MS = 250;
const FIVE = ["max", "q3", "med", "q1", "min"];
const FIVE_LABELS = { max: "Max", q3: "Q3", med: "Median", q1: "Q1", min: "Min" };

const quartiles = (role) => FIVE.map((q) => [`${role}_${q}_bps`, FIVE_LABELS[q]]);

/** The charts, in the reference's order; `series` are [points name, label], `top` a top-5 object. */
export const CHARTS = [
  { id: "bps", title: "Total Traffic", unit: "bit/s", series: [["bps", "Total"]] },
  { id: "operations", title: "Operations", unit: "pkt/s", top: "top-5-operations" },
  { id: "core", title: "Core Link Traffic", unit: "bit/s", series: quartiles("core") },
  { id: "edge", title: "Edge Link Traffic", unit: "bit/s", series: quartiles("edge") },
  { id: "rdma_ops", title: "RDMA Operations", unit: "ops/s", series: [["rdma_ops", "Operations"]] },
  { id: "rdma_bytes", title: "RDMA Bytes", unit: "bytes", series: [["rdma_bytes", "Mean length"]] },
  {
    id: "credits",
    title: "Credits",
    unit: "credits",
    series: [["aeth_credits_max", "Max"], ["aeth_credits_avg", "Average"], ["aeth_credits_min", "Min"]],
  },
  { id: "period", title: "Period", unit: "s", series: [["period", "Period"]], zeroIsGap: true },
  {
    id: "congestion",
    title: "Congestion",
    unit: "pkt/s",
    series: [["ecn_pps", "ECN"], ["cnp_pps", "CNP"], ["trim_pps", "Trimmed"]],
  },
  { id: "errors", title: "Errors", unit: "pkt/s", series: [["errors_in", "In"], ["errors_out", "Out"]] },
  { id: "discards", title: "Discards", unit: "pkt/s", series: [["discards_in", "In"], ["discards_out", "Out"]] },
  { id: "drops", title: "Drop Reasons", unit: "drops/s", top: "top-5-drop-reasons" },
];

/** The trend held in the page: times (ms) and one column per points name. */
export class TrendBuffer {
  constructor() {
    this.times = [];
    this.columns = new Map();
  }

  lastTime() {
    return this.times.length ? this.times[this.times.length - 1] : undefined;
  }

  append(trend) {
    const times = trend?.times ?? [];
    if (!times.length) return false;
    const before = this.times.length;
    this.times.push(...times);
    for (const [name, values] of Object.entries(trend.trends ?? {})) {
      if (!this.columns.has(name)) this.columns.set(name, new Array(before).fill(null));
      this.columns.get(name).push(...values);
    }
    for (const column of this.columns.values()) {
      while (column.length < this.times.length) column.push(null);
    }
    const newest = this.times[this.times.length - 1];
    let drop = Math.max(0, this.times.length - MAX_POINTS);
    while (drop < this.times.length && this.times[drop] < newest - WINDOW_MS) drop += 1;
    if (drop > 0) {
      this.times.splice(0, drop);
      for (const column of this.columns.values()) column.splice(0, drop);
    }
    return true;
  }

  column(name) {
    return this.columns.get(name) ?? new Array(this.times.length).fill(null);
  }
}

/**
 * One chart: a uPlot canvas, a readout of the values at the hovered, pinned or latest time.
 * spec: {id, title, unit, series | top (+ maxSeries), zeroIsGap?, onPick?}; with onPick the
 * readout's entries are buttons that call onPick(series name).
 */
export class Chart {
  constructor(spec, parent) {
    this.spec = spec;
    this.keys = [];
    this.labels = [];
    this.times = [];
    this.values = [];
    this.plot = null;
    this.hoverIndex = null;
    this.pinnedTime = null;

    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.id = `chart-${spec.id}`;
    figure.dataset.chart = spec.id;
    figure.tabIndex = 0;
    figure.setAttribute("aria-label", `${spec.title} chart, ${spec.unit}`);
    const caption = document.createElement("figcaption");
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = spec.title;
    const unit = document.createElement("span");
    unit.className = "unit";
    unit.textContent = spec.unit;
    caption.append(title, unit);
    this.caption = caption;
    this.area = document.createElement("div");
    this.area.className = "plot";
    this.readout = document.createElement("div");
    this.readout.className = "readout";
    this.readout.id = `readout-${spec.id}`;
    figure.append(caption, this.area, this.readout);
    parent.append(figure);
    this.figure = figure;
    figure.addEventListener("keydown", (event) => this.onKey(event));
    this.showReadout();
  }

  /** The series to draw: fixed, or the names found in a top-5 column (busiest first). */
  seriesFor(buffer) {
    if (!this.spec.top) return this.spec.series;
    const column = buffer.column(this.spec.top);
    const latest = column[column.length - 1] ?? {};
    const peak = new Map();
    for (const entry of column) {
      for (const [name, value] of Object.entries(entry ?? {})) {
        peak.set(name, Math.max(peak.get(name) ?? 0, value));
      }
    }
    const names = [...peak.keys()].sort(
      (a, b) => (latest[b] ?? -1) - (latest[a] ?? -1) || peak.get(b) - peak.get(a) || a.localeCompare(b),
    );
    return names.slice(0, this.spec.maxSeries ?? MAX_TOP_SERIES).map((name) => [name, name]);
  }

  update(buffer) {
    const series = this.seriesFor(buffer);
    const keys = series.map(([key]) => key);
    this.labels = series.map(([, label]) => label);
    this.times = buffer.times;
    if (this.spec.top) {
      const column = buffer.column(this.spec.top);
      this.values = keys.map((key) => column.map((entry) => entry?.[key] ?? null));
    } else {
      this.values = keys.map((key) => buffer.column(key));
    }
    const latestIndex = this.times.length - 1;
    const latest = {};
    if (this.spec.top) Object.assign(latest, buffer.column(this.spec.top)[latestIndex] ?? {});
    else keys.forEach((key, i) => (latest[key] = this.values[i][latestIndex]));
    this.figure.dataset.latest = JSON.stringify(latest);
    this.figure.dataset.latestTime = String(this.times[latestIndex] ?? "");

    const drawn = this.values.map((column) =>
      this.spec.zeroIsGap ? column.map((v) => (v ? v : null)) : column,
    );
    const data = [this.times.map((ms) => ms / 1000), ...drawn];
    if (!this.plot || keys.join("\n") !== this.keys.join("\n")) {
      this.keys = keys;
      this.build(data);
    } else {
      this.plot.setData(data);
    }
    this.showReadout();
  }

  build(data) {
    if (this.plot) this.plot.destroy();
    const width = Math.max(this.area.clientWidth, 240);
    // a canvas cannot resolve CSS variables: read the theme's colours once
    const style = getComputedStyle(document.documentElement);
    const dim = style.getPropertyValue("--fg-dim").trim() || "#5b6575";
    const grid = style.getPropertyValue("--grid").trim() || "#e3e6eb";
    // axis text follows the page's type size (larger on a wall display)
    const px = Math.round(0.8 * (parseFloat(style.fontSize) || 15));
    const font = `${px}px system-ui, sans-serif`;
    const axis = {
      stroke: dim,
      grid: { stroke: grid },
      ticks: { stroke: grid },
      font,
      labelFont: `600 ${font}`,
    };
    const options = {
      width,
      height: chartHeight(width),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] } },
      axes: [
        { ...axis, space: 90, values: (u, splits) => splits.map((s) => clock(s * 1000)) },
        {
          ...axis,
          label: this.spec.unit,
          labelSize: px + 6,
          size: 4.5 * px,
          values: (u, splits) => splits.map(tick),
        },
      ],
      series: [
        { value: (u, v) => (v === null ? "–" : clock(v * 1000)) },
        ...this.labels.map((label, i) => ({
          label,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          fill: this.labels.length === 1 ? `${COLORS[0]}22` : undefined,
          spanGaps: false,
          // a chart with gaps (period: 0 = not valid) marks each point, so a lone one shows
          points: this.spec.zeroIsGap ? { show: true, size: 4 } : { show: false },
        })),
      ],
      hooks: {
        setCursor: [(u) => this.onCursor(u)],
        draw: [(u) => this.drawPin(u)],
      },
    };
    this.plot = new window.uPlot(options, data, this.area);
    this.plot.over.addEventListener("click", () => this.onClick());
  }

  /** Take the chart off the page. */
  remove() {
    this.plot?.destroy();
    this.plot = null;
    this.figure.remove();
  }

  resize() {
    if (!this.plot) return;
    const width = this.area.clientWidth;
    if (width > 0) this.plot.setSize({ width, height: chartHeight(width) });
  }

  onCursor(u) {
    const index = u.cursor.idx;
    this.hoverIndex = index === null || index === undefined || u.cursor.left < 0 ? null : index;
    this.showReadout();
  }

  onClick() {
    if (this.hoverIndex === null) return;
    const time = this.times[this.hoverIndex];
    this.pin(time === this.pinnedTime ? null : time);
  }

  pin(time) {
    this.pinnedTime = time ?? null;
    this.plot?.redraw(false, false);
    this.showReadout();
  }

  onKey(event) {
    // keys on the buttons inside (Periodicity…, legend entries) are theirs, not the pin's
    if (event.target !== this.figure) return;
    const last = this.times.length - 1;
    if (last < 0) return;
    let index = this.pinnedTime === null ? null : this.times.indexOf(this.pinnedTime);
    if (event.key === "Enter" || event.key === " ") index = index === null || index < 0 ? last : null;
    else if (event.key === "ArrowLeft") index = Math.max(0, (index ?? last + 1) - 1);
    else if (event.key === "ArrowRight") index = Math.min(last, (index ?? last) + 1);
    else if (event.key === "Home") index = 0;
    else if (event.key === "End") index = last;
    else if (event.key === "Escape") index = null;
    else return;
    event.preventDefault();
    this.pin(index === null ? null : this.times[index]);
  }

  drawPin(u) {
    if (this.pinnedTime === null) return;
    const x = Math.round(u.valToPos(this.pinnedTime / 1000, "x", true));
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#c33";
    ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  /** Which point the readout shows: hovered, else pinned, else the latest. */
  shownIndex() {
    if (this.hoverIndex !== null && this.hoverIndex < this.times.length) return [this.hoverIndex, "hover"];
    if (this.pinnedTime !== null) {
      const index = this.times.indexOf(this.pinnedTime);
      if (index >= 0) return [index, "pinned"];
      this.pinnedTime = null; // scrolled out of the window
    }
    return [this.times.length - 1, "latest"];
  }

  showReadout() {
    const [index, mode] = this.shownIndex();
    const out = this.readout;
    out.dataset.mode = mode;
    out.dataset.pinned = String(mode === "pinned");
    if (index < 0) {
      out.dataset.time = "";
      out.textContent = "waiting for data…";
      return;
    }
    out.dataset.time = String(this.times[index]);
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = `${clock(this.times[index])}${mode === "pinned" ? " (pinned)" : ""}`;
    const items = [time];
    this.keys.forEach((key, i) => {
      const value = this.values[i][index];
      const item = document.createElement(this.spec.onPick ? "button" : "span");
      item.className = "value";
      if (this.spec.onPick) {
        item.type = "button";
        item.title = `add ${this.labels[i]} to the filter`;
        item.addEventListener("click", () => this.spec.onPick(key));
      }
      item.dataset.series = key;
      item.dataset.value = value === null || value === undefined ? "" : String(value);
      const swatch = document.createElement("i");
      swatch.style.background = COLORS[i % COLORS.length];
      const shown = this.spec.zeroIsGap && !value ? "not valid" : si(value, this.spec.unit);
      item.append(swatch, `${this.labels[i]} ${shown}`);
      items.push(item);
    });
    if (!this.keys.length) items.push("none");
    out.replaceChildren(...items);
  }
}

function chartHeight(width) {
  return Math.round(Math.min(340, Math.max(170, width * 0.42)));
}

/** The Periodicity pop-up: the fast RoCE rate against the threshold and the load average. */
class Periodicity {
  constructor(dialog) {
    this.dialog = dialog;
    this.area = dialog.querySelector("#periodicity-chart");
    this.figures = dialog.querySelector("#periodicity-figures");
    this.plot = null;
    this.stop = null;
    dialog.addEventListener("close", () => this.stop?.());
  }

  open() {
    this.dialog.showModal();
    this.stop = poll(() => this.refresh(), PERIODICITY_POLL_MS, () => this.dialog.open);
  }

  async refresh() {
    const period = await getJSON(`${AI_METRICS}/period/json`);
    const signal = period.fabricscope?.signal ?? { times: [], values: [] };
    const times = signal.times.map((ms) => ms / 1000);
    const threshold = period.threshold || null;
    const average = period.baselineLoad?.mean ?? null;
    const data = [
      times,
      signal.values,
      times.map(() => threshold),
      times.map(() => average),
    ];
    if (!this.plot) {
      const width = Math.max(this.area.clientWidth, 300);
      this.plot = new window.uPlot(
        {
          width,
          height: Math.round(Math.min(360, width * 0.45)),
          scales: { x: { time: true } },
          axes: [{}, { label: "RoCEv2 frames/s", labelSize: 18, size: 60, values: (u, s) => s.map(tick) }],
          series: [
            { value: (u, v) => (v === null ? "–" : clock(v * 1000)) },
            { label: "Value", stroke: COLORS[0], width: 1.5, value: (u, v) => si(v) },
            { label: "Threshold", stroke: COLORS[1], width: 1.5, dash: [6, 4], value: (u, v) => si(v) },
            { label: "Average", stroke: COLORS[2], width: 1.5, dash: [2, 3], value: (u, v) => si(v) },
          ],
        },
        data,
        this.area,
      );
    } else {
      this.plot.setData(data);
    }
    const ours = period.fabricscope ?? {};
    const compatible = ours.compatible ?? {};
    const fine = ours.fine ?? {};
    showFigures(this.figures, [
      ["Period (exported)", period.period ? si(period.period, "s") : "not valid"],
      ["Cycles", compatible.cycles ?? "–"],
      ["CV", compatible.learning ? "learning" : (compatible.cv ?? 0).toFixed(3)],
      ["Compatible period", compatible.valid ? si(compatible.period, "s") : "not valid"],
      ["Fine period", fine.valid ? si(fine.period, "s") : "not valid"],
      ["Load baseline", ours.loadStatus ?? "–"],
      ["Threshold", si(period.threshold, "frames/s")],
      ["Value", si(period.value, "frames/s")],
    ]);
  }
}

/** Which estimate `period` is: `fabricscope.method` says (`--period-method`). */
function exportedEstimate(period) {
  const ours = period.fabricscope ?? {};
  return ours.method === "fine" ? ["fine", ours.fine] : ["compatible", ours.compatible];
}

function showFigures(list, pairs) {
  const items = [];
  for (const [term, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    items.push(dt, dd);
  }
  list.replaceChildren(...items);
}

/** The Traffic tab. */
export class TrafficView {
  constructor(root) {
    this.interval = 1000;
    this.buffer = new TrendBuffer();
    const grid = root.querySelector("#charts");
    this.charts = CHARTS.map((spec) => new Chart(spec, grid));
    this.periodicity = new Periodicity(root.querySelector("#periodicity"));
    this.validity = this.addPeriodControls(this.charts.find((c) => c.spec.id === "period"));
    new ResizeObserver(() => this.charts.forEach((chart) => chart.resize())).observe(grid);
  }

  addPeriodControls(chart) {
    const badge = document.createElement("span");
    badge.id = "period-validity";
    badge.className = "badge";
    badge.dataset.valid = "false";
    badge.textContent = "learning";
    const button = document.createElement("button");
    button.type = "button";
    button.id = "periodicity-open";
    button.textContent = "Periodicity…";
    button.addEventListener("click", () => this.periodicity.open());
    chart.caption.append(badge, button);
    return badge;
  }

  async refresh() {
    const [trend, period] = await Promise.all([
      getJSON(`${AI_METRICS}/trend/json`, { after: this.buffer.lastTime() }),
      getJSON(`${AI_METRICS}/period/json`),
    ]);
    if (this.buffer.append(trend.trend) || !this.charts[0].plot) {
      for (const chart of this.charts) chart.update(this.buffer);
    }
    this.showValidity(period);
  }

  showValidity(period) {
    const [method, estimate] = exportedEstimate(period);
    const valid = Boolean(estimate?.valid);
    const cv = (estimate?.cv ?? 0).toFixed(2);
    const which = method === "fine" ? " (fine)" : "";
    this.validity.dataset.valid = String(valid);
    this.validity.dataset.method = method;
    if (valid) this.validity.textContent = `valid${which} · CV ${cv} · ${estimate.cycles} cycles`;
    else if (estimate && !estimate.learning) this.validity.textContent = `not valid${which} · CV ${cv}`;
    else this.validity.textContent = "learning";
    this.validity.title = `${method} period detector: valid when CV < 0.5 and crossings are recent`;
  }

  shown() {
    this.charts.forEach((chart) => chart.resize());
  }
}
