// lookalike page: plain JavaScript modules, no build step, no network beyond this server.
// The URL holds the state (#/search?id=5&k=12&t=0.5, #/pairs?top=10, #/clusters?min_size=5,
// #/outliers?k=10&top=24, #/compare?a=1&b=2): deep links work, and so does the back button.
"use strict";

import { $, api, askToken, authHeaders, running, setImage } from "./api.js";
import { compare, loadClusters, loadOutliers, loadPairs } from "./collection.js";
import { cancelDuplicates, findDuplicates } from "./review.js";
import { card, libraryItem, nav, openViewer, setStatus } from "./ui.js";

const VIEWS = ["search", "pairs", "duplicates", "clusters", "outliers", "compare"];
const state = { file: null, fileUrl: null, queryLabel: "", queryImage: null, names: new Map(), rendered: new Map(),
                params: new Map() };

// ---- the URL -----------------------------------------------------------------------------------
function current() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const view = VIEWS.includes(path) ? path : "search";
  return { view, params: new URLSearchParams(query || "") };
}

function navigate(view, params = {}, { replace = false, again = false } = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const text = query.toString();
  const hash = `#/${view}${text ? `?${text}` : ""}`;
  if (again) state.rendered.delete(view);
  if (hash !== location.hash) history[replace ? "replaceState" : "pushState"](null, "", hash);
  render();
}

function render() {
  const { view, params } = current();
  state.params.set(view, Object.fromEntries(params));
  selectTab(view);
  const key = `${params}|${view === "search" ? state.fileUrl : ""}`;
  if (state.rendered.get(view) === key) return;
  state.rendered.set(view, key);
  if (view === "search") renderSearch(params);
  else if (view === "pairs") { $("pairs-top").value = params.get("top") || "10"; loadPairs($("pairs-top").value); }
  else if (view === "clusters" && params.has("min_size")) {
    $("clusters-min").value = params.get("min_size");
    loadClusters(params.get("min_size"));
  } else if (view === "outliers" && params.has("k")) {
    $("outliers-k").value = params.get("k");
    $("outliers-top").value = params.get("top") || "24";
    loadOutliers(params.get("k"), $("outliers-top").value);
  } else if (view === "compare" && params.has("a") && params.has("b")) {
    $("cmp-a-id").value = params.get("a");
    $("cmp-b-id").value = params.get("b");
    for (const side of ["a", "b"]) $(`cmp-${side}-file`).value = "";
    compare();
  }
}

