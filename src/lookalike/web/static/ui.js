// Pieces every view uses: status lines, image cards (whole name on two lines, its folder below),
// the side-by-side viewer and the confirmation dialog.
"use strict";

import { $, openOriginal, setImage } from "./api.js";

export function setStatus(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", isError);
}

export function baseName(path) { return path.split("/").pop(); }

export function folderOf(path) {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at + 1);
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function card(image, score, onOpen) {
  // score: a similarity (number), a ready caption (string), or undefined
  const button = element("button", "card");
  button.type = "button";
  button.dataset.id = image.id;
  button.dataset.path = image.path;
  button.title = image.path;
  const shown = typeof score === "number" ? score.toFixed(3) : score;
  const label = score === undefined ? image.path
    : typeof score === "number" ? `${image.path}, similarity ${shown}` : `${image.path}, ${shown}`;
  button.setAttribute("aria-label", label);
  const img = element("img");
  img.alt = "";
  img.loading = "lazy";
  img.width = 256; img.height = 256;
  setImage(img, `/api/images/${image.id}/thumbnail?size=256`);
  const meta = element("span", "meta");
  const names = element("span", "names");
  names.append(element("span", "name", baseName(image.path)));
  const folder = folderOf(image.path);
  if (folder) names.append(element("span", "folder", folder));
  meta.append(names);
  if (typeof image.time === "number") {  // a video: which moment
    meta.append(element("span", "time", `at ${image.time.toFixed(1)} s`));
  }
  if (score !== undefined) meta.append(element("span", "score", shown));
  button.append(img, meta);
  button.addEventListener("click", onOpen);
  return button;
}

export function libraryItem(image) {
  return { src: `/api/images/${image.id}/thumbnail?size=768`, caption: image.path, id: image.id };
}

export function openViewer(left, right, score, actions) {
  // left/right: {src (a URL or an API path), caption, id?}; actions: {similar(item), compare(a, b)}
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
  $("viewer-score").textContent = score === null ? "" : score.toFixed(4);
  const similarButton = $("viewer-similar");
  similarButton.hidden = right.id === undefined;
  similarButton.onclick = () => { $("viewer").close(); actions.similar(right); };
  const compareButton = $("viewer-compare");
  compareButton.hidden = left.id === undefined || right.id === undefined;
  compareButton.onclick = () => { $("viewer").close(); actions.compare(left.id, right.id); };
  const original = $("viewer-original");
  original.hidden = right.id === undefined;
  original.href = right.id === undefined ? "#" : `/api/images/${right.id}/file`;
  original.onclick = (event) => openOriginal(event, right.id);
  $("viewer").showModal();
}

export function confirmAction(text, yes) {
  // Resolves true when the person confirms (the dialog's own button), false otherwise.
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-yes").textContent = yes;
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
  });
}

// What the views may ask the page to do (app.js fills it in): show images like one, compare two.
export const nav = { similar: (item) => item, compare: (a, b) => [a, b] };
