"""The SQLite catalog: one row per file (facts, status, error) and its vector, committed together.

The catalog is the library's source of truth. Vectors live here as float32 blobs beside the file
facts, so one transaction commits both and a crash at any moment leaves either the old or the new
rows; the FAISS index is rebuilt or patched from it. WAL mode lets readers work during a write.
Paths are stored as bytes (os.fsencode of the path relative to the root), so any file name works.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorruptLibraryError

SCHEMA_VERSION = 3
_NOW = "CAST(strftime('%s', 'now') AS REAL)"
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
        error TEXT,
        vector BLOB,
        updated_at REAL NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS REAL)),
        CHECK ((status = 'indexed') = (vector IS NOT NULL))
    );
    CREATE INDEX files_hash ON files(hash);
    CREATE INDEX files_status ON files(status);
    """,
    2: "ALTER TABLE files ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0",
    3: """
    CREATE TABLE distinct_pairs (
        hash_a TEXT NOT NULL,
        hash_b TEXT NOT NULL,
        created REAL NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS REAL)),
        PRIMARY KEY (hash_a, hash_b),
        CHECK (hash_a < hash_b)
    );
    """,
}


@dataclass(frozen=True)
class FileRow:
    """A catalog row without its vector."""

    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str
    status: str
    error: str | None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class NewFile:
    """Facts about a file about to be written to the catalog (id None: a new row)."""

    path: str
    size: int
    mtime_ns: int
    hash: str
    id: int | None = None


def _encode(path: str) -> bytes:
    return os.fsencode(path)


def _decode(raw: bytes) -> str:
    return os.fsdecode(raw)


_ROW_COLUMNS = "id, path, size, mtime_ns, hash, status, error, width, height"


def _row(values: tuple[object, ...]) -> FileRow:
    row_id, path, *facts = values
    return FileRow(int(row_id), _decode(path), *facts)  # type: ignore[arg-type, call-overload]


