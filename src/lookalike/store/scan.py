"""Change detection: compare the files under a root with the catalog by size, mtime and ctime, then
by content hash, to find what is new, changed, moved, deleted or unchanged.

Only regular files are hashed (FIFOs and devices are never opened). A folder that cannot be listed,
or a file that cannot be read, is reported and its catalog rows are kept: unreadable is not deleted.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageReadError
from ..images import find_images, open_regular
from ..system import available_cores
from ..video import is_video, video_supported
from .catalog import FileRow, NewFile

Stat = tuple[int, int, int]  # size, mtime_ns, ctime_ns


@dataclass
class SyncPlan:
    """What a sync must do; `embed` holds new files and files whose content changed."""

    embed: list[NewFile] = field(default_factory=list)
    moves: list[tuple[int, str, int, int, int]] = field(default_factory=list)  # id, new path, size, mtime, ctime
    touches: list[tuple[int, int, int, int]] = field(default_factory=list)  # id, size, mtime, ctime (same content)
    deletes: list[int] = field(default_factory=list)
    unchanged: int = 0
    failed_unchanged: int = 0
    kept_unreadable: list[ImageReadError] = field(default_factory=list)  # rows kept: could not be read


@dataclass
class FolderScan:
    """The image files below a root with their stat facts, and what could not be looked at."""

    files: dict[str, Stat] = field(default_factory=dict)
    unreadable_dirs: list[str] = field(default_factory=list)  # relative folders that could not be listed
    problems: list[ImageReadError] = field(default_factory=list)
    videos_unread: bool = False  # videos were wanted but PyAV is missing: indexed ones are kept

    def hides(self, rel: str) -> bool:
        """Whether `rel` lies in a folder that could not be listed, or is a video this install cannot
        read (so its absence means nothing)."""
        return (self.videos_unread and is_video(rel)) or \
            any(d == "" or rel.startswith(d + "/") for d in self.unreadable_dirs)


def file_hash(path: Path) -> str:
    """SHA-256 of the content, or '' when the file cannot be read or is not a regular file (decode
    will report why)."""
    try:
        fd = open_regular(path)
    except ImageReadError:
        return ""
    try:
        with os.fdopen(fd, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


def scan_folder(root: Path, exclude: Path | None = None, videos: bool = False) -> FolderScan:
    """Stat every image file below `root` (and with `videos` every video file, where PyAV is
    installed); unlistable folders are recorded, never skipped silently."""
    scan = FolderScan(videos_unread=videos and not video_supported())

    def unreadable(error: ImageReadError) -> None:
        try:
            rel = Path(error.path or root).relative_to(root).as_posix()
        except ValueError:
            return
        scan.unreadable_dirs.append("" if rel == "." else rel)
        scan.problems.append(error)

    for path in find_images(root, on_error=unreadable, videos=videos):
        if exclude is not None and (exclude in path.parents or path == exclude):
            continue
        try:
            info = path.stat()
        except OSError:
            try:  # a link loop or a dangling link: listed with the link's own facts, so decode reports it
                info = path.lstat()
            except OSError:
                continue  # vanished between the walk and the stat
        scan.files[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return scan


def stat_files(root: Path, exclude: Path | None = None) -> dict[str, Stat]:
    """Relative path -> (size, mtime_ns, ctime_ns) of every image file below `root`."""
    return scan_folder(root, exclude).files


def hash_files(root: Path, relative: list[str]) -> dict[str, str]:
    """Content hashes of many files, read in parallel (hashlib releases the GIL on large buffers)."""
    if len(relative) < 8:
        return {rel: file_hash(root / rel) for rel in relative}
    with ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="lookalike-hash") as pool:
        return dict(zip(relative, pool.map(lambda rel: file_hash(root / rel), relative), strict=True))


def _same_facts(row: FileRow, facts: Stat) -> bool:
    """Size, mtime and ctime unchanged (a row from before ctime was recorded compares without it)."""
    if row.ctime_ns == 0:
        return (row.size, row.mtime_ns) == facts[:2]
    return (row.size, row.mtime_ns, row.ctime_ns) == facts


def plan_sync(root: Path, rows: dict[str, FileRow], on_disk: dict[str, Stat] | FolderScan,
              retry_failed: bool = False, rehash: bool = False) -> SyncPlan:
    """The work that brings the catalog in line with `on_disk`: size, mtime and ctime first; content
    hashes only for files that are new or whose facts changed (every file with `rehash`)."""
    scan = on_disk if isinstance(on_disk, FolderScan) else FolderScan(files=dict(on_disk))
    files = scan.files
    plan = SyncPlan()
    suspects = []
    for rel, facts in files.items():
        row = rows.get(rel)
        if row is not None and not rehash and _same_facts(row, facts):
            if row.status == "failed" and retry_failed:
                plan.embed.append(NewFile(rel, *facts[:2], row.hash, id=row.id, ctime_ns=facts[2]))
            elif row.status == "failed":
                plan.failed_unchanged += 1
            else:
                plan.unchanged += 1
            if row.ctime_ns == 0:  # catalog from before ctime was recorded: start recording it
                plan.touches.append((row.id, *facts))
        else:
            suspects.append(rel)
    digests = hash_files(root, suspects)
    fresh: list[NewFile] = []
    for rel in suspects:
        (size, mtime, ctime), digest, row = files[rel], digests[rel], rows.get(rel)
        if row is None:
            fresh.append(NewFile(rel, size, mtime, digest, ctime_ns=ctime))
        elif not digest and row.status == "indexed" and os.path.lexists(root / rel):
            plan.kept_unreadable.append(ImageReadError(root / rel, "cannot be read now; its indexed vector is kept"))
        elif digest and digest == row.hash and not (row.status == "failed" and retry_failed):
            plan.touches.append((row.id, size, mtime, ctime))
        else:
            plan.embed.append(NewFile(rel, size, mtime, digest, id=row.id, ctime_ns=ctime))
    missing = {rel: row for rel, row in rows.items() if rel not in files and not scan.hides(rel)}
    by_hash: dict[str, list[FileRow]] = {}
    for row in missing.values():
        if row.hash:
            by_hash.setdefault(row.hash, []).append(row)
    for new in fresh:
        candidates = by_hash.get(new.hash) if new.hash else None
        if candidates:
            moved = candidates.pop(0)
            del missing[moved.path]
            plan.moves.append((moved.id, new.path, new.size, new.mtime_ns, new.ctime_ns))
        else:
            plan.embed.append(new)
    plan.deletes = sorted(row.id for row in missing.values())
    return plan


def count_pending(rows: dict[str, FileRow], on_disk: dict[str, Stat] | FolderScan) -> tuple[int, int]:
    """(new or changed, deleted) by stat facts alone: what a sync would look at."""
    scan = on_disk if isinstance(on_disk, FolderScan) else FolderScan(files=dict(on_disk))
    changed = sum(1 for rel, facts in scan.files.items() if rel not in rows or not _same_facts(rows[rel], facts))
    return changed, sum(1 for rel in rows if rel not in scan.files and not scan.hides(rel))
