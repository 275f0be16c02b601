// lookalike page: plain JavaScript, no build step, no network beyond this server.
"use strict";

const TOKEN_KEY = "lookalike-token";
const $ = (id) => document.getElementById(id);
const state = { file: null, fileUrl: null, queryLabel: "", queryImage: null, pairsLoaded: false, stats: null };

// ---- API ---------------------------------------------------------------------------------------
function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    if (response.status === 401) { await askToken(); continue; }
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }
  throw new Error("the server refused the token");
}

const blobUrls = new Map();
async function imageUrl(path) {
  // <img> cannot send a bearer header: with a token, images come through fetch as blob URLs.
  if (!localStorage.getItem(TOKEN_KEY)) return path;
  if (blobUrls.has(path)) return blobUrls.get(path);
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  blobUrls.set(path, url);
  return url;
}

function setImage(img, path) {
  imageUrl(path).then((url) => { img.src = url; }).catch(() => { img.alt += " (could not load)"; });
}

function askToken() {
  return new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-button").hidden = false;
    dialog.addEventListener("close", () => {
      const value = $("token-input").value.trim();
      if (value) localStorage.setItem(TOKEN_KEY, value);
      blobUrls.clear();
      resolve();
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
}

function setStatus(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", isError);
}

// ---- pieces of the page ------------------------------------------------------------------------
function baseName(path) { return path.split("/").pop(); }

function card(image, score, onOpen) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "card";
  button.dataset.id = image.id;
  button.dataset.path = image.path;
  // score: a similarity (number) or a ready caption (string, e.g. a duplicate's kind and score)
  const shown = typeof score === "number" ? score.toFixed(3) : score;
  const label = score === undefined ? image.path
    : typeof score === "number" ? `${image.path}, similarity ${shown}` : `${image.path}, ${shown}`;
  button.setAttribute("aria-label", label);
  const img = document.createElement("img");
  img.alt = "";
  img.loading = "lazy";
  img.width = 256; img.height = 256;
  setImage(img, `/api/images/${image.id}/thumbnail?size=256`);
  const meta = document.createElement("span");
  meta.className = "meta";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = baseName(image.path);
  name.title = image.path;
  meta.append(name);
  if (typeof image.time === "number") {  // a video: which moment
    const moment = document.createElement("span");
    moment.className = "time";
    moment.textContent = `at ${image.time.toFixed(1)} s`;
    meta.append(moment);
  }
  if (score !== undefined) {
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = shown;
    meta.append(value);
  }
  button.append(img, meta);
  button.addEventListener("click", onOpen);
  return button;
}

function openViewer(left, right, score) {
  // left/right: {src (a URL or an API path), caption, id?}
  for (const [side, item] of [["a", left], ["b", right]]) {
    const img = $(`viewer-${side}`);
    img.hidden = !item.src;
    img.removeAttribute("src");
    img.alt = item.caption;
    if (item.src) {
      if (item.src.startsWith("/api/")) setImage(img, item.src); else img.src = item.src;
    }
    $(`viewer-${side}-caption`).textContent = item.caption;
  }
  $("viewer-score").textContent = score.toFixed(4);
  const similarButton = $("viewer-similar");
  similarButton.hidden = right.id === undefined;
  similarButton.onclick = () => { $("viewer").close(); similarTo(right); };
  const original = $("viewer-original");
  original.hidden = right.id === undefined || Boolean(localStorage.getItem(TOKEN_KEY));
  original.href = right.id === undefined ? "#" : `/api/images/${right.id}/file`;
  $("viewer").showModal();
}

function libraryItem(image) {
  return { src: `/api/images/${image.id}/thumbnail?size=768`, caption: image.path, id: image.id };
}

// ---- search ------------------------------------------------------------------------------------
function showResults(results) {
  const list = $("results");
  list.replaceChildren();
  for (const hit of results) {
    const item = document.createElement("li");
    item.append(card(hit, hit.score, () => openViewer(queryItem(), libraryItem(hit), hit.score)));
    list.append(item);
  }
}

function queryItem() {
  if (state.queryImage) return libraryItem(state.queryImage);
  return { src: state.fileUrl, caption: state.queryLabel };
}

function chooseFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/") && file.type !== "") {
    setStatus("search-status", `${file.name} is not an image`, true);
    return;
  }
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  state.file = file;
  state.fileUrl = URL.createObjectURL(file);
  state.queryImage = null;
  const preview = $("query-preview");
  preview.src = state.fileUrl;
  preview.alt = `Query photo: ${file.name || "pasted image"}`;
  preview.hidden = false;
  $("drop-text").textContent = `${file.name || "pasted image"}: drop or choose another`;
  search();
}

