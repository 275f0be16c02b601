"""The PostgreSQL side of `PostgresStore`: connecting, the pgvector types in binary form, and the
schema (created under an advisory transaction lock, so processes starting together on an empty
database are safe).

Tables: `lookalike_libraries` (one row per (root, model): spec, meta, vector type) and, per library
N, `lookalike_files_N` (file facts + a `vector(dim)` or `halfvec(dim)` column with an HNSW index,
cosine; `time`: a video's first sampled moment, NULL for a photo), `lookalike_frames_N` (a video's
frames 1.. (file_id, n, time, vector), HNSW-indexed the same way, dropped with their file row by the
foreign key; added under the schema lock to stores from before videos), `lookalike_distinct_N` (the
"not a duplicate" decisions) and `lookalike_verdicts_N` (the photo-level checks of duplicate pairs,
by content hashes; created on first use in older stores). One table per library keeps the column's
dimension fixed, so the HNSW index and every query work on it directly.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import PosixPath
from typing import Any

import numpy as np

from ..embedders import EmbeddingSpec
from ..errors import LibraryError

LOCK_CLASS = 0x10CA  # first key of every advisory lock this store takes
SCHEMA_KEY = 0  # second key of the schema lock; a library's writer lock uses its id
VECTOR_TYPES = ("vector", "halfvec")
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64


class PgVector:
    """A float32 vector to send as pgvector's `vector` (binary)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values


class PgHalfvec(PgVector):
    """A vector to send as pgvector's `halfvec` (binary, float16)."""


def _adapters(oid: int, kind: str) -> tuple[type, type]:
    """Binary dumper and loader classes for pgvector's `vector` or `halfvec` with this oid."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format

    wire = ">f2" if kind == "halfvec" else ">f4"

    class VectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Any) -> bytes:
            values = np.asarray(obj.values, dtype=wire)
            return struct.pack(">HH", values.shape[0], 0) + values.tobytes()

    class VectorLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            return np.frombuffer(bytes(data)[4:], dtype=wire).astype(np.float32)

    VectorDumper.oid = oid
    return VectorDumper, VectorLoader


def connect(url: str, ensure: bool = True) -> Any:
    """An autocommit connection with pgvector's types registered; `ensure`: create the extension and
    the libraries table first when missing."""
    import psycopg
    from psycopg.types import TypeInfo

    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise LibraryError(f"cannot connect to the store ({str(exc).strip().splitlines()[0]})",
                           store=redact(url)) from None
    if ensure:
        ensure_extension(conn)
    for kind, python_type in (("vector", PgVector), ("halfvec", PgHalfvec)):
        info = TypeInfo.fetch(conn, kind)
        assert info is not None  # the extension exists
        info.register(conn)
        dumper, loader = _adapters(info.oid, kind)
        conn.adapters.register_dumper(python_type, dumper)
        conn.adapters.register_loader(info.oid, loader)
    return conn


def split_url(url: str) -> tuple[str, str | None]:
    """(the URL for PostgreSQL, the vector type its `vector=vector|halfvec` parameter asks for)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kinds = [value for key, value in query if key == "vector"]
    if kinds and kinds[-1] not in VECTOR_TYPES:
        raise LibraryError(f"vector={kinds[-1]} in the store URL: choose vector or halfvec", argument="store")
    rest = urlencode([(key, value) for key, value in query if key != "vector"], safe="/")
    return urlunsplit(parts._replace(query=rest)), (kinds[-1] if kinds else None)


class UrlLocation(PosixPath):
    """A store URL where the protocol wants a `Path` (`VectorStore.location`): printed, formatted and
    passed to `os.fspath` exactly as given (a plain Path would collapse its `//`)."""

    _url: str

    def __new__(cls, url: str) -> UrlLocation:
        made = super().__new__(cls, url)
        made._url = url
        return made

    def __str__(self) -> str:
        return self._url

    def __fspath__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"UrlLocation({self._url!r})"


def redact(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def ensure_extension(conn: Any) -> None:
    """pgvector and the libraries table, created once even when processes start together; a look
    only when they exist (a role that may only read cannot run CREATE, even with IF NOT EXISTS)."""
    present = conn.execute("SELECT to_regclass('lookalike_libraries') IS NOT NULL AND EXISTS "
                           "(SELECT 1 FROM pg_extension WHERE extname = 'vector')").fetchone()
    if present[0]:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, SCHEMA_KEY))
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("""CREATE TABLE IF NOT EXISTS lookalike_libraries (
            id SERIAL PRIMARY KEY, root BYTEA NOT NULL, model TEXT NOT NULL, spec JSONB NOT NULL,
            meta JSONB NOT NULL DEFAULT '{}'::jsonb, vector_type TEXT NOT NULL DEFAULT 'vector',
            UNIQUE (root, model))""")


