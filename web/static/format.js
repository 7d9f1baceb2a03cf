// How numbers and times are written on screen.

const PREFIXES = [
  [1e15, "P"],
  [1e12, "T"],
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "k"],
];

/** Three significant digits with an SI prefix: si(8.05e11, "bit/s") → "805 Gbit/s". */
export function si(value, unit = "") {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const magnitude = Math.abs(value);
  let scaled = value;
  let prefix = "";
  for (const [factor, symbol] of PREFIXES) {
    if (magnitude >= factor) {
      scaled = value / factor;
      prefix = symbol;
      break;
    }
  }
  // a smoothed rate decays towards 0 without reaching it: below 1e-6 is 0 on screen
  const digits = magnitude < 1e-6 ? "0" : String(Number(scaled.toPrecision(3)));
  const suffix = prefix + unit;
  return suffix ? `${digits} ${suffix}` : digits;
}

/** A compact axis tick: si without the unit. */
export function tick(value) {
  return si(value).replace(" ", "");
}

const two = (n) => String(n).padStart(2, "0");

/** Local wall-clock time of a Unix time in milliseconds, HH:MM:SS. */
export function clock(ms) {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Local time with milliseconds, for drop notifications. */
export function clockMs(ms) {
  return `${clock(ms)}.${String(Math.floor(ms % 1000)).padStart(3, "0")}`;
}

/** "12 s ago", "3 min ago", "2 h ago". */
export function ago(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** An integer with thousands separators, or "–". */
export function count(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return Math.round(value).toLocaleString("en-US");
}