async function search(event) {
  if (event) event.preventDefault();
  const text = $("text").value.trim();
  const k = $("k").value;
  if (!state.file && !text) { setStatus("search-status", "Drop a photo or type a text first.", true); return; }
  const params = new URLSearchParams({ k });
  if (text) params.set("text", text);
  setStatus("search-status", "Searching…");
  $("search-button").disabled = true;
  try {
    let answer;
    if (state.file) {
      params.set("text_weight", $("weight").value);
      const form = new FormData();
      form.append("file", state.file, "upload");
      answer = await api(`/api/search?${params}`, { method: "POST", body: form });
      state.queryLabel = text ? `your photo + “${text}”` : "your photo";
    } else {
      answer = await api(`/api/search?${params}`);
      state.queryLabel = `“${text}”`;
    }
    state.queryImage = null;
    showResults(answer.results);
    setStatus("search-status", `${answer.results.length} results in ${Math.round(answer.took_ms)} ms`);
  } catch (error) {
    setStatus("search-status", error.message, true);
  } finally {
    $("search-button").disabled = false;
  }
}

async function similarTo(image) {
  selectTab($("tab-search"));
  setStatus("search-status", `Images like ${image.caption}…`);
  try {
    const answer = await api(`/api/images/${image.id}/similar?k=${$("k").value}`);
    state.queryImage = { id: image.id, path: image.caption };
    state.queryLabel = image.caption;
    showResults(answer.results);
    setStatus("search-status", `${answer.results.length} images like ${image.caption}`);
  } catch (error) {
    setStatus("search-status", error.message, true);
  }
}

function clearSearch() {
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  Object.assign(state, { file: null, fileUrl: null, queryImage: null });
  $("file").value = "";
  $("text").value = "";
  $("query-preview").hidden = true;
  $("drop-text").innerHTML = "Drop a photo here, paste one, or <u>choose a file</u>";
  $("results").replaceChildren();
  setStatus("search-status", "");
}

// ---- pairs and duplicates ----------------------------------------------------------------------
async function loadPairs(event) {
  if (event) event.preventDefault();
  setStatus("pairs-status", "Finding pairs…");
  try {
    const answer = await api(`/api/pairs?top=${encodeURIComponent($("pairs-top").value)}`);
    const list = $("pairs");
    list.replaceChildren();
    for (const pair of answer.pairs) {
      const item = document.createElement("li");
      item.setAttribute("aria-label", `${pair.a.path} and ${pair.b.path}, similarity ${pair.score.toFixed(3)}`);
      const open = () => openViewer(libraryItem(pair.a), libraryItem(pair.b), pair.score);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = pair.score.toFixed(3);
      item.append(card({ ...pair.a, time: pair.a_time }, undefined, open),
                  card({ ...pair.b, time: pair.b_time }, undefined, open), score);
      list.append(item);
    }
    state.pairsLoaded = true;
    setStatus("pairs-status", `${answer.pairs.length} pairs, most similar first`);
  } catch (error) {
    setStatus("pairs-status", error.message, true);
  }
}

// Duplicates run as a job on the server: POST starts it, the page polls it (a poll at least every
// 30 s keeps it alive) and shows its progress; Cancel (or leaving the page) stops it.
const POLL_MS = 500;
let duplicatesJob = null;

