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

from ..errors import LookalikeError
from ..store.scan import file_hash
from .groups import DuplicateGroup

ACTIONS = ("list", "move-to", "hardlink", "symlink")


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


def apply(steps: list[Step], log_path: Path) -> int:
    """Carry out the steps, logging each before it runs; returns how many files changed.

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
    log = _Log(log_path)
    try:
        log.write({"lookalike_undo": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        for step in work:
            assert step.target is not None
            record = {"group": step.group, "action": step.action, "path": os.fsdecode(step.path.resolve()),
                      "target": os.fsdecode(step.target.resolve()), "keeper": os.fsdecode(step.keeper.resolve()),
                      "sha256": file_hash(step.path)}
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


def _is_link_to(path: Path, keeper: Path) -> bool:
    if path.is_symlink():
        return Path(os.readlink(path)) == keeper
    try:
        return path.is_file() and os.path.samefile(path, keeper)
    except OSError:
        return False


def undo(log_path: Path) -> int:
    """Reverse an applied log, newest step first; returns how many files were restored. Steps that
    never ran (a crash between the log record and the move) are skipped."""
    if not log_path.is_file():
        raise LookalikeError(f"{log_path}: no such undo log")
    lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        records = [json.loads(line) for line in lines]
    except json.JSONDecodeError as exc:
        raise LookalikeError(f"{log_path}: not an undo log ({exc})") from None
    if not records or records[0].get("lookalike_undo") != 1:
        raise LookalikeError(f"{log_path}: not a lookalike undo log")
    restored = 0
    for record in reversed(records[1:]):
        path, target, keeper = Path(record["path"]), Path(record["target"]), Path(record["keeper"])
        if not target.exists():
            if path.is_file() and not path.is_symlink() and file_hash(path) == record["sha256"]:
                continue  # this step never ran
            raise LookalikeError(f"{target}: the moved original is missing; cannot restore {path}")
        if record["action"] in ("hardlink", "symlink") and (path.exists() or path.is_symlink()):
            if not _is_link_to(path, keeper):
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
