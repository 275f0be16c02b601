// The Duplicates tab: groups found by a job (progress bar, cancel), shown as they are found (the
// job's provisional groups, read-only, replaced by the final answer), each with its kind, scores and
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
  const bar = $("dup-progress");
  bar.hidden = false;
  bar.removeAttribute("value"); // indeterminate until the job knows its steps
  shownPartial = "";
  let started = false; // the last answer stays until the new job runs (a refused start keeps it)
  try {
    const answer = await runJob(`/api/duplicates?${params}`, (job) => {
      if (!started) {
        started = true;
        groups.clear();
        $("duplicates").replaceChildren();
      }
      if (job.total) { bar.max = job.total; bar.value = job.done; }
      const progress = job.total ? `: ${job.done} of ${job.total} steps` : "";
      const found = job.partial && job.partial.count ? `; ${job.partial.count} found so far (provisional)` : "";
      setStatus("duplicates-status", `Grouping${progress} (${job.seconds.toFixed(0)} s)${found}…`);
      if (job.partial) showPartial(job.partial);
    });
    showDuplicates(answer);
  } catch (error) {
    if (started) { // provisional groups of a job that did not finish are no answer
      groups.clear();
      $("duplicates").replaceChildren();
    }
    setStatus("duplicates-status", error.message, true);
  } finally {
    $("dup-cancel").hidden = true;
    $("dup-submit").disabled = false;
    bar.hidden = true;
  }
}

let shownPartial = ""; // what the provisional list shows, to redraw only when it changed

function showPartial(partial) {
  const key = JSON.stringify(partial.groups.map((g) => g.members.map((m) => [m.id, m.keeper])));
  if (key === shownPartial) return;
  shownPartial = key;
  $("duplicates").replaceChildren(...partial.groups.map((group) => groupItem(group, true)));
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

function groupItem(group, provisional = false) {
  // provisional: a group the running job found so far (no actions: the final answer replaces it)
  const item = element("li", provisional ? "group provisional" : "group");
  item.dataset.group = group.id;
  const state = provisional ? ", provisional" : "";
  item.setAttribute("aria-label", `Group ${group.id}, ${group.kind}, ${group.members.length} images${state}`);
  const head = element("div", "group-head");
  head.append(element("strong", "", `Group ${group.id}`), element("span", "kind", group.kind),
    element("span", "hint", `${group.members.length} images`));
  if (provisional) head.append(element("span", "provisional-tag", "provisional: still checking"));
  const members = element("div", "members");
  const keeper = keeperOf(group);
  if (provisional) {
    for (const member of group.members) {
      const facts = [member.kind, member.score.toFixed(3)];
      if (member.keeper) facts.push("keep");
      const shown = card(member, facts.join(" · "), () => openViewer(libraryItem(keeper), libraryItem(member),
        member.score, nav));
      if (member.keeper) shown.classList.add("keeper");
      const box = element("div", "member");
      box.append(shown);
      members.append(box);
    }
    item.append(head, members);
    return item;
  }
  const distinct = element("button", "secondary", "Not duplicates");
  distinct.type = "button";
  distinct.dataset.action = "not-duplicates";
  distinct.addEventListener("click", () => notDuplicate(group, null));
  const trash = element("button", "danger", "Move duplicates to trash");
  trash.type = "button";
  trash.dataset.action = "trash";
  trash.addEventListener("click", () => moveToTrash(group));
  head.append(distinct, trash);
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