function selectTab(view) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.id === `tab-${view}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
}

// ---- search ------------------------------------------------------------------------------------
function pageSize() { return Number($("k").value); }

function searchParams(extra = {}) {
  return { k: pageSize(), t: $("threshold").value.trim(), ...extra };
}

function renderSearch(params) {
  const k = Number(params.get("k")) || pageSize();
  if ([...$("k").options].some((o) => o.value === String(k))) $("k").value = String(k);
  $("threshold").value = params.get("t") || "";
  const id = params.get("id");
  const text = params.get("text") || "";
  if (id) { $("text").value = ""; showLibraryQuery(Number(id)); runSearch({ id, k, t: params.get("t") }); }
  else if (text || state.file) {
    $("text").value = text;
    if (state.file) showFileQuery(); else hidePreview();
    runSearch({ text, k, t: params.get("t") });
  } else { clearResults(); hidePreview(); setStatus("search-status", ""); }
}

function hidePreview() {
  $("query-preview").hidden = true;
  $("query-preview").removeAttribute("src");
  $("drop-text").replaceChildren("Drop a photo here, paste one, or ", Object.assign(document.createElement("u"),
    { textContent: "choose a file" }));
}

function showFileQuery() {
  const preview = $("query-preview");
  preview.src = state.fileUrl;
  preview.alt = `Query photo: ${state.file.name || "pasted image"}`;
  preview.hidden = false;
  $("drop-text").textContent = `${state.file.name || "pasted image"}: drop or choose another`;
}

function showLibraryQuery(id) {
  const path = state.names.get(id) || `library image ${id}`;
  state.queryImage = { id, path };
  const preview = $("query-preview");
  preview.removeAttribute("src");
  preview.alt = `Query photo: ${path}`;
  preview.hidden = false;
  setImage(preview, `/api/images/${id}/thumbnail?size=256`);
  $("drop-text").textContent = `${path} (from the library): drop or choose another`;
}

function clearResults() {
  $("results").replaceChildren();
  $("more-button").hidden = true;
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
  showFileQuery();
  navigate("search", searchParams({ text: $("text").value.trim() }), { again: true });
}

async function runSearch({ id, text, k, t }) {
  const params = new URLSearchParams({ k });
  if (t) params.set("threshold", t);
  setStatus("search-status", "Searching…");
  $("search-button").disabled = true;
  try {
    let answer;
    if (id) {
      answer = await api(`/api/images/${encodeURIComponent(id)}/similar?${params}`);
      state.queryLabel = state.queryImage.path;
    } else if (state.file) {
      if (text) params.set("text", text);
      params.set("text_weight", $("weight").value);
      const form = new FormData();
      form.append("file", state.file, "upload");
      answer = await api(`/api/search?${params}`, { method: "POST", body: form });
      state.queryImage = null;
      state.queryLabel = text ? `your photo + “${text}”` : "your photo";
    } else {
      params.set("text", text);
      answer = await api(`/api/search?${params}`);
      state.queryImage = null;
      state.queryLabel = `“${text}”`;
    }
    showResults(answer.results, Number(k));
    const cut = t ? ` scoring at least ${t}` : "";
    setStatus("search-status", `${answer.results.length} results${cut} in ${Math.round(answer.took_ms)} ms`);
  } catch (error) {
    clearResults();
    state.rendered.delete("search");
    setStatus("search-status", error.message, true);
  } finally {
    $("search-button").disabled = false;
  }
}

function showResults(results, k) {
  const list = $("results");
  list.replaceChildren();
  for (const hit of results) {
    state.names.set(hit.id, hit.path);
    const item = document.createElement("li");
    item.append(card(hit, hit.score, () => openViewer(queryItem(), libraryItem(hit), hit.score, nav)));
    list.append(item);
  }
  $("more-button").hidden = results.length < k || k >= 1000;
}

function queryItem() {
  if (state.queryImage) return libraryItem(state.queryImage);
  return { src: state.fileUrl, caption: state.queryLabel };
}

function submitSearch(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  const id = $("by-id").value.trim();
  const shown = current().params.get("id");
  if (id) { $("by-id").value = ""; nav.similar({ id: Number(id) }); return; }
  if (shown && !text) navigate("search", searchParams({ id: shown }), { again: true });
  else if (state.file || text) navigate("search", searchParams({ text }), { again: true });
  else setStatus("search-status", "Drop a photo, type a text or give an image id first.", true);
}

function showMore() {
  const { params } = current();
  const k = Math.min(1000, (Number(params.get("k")) || pageSize()) + pageSize());
  navigate("search", { ...Object.fromEntries(params), k }, { replace: true });
}

function clearSearch() {
  if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
  Object.assign(state, { file: null, fileUrl: null, queryImage: null });
  $("file").value = "";
  $("text").value = "";
  navigate("search", {}, { again: true });
}

// ---- start -------------------------------------------------------------------------------------
async function loadStats() {
  try {
    const stats = await api("/api/stats");
    const failed = stats.failed ? `, ${stats.failed} unreadable` : "";
    $("stats").textContent = `${stats.library}: ${stats.indexed} images${failed} · ${stats.model} ` +
      `(${stats.dim}-d, ${stats.index} index)`;
    $("text").disabled = !stats.text;
    for (const id of ["weight", "weight-value"]) $(id).hidden = !stats.text;
    document.querySelector("label[for=weight]").hidden = !stats.text;
    $("text").placeholder = stats.text ? "a dog on grass" : "text search needs a SigLIP or CLIP model";
    return true;
  } catch (error) {
    $("stats").textContent = `Library unavailable: ${error.message}`;
    return false;
  }
}

function wire() {
  nav.similar = (item) => {
    if (item.caption) state.names.set(item.id, item.caption);
    navigate("search", searchParams({ id: item.id }), { again: true });
  };
  nav.compare = (a, b) => navigate("compare", { a, b }, { again: true });
  $("file").addEventListener("change", (event) => chooseFile(event.target.files[0]));
  $("query-preview").addEventListener("error", () => {
    if (!$("query-preview").getAttribute("src")) return;
    $("query-preview").hidden = true;
    $("drop-text").textContent = `${state.file ? state.file.name : "This photo"} cannot be shown: ` +
      "drop or choose another";
  });
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
  $("search-form").addEventListener("submit", submitSearch);
  $("clear-button").addEventListener("click", clearSearch);
  $("more-button").addEventListener("click", showMore);
  $("weight").addEventListener("input", () => { $("weight-value").value = Number($("weight").value).toFixed(2); });
  $("pairs-form").addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("pairs", { top: $("pairs-top").value }, { again: true });
  });
  $("duplicates-form").addEventListener("submit", findDuplicates);
  $("dup-cancel").addEventListener("click", cancelDuplicates);
  $("clusters-form").addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("clusters", { min_size: $("clusters-min").value }, { again: true });
  });
  $("outliers-form").addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("outliers", { k: $("outliers-k").value, top: $("outliers-top").value }, { again: true });
  });
  $("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const a = $("cmp-a-id").value.trim();
    const b = $("cmp-b-id").value.trim();
    const files = $("cmp-a-file").files.length || $("cmp-b-file").files.length;
    if (a && b && !files) navigate("compare", { a, b }, { again: true }); else compare();
  });
  window.addEventListener("pagehide", () => {
    if (running.job) fetch(`/api/jobs/${encodeURIComponent(running.job)}`, { method: "DELETE", keepalive: true,
      headers: authHeaders() });
  });
  window.addEventListener("popstate", render);
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    const view = tab.id.replace("tab-", "");
    tab.addEventListener("click", () => navigate(view, state.params.get(view) || {}));
    tab.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(event.target);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const chosen = tabs[(next + tabs.length) % tabs.length];
      chosen.focus();
      chosen.click();
    });
  }
  $("token-button").addEventListener("click", async () => {
    if (await askToken()) { loadStats(); state.rendered.clear(); render(); }
  });
  loadStats().then(render);
}

document.addEventListener("DOMContentLoaded", wire);
