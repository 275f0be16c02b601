"""The catalog's schema: one migration per version (applied in order inside one transaction;
`PRAGMA user_version` records the version a catalog has reached), and the row types."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 5
FRAMES_VERSION = 4  # the migration that added videos (files.time, frames): keep it a step of its own
VERDICTS_VERSION = 5  # the migration that added the photo-level verdict cache (pair_verdicts)
NOW = "CAST(strftime('%s', 'now') AS REAL)"
MIGRATIONS: dict[int, str] = {
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
    # videos: the first sampled frame's moment on the file row (NULL for a photo), the other frames here
    FRAMES_VERSION: """
    ALTER TABLE files ADD COLUMN time REAL;
    CREATE TABLE frames (
        file_id INTEGER NOT NULL,
        n INTEGER NOT NULL CHECK (n >= 1),
        time REAL NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (file_id, n)
    );
    """,
    # duplicates: photo-level checks by content-hash pair, so a second run reuses them
    VERDICTS_VERSION: """
    CREATE TABLE pair_verdicts (
        hash_a TEXT NOT NULL,
        hash_b TEXT NOT NULL,
        method TEXT NOT NULL,
        inliers INTEGER NOT NULL,
        agreement REAL NOT NULL,
        created REAL NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS REAL)),
        PRIMARY KEY (hash_a, hash_b, method),
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
    ctime_ns: int = 0


@dataclass(frozen=True)
class NewFile:
    """Facts about a file about to be written to the catalog (id None: a new row)."""

    path: str
    size: int
    mtime_ns: int
    hash: str
    id: int | None = None
    ctime_ns: int = 0