async function loadDuplicates(event) {
  if (event) event.preventDefault();
  if (duplicatesJob) return;
  setStatus("duplicates-status", "Grouping…");
  const params = new URLSearchParams();
  const threshold = $("dup-threshold").value.trim();
  if (threshold) params.set("threshold", threshold);
  if ($("dup-verify").checked) params.set("verify", "true");
  if ($("dup-similar").checked) params.set("similar", "true");
  try {
    let job = await api(`/api/duplicates?${params}`, { method: "POST" });
    duplicatesJob = job.job;
    $("dup-cancel").hidden = false;
    while (job.status === "running") {
      const progress = job.total ? `: ${job.done} of ${job.total} steps` : "";
      setStatus("duplicates-status", `Grouping${progress} (${job.seconds.toFixed(0)} s)…`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api(`/api/jobs/${encodeURIComponent(job.job)}`);
    }
    if (job.status !== "done") throw new Error(job.status === "cancelled" ? `Cancelled (${job.error})` : job.error);
    showDuplicates(job.result);
  } catch (error) {
    setStatus("duplicates-status", error.message, true);
  } finally {
    duplicatesJob = null;
    $("dup-cancel").hidden = true;
  }
}

async function cancelDuplicates() {
  if (!duplicatesJob) return;
  try {
    await api(`/api/jobs/${encodeURIComponent(duplicatesJob)}`, { method: "DELETE" });
  } catch (error) {
    setStatus("duplicates-status", error.message, true);
  }
}

function showDuplicates(answer) {
  const list = $("duplicates");
  list.replaceChildren();
  for (const group of answer.groups) {
    const item = document.createElement("li");
    item.setAttribute("aria-label", `Group ${group.id}, ${group.kind}, ${group.members.length} images`);
    for (const member of group.members) {
      const facts = [member.kind, member.score.toFixed(3)];
      if (member.inliers !== null) facts.push(`${member.inliers} inliers`);
      if (member.keeper) facts.push("keep");
      const shown = card(member, facts.join(" · "), () => similarTo({ id: member.id, caption: member.path }));
      if (member.keeper) shown.classList.add("keeper");
      item.append(shown);
    }
    list.append(item);
  }
  setStatus("duplicates-status", `${answer.groups.length} groups (candidates ≥ ${answer.candidate.toFixed(3)}, ` +
    `unchecked above ${answer.accept.toFixed(3)}: ${answer.source}; ${answer.checked} pairs checked)`);
}

// ---- tabs --------------------------------------------------------------------------------------
function selectTab(tab) {
  for (const other of document.querySelectorAll("[role=tab]")) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (tab.id === "tab-pairs" && !state.pairsLoaded) loadPairs();
}

function tabKeys(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const at = tabs.indexOf(event.target);
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  const tab = tabs[(next + tabs.length) % tabs.length];
  tab.focus();
  selectTab(tab);
}

// ---- start -------------------------------------------------------------------------------------
async function loadStats() {
  try {
    const stats = await api("/api/stats");
    state.stats = stats;
    const failed = stats.failed ? `, ${stats.failed} unreadable` : "";
    $("stats").textContent = `${stats.library}: ${stats.indexed} images${failed} · ${stats.model} ` +
      `(${stats.dim}-d, ${stats.index} index)`;
    $("text").disabled = !stats.text;
    for (const id of ["weight", "weight-value"]) $(id).hidden = !stats.text;
    document.querySelector("label[for=weight]").hidden = !stats.text;
    $("text").placeholder = stats.text ? "a dog on grass" : `text search needs a SigLIP or CLIP model`;
  } catch (error) {
    $("stats").textContent = `Library unavailable: ${error.message}`;
  }
}

function wire() {
  $("file").addEventListener("change", (event) => chooseFile(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    chooseFile(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData?.items || [])].find((entry) => entry.type.startsWith("image/"));
    if (item) { event.preventDefault(); chooseFile(item.getAsFile()); }
  });
  $("search-form").addEventListener("submit", search);
  $("clear-button").addEventListener("click", clearSearch);
  $("weight").addEventListener("input", () => { $("weight-value").value = Number($("weight").value).toFixed(2); });
  $("pairs-form").addEventListener("submit", loadPairs);
  $("duplicates-form").addEventListener("submit", loadDuplicates);
  $("dup-cancel").addEventListener("click", cancelDuplicates);
  window.addEventListener("pagehide", () => {
    if (duplicatesJob) fetch(`/api/jobs/${encodeURIComponent(duplicatesJob)}`, { method: "DELETE", keepalive: true,
      headers: authHeaders() });
  });
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", tabKeys);
  }
  $("token-button").addEventListener("click", async () => { await askToken(); loadStats(); });
  loadStats();
}

document.addEventListener("DOMContentLoaded", wire);
