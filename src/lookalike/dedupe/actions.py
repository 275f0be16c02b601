"""What to do with duplicates, safely: a plan (dry run) first; applying it writes an undo log (JSON
lines, each record fsynced before its step runs) and nothing is ever deleted: `move-to` moves the
duplicates into a folder, `hardlink`/`symlink` first move each duplicate aside into a trash folder
recorded in the log and then put a link to the keeper in its place. `undo` reverses a log and checks
every restored file's bytes against the hash recorded before the change."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LookalikeError, display_path
from ..store.scan import file_hash
from ..types import STATE_DIR
from .groups import DuplicateGroup

ACTIONS = ("list", "move-to", "hardlink", "symlink")
UNDO_DIR = Path(STATE_DIR) / "undo"  # below the folder an action ran on


@dataclass(frozen=True)
class Step:
    """One planned change: `path` (a duplicate) goes to `target`; for links, `keeper` takes its place."""

    group: int
    action: str
    path: Path
    keeper: Path
    target: Path | None

    def describe(self) -> str:
        if self.action == "list":
            return "keep" if self.path == self.keeper else f"duplicate of {self.keeper}"
        if self.action == "move-to":
            return f"move to {self.target}"
        return f"{self.action} to {self.keeper} (original moved to {self.target})"


def _relative_target(path: Path, base: Path, folder: Path) -> Path:
    resolved = path.resolve()
    try:
        return folder / resolved.relative_to(base.resolve())
    except ValueError:
        return folder / resolved.name


def plan(groups: list[DuplicateGroup], action: str, base: Path, destination: Path | None = None,
         trash: Path | None = None) -> list[Step]:
    """The steps an action takes: every non-keeper member of every group (for `list`, every member).

    `base` is the folder the files' relative layout is kept from; `destination` is the `move-to`
    folder; `trash` is where `hardlink`/`symlink` move originals aside.
    """
    if action not in ACTIONS:
        raise LookalikeError(f"action '{action}': choose one of {', '.join(ACTIONS)}")
    if action == "move-to" and destination is None:
        raise LookalikeError("the move-to action needs a destination folder")
    if action in ("hardlink", "symlink") and trash is None:
        raise LookalikeError(f"the {action} action needs a trash folder for the originals")
    steps = []
    for group in groups:
        for member in group.members:
            if action != "list" and member == group.keeper:
                continue
            folder = destination if action == "move-to" else trash
            target = None if folder is None or action == "list" else _relative_target(member, base, folder)
            steps.append(Step(group.id, action, member, group.keeper, target))
    return steps


def _fsync_dir(directory: Path) -> None:
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class _Log:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise LookalikeError(f"{path}: an undo log already exists there; nothing was changed")
        self.path = path
        self.handle = path.open("x", encoding="utf-8")

    def write(self, record: dict[str, object]) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()
        _fsync_dir(self.path.parent)


def usable(steps: list[Step]) -> tuple[list[Step], list[str]]:
    """The steps that can run, and one reason per member or group left out: a duplicate that is a
    symlink or no regular file, or whose target exists, is skipped alone; a group whose keeper is
    missing (or a symlink) is skipped whole. So one odd member never stops the rest of the plan."""
    reasons, bad_groups = [], set()
    for step in steps:
        if step.action != "list" and step.group not in bad_groups and (
                step.keeper.is_symlink() or not step.keeper.is_file()):
            bad_groups.add(step.group)
            reasons.append(f"group {step.group}: the keeper {display_path(step.keeper)} is not a regular file "
                           "(a symlink, or missing); group skipped")
    kept = []
    for step in steps:
        if step.action == "list" or step.group in bad_groups:
            continue
        if step.path.is_symlink() or not step.path.is_file():
            what = "a symlink" if step.path.is_symlink() else "not a regular file"
            reasons.append(f"group {step.group}: {display_path(step.path)} is {what}; skipped")
        elif step.target is not None and (step.target.exists() or step.target.is_symlink()):
            reasons.append(f"group {step.group}: {display_path(step.target)} already exists; "
                           f"{display_path(step.path)} skipped")
        else:
            kept.append(step)
    return kept, reasons


def new_log_path(base: Path) -> Path:
    """A fresh undo log name in `base`/.lookalike/undo, where `undo` without a log looks."""
    folder, stamp = base / UNDO_DIR, time.strftime("%Y%m%d-%H%M%S")
    candidate, number = folder / f"{stamp}.jsonl", 2
    while candidate.exists() or candidate.with_name(candidate.name + ".undone").exists():
        candidate, number = folder / f"{stamp}-{number}.jsonl", number + 1
    return candidate


def _stored(path: Path, base: Path | None) -> str:
    """A path for the log: relative to `base` (so the log survives moving the folder) when below it."""
    resolved = path.resolve()
    if base is not None and resolved.is_relative_to(base):
        return os.fsdecode(resolved.relative_to(base))
    return os.fsdecode(resolved)


def apply(steps: list[Step], log_path: Path, base: Path | None = None) -> int:
    """Carry out the steps, logging each before it runs; returns how many files changed. Paths below
    `base` are logged relative to it.

    Checks every step first (sources are regular files, targets free) so a bad plan changes nothing.
    """
    work = [s for s in steps if s.action != "list"]
    for step in work:
        if not step.path.is_file() or step.path.is_symlink():
            raise LookalikeError(f"{step.path}: not a regular file any more; nothing was changed")
        if step.target is not None and (step.target.exists() or step.target.is_symlink()):
            raise LookalikeError(f"{step.target}: already exists; nothing was changed")
        if not step.keeper.is_file():
            raise LookalikeError(f"{step.keeper}: the keeper is missing; nothing was changed")
    root = base.resolve() if base is not None else None
    log = _Log(log_path)
    try:
        log.write({"lookalike_undo": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "created_ns": time.time_ns(), "folder": None if root is None else os.fsdecode(root)})
        for step in work:
            assert step.target is not None
            record = {"group": step.group, "action": step.action, "path": _stored(step.path, root),
                      "target": _stored(step.target, root), "keeper": _stored(step.keeper, root),
                      "sha256": file_hash(step.path)}
            if step.action == "symlink":
                record["link"] = os.fsdecode(step.keeper.resolve())
            log.write(record)
            step.target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(step.path, step.target)
            if step.action == "hardlink":
                os.link(step.keeper, step.path)
            elif step.action == "symlink":
                os.symlink(step.keeper.resolve(), step.path)
            _fsync_dir(step.path.parent)
    finally:
        log.close()
    return len(work)


def _is_link_to(path: Path, keeper: Path, link: str | None) -> bool:
    if path.is_symlink():
        return Path(os.readlink(path)) in (keeper, Path(link or keeper))
    try:
        return path.is_file() and os.path.samefile(path, keeper)
    except OSError:
        return False


def _read_log(log_path: Path) -> list[dict[str, Any]]:
    """The records of an undo log (header first); a last line cut short by a kill is dropped (its
    step never ran: each record is on disk before its step starts)."""
    if not log_path.is_file():
        raise LookalikeError(f"{log_path}: no such undo log")
    lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines) and number > 1:
                break
            raise LookalikeError(f"{log_path}: not an undo log ({exc})") from None
    if not records or not isinstance(records[0], dict) or records[0].get("lookalike_undo") != 1:
        raise LookalikeError(f"{log_path}: not a lookalike undo log")
    return records


def _log_folder(log_path: Path, header: dict[str, Any]) -> Path | None:
    """The folder a log's relative paths start from: the one holding .lookalike/undo/LOG, else the
    folder recorded when it was written."""
    parent = log_path.resolve().parent
    if parent.name == UNDO_DIR.name and parent.parent.name == UNDO_DIR.parent.name:
        return parent.parent.parent
    return Path(header["folder"]) if header.get("folder") else None


def undo(log_path: Path, folder: Path | None = None) -> int:
    """Reverse an applied log, newest step first; returns how many files were restored. Steps that
    never ran (a crash between the log record and the move) are skipped. Relative paths in the log
    start from `folder` (default: the folder the log lies in, or the one it names)."""
    records = _read_log(log_path)
    root = folder.resolve() if folder is not None else _log_folder(log_path, records[0])

    def where(text: str) -> Path:
        stored = Path(text)
        if stored.is_absolute():
            return stored
        if root is None:
            raise LookalikeError(f"{log_path}: relative paths but no folder; give the folder it was applied in")
        return root / stored

    restored = 0
    for record in reversed(records[1:]):
        path, target, keeper = where(record["path"]), where(record["target"]), where(record["keeper"])
        if not target.exists():
            if path.is_file() and not path.is_symlink() and file_hash(path) == record["sha256"]:
                continue  # this step never ran
            raise LookalikeError(f"{target}: the moved original is missing; cannot restore {path}")
        if record["action"] in ("hardlink", "symlink") and (path.exists() or path.is_symlink()):
            if not _is_link_to(path, keeper, record.get("link")):
                raise LookalikeError(f"{path}: changed since the action (not a link to {keeper}); left as is")
            path.unlink()  # the link we made; the original is safe in the trash folder
        elif path.exists() or path.is_symlink():
            raise LookalikeError(f"{path}: a file is back in its place; move it away and undo again")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(target, path)
        if file_hash(path) != record["sha256"]:
            raise LookalikeError(f"{path}: restored, but its bytes differ from before the action")
        restored += 1
    done = log_path.with_name(log_path.name + ".undone")
    log_path.rename(done)
    return restored


def unfinished_logs(folder: Path) -> list[Path]:
    """The undo logs in `folder`/.lookalike/undo not undone yet, newest first (the order to undo them)."""
    directory = folder / UNDO_DIR
    logs = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []

    def written(log: Path) -> tuple[int, str]:
        try:
            created = int(_read_log(log)[0].get("created_ns") or log.stat().st_mtime_ns)
        except LookalikeError:
            created = log.stat().st_mtime_ns
        return created, log.name

    return sorted(logs, key=written, reverse=True)
