"""Change detection: compare the files under a root with the catalog by size and mtime, then by
content hash, to find what is new, changed, moved, deleted or unchanged."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..images import find_images
from ..system import available_cores
from .catalog import FileRow, NewFile


@dataclass
class SyncPlan:
    """What a sync must do; `embed` holds new files and files whose content changed."""

    embed: list[NewFile] = field(default_factory=list)
    moves: list[tuple[int, str, int, int]] = field(default_factory=list)  # id, new path, size, mtime
    touches: list[tuple[int, int, int]] = field(default_factory=list)  # id, size, mtime (same content)
    deletes: list[int] = field(default_factory=list)
    unchanged: int = 0
    failed_unchanged: int = 0


def file_hash(path: Path) -> str:
    """SHA-256 of the content, or '' when the file cannot be read (decode will report why)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


def stat_files(root: Path, exclude: Path | None = None) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every image file below `root`."""
    found: dict[str, tuple[int, int]] = {}
    for path in find_images(root):
        if exclude is not None and exclude in path.parents:
            continue
        try:
            info = path.stat()
        except OSError:
            continue  # vanished between the walk and the stat
        found[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def hash_files(root: Path, relative: list[str]) -> dict[str, str]:
    """Content hashes of many files, read in parallel (hashlib releases the GIL on large buffers)."""
    if len(relative) < 8:
        return {rel: file_hash(root / rel) for rel in relative}
    with ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="lookalike-hash") as pool:
        return dict(zip(relative, pool.map(lambda rel: file_hash(root / rel), relative), strict=True))


def plan_sync(root: Path, rows: dict[str, FileRow], on_disk: dict[str, tuple[int, int]],
              retry_failed: bool = False) -> SyncPlan:
    """The work that brings the catalog in line with `on_disk`: size and mtime first; content
    hashes only for files that are new or whose size or mtime changed."""
    plan = SyncPlan()
    suspects = []
    for rel, (size, mtime) in on_disk.items():
        row = rows.get(rel)
        if row is not None and (row.size, row.mtime_ns) == (size, mtime):
            if row.status == "failed" and retry_failed:
                plan.embed.append(NewFile(rel, size, mtime, row.hash, id=row.id))
            elif row.status == "failed":
                plan.failed_unchanged += 1
            else:
                plan.unchanged += 1
        else:
            suspects.append(rel)
    digests = hash_files(root, suspects)
    fresh: list[NewFile] = []
    for rel in suspects:
        (size, mtime), digest, row = on_disk[rel], digests[rel], rows.get(rel)
        if row is None:
            fresh.append(NewFile(rel, size, mtime, digest))
        elif digest and digest == row.hash and not (row.status == "failed" and retry_failed):
            plan.touches.append((row.id, size, mtime))
        else:
            plan.embed.append(NewFile(rel, size, mtime, digest, id=row.id))
    missing = {rel: row for rel, row in rows.items() if rel not in on_disk}
    by_hash: dict[str, list[FileRow]] = {}
    for row in missing.values():
        if row.hash:
            by_hash.setdefault(row.hash, []).append(row)
    for new in fresh:
        candidates = by_hash.get(new.hash) if new.hash else None
        if candidates:
            moved = candidates.pop(0)
            del missing[moved.path]
            plan.moves.append((moved.id, new.path, new.size, new.mtime_ns))
        else:
            plan.embed.append(new)
    plan.deletes = sorted(row.id for row in missing.values())
    return plan


def count_pending(rows: dict[str, FileRow], on_disk: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(new or changed, deleted) by size and mtime alone: what a sync would look at."""
    changed = sum(1 for rel, stat in on_disk.items()
                  if rel not in rows or (rows[rel].size, rows[rel].mtime_ns) != stat)
    return changed, sum(1 for rel in rows if rel not in on_disk)

