"""A sync: bring a library's catalog and index in line with its folder.

Data flow: scan (stat, then hash what looks changed) -> moves, touches and deletes in one
transaction -> embed new/changed files in chunks, each chunk's rows and vectors committed in one
transaction -> the FAISS index patched (or rebuilt) and saved atomically with its manifest. The
catalog is the source of truth; an index whose manifest generation differs from the catalog's is
stale and is rebuilt from it, so a kill at any moment loses at most the chunk in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..embedders import Embedder
from ..pipeline import PipelineOptions
from .base import Checkpoint, SyncReport
from .catalog import Catalog, FileRow
from .engine import EmbedEngine, FileFacts, local_engine
from .frames import drop_frames, frame_items, put_frames
from .index_keeper import IndexKeeper, _no_checkpoint
from .layout import LibraryPaths
from .lock import writer_lock
from .scan import SyncPlan, plan_sync, scan_folder
from .vectors import IndexParams, remove_stale_temp_files


class Syncer:
    """Runs one sync of a library (the caller passes the library's parts)."""

    def __init__(self, paths: LibraryPaths, catalog: Catalog, keeper: IndexKeeper, root: Path,
                 embedder: Callable[[], Embedder], checkpoint: Checkpoint | None = None) -> None:
        self.paths = paths
        self.catalog = catalog
        self.keeper = keeper
        self.root = root
        self.embedder = embedder
        self.checkpoint = checkpoint or _no_checkpoint

    def run(self, retry_failed: bool = False, options: PipelineOptions | None = None,
            index_params: IndexParams | None = None, rebuild_index: bool = False,
            rehash: bool = False, engine: EmbedEngine | None = None) -> SyncReport:
        """Embed only new or changed files, keep moved files' vectors, drop deleted files; then bring
        the index up to date (or rebuild it when asked or when the index type must change).
        Folders and files that cannot be read now keep their rows (`report.unreadable`).
        `engine` embeds the files (default: the in-process pipeline; see store.engine)."""
        started = time.perf_counter()
        report = SyncReport()
        with writer_lock(self.paths.lock):
            remove_stale_temp_files(self.paths.directory)  # of killed runs: no other writer exists now
            current = None if rebuild_index else self.keeper.saved_index()
            generation_before = self.catalog.generation()
            rows = self.catalog.rows()
            scan = scan_folder(self.root, exclude=self.paths.directory, videos=True)
            plan = plan_sync(self.root, rows, scan, retry_failed, rehash=rehash)
            report.unreadable = scan.problems + plan.kept_unreadable
            report.unchanged = plan.unchanged + plan.failed_unchanged
            removed = self._apply_bookkeeping(plan, rows, report)
            added_ids, added_vectors = self._embed_plan(plan, engine or local_engine(self.embedder, options),
                                                          report)
            wanted = index_params if index_params is not None and (
                current is None or index_params != current.requested) else None
            if self.catalog.generation() != generation_before or current is None or wanted is not None:
                report.index_rebuilt = self.keeper.update(current, removed, added_ids, added_vectors, wanted,
                                                          self.checkpoint)
            elif current is not None:
                self.keeper.install(current, generation_before)
        report.seconds = time.perf_counter() - started
        return report

    def _apply_bookkeeping(self, plan: SyncPlan, rows: dict[str, FileRow], report: SyncReport) -> np.ndarray:
        """Moves, touches and deletions in one transaction; returns the ids whose vectors leave the
        index (deleted files, and indexed files about to be re-embedded)."""
        replaced = [f.id for f in plan.embed if f.id is not None and rows[f.path].status == "indexed"]
        replaced += frame_items(self.catalog, replaced)  # a re-embedded video's other frames leave too
        if not (plan.moves or plan.touches or plan.deletes):
            return np.asarray(replaced, dtype=np.int64)
        deleted = plan.deletes + frame_items(self.catalog, plan.deletes)
        with self.catalog.transaction():
            for row_id, path, size, mtime, ctime in plan.moves:
                self.catalog.move(row_id, path, size, mtime, ctime)
            for row_id, size, mtime, ctime in plan.touches:
                self.catalog.touch(row_id, size, mtime, ctime)
            if plan.deletes:
                self.catalog.delete(plan.deletes)
                drop_frames(self.catalog, plan.deletes)
                self.catalog.bump_generation()
        report.moved, report.touched, report.deleted = len(plan.moves), len(plan.touches), len(plan.deletes)
        return np.asarray(replaced + deleted, dtype=np.int64)

    def _embed_plan(self, plan: SyncPlan, engine: EmbedEngine,
                    report: SyncReport) -> tuple[list[int], list[np.ndarray]]:
        """Embed `plan.embed` chunk by chunk, committing each chunk's rows and vectors together."""
        if not plan.embed:
            return [], []
        by_path = {self.root / f.path: f for f in plan.embed}
        todo = [FileFacts(path, f.path, f.hash, f.size, f.mtime_ns, f.ctime_ns) for path, f in by_path.items()]
        added_ids: list[int] = []
        added_vectors: list[np.ndarray] = []
        for batch in engine(self.root, todo):
            with self.catalog.transaction():
                for path, rows in _by_file(batch.paths):  # a video: several frames, one file row
                    facts, vectors = by_path[path], batch.vectors[rows]
                    row_id = self.catalog.put_indexed(facts, vectors[0], batch.sizes[rows[0]])
                    times = [batch.times[r] for r in rows] if batch.times else [None]
                    added_ids.extend(put_frames(self.catalog, row_id, times, vectors))
                    added_vectors.extend(vectors)
                    report.updated += facts.id is not None
                    report.added += facts.id is None
                    if facts.id is None:
                        report.added_ids.append(row_id)
                for failure in batch.failures:
                    facts = by_path[Path(failure.path or "")]
                    self.catalog.put_failed(facts, failure.reason)
                    drop_frames(self.catalog, [facts.id] if facts.id is not None else [])
                self.catalog.bump_generation()
            report.embedded += len(set(batch.paths))
            report.failures.extend(batch.failures)
            self.checkpoint("chunk-committed")
        return added_ids, added_vectors


def _by_file(paths: list[Path]) -> list[tuple[Path, list[int]]]:
    """Each file of a batch with the rows of its vectors (a video's frames are consecutive)."""
    found: dict[Path, list[int]] = {}
    for row, path in enumerate(paths):
        found.setdefault(path, []).append(row)
    return list(found.items())
