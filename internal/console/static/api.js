// The console's access to the server: JSON requests with the session's token, errors as
// readable messages, and the formatting every page shares.

const tokenKey = "vigil-token";

// The token lives in sessionStorage (gone with the tab), never in a cookie: a cookie would be
// sent by other sites' forms too, and the API has no CSRF protection of its own.
export function token() {
  const fromURL = new URLSearchParams(location.search).get("token");
  if (fromURL) sessionStorage.setItem(tokenKey, fromURL);
  return sessionStorage.getItem(tokenKey) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(tokenKey, value);
  else sessionStorage.removeItem(tokenKey);
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

// withToken adds the token to a URL that the browser fetches by itself (a <video> source, a
// download link), which cannot carry a header.
export function withToken(url) {
  const t = token();
  if (!t) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
}

// APIError is an answer of the server that is not a success; status 0 means no answer at all.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Listeners are told of every request's outcome, so that the page can show an unreachable
// server once, and the token prompt when one is needed.
const listeners = new Set();
export function onOutcome(fn) { listeners.add(fn); }
function tell(outcome) { for (const fn of listeners) fn(outcome); }

export async function api(method, path, body) {
  const init = { method, headers: { ...authHeaders() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    const e = new APIError(0, "the server does not answer (" + err.message + ")");
    tell({ error: e });
    throw e;
  }
  tell({ status: resp.status });
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
  if (!resp.ok) {
    const msg = (data && data.message) || text.trim() || resp.statusText;
    const e = new APIError(resp.status, resp.status + " " + msg);
    if (resp.status === 401) tell({ unauthorized: e });
    throw e;
  }
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(2)) + " " + units[i];
}

export function bitrate(bps) {
  if (!bps) return "0 kb/s";
  if (bps >= 1e6) return (bps / 1e6).toFixed(2) + " Mb/s";
  return Math.round(bps / 1e3) + " kb/s";
}

// duration formats seconds as the two largest units: "42 s", "12 min 05 s", "3 h 07 min",
// "2 d 04 h". null says "not filling".
export function duration(s) {
  if (s === null || s === undefined) return "—";
  s = Math.max(0, Math.round(s));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + pad(s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + pad(Math.floor(s / 60) % 60) + " min";
  return Math.floor(s / 86400) + " d " + pad(Math.floor(s / 3600) % 24) + " h";
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false });
}
