// Fetching the collector's JSON endpoints, and reporting whether it answers.

import { askForToken, forgetToken, storedToken } from "./token.js";

export const AI_METRICS = "/app/ai-metrics/scripts/metrics.js";

/** An HTTP answer other than 2xx, with the collector's one-line message. */
export class HttpError extends Error {
  constructor(status, message, challenge = "") {
    super(message);
    this.status = status;
    this.challenge = challenge; // WWW-Authenticate, when the collector sent one
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
    const challenge = response.headers.get("WWW-Authenticate") || "";
    throw new HttpError(response.status, text || `${response.status} ${response.statusText}`, challenge);
  }
  return response;
}

/** GET a JSON document; params are added to the query string (empty ones left out). */
export async function getJSON(path, params) {
  return (await request(path, params, { headers: { Accept: "application/json" } })).json();
}

const TOKEN_ATTEMPTS = 3;

/** True when the collector asks for (another) bearer token: 401, or 403 with invalid_token. */
function wantsToken(error, sentToken) {
  if (!(error instanceof HttpError)) return false;
  if (error.status === 401) return true;
  return error.status === 403 && sentToken && error.challenge.includes("invalid_token");
}

/**
 * PUT a text body, return the JSON answer. Writes need the collector's API token when it has
 * one: on 401 (or a refused token) the user is asked for it and the request sent again.
 */
export async function putJSON(path, body) {
  for (let attempt = 1; ; attempt += 1) {
    const token = storedToken();
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return (await request(path, undefined, { method: "PUT", body, headers })).json();
    } catch (error) {
      if (!wantsToken(error, token) || attempt >= TOKEN_ATTEMPTS) throw error;
      if (token) forgetToken();
      const reason = token ? "The collector refused this token." : error.message;
      if ((await askForToken(reason)) === null) throw error;
    }
  }
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