@dataclass(frozen=True)
class LibraryRow:
    """One library of the store."""

    id: int
    root: str
    spec: EmbeddingSpec
    vector_type: str

    @property
    def files(self) -> str:
        return f"lookalike_files_{self.id}"

    @property
    def frames(self) -> str:
        return f"lookalike_frames_{self.id}"

    @property
    def distinct(self) -> str:
        return f"lookalike_distinct_{self.id}"

    @property
    def verdicts(self) -> str:
        return f"lookalike_verdicts_{self.id}"


def verdicts_table_sql(library: LibraryRow) -> str:
    """The statement that creates a library's verdicts table when it is missing."""
    return (f"CREATE TABLE IF NOT EXISTS {library.verdicts} (hash_a TEXT NOT NULL, hash_b TEXT NOT NULL, "
            "method TEXT NOT NULL, inliers INTEGER NOT NULL, agreement DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (hash_a, hash_b, method))")


def _library(values: tuple[Any, ...]) -> LibraryRow:
    row_id, root, spec, kind = values
    data = spec if isinstance(spec, dict) else json.loads(spec)
    return LibraryRow(int(row_id), os.fsdecode(bytes(root)), EmbeddingSpec.from_dict(data), kind)


def find_libraries(conn: Any, root: str) -> list[LibraryRow]:
    """Every library of `root` in the store."""
    rows = conn.execute("SELECT id, root, spec, vector_type FROM lookalike_libraries WHERE root = %s ORDER BY model",
                        (os.fsencode(root),)).fetchall()
    return [_library(r) for r in rows]


def create_library(conn: Any, root: str, spec: EmbeddingSpec, vector_type: str = "vector") -> LibraryRow:
    """The library of (root, spec.model), created with its tables unless another process did first."""
    if vector_type not in VECTOR_TYPES:
        raise LibraryError(f"unknown vector type '{vector_type}': choose vector or halfvec", argument="vector_type")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, SCHEMA_KEY))
        found = conn.execute("SELECT id, root, spec, vector_type FROM lookalike_libraries WHERE root = %s AND "
                             "model = %s", (os.fsencode(root), spec.model)).fetchone()
        if found is not None:
            return _library(found)
        row_id = conn.execute("INSERT INTO lookalike_libraries (root, model, spec, vector_type) VALUES "
                              "(%s, %s, %s::jsonb, %s) RETURNING id",
                              (os.fsencode(root), spec.model, spec.to_json(), vector_type)).fetchone()[0]
        made = LibraryRow(int(row_id), root, spec, vector_type)
        ops = "halfvec_cosine_ops" if vector_type == "halfvec" else "vector_cosine_ops"
        conn.execute(f"""CREATE TABLE {made.files} (
            id BIGSERIAL PRIMARY KEY, path BYTEA NOT NULL UNIQUE, size BIGINT NOT NULL,
            mtime_ns BIGINT NOT NULL, ctime_ns BIGINT NOT NULL DEFAULT 0, hash TEXT NOT NULL,
            width INTEGER, height INTEGER, status TEXT NOT NULL, error TEXT,
            vector {vector_type}({spec.dim}))""")
        conn.execute(hnsw_index_sql(made, ops))
        _create_frames(conn, made)
        conn.execute(f"CREATE TABLE {made.distinct} (hash_a TEXT NOT NULL, hash_b TEXT NOT NULL, "
                     "PRIMARY KEY (hash_a, hash_b))")
        conn.execute(verdicts_table_sql(made))
    return made


def hnsw_index_sql(library: LibraryRow, ops: str | None = None, table: str | None = None) -> str:
    """The statement that builds the HNSW index (cosine) of a library's files (or `table`: its frames)."""
    ops = ops or ("halfvec_cosine_ops" if library.vector_type == "halfvec" else "vector_cosine_ops")
    table = table or library.files
    return (f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} USING hnsw (vector {ops}) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")


def _create_frames(conn: Any, library: LibraryRow) -> None:
    """The frames table of a library and its HNSW index (inside a transaction holding the schema lock)."""
    conn.execute(f"ALTER TABLE {library.files} ADD COLUMN IF NOT EXISTS time DOUBLE PRECISION")
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {library.frames} (
        file_id BIGINT NOT NULL REFERENCES {library.files} (id) ON DELETE CASCADE,
        n INTEGER NOT NULL CHECK (n >= 1), time DOUBLE PRECISION NOT NULL,
        vector {library.vector_type}({library.spec.dim}) NOT NULL, PRIMARY KEY (file_id, n))""")
    conn.execute(hnsw_index_sql(library, table=library.frames))


def ensure_frames(conn: Any, library: LibraryRow) -> None:
    """Give a library from before videos its frames table and `files.time` (once, under the schema
    lock, even when several processes open it together; a cheap look when it has them)."""
    if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (library.frames,)).fetchone()[0]:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, SCHEMA_KEY))
        _create_frames(conn, library)
