// The page: hash routing between the seven tabs (#name, or #name?query for a tab's shared
// state); only the tab on screen polls the collector.

import { poll } from "./api.js";
import { AgentsView } from "./agents.js";
import { DropsView } from "./drops.js";
import { EventsView } from "./events.js";
import { FlowsView } from "./flows.js";
import { LocateView } from "./locate.js";
import { TopologyView } from "./topology.js";
import { TrafficView } from "./traffic.js";

const section = (name) => document.getElementById(`view-${name}`);

const VIEWS = {
  traffic: new TrafficView(section("traffic")),
  flows: new FlowsView(section("flows")),
  topology: new TopologyView(section("topology")),
  locate: new LocateView(section("locate")),
  drops: new DropsView(section("drops")),
  agents: new AgentsView(section("agents")),
  events: new EventsView(section("events")),
};
const NAMES = Object.keys(VIEWS);
const DEFAULT = "traffic";

let current = null;
let stopPolling = null;

/** The tab named in the address, and its query. */
function address() {
  const text = window.location.hash.slice(1);
  const cut = text.indexOf("?");
  const wanted = cut < 0 ? text : text.slice(0, cut);
  return [NAMES.includes(wanted) ? wanted : DEFAULT, new URLSearchParams(cut < 0 ? "" : text.slice(cut + 1))];
}

function route() {
  const [name, params] = address();
  VIEWS[name].restore?.(params);
  if (name === current) return;
  current = name;
  stopPolling?.();
  for (const other of NAMES) {
    const tab = document.getElementById(`tab-${other}`);
    const selected = other === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    section(other).hidden = !selected;
  }
  document.body.dataset.view = name;
  document.title = `fabricscope · ${name[0].toUpperCase()}${name.slice(1)}`;
  const view = VIEWS[name];
  view.shown?.();
  stopPolling = view.interval
    ? poll(() => view.refresh(), view.interval, () => current === name)
    : null;
}

// Arrow keys move between tabs (the WAI-ARIA tabs pattern); Enter follows the link.
document.querySelector(".tabs").addEventListener("keydown", (event) => {
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  const index = NAMES.indexOf(current);
  let next = null;
  if (step) next = NAMES[(index + step + NAMES.length) % NAMES.length];
  else if (event.key === "Home") next = NAMES[0];
  else if (event.key === "End") next = NAMES[NAMES.length - 1];
  if (next === null) return;
  event.preventDefault();
  window.location.hash = next;
  document.getElementById(`tab-${next}`).focus();
});

window.addEventListener("hashchange", route);
route();
