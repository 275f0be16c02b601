"""Writing to a PostgreSQL library: a sync (the same scan and change detection as `Library`, videos
included, the files embedded by any engine of store.engine: this process, or Ray), and bulk loads.
Each chunk of rows goes in ONE transaction (binary COPY into a temporary table, then INSERT ... ON
CONFLICT, then the videos' frames), so a killed writer leaves only whole committed chunks and never a
video without its frames."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import Embedder
from ..pipeline import PipelineOptions
from .base import Checkpoint, SyncReport
from .engine import EmbedEngine, FileFacts, local_engine
from .postgres_frames import FrameRows, write_frames
from .postgres_schema import LibraryRow, PgHalfvec, PgVector, hnsw_index_sql
from .scan import plan_sync, scan_folder
from .schema import FileRow, NewFile

_COLUMNS = ("path", "size", "mtime_ns", "ctime_ns", "hash", "width", "height", "status", "error", "time", "vector")
_TYPES = ("bytea", "int8", "int8", "int8", "text", "int4", "int4", "text", "text", "float8")

Record = tuple[Any, ...]  # one row in _COLUMNS order


def read_rows(conn: Any, library: LibraryRow) -> dict[str, FileRow]:
    """Every catalog row of a library by relative path."""
    rows = conn.execute(f"SELECT id, path, size, mtime_ns, hash, status, error, width, height, ctime_ns "
                        f"FROM {library.files}").fetchall()
    return {os.fsdecode(bytes(r[1])): FileRow(int(r[0]), os.fsdecode(bytes(r[1])), *r[2:]) for r in rows}


def write_records(conn: Any, library: LibraryRow, records: Sequence[Record],
                  before_commit: Callable[[], None] | None = None, frames: FrameRows | None = None) -> dict[str, int]:
    """Insert or replace rows (by path) and their videos' frames 1.. (`frames`; a re-written row's old
    frames are dropped) in one transaction; returns relative path -> id."""
    if not records:
        return {}
    wrap = PgHalfvec if library.vector_type == "halfvec" else PgVector
    with conn.transaction():
        conn.execute(f"CREATE TEMP TABLE incoming ON COMMIT DROP AS SELECT {', '.join(_COLUMNS)} "
                     f"FROM {library.files} WITH NO DATA")  # no id column: ids come from the table only
        with conn.cursor() as cursor:
            columns = ", ".join(_COLUMNS)
            with cursor.copy(f"COPY incoming ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([*_TYPES, library.vector_type])
                for record in records:
                    vector = record[-1]
                    copy.write_row((*record[:-1], wrap(vector) if vector is not None else None))
        conn.execute(f"DELETE FROM {library.frames} fr USING incoming i JOIN {library.files} f ON f.path = i.path "
                     "WHERE fr.file_id = f.id")  # a re-written row's old frames (the new ones follow)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
        written = conn.execute(f"INSERT INTO {library.files} ({columns}) SELECT {columns} FROM incoming "
                               f"ON CONFLICT (path) DO UPDATE SET {updates} RETURNING id, path").fetchall()
        ids = {os.fsdecode(bytes(path)): int(row_id) for row_id, path in written}
        write_frames(conn, library, ids, frames or {})
        if before_commit is not None:
            before_commit()
    return ids


def bulk_load(conn: Any, library: LibraryRow, files: Sequence[NewFile], vectors: np.ndarray,
              sizes: Sequence[tuple[int, int] | None] | None = None) -> None:
    """Load ready vectors in one transaction; into an empty library the HNSW index is built once
    after the COPY (much faster than growing it row by row)."""
    records: list[Record] = []
    for i, f in enumerate(files):
        width, height = (sizes[i] or (None, None)) if sizes else (None, None)
        records.append((os.fsencode(f.path), f.size, f.mtime_ns, f.ctime_ns, f.hash, width, height, "indexed",
                        None, None, vectors[i]))
    with conn.transaction():
        empty = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {library.files})").fetchone()[0]
        if empty:
            conn.execute(f"DROP INDEX IF EXISTS {library.files}_hnsw")
        write_records(conn, library, records)  # a nested transaction: a savepoint of this one
        if empty:
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            conn.execute(hnsw_index_sql(library))


class PostgresSyncer:
    """One sync of a PostgreSQL library (the caller holds the writer lock)."""

    def __init__(self, conn: Any, library: LibraryRow, root: Path, embedder: Callable[[], Embedder],
                 checkpoint: Checkpoint | None = None) -> None:
        self.conn, self.library, self.root, self.embedder = conn, library, root, embedder
        self.checkpoint = checkpoint or (lambda name: None)

    def run(self, retry_failed: bool = False, options: PipelineOptions | None = None,
            rehash: bool = False, engine: EmbedEngine | None = None) -> SyncReport:
        started = time.perf_counter()
        report = SyncReport()
        rows = read_rows(self.conn, self.library)
        scan = scan_folder(self.root, videos=True)
        plan = plan_sync(self.root, rows, scan, retry_failed, rehash=rehash)
        report.unreadable = scan.problems + plan.kept_unreadable
        report.unchanged = plan.unchanged + plan.failed_unchanged
        files = self.library.files
        if plan.moves or plan.touches or plan.deletes:
            with self.conn.transaction():
                for row_id, path, size, mtime, ctime in plan.moves:
                    self.conn.execute(f"UPDATE {files} SET path = %s, size = %s, mtime_ns = %s, ctime_ns = %s "
                                      "WHERE id = %s", (os.fsencode(path), size, mtime, ctime, row_id))
                for row_id, size, mtime, ctime in plan.touches:
                    self.conn.execute(f"UPDATE {files} SET size = %s, mtime_ns = %s, ctime_ns = %s WHERE id = %s",
                                      (size, mtime, ctime, row_id))
                if plan.deletes:
                    self.conn.execute(f"DELETE FROM {files} WHERE id = ANY(%s)", (plan.deletes,))
            report.moved, report.touched, report.deleted = len(plan.moves), len(plan.touches), len(plan.deletes)
        if plan.embed:
            self._embed(plan.embed, engine or local_engine(self.embedder, options), report)
        report.seconds = time.perf_counter() - started
        return report

    def _embed(self, wanted: list[NewFile], engine: EmbedEngine, report: SyncReport) -> None:
        """Embed `wanted` with `engine`; each batch it gives back is one COPY transaction."""
        by_path = {self.root / f.path: f for f in wanted}
        todo = [FileFacts(path, f.path, f.hash, f.size, f.mtime_ns, f.ctime_ns) for path, f in by_path.items()]
        for batch in engine(self.root, todo):
            records: list[Record] = []
            frames: FrameRows = {}
            rows_of: dict[Path, list[int]] = {}  # a video: several rows (its frames, in order), one file
            for row, path in enumerate(batch.paths):
                rows_of.setdefault(path, []).append(row)
            for path, rows in rows_of.items():
                facts, size = by_path[path], batch.sizes[rows[0]] if batch.sizes else None
                times: list[float | None] = [batch.times[r] for r in rows] if batch.times else [None]
                records.append((os.fsencode(facts.path), facts.size, facts.mtime_ns, facts.ctime_ns, facts.hash,
                                *(size or (None, None)), "indexed", None, times[0], batch.vectors[rows[0]]))
                if len(rows) > 1:
                    frames[facts.path] = (times[1:], batch.vectors[rows[1:]])
            for failure in batch.failures:
                facts = by_path[Path(failure.path or "")]
                records.append((os.fsencode(facts.path), facts.size, facts.mtime_ns, facts.ctime_ns, facts.hash,
                                None, None, "failed", failure.reason, None, None))
            ids = write_records(self.conn, self.library, records, lambda: self.checkpoint("chunk-written"), frames)
            for path in rows_of:
                facts = by_path[path]
                report.updated += facts.id is not None
                report.added += facts.id is None
                if facts.id is None:
                    report.added_ids.append(ids[facts.path])
            report.embedded += len(rows_of)
            report.failures.extend(batch.failures)
            self.checkpoint("chunk-committed")
