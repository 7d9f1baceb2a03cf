// The Flows tab (sFlow-RT's browse-flows) and the Drops tab's top drops (browse-drops): keys,
// value and filter with completion from /flowkeys/json, a live top-N trend polled from
// /flowquery/ALL/json (the collector makes the definition on the first request and forgets it
// 5 minutes after the last, so nothing is written and no token is needed), legend entries that
// add their key=value to the filter, and the definition in the address so a view can be shared.

import { HttpError, getJSON } from "./api.js";
import { Chart, TrendBuffer } from "./traffic.js";

const TOP_N = 10;
const SMOOTHING_S = 2;
const KEYS_MAX_AGE_MS = 10_000;
/** The definition's fields, as the address and /flowquery name them. */
export const FIELDS = ["keys", "value", "filter", "aggMode"];
const AGG_MODES = ["", "max", "sum", "edge", "core"];
// a filter value ends at any of these (docs/flows.md): an entry holding one cannot be added
const FILTER_STOPS = /[,&|()]/;
const COMPARISON = /^(\s*)([a-z0-9_]+)(\s*)(!=|!~|=|~)(.*)$/;

/** bytes are drawn as bits per second, like the other charts. */
const unitOf = (value) => (value === "bytes" ? ["bit/s", 8] : [`${value}/s`, 1]);

/** The text before the token being typed: up to and including the last of `stops`. */
function before(text, stops) {
  let at = -1;
  for (const stop of stops) at = Math.max(at, text.lastIndexOf(stop));
  return text.slice(0, at + 1);
}

/** Completions of a comma list of keys: the text so far with each key not yet in it. */
export function keyOptions(text, seen) {
  const head = before(text, ",");
  const used = new Set(head.split(",").map((key) => key.trim()));
  return seen.filter((key) => !used.has(key)).map((key) => head + key);
}

/**
 * Completions of a filter: a key where a comparison starts; where a value is being typed, the
 * values of that key in the flows on screen (`values(key)`).
 */
export function filterOptions(text, seen, values) {
  const head = before(text, "&|(");
  const comparison = COMPARISON.exec(text.slice(head.length));
  if (!comparison) return seen.map((key) => `${head}${key}=`);
  const [, space, key, gap, op, list] = comparison;
  const start = `${head}${space}${key}${gap}${op}${before(list, ",")}`;
  return values(key).map((value) => start + value);
}

/** A filter that also requires `terms`: `|` binds looser than `&`, so such a filter is bracketed. */
export function narrowed(filter, terms) {
  if (!filter) return terms;
  return filter.includes("|") ? `(${filter})&${terms}` : `${filter}&${terms}`;
}

function field(parent, id, label, { placeholder = "", wide = false } = {}) {
  const name = document.createElement("label");
  name.htmlFor = id;
  name.textContent = label;
  const input = document.createElement("input");
  input.id = id;
  input.autocomplete = "off";
  input.spellcheck = false;
  input.placeholder = placeholder;
  if (wide) input.className = "wide";
  const list = document.createElement("datalist");
  list.id = `${id}-options`;
  input.setAttribute("list", list.id);
  parent.append(name, input, list);
  return input;
}

function setOptions(input, values) {
  const list = input.list;
  const options = values.map((value) => {
    const option = document.createElement("option");
    option.value = value;
    return option;
  });
  list.replaceChildren(...options);
}

/**
 * One browser of flows: a form, an error line and a top-N chart inside `root`.
 * id prefixes the element ids; tab is the tab whose address holds the definition.
 */
