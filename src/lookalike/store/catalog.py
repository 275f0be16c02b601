"""The SQLite catalog: one row per file (facts, status, error) and its vector, committed together.

The catalog is the library's source of truth. Vectors live here as float32 blobs beside the file
facts, so one transaction commits both and a crash at any moment leaves either the old or the new
rows; the FAISS index is rebuilt or patched from it. WAL mode lets readers work during a write.
Paths are stored as bytes (os.fsencode of the path relative to the root), so any file name works.

A `Catalog` may be shared by threads: each thread gets its own SQLite connection (a connection
holds one transaction at a time, so sharing one would let one thread's COMMIT end another's
snapshot). All connections are closed by `close()`.

A read-only open uses SQLite's `mode=ro`, and `immutable=1` only where the storage cannot be written
at all (a WAL database needs its -shm file otherwise). An empty or garbage file is reported as a
corrupt catalog and never silently recreated; a new catalog is created by `create=True` only.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import CorruptLibraryError, LibraryError, LibraryLockedError
from .schema import MIGRATIONS as _MIGRATIONS
from .schema import NOW as _NOW
from .schema import SCHEMA_VERSION, FileRow, NewFile


def _encode(path: str) -> bytes:
    return os.fsencode(path)


def _decode(raw: bytes) -> str:
    return os.fsdecode(raw)


_BASE_COLUMNS = "id, path, size, mtime_ns, hash, status, error, width, height"


def _row(values: tuple[object, ...]) -> FileRow:
    row_id, path, *facts = values
    return FileRow(int(row_id), _decode(path), *facts)  # type: ignore[arg-type, call-overload]


def _uri(path: Path, **params: str) -> str:
    from urllib.parse import quote

    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"file:{quote(os.fspath(path.absolute()))}?{query}"


def storage_writable(path: Path) -> bool:
    """Whether the catalog's folder and file can be written by this process (False on read-only
    storage, or without write permission)."""
    folder = path.parent
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _is_disk_full(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "full" in text or "no space" in text


class _ThreadMark:
    """Lives in a thread's local storage; its finalizer closes that thread's connection."""


class Catalog:
    """One library's catalog.sqlite, with one connection per thread that uses it."""

    def __init__(self, path: Path, readonly: bool = False, create: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._immutable = False
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        if not create and not path.is_file():
            raise CorruptLibraryError("the catalog is missing or not a regular file; nothing was changed", path=path)
        if not create and path.stat().st_size == 0:
            raise CorruptLibraryError(
                "the catalog is empty (0 bytes), so the library's records are lost; nothing was changed; "
                "move the library folder away and index again", path=path, empty=True,
            )
        if not readonly and not create and not storage_writable(path):
            raise LibraryError(
                "this library cannot be written here (read-only storage or no write permission); "
                "read commands (status, search --library, export) still work", path=path.parent, read_only=True,
            )
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            has_meta = self.db.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'files')"
            ).fetchone()[0] == 2
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CorruptLibraryError(f"not a readable catalog ({exc}); nothing was changed", path=path) from None
        if version > SCHEMA_VERSION:
            self.close()
            raise CorruptLibraryError(
                f"catalog schema {version} is newer than this lookalike understands ({SCHEMA_VERSION}); "
                "upgrade lookalike", path=path,
            )
        if not create and (version == 0 or not has_meta):
            self.close()
            raise CorruptLibraryError("not a lookalike catalog (no tables); nothing was changed", path=path)
        if version < SCHEMA_VERSION and not readonly:
            self._migrate(version)
            version = SCHEMA_VERSION
        self.version = version  # a read-only open of an older catalog keeps its version
        ctime = "ctime_ns" if version >= 2 else "0"
        self._row_columns = f"{_BASE_COLUMNS}, {ctime}"

    def _migrate(self, current: int) -> None:
        with self.transaction():
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in filter(str.strip, _MIGRATIONS[version].split(";")):
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        if not self.readonly:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=10000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            return db
        if not self._immutable:
            db = sqlite3.connect(_uri(self.path, mode="ro"), uri=True, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=10000")
            try:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:
                db.close()
                if storage_writable(self.path):
                    raise
            self._immutable = True
        # Nobody can write this storage (so no commit can be hidden): read it as an immutable file.
        return sqlite3.connect(_uri(self.path, mode="ro", immutable="1"), uri=True, isolation_level=None,
                               check_same_thread=False)

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            with self._guard:
                if self._closed:
                    raise sqlite3.ProgrammingError(f"catalog {self.path} is closed")
                db = self._connect()
                self._connections.append(db)
            self._local.db = db
            # the thread-local value dies with its thread: close the connection then, not at close()
            self._local.owner = _ThreadMark()
            weakref.finalize(self._local.owner, self._release, db)
        return db

    def _release(self, db: sqlite3.Connection) -> None:
        """Close one thread's connection (its thread has ended)."""
        with self._guard:
            if db in self._connections:
                self._connections.remove(db)
            else:
                return
        db.close()

    def open_connections(self) -> int:
        """How many connections are open (one per live thread that used the catalog)."""
        with self._guard:
            return len(self._connections)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._guard:
            self._closed = True
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception. A full disk or read-only
        storage becomes one `LibraryError` (the catalog keeps its last committed state)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if _is_disk_full(exc):
                raise LibraryError(
                    "no space left on device writing it; nothing indexed was lost (free some space and run "
                    "`lookalike index` again)", path=self.path, disk_full=True,
                ) from None
            if "locked" in str(exc).lower():
                raise LibraryLockedError(
                    "the catalog is locked by another process; try again when it has finished", path=self.path,
                ) from None
            if "readonly" in str(exc).lower():
                raise LibraryError(f"the library cannot be written here ({exc})", path=self.path,
                                   unwritable=True) from None
            raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one consistent state. Nested snapshots (or one
        inside a write transaction) share the outer one."""
        db = self.db
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN")
        try:
            yield db
        finally:
            if db.in_transaction:  # SQLite may already have ended it after an error
                db.execute("COMMIT")

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
        rows = (_row(r) for r in self.db.execute(f"SELECT {self._row_columns} FROM files"))
        return {row.path: row for row in rows}

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall())

    def failures(self) -> list[FileRow]:
        query = f"SELECT {self._row_columns} FROM files WHERE status = 'failed' ORDER BY path"
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

    def rows_for_ids(self, ids: Iterable[int]) -> dict[int, FileRow]:
        """The rows of these ids (unknown ids are absent)."""
        wanted = [int(i) for i in ids]
        found: dict[int, FileRow] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for values in self.db.execute(f"SELECT {self._row_columns} FROM files WHERE id IN ({marks})", chunk):
                row = _row(values)
                found[row.id] = row
        return found

    def iter_vectors(self, dim: int, chunk: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of the indexed files in id order, `chunk` rows at a time, all from one
        committed state. The iterator reads through a connection of its own (closed when it ends or
        is dropped), so it may be consumed slowly, partly, or from another thread."""
        db = self._connect()
        try:
            db.execute("BEGIN")
            cursor = db.execute("SELECT id, vector FROM files WHERE status = 'indexed' ORDER BY id")
            while True:
                rows = cursor.fetchmany(chunk)
                if not rows:
                    return
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                yield ids, np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim).copy()
        finally:
            db.close()

    def row_for_path(self, path: str) -> FileRow | None:
        row = self.db.execute(f"SELECT {self._row_columns} FROM files WHERE path = ?", (_encode(path),)).fetchone()
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
        values = (_encode(facts.path), facts.size, facts.mtime_ns, facts.ctime_ns, facts.hash, width, height,
                  status, error, blob)
        if facts.id is None:
            cursor = self.db.execute(
                "INSERT INTO files(path, size, mtime_ns, ctime_ns, hash, width, height, status, error, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            return int(cursor.lastrowid or 0)
        self.db.execute(
            "UPDATE files SET path = ?, size = ?, mtime_ns = ?, ctime_ns = ?, hash = ?, width = ?, height = ?, "
            f"status = ?, error = ?, vector = ?, updated_at = {_NOW} WHERE id = ?", (*values, facts.id))
        return facts.id

    def move(self, row_id: int, new_path: str, size: int, mtime_ns: int, ctime_ns: int = 0) -> None:
        self.db.execute("UPDATE files SET path = ?, size = ?, mtime_ns = ?, ctime_ns = ?, "
                        f"updated_at = {_NOW} WHERE id = ?", (_encode(new_path), size, mtime_ns, ctime_ns, row_id))

    def touch(self, row_id: int, size: int, mtime_ns: int, ctime_ns: int = 0) -> None:
        self.db.execute("UPDATE files SET size = ?, mtime_ns = ?, ctime_ns = ? WHERE id = ?",
                        (size, mtime_ns, ctime_ns, row_id))

    def delete(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM files WHERE id = ?", [(int(i),) for i in ids])
