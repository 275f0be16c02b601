// The Duplicates tab: groups found by a job (progress, cancel), each with its kind, scores and
// suggested keeper; a person marks "not a duplicate", picks another keeper, or moves a group's
// duplicates to the library's trash (confirmed first, undoable). Decisions are kept by the library.
"use strict";

import { $, cancelJob, postJson, runJob } from "./api.js";
import { card, confirmAction, element, libraryItem, nav, openViewer, setStatus } from "./ui.js";

const groups = new Map(); // group id -> group as the job gave it (members updated by decisions)

export async function findDuplicates(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  const threshold = $("dup-threshold").value.trim();
  if (threshold) params.set("threshold", threshold);
  if ($("dup-verify").checked) params.set("verify", "true");
  if ($("dup-similar").checked) params.set("similar", "true");
  setStatus("duplicates-status", "Grouping…");
  $("dup-cancel").hidden = false;
  $("dup-submit").disabled = true;
  try {
    const answer = await runJob(`/api/duplicates?${params}`, (job) => {
      const progress = job.total ? `: ${job.done} of ${job.total} steps` : "";
      setStatus("duplicates-status", `Grouping${progress} (${job.seconds.toFixed(0)} s)…`);
    });
    showDuplicates(answer);
  } catch (error) {
    setStatus("duplicates-status", error.message, true);
  } finally {
    $("dup-cancel").hidden = true;
    $("dup-submit").disabled = false;
  }
}

export async function cancelDuplicates() {
  try { await cancelJob(); } catch (error) { setStatus("duplicates-status", error.message, true); }
}

function showDuplicates(answer) {
  groups.clear();
  const list = $("duplicates");
  list.replaceChildren();
  for (const group of answer.groups) {
    groups.set(group.id, group);
    list.append(groupItem(group));
  }
  setStatus("duplicates-status", `${answer.groups.length} groups (candidates ≥ ${answer.candidate.toFixed(3)}, ` +
    `unchecked above ${answer.accept.toFixed(3)}: ${answer.source}; ${answer.checked} pairs checked)`);
}

function keeperOf(group) { return group.members.find((member) => member.keeper) || group.members[0]; }

function groupItem(group) {
  const item = element("li", "group");
  item.dataset.group = group.id;
  item.setAttribute("aria-label", `Group ${group.id}, ${group.kind}, ${group.members.length} images`);
  const head = element("div", "group-head");
  head.append(element("strong", "", `Group ${group.id}`), element("span", "kind", group.kind),
    element("span", "hint", `${group.members.length} images`));
  const distinct = element("button", "secondary", "Not duplicates");
  distinct.type = "button";
  distinct.dataset.action = "not-duplicates";
  distinct.addEventListener("click", () => notDuplicate(group, null));
  const trash = element("button", "danger", "Move duplicates to trash");
  trash.type = "button";
  trash.dataset.action = "trash";
  trash.addEventListener("click", () => moveToTrash(group));
  head.append(distinct, trash);
  const members = element("div", "members");
  const keeper = keeperOf(group);
  for (const member of group.members) {
    const box = element("div", "member");
    const facts = [member.kind, member.score.toFixed(3)];
    if (member.inliers !== null) facts.push(`${member.inliers} inliers`);
    if (member.keeper) facts.push("keep");
    const shown = card(member, facts.join(" · "), () => openViewer(libraryItem(keeper), libraryItem(member),
      member.score, nav));
    if (member.keeper) shown.classList.add("keeper");
    const actions = element("div", "member-actions");
    const keep = element("button", "secondary small", member.keeper ? "Keeper" : "Keep this");
    keep.type = "button";
    keep.dataset.action = "keep";
    keep.disabled = member.keeper;
    keep.addEventListener("click", () => chooseKeeper(group, member));
    const alone = element("button", "secondary small", "Not a duplicate");
    alone.type = "button";
    alone.dataset.action = "not-duplicate";
    alone.addEventListener("click", () => notDuplicate(group, member));
    actions.append(keep, alone);
    box.append(shown, actions);
    members.append(box);
  }
  item.append(head, members);
  return item;
}

function redraw(group) {
  const old = document.querySelector(`#duplicates li[data-group="${group.id}"]`);
  if (group.members.length < 2) { groups.delete(group.id); if (old) old.remove(); return; }
  if (!group.members.some((member) => member.keeper)) group.members[0].keeper = true;
  if (old) old.replaceWith(groupItem(group));
}

async function notDuplicate(group, member) {
  const ids = group.members.map((m) => m.id);
  try {
    const answer = await postJson("/api/duplicates/not-duplicate", { ids, member: member ? member.id : null });
    if (member) group.members = group.members.filter((m) => m.id !== member.id);
    else group.members = [];
    redraw(group);
    const what = member ? `${member.path} is not a duplicate of group ${group.id}`
      : `group ${group.id} is not duplicates`;
    setStatus("duplicates-status", `Saved: ${what} (${answer.pairs} pairs); later runs keep them apart.`);
  } catch (error) {
    setStatus("duplicates-status", error.message, true);
  }
}

async function chooseKeeper(group, member) {
  try {
    await postJson("/api/duplicates/keeper", { keeper: member.id });
    for (const m of group.members) m.keeper = m.id === member.id;
    redraw(group);
    setStatus("duplicates-status", `Saved: keep ${member.path} in group ${group.id}.`);
  } catch (error) {
    setStatus("duplicates-status", error.message, true);
  }
}

async function moveToTrash(group) {
  const keeper = keeperOf(group);
  const count = group.members.length - 1;
  const sure = await confirmAction(`Move ${count} duplicate${count === 1 ? "" : "s"} of ${keeper.path} into the ` +
    "library's .lookalike/trash folder? You can undo this.", "Move to trash");
  if (!sure) { setStatus("duplicates-status", "Nothing was moved."); return; }
  try {
    const answer = await postJson("/api/duplicates/trash", { ids: group.members.map((m) => m.id), keeper: keeper.id });
    group.members = [];
    redraw(group);
    const skipped = answer.skipped.length ? ` Left out: ${answer.skipped.join("; ")}.` : "";
    setStatus("duplicates-status", `Moved ${answer.moved} file${answer.moved === 1 ? "" : "s"} to the trash.${skipped}`);
    showUndo(answer.log);
  } catch (error) {
    setStatus("duplicates-status", error.message, true);
  }
}

function showUndo(log) {
  const button = $("dup-undo");
  button.hidden = false;
  button.onclick = async () => {
    button.hidden = true;
    try {
      const answer = await postJson("/api/duplicates/undo", { log });
      setStatus("duplicates-status", `Put back ${answer.restored} file${answer.restored === 1 ? "" : "s"}; ` +
        "find the groups again to see them.");
    } catch (error) {
      setStatus("duplicates-status", error.message, true);
    }
  };
}