class Catalog:
    """A connection to one library's catalog.sqlite."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                          check_same_thread=False)
            else:
                self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=10000")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CorruptLibraryError(f"{path}: not a readable catalog ({exc}); nothing was changed") from None
        if version > SCHEMA_VERSION:
            raise CorruptLibraryError(
                f"{path}: catalog schema {version} is newer than this lookalike understands ({SCHEMA_VERSION}); "
                "upgrade lookalike"
            )
        if version < SCHEMA_VERSION and not readonly:
            self._migrate(version)

    def _migrate(self, current: int) -> None:
        with self.transaction():
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in filter(str.strip, _MIGRATIONS[version].split(";")):
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one consistent state."""
        self.db.execute("BEGIN")
        try:
            yield self.db
        finally:
            self.db.execute("COMMIT")

    # meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def generation(self) -> int:
        """A counter bumped by every transaction that changes vectors."""
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        value = self.generation() + 1
        self.set_meta("generation", str(value))
        return value

    # files ------------------------------------------------------------------------------------
    def rows(self) -> dict[str, FileRow]:
        """Every row by relative path."""
        rows = (_row(r) for r in self.db.execute(f"SELECT {_ROW_COLUMNS} FROM files"))
        return {row.path: row for row in rows}

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())

    def failures(self) -> list[FileRow]:
        query = f"SELECT {_ROW_COLUMNS} FROM files WHERE status = 'failed' ORDER BY path"
        return [_row(r) for r in self.db.execute(query)]

    def paths_for(self, ids: Iterable[int]) -> dict[int, str]:
        wanted = [int(i) for i in ids]
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row_id, raw in self.db.execute(f"SELECT id, path FROM files WHERE id IN ({marks})", chunk):
                found[row_id] = _decode(raw)
        return found

    def row_for_path(self, path: str) -> FileRow | None:
        row = self.db.execute(f"SELECT {_ROW_COLUMNS} FROM files WHERE path = ?", (_encode(path),)).fetchone()
        return None if row is None else _row(row)

    def vector_for(self, row_id: int, dim: int) -> np.ndarray | None:
        row = self.db.execute("SELECT vector FROM files WHERE id = ?", (row_id,)).fetchone()
        return None if row is None or row[0] is None else np.frombuffer(row[0], np.float32, dim).copy()

    def vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every indexed file, ordered by id."""
        ids, blobs = [], []
        for row_id, blob in self.db.execute("SELECT id, vector FROM files WHERE status = 'indexed' ORDER BY id"):
            ids.append(row_id)
            blobs.append(blob)
        matrix = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim) if blobs else \
            np.zeros((0, dim), np.float32)
        return np.asarray(ids, dtype=np.int64), matrix.copy()

    def max_id(self) -> int:
        """The largest id ever given to a file (new files get larger ones), 0 when none."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'files'").fetchone()
        return int(row[0]) if row else 0

    def indexed(self, dim: int) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
        """(ids, paths, hashes, vectors) of every indexed file, ordered by id, read in one snapshot;
        the vectors go straight into one array, so memory holds them once."""
        with self.snapshot():
            count = self.db.execute("SELECT COUNT(*) FROM files WHERE status = 'indexed'").fetchone()[0]
            ids = np.empty(count, np.int64)
            vectors = np.empty((count, dim), np.float32)
            paths, hashes = [], []
            query = "SELECT id, path, hash, vector FROM files WHERE status = 'indexed' ORDER BY id"
            for row, (row_id, raw, digest, blob) in enumerate(self.db.execute(query)):
                ids[row] = row_id
                vectors[row] = np.frombuffer(blob, np.float32, dim)
                paths.append(_decode(raw))
                hashes.append(digest)
        return ids, paths, hashes, vectors

    def put_indexed(self, facts: NewFile, vector: np.ndarray, size: tuple[int, int] | None) -> int:
        """Insert or replace a file's row as indexed, with its vector; returns its id."""
        blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
        width, height = size if size else (None, None)
        return self._upsert(facts, "indexed", None, blob, width, height)

    def put_failed(self, facts: NewFile, reason: str) -> int:
        return self._upsert(facts, "failed", reason, None, None, None)

    def _upsert(self, facts: NewFile, status: str, error: str | None, blob: bytes | None,
                width: int | None, height: int | None) -> int:
        values = (_encode(facts.path), facts.size, facts.mtime_ns, facts.hash, width, height, status, error, blob)
        if facts.id is None:
            cursor = self.db.execute(
                "INSERT INTO files(path, size, mtime_ns, hash, width, height, status, error, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            return int(cursor.lastrowid or 0)
        self.db.execute(
            "UPDATE files SET path = ?, size = ?, mtime_ns = ?, hash = ?, width = ?, height = ?, status = ?, "
            f"error = ?, vector = ?, updated_at = {_NOW} WHERE id = ?", (*values, facts.id))
        return facts.id

    def move(self, row_id: int, new_path: str, size: int, mtime_ns: int) -> None:
        self.db.execute("UPDATE files SET path = ?, size = ?, mtime_ns = ?, "
                        f"updated_at = {_NOW} WHERE id = ?", (_encode(new_path), size, mtime_ns, row_id))

    def touch(self, row_id: int, size: int, mtime_ns: int) -> None:
        self.db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, row_id))

    def delete(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM files WHERE id = ?", [(int(i),) for i in ids])

    def export_rows(self) -> Iterator[tuple[int, str, str, int, int, int | None, int | None, bytes]]:
        """(id, path, hash, size, mtime_ns, width, height, vector blob) of every indexed file."""
        query = ("SELECT id, path, hash, size, mtime_ns, width, height, vector FROM files "
                 "WHERE status = 'indexed' ORDER BY id")
        for row in self.db.execute(query):
            yield (row[0], _decode(row[1]), *row[2:])
