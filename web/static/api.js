// Fetching the collector's JSON endpoints, and reporting whether it answers.

export const AI_METRICS = "/app/ai-metrics/scripts/metrics.js";

/** An HTTP answer other than 2xx, with the collector's one-line message. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const connection = () => document.getElementById("connection");

function reportConnection(ok, text) {
  const el = connection();
  if (!el) return;
  el.dataset.state = ok ? "live" : "down";
  el.textContent = text;
}

async function request(path, params, init) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  let response;
  try {
    response = await fetch(url, { cache: "no-store", ...init });
  } catch (error) {
    reportConnection(false, "collector unreachable");
    throw error;
  }
  reportConnection(true, "live");
  if (!response.ok) {
    const text = (await response.text()).trim();
    throw new HttpError(response.status, text || `${response.status} ${response.statusText}`);
  }
  return response;
}

/** GET a JSON document; params are added to the query string (empty ones left out). */
export async function getJSON(path, params) {
  return (await request(path, params, { headers: { Accept: "application/json" } })).json();
}

/** PUT a text body, return the JSON answer. */
export async function putJSON(path, body) {
  const init = { method: "PUT", body, headers: { "Content-Type": "application/json" } };
  return (await request(path, undefined, init)).json();
}

/**
 * Run `task` now and then every `ms` milliseconds while `active()` holds; one run at a time.
 * Returns a function that stops it.
 */
export function poll(task, ms, active) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    timer = null;
    if (stopped || !active()) return;
    try {
      await task();
    } catch (error) {
      if (!(error instanceof HttpError)) reportConnection(false, "collector unreachable");
    }
    if (!stopped) timer = window.setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    if (timer !== null) window.clearTimeout(timer);
  };
}