export class FlowBrowser {
  constructor(root, { id, tab, dropped, defaults }) {
    this.id = id;
    this.tab = tab;
    this.dropped = dropped;
    this.defaults = defaults;
    this.definition = { ...defaults, filter: "", aggMode: "" };
    this.seenKeys = [];
    this.keysTime = -Infinity;
    this.generation = 0;

    const form = document.createElement("form");
    form.id = `${id}-form`;
    form.className = "row flow-form";
    this.inputs = {
      keys: field(form, `${id}-keys`, "Keys", { placeholder: defaults.keys }),
      value: field(form, `${id}-value`, "Value", { placeholder: defaults.value }),
      filter: field(form, `${id}-filter`, "Filter", { placeholder: defaults.example, wide: true }),
    };
    const aggLabel = document.createElement("label");
    aggLabel.htmlFor = `${id}-aggMode`;
    aggLabel.textContent = "Combine";
    const agg = document.createElement("select");
    agg.id = `${id}-aggMode`;
    for (const mode of AGG_MODES) {
      const option = document.createElement("option");
      option.value = mode;
      option.textContent = mode || (dropped ? "sum (default)" : "max (default)");
      agg.append(option);
    }
    this.inputs.aggMode = agg;
    const apply = document.createElement("button");
    apply.type = "submit";
    apply.id = `${id}-apply`;
    apply.textContent = "Show";
    form.append(aggLabel, agg, apply);
    this.error = document.createElement("p");
    this.error.id = `${id}-error`;
    this.error.className = "error";
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    this.area = document.createElement("div");
    this.area.className = "flow-chart";
    root.append(form, this.error, this.area);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.apply(this.fromForm(), true);
    });
    for (const [name, input] of Object.entries(this.inputs)) {
      if (name === "aggMode") continue;
      input.addEventListener("focus", () => this.complete(name));
      input.addEventListener("input", () => this.complete(name));
    }
    new ResizeObserver(() => this.chart?.resize()).observe(this.area);
    this.fill();
    this.start();
  }

  fromForm() {
    const read = (name) => this.inputs[name].value.trim();
    return {
      keys: read("keys").replace(/\s*,\s*/g, ",") || this.defaults.keys,
      value: read("value") || this.defaults.value,
      filter: read("filter"),
      aggMode: read("aggMode"),
    };
  }

  fill() {
    for (const name of FIELDS) this.inputs[name].value = this.definition[name];
  }

  /** The definition of an address's query (the tab's link alone keeps the current one). */
  restore(params) {
    if (FIELDS.some((name) => params.has(name))) {
      const mode = params.get("aggMode") ?? "";
      const wanted = {
        keys: params.get("keys") || this.defaults.keys,
        value: params.get("value") || this.defaults.value,
        filter: params.get("filter") ?? "",
        aggMode: AGG_MODES.includes(mode) ? mode : "",
      };
      if (FIELDS.some((name) => wanted[name] !== this.definition[name])) {
        this.definition = wanted;
        this.fill();
        this.start();
      }
    }
    this.writeAddress(false);
  }

  apply(definition, remember) {
    this.definition = definition;
    this.fill();
    this.writeAddress(remember);
    this.start();
    this.refresh().catch(() => {}); // at once, not at the next poll
  }

  /** `#tab?keys=…&value=…`: pushed for the user's own changes, so Back returns to the last. */
  writeAddress(push) {
    const params = new URLSearchParams();
    for (const name of FIELDS) if (this.definition[name]) params.set(name, this.definition[name]);
    const address = `#${this.tab}?${params}`;
    if (window.location.hash === address) return;
    if (push) window.history.pushState(null, "", address);
    else window.history.replaceState(null, "", address);
  }

  /** A new trend and chart for the current definition; answers to older queries are dropped. */
  start() {
    this.generation += 1;
    this.failed = false;
    this.showError(null);
    this.buffer = new TrendBuffer();
    this.parts = new Map(); // flow key → its key values, for the legend's filter terms
    this.chart?.remove();
    this.chart = null;
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message ?? "";
  }

  query() {
    const d = this.definition;
    return {
      keys: d.keys,
      value: d.value,
      filter: d.filter,
      aggMode: d.aggMode,
      n: TOP_N,
      t: SMOOTHING_S,
      maxFlows: TOP_N,
      dropped: String(this.dropped),
    };
  }

  makeChart() {
    const [unit] = unitOf(this.definition.value);
    const title = `${this.dropped ? "Drops" : "Flows"} by ${this.definition.keys}`;
    const spec = { id: this.id, title, unit, top: "flows", maxSeries: TOP_N, onPick: (key) => this.pick(key) };
    const chart = new Chart(spec, this.area);
    chart.figure.dataset.keys = this.definition.keys;
    chart.figure.dataset.value = this.definition.value;
    chart.figure.dataset.filter = this.definition.filter;
    return chart;
  }

  async refresh() {
    if (this.failed) return; // a refused definition is not asked again until it changes
    const generation = this.generation;
    if (this.asking === generation) return; // the poll and a change may overlap
    this.asking = generation;
    let answer;
    try {
      answer = await getJSON("/flowquery/ALL/json", this.query());
    } catch (error) {
      if (generation !== this.generation || !(error instanceof HttpError)) throw error;
      this.failed = true;
      this.showError(error.message);
      return;
    } finally {
      if (this.asking === generation) this.asking = null;
    }
    if (generation !== this.generation) return;
    const [, scale] = unitOf(this.definition.value);
    const latest = {};
    for (const flow of answer.flows ?? []) {
      latest[flow.key] = flow.value * scale;
      this.parts.set(flow.key, flow.keys);
    }
    this.buffer.append({ times: [Date.now()], trends: { flows: [latest] } });
    this.chart ??= this.makeChart();
    this.chart.figure.dataset.name = answer.definition?.name ?? "";
    this.chart.update(this.buffer);
  }

  /** Add a legend entry's key=value terms to the filter and show the narrower query. */
  pick(flowKey) {
    const parts = this.parts.get(flowKey);
    if (!parts) return;
    const keys = this.definition.keys.split(",");
    if (parts.some((part) => FILTER_STOPS.test(part) || part !== part.trim())) {
      this.showError(`${flowKey}: a value with , & | ( ) or spaces cannot be written in a filter`);
      return;
    }
    const terms = keys.map((key, i) => `${key}=${parts[i]}`).join("&");
    this.apply({ ...this.definition, filter: narrowed(this.definition.filter, terms) }, true);
  }

  /** The values of one key among the flows seen, for the filter's completion. */
  valuesOf(key) {
    const index = this.definition.keys.split(",").indexOf(key);
    if (index < 0) return [];
    return [...new Set([...this.parts.values()].map((parts) => parts[index]))].sort();
  }

  async complete(name) {
    if (performance.now() - this.keysTime > KEYS_MAX_AGE_MS) {
      this.keysTime = performance.now();
      try {
        this.seenKeys = Object.keys(await getJSON("/flowkeys/json")).sort();
      } catch {
        this.keysTime = -Infinity; // ask again on the next keystroke
      }
    }
    const input = this.inputs[name];
    const text = input.value;
    if (name === "keys") setOptions(input, keyOptions(text, this.seenKeys));
    else if (name === "filter") setOptions(input, filterOptions(text, this.seenKeys, (k) => this.valuesOf(k)));
    else setOptions(input, ["bytes", "frames", ...this.seenKeys]);
  }
}

/** The Flows tab. */
export class FlowsView {
  constructor(root) {
    this.interval = 1000;
    this.browser = new FlowBrowser(root.querySelector("#flows"), {
      id: "flows",
      tab: "flows",
      dropped: false,
      defaults: { keys: "ipsource,ipdestination", value: "bytes", example: "ibbtopname~RDMA_WRITE.*&ingressrole=edge" },
    });
  }

  restore(params) {
    this.browser.restore(params);
  }

  refresh() {
    return this.browser.refresh();
  }
}
