// Talking to this server: JSON calls with the bearer token (asked for when the server wants one),
// images and originals through fetch when a token is set (<img> and links cannot send the header),
// and jobs polled until they end.
"use strict";

export const TOKEN_KEY = "lookalike-token";
export const $ = (id) => document.getElementById(id);

export function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function hasToken() { return Boolean(localStorage.getItem(TOKEN_KEY)); }

export async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const sent = localStorage.getItem(TOKEN_KEY);
    const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    if (response.status === 401) {
      const message = sent ? "The server refused this token: check it and enter it again."
        : "This server needs a token.";
      if (sent) localStorage.removeItem(TOKEN_KEY);
      if (!(await askToken(message))) throw new Error(sent ? "wrong token" : "this server needs a token");
      continue;
    }
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }
  throw new Error("the server refused the token");
}

const blobUrls = new Map();

export async function imageUrl(path) {
  if (!hasToken()) return path;
  if (blobUrls.has(path)) return blobUrls.get(path);
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  blobUrls.set(path, url);
  return url;
}

export function setImage(img, path) {
  imageUrl(path).then((url) => { img.src = url; }).catch(() => { img.alt += " (could not load)"; });
}

export async function fileBlob(id) {
  const response = await fetch(`/api/images/${id}/file`, { headers: authHeaders() });
  if (!response.ok) throw new Error(`image ${id}: HTTP ${response.status}`);
  return response.blob();
}

export function openOriginal(event, id) {
  // With a token the link cannot carry it: the tab opens now (a click may open one), the file comes
  // through fetch with the header and the tab shows it from a blob URL; the token never enters a URL.
  if (!hasToken()) return;
  event.preventDefault();
  const tab = window.open("", "_blank");
  fileBlob(id).then((blob) => {
    const url = URL.createObjectURL(blob);
    if (tab) tab.location.href = url; else window.location.href = url;
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }).catch((error) => { if (tab) tab.close(); alertStatus(error.message); });
}

function alertStatus(text) {
  const node = document.querySelector("[role=tabpanel]:not([hidden]) .status");
  if (node) { node.textContent = text; node.classList.add("error"); }
}

let asking = null;

export function askToken(message = "") {
  // One dialog at a time; resolves true when a token was entered, false when it was dismissed.
  if (asking) { if (message) $("token-error").textContent = message; return asking; }
  asking = new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-button").hidden = false;
    $("token-error").textContent = message;
    $("token-input").value = "";
    dialog.addEventListener("close", () => {
      const value = $("token-input").value.trim();
      if (value) localStorage.setItem(TOKEN_KEY, value);
      for (const url of blobUrls.values()) URL.revokeObjectURL(url);
      blobUrls.clear();
      asking = null;
      resolve(Boolean(value));
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
  return asking;
}

const POLL_MS = 400;
export const running = { job: null };

export async function runJob(path, onProgress) {
  // POST starts the job; polling (at least every 30 s) keeps it alive; returns its result.
  let job = await api(path, { method: "POST" });
  running.job = job.job;
  try {
    while (job.status === "running") {
      onProgress(job);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api(`/api/jobs/${encodeURIComponent(job.job)}`);
    }
  } finally {
    running.job = null;
  }
  if (job.status !== "done") throw new Error(job.status === "cancelled" ? `Cancelled (${job.error})` : job.error);
  return job.result;
}

export async function cancelJob() {
  if (running.job) await api(`/api/jobs/${encodeURIComponent(running.job)}`, { method: "DELETE" });
}

export function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}
