// Views over the whole library (top pairs, clusters, outliers) and the compare view of two images.
"use strict";

import { $, api, fileBlob, runJob, setImage } from "./api.js";
import { card, element, libraryItem, nav, openViewer, setStatus } from "./ui.js";

const similarOf = (image) => () => nav.similar({ id: image.id, caption: image.path });

export async function loadPairs(top) {
  setStatus("pairs-status", "Finding pairs…");
  try {
    const answer = await api(`/api/pairs?top=${encodeURIComponent(top)}`);
    const list = $("pairs");
    list.replaceChildren();
    for (const pair of answer.pairs) {
      const item = element("li");
      item.setAttribute("aria-label", `${pair.a.path} and ${pair.b.path}, similarity ${pair.score.toFixed(3)}`);
      const open = () => openViewer(libraryItem(pair.a), libraryItem(pair.b), pair.score, nav);
      item.append(card({ ...pair.a, time: pair.a_time }, undefined, open),
        card({ ...pair.b, time: pair.b_time }, undefined, open),
        element("span", "score", pair.score.toFixed(3)));
      list.append(item);
    }
    setStatus("pairs-status", `${answer.pairs.length} pairs, most similar first`);
  } catch (error) {
    setStatus("pairs-status", error.message, true);
  }
}

function progressText(what) {
  return (job) => setStatus(`${what}-status`, `Working${job.total ? `: ${job.done} of ${job.total} steps` : ""} ` +
    `(${job.seconds.toFixed(0)} s)…`);
}

export async function loadClusters(minSize) {
  setStatus("clusters-status", "Clustering…");
  const list = $("clusters");
  try {
    const answer = await runJob(`/api/clusters?min_size=${encodeURIComponent(minSize)}`, progressText("clusters"));
    list.replaceChildren();
    for (const cluster of answer.clusters) {
      const item = element("li", "cluster");
      item.setAttribute("aria-label", `Cluster ${cluster.number}, ${cluster.size} images`);
      const head = element("div", "group-head");
      head.append(element("strong", "", `Cluster ${cluster.number}`), element("span", "hint", `${cluster.size} images`));
      const representative = card(cluster.representative, "representative", similarOf(cluster.representative));
      representative.classList.add("keeper", "representative");
      const members = element("div", "members");
      members.append(representative);
      for (const member of cluster.members) {
        if (member.id !== cluster.representative.id) members.append(card(member, undefined, similarOf(member)));
      }
      item.append(head, members);
      list.append(item);
    }
    setStatus("clusters-status", `${answer.clusters.length} clusters of ${answer.count} images ` +
      `(${answer.unclustered} in none), largest first`);
  } catch (error) {
    list.replaceChildren();
    setStatus("clusters-status", error.message, true);
  }
}

export async function loadOutliers(k, top) {
  setStatus("outliers-status", "Looking for the most unusual images…");
  const list = $("outliers");
  try {
    const params = new URLSearchParams({ k, top });
    const answer = await runJob(`/api/outliers?${params}`, progressText("outliers"));
    list.replaceChildren();
    for (const image of answer.outliers) {
      const item = element("li");
      item.append(card(image, image.score, similarOf(image)));
      list.append(item);
    }
    setStatus("outliers-status", `${answer.outliers.length} images least like their ${answer.k} nearest ` +
      "others, most unusual first (score: mean similarity to them)");
  } catch (error) {
    list.replaceChildren();
    setStatus("outliers-status", error.message, true);
  }
}

// ---- compare -------------------------------------------------------------------------------------
function slot(side) {
  const file = $(`cmp-${side}-file`).files[0];
  const id = $(`cmp-${side}-id`).value.trim();
  return { file, id: file ? "" : id };
}

function showSide(side, chosen) {
  const img = $(`cmp-${side}-img`);
  img.removeAttribute("src");
  if (chosen.file) {
    img.src = URL.createObjectURL(chosen.file);
    $(`cmp-${side}-caption`).textContent = chosen.file.name;
  } else {
    setImage(img, `/api/images/${chosen.id}/thumbnail?size=768`);
    $(`cmp-${side}-caption`).textContent = `library image ${chosen.id}`;
  }
  img.hidden = false;
}

export async function compare() {
  const a = slot("a");
  const b = slot("b");
  if ((!a.file && !a.id) || (!b.file && !b.id)) {
    setStatus("compare-status", "Give each side a photo or a library image id.", true);
    return;
  }
  setStatus("compare-status", "Comparing…");
  $("cmp-score").textContent = "";
  try {
    const form = new FormData();
    if (a.id && b.id) {
      form.append("a_id", a.id);
      form.append("b_id", b.id);
    } else {  // one upload and one library image: the library image's file goes up as the other upload
      form.append("a", a.file || await fileBlob(a.id), "a");
      form.append("b", b.file || await fileBlob(b.id), "b");
    }
    const answer = await api("/api/compare", { method: "POST", body: form });
    showSide("a", a);
    showSide("b", b);
    $("cmp-score").textContent = answer.score.toFixed(4);
    setStatus("compare-status", `similarity ${answer.score.toFixed(4)} (${answer.model})`);
  } catch (error) {
    for (const side of ["a", "b"]) $(`cmp-${side}-img`).hidden = true;
    setStatus("compare-status", error.message, true);
  }
}
