// Shared by every dashboard page: configuration, the API client, sign-in, live events, DOM helpers.
// The API key lives in sessionStorage only (gone when the tab closes) and is sent as a Bearer token.

export const config = JSON.parse(document.getElementById("loop-config").textContent);
const KEY = "loopnode.apiKey";
const ROLES = "loopnode.roles";
export const API = "/api/v1";
// The page's pass: its reads count against the node's dashboard quota, not the address's
// anonymous one (web/dashboard_pass.py). Only ever sent to this node (same origin).
const PASS = { "X-Dashboard-Pass": config.pass };

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function signedIn() {
  return apiKey() !== "";
}

/** Call the node's API; never throws for HTTP errors: returns {status, ok, data}. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...PASS, ...headers } };
  if (apiKey()) init.headers.Authorization = `Bearer ${apiKey()}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, init);
  } catch (error) {
    return { status: 0, ok: false, data: { error: { message: String(error) } } };
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { text }; }
  }
  return { status: response.status, ok: response.ok, data };
}

/** Follow `next_cursor` pages of a list route, at most `pages` pages. */
export async function listAll(path, pages = 5) {
  const results = [];
  let cursor = null;
  for (let i = 0; i < pages; i += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
    const answer = await api(url);
    if (!answer.ok) return { ...answer, results };
    results.push(...(answer.data.results || []));
    cursor = answer.data.next_cursor;
    if (!cursor) break;
  }
  return { status: 200, ok: true, results };
}

/** The signed-in credential's roles (asked once per sign-in, kept beside the key). */
export async function myRoles() {
  if (!signedIn()) return [];
  const kept = sessionStorage.getItem(ROLES);
  if (kept) return JSON.parse(kept);
  const answer = await api("whoami");
  if (!answer.ok) return [];
  sessionStorage.setItem(ROLES, JSON.stringify(answer.data.roles));
  return answer.data.roles;
}

/** May the signed-in credential read `panel` (a key of config.roles)? Asks nothing otherwise. */
export async function mayRead(panel) {
  const allowed = config.roles[panel] || [];
  return (await myRoles()).some((role) => allowed.includes(role));
}

/** Say that the signed-in role cannot read a panel (not an error: the node refuses nothing). */
export function notForRole(element, panel, what) {
  const roles = (config.roles[panel] || []).join(" or ");
  say(element, `Not available for your role: ${what} are shown to ${roles} keys.`, "info");
}

export function errorText(answer) {
  const error = answer.data && answer.data.error;
  return error ? error.message : `HTTP ${answer.status}`;
}

/** Put a message into a status element; kind: ok | warn | error | info. */
export function say(element, text, kind = "info") {
  const target = typeof element === "string" ? document.getElementById(element) : element;
  if (!target) return;
  target.textContent = text;
  target.dataset.kind = kind;
}

export const NOT_AVAILABLE = "Not available on this node (its API answers 404).";

/** Explain an answer that carries no data: absent API, missing key, or an error. */
export function explain(element, answer) {
  if (answer.status === 404) say(element, NOT_AVAILABLE, "warn");
  else if (answer.status === 403 && signedIn()) {
    say(element, "Not available for your role.", "info");
  } else if (answer.status === 401 || answer.status === 403) {
    say(element, "Sign in with an operator API key to see this.", "warn");
  } else say(element, `Could not load: ${errorText(answer)}`, "error");
}

/** Create an element: el("td", {class: "x"}, "text", child...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function fillTable(tableId, rows, empty = "Nothing yet.") {
  const body = document.querySelector(`#${tableId} tbody`);
  if (!body) return;
  const columns = document.querySelectorAll(`#${tableId} thead th`).length || 1;
  body.replaceChildren(...rows);
  if (rows.length === 0) body.append(el("tr", {}, el("td", { colspan: columns, class: "muted" }, empty)));
}

export function quantity(q) {
  return q ? `${q.value} ${q.unit}` : "";
}

export function shortTime(text) {
  return text ? text.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC") : "";
}

/** The passport page: the DPP resolver when the node serves it, else the JSON record. */
export function passportHref(id) {
  if (config.features.dpp) return `/dpp/${encodeURIComponent(id)}`;
  const kind = id.startsWith("PRD-") ? "product" : "material";
  return `${API}/${kind}/${encodeURIComponent(id)}`;
}

/** Run `fn` at most once per `ms`, after the last call. */
export function debounce(fn, ms = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const listeners = [];

/** Call `fn(event)` for every evidence entry the node streams (`/api/v1/stream`). */
export function onLive(fn) {
  listeners.push(fn);
}

/**
 * Read the server-sent event stream with fetch (rather than EventSource) so every event name
 * arrives, the API key can be sent when reads need one, and Last-Event-ID resumes after a drop.
 */
async function startLive() {
  const state = document.getElementById("live");
  if (!config.public_reads && !signedIn()) {
    say(state, "off (this node's reads need a key)", "warn");
    return;
  }
  let last = null;
  for (;;) {
    const headers = { Accept: "text/event-stream", ...PASS };
    if (apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
    if (last !== null) headers["Last-Event-ID"] = last;
    try {
      const response = await fetch(`${API}/stream`, { headers });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      say(state, "connected", "ok");
      last = await readFrames(response.body, last);
    } catch {
      // fall through to the retry below
    }
    say(state, "reconnecting…", "warn");
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function readFrames(body, last) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last;
    buffer += value;
    let cut = buffer.indexOf("\n\n");
    while (cut >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      last = handleFrame(frame, last);
      cut = buffer.indexOf("\n\n");
    }
  }
}

function handleFrame(frame, last) {
  let id = null;
  let type = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (data.length === 0) return last;
  let entry = null;
  try { entry = JSON.parse(data.join("\n")); } catch { return id ?? last; }
  for (const fn of listeners) {
    try { fn(entry, type); } catch (error) { console.warn("live update failed", error); }
  }
  return id ?? last;
}

function setUpSignIn() {
  const form = document.getElementById("signin");
  const input = document.getElementById("api-key");
  const out = document.getElementById("signout");
  const state = document.getElementById("signin-state");
  const show = () => {
    out.hidden = !signedIn();
    for (const part of [input, form.querySelector("label"), form.querySelector("[type=submit]")]) {
      part.hidden = signedIn();
    }
    say(state, signedIn() ? "signed in" : "", "ok");
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
    sessionStorage.removeItem(ROLES);
    input.value = "";
    window.location.reload();
  });
  out.addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLES);
    window.location.reload();
  });
  show();
}

setUpSignIn();
startLive();
