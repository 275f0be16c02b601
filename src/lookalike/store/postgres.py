"""A store in PostgreSQL + pgvector (`--store postgresql://...`): the catalog and the vectors of a
(folder, model) library in one database, an HNSW index (cosine) searched there; videos as the
embedded library keeps them, one vector per sampled frame (store.postgres_frames).

Several processes may sync and query one database at once: the schema is created under an advisory
transaction lock, each chunk of a sync is one transaction, one writer per library holds a session
advisory lock (a second gets `LibraryLockedError`; a killed writer's lock ends with its session),
and readers never wait (MVCC; the HNSW index is transactional, so it never lags the table).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import Embedder, EmbeddingSpec, create_embedder
from ..errors import ImageReadError, InvalidArgumentError, LibraryError, LibraryLockedError, display_path
from ..pipeline import PipelineOptions
from ..types import Match, PairVerdict
from .base import Checkpoint, LibraryStats, Snapshot, StoredFile, SyncReport
from .engine import EmbedEngine
from .postgres_frames import export_items, indexed_items, search_files
from .postgres_schema import (
    LOCK_CLASS,
    LibraryRow,
    PgHalfvec,
    PgVector,
    UrlLocation,
    connect,
    create_library,
    ensure_frames,
    find_libraries,
    redact,
    split_url,
    verdicts_table_sql,
)
from .postgres_sync import PostgresSyncer, bulk_load, read_rows
from .scan import count_pending, scan_folder
from .schema import NewFile
from .vectors import IndexParams

DEFAULT_EF_SEARCH = 100


def is_store_url(text: str | None) -> bool:
    """Whether `text` names a PostgreSQL store."""
    return bool(text) and str(text).startswith(("postgresql://", "postgres://"))


class PostgresStore:
    """One (folder, model) library in PostgreSQL (a `store.base.VectorStore`)."""

    def __init__(self, url: str, root: str | os.PathLike[str], model: str | Embedder | None = None,
                 create: bool = False, vector_type: str = "vector", **embed_options: Any) -> None:
        self.url, asked = split_url(url)  # `?vector=halfvec` in the URL: new libraries store float16
        vector_type = asked or vector_type
        self.root = Path(root).resolve()
        self._embed_options = embed_options
        self._embedder = model if isinstance(model, Embedder) else None
        self._factory: Callable[[], Embedder] | None = None
        self._lock = threading.RLock()
        self._writer = threading.Lock()
        self.conn = connect(url)
        try:
            self.library = self._find(model, create, vector_type)
            ensure_frames(self.conn, self.library)  # a library from before videos gets its frames table
        except BaseException:
            self.conn.close()
            raise
        self._wrap = PgHalfvec if self.library.vector_type == "halfvec" else PgVector

    @classmethod
    def create_from_spec(cls, url: str, root: str | os.PathLike[str], spec: EmbeddingSpec,
                         vector_type: str = "vector") -> PostgresStore:
        """An (empty unless it exists) library for vectors of `spec`; no model is loaded."""
        url, asked = split_url(url)
        vector_type = asked or vector_type
        conn = connect(url)
        try:
            create_library(conn, os.fspath(Path(root).resolve()), spec, vector_type)
        finally:
            conn.close()
        return cls(url, root, model=spec.model)

    def _find(self, model: str | Embedder | None, create: bool, vector_type: str) -> LibraryRow:
        name = model.spec.model if isinstance(model, Embedder) else model
        present = find_libraries(self.conn, os.fspath(self.root))
        chosen = [lib for lib in present if name is None or lib.spec.model == name]
        if len(chosen) == 1:
            if isinstance(model, Embedder):
                chosen[0].spec.check_compatible(model.spec, f"the store's library of {display_path(self.root)}")
            return chosen[0]
        if name is None and len(chosen) > 1:
            raise LibraryError(f"the store holds libraries of this folder for several models "
                               f"({', '.join(lib.spec.model for lib in chosen)})", path=self.root,
                               choose_model=[lib.spec.model for lib in chosen])
        if not create:
            what = f"for model '{name}' " if name else ""
            raise LibraryError(f"the store has no library of this folder {what}yet: run `index` on it with "
                               f"--store first", path=self.root)
        if name is None:
            raise LibraryError("creating a library in the store needs a model", argument="model")
        embedder = model if isinstance(model, Embedder) else create_embedder(name, **self._embed_options)
        self._embedder = embedder
        return create_library(self.conn, os.fspath(self.root), embedder.spec, vector_type)

    # identity ---------------------------------------------------------------------------------
    @property
    def spec(self) -> EmbeddingSpec:
        return self.library.spec

    @property
    def location(self) -> Path:
        return UrlLocation(f"{redact(self.url)}#library={self.library.id}")  # shown as given, no password

    @property
    def persistent(self) -> bool:
        return True

    @property
    def writable(self) -> bool:
        return True

    def set_embedder_factory(self, factory: Callable[[], Embedder]) -> None:
        """Where the model comes from when one is needed (the service shares its loaded models)."""
        self._factory = factory

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                built = self._factory() if self._factory else create_embedder(self.spec.model, **self._embed_options)
                self.spec.check_compatible(built.spec, f"the store's library of {display_path(self.root)}")
                self._embedder = built
            return self._embedder

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the writer lock ----------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[Any]:
        """A connection of its own for one writer (readers of this object keep theirs): one writer per
        library across processes by a session advisory lock keyed by the library id (released by
        PostgreSQL when a killed writer's session ends), inside this process by a mutex."""
        if not self._writer.acquire(blocking=False):
            raise LibraryLockedError("another thread of this process is updating this library", path=self.root)
        try:
            conn = connect(self.url, ensure=False)
            try:
                taken = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.library.id)).fetchone()
                if not taken[0]:
                    raise LibraryLockedError("another process is updating this library in the store; wait for it "
                                             "to finish (searches keep working meanwhile)", path=self.root)
                yield conn  # the lock ends with the session
            finally:
                conn.close()
        finally:
            self._writer.release()

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """One committed state for several statements (REPEATABLE READ)."""
        with self._lock, self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield self.conn

    # filling ----------------------------------------------------------------------------------
    def sync(self, retry_failed: bool = False, options: PipelineOptions | None = None,
             index_params: IndexParams | None = None, rebuild_index: bool = False,
             checkpoint: Checkpoint | None = None, rehash: bool = False, engine: EmbedEngine | None = None
             ) -> SyncReport:
        """Bring the library in line with its folder (the HNSW index follows the table by itself);
        `engine` embeds the files (default: this process; see store.engine)."""
        with self.writing() as conn:
            return PostgresSyncer(conn, self.library, self.root, self.embedder, checkpoint).run(
                retry_failed, options, rehash, engine)

    def add_vectors(self, files: list[NewFile], vectors: np.ndarray,
                    sizes: list[tuple[int, int] | None] | None = None) -> None:
        """Bulk-load ready vectors (binary COPY, one transaction; the index built once into an empty library)."""
        if vectors.shape[1:] != (self.spec.dim,):
            raise InvalidArgumentError(f"vectors have shape {vectors.shape}, the store expects (n, {self.spec.dim})",
                                       argument="vectors")
        with self.writing() as conn:
            bulk_load(conn, self.library, files, vectors, sizes)

    # reading ----------------------------------------------------------------------------------
    def _relative(self, path: str | os.PathLike[str]) -> str | None:
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return None

    def id_of(self, path: str | os.PathLike[str]) -> tuple[int | None, bool]:
        rel = self._relative(path)
        try:
            info = Path(path).stat()
        except OSError:
            return None, False
        if rel is None:
            return None, False
        with self._lock:
            row = self.conn.execute(f"SELECT id, size, mtime_ns FROM {self.library.files} WHERE path = %s "
                                    "AND status = 'indexed'", (os.fsencode(rel),)).fetchone()
        if row is None:
            return None, False
        return int(row[0]), (row[1], row[2]) == (info.st_size, info.st_mtime_ns)

    def search_vector(self, vector: np.ndarray, k: int = 10, exclude: int | None = None,
                      threshold: float | None = None, exact: bool = False, ef_search: int | None = None,
                      nprobe: int | None = None) -> list[Match]:
        """The k nearest files by cosine, a video at its best frame with that frame's moment: HNSW
        (`hnsw.ef_search`, iterative scan past the excluded id), or an exact scan with the index disabled."""
        if vector.shape[-1] != self.spec.dim:
            raise InvalidArgumentError(f"query vector has {vector.shape[-1]} dimensions, the store {self.spec.dim}",
                                       argument="vector")
        query = self._wrap(np.asarray(vector, dtype=np.float32))
        with self._lock:
            hits = search_files(self.conn, self.library, query, k, exclude, threshold, exact,
                                int(ef_search or DEFAULT_EF_SEARCH))
        return [Match(self.root / os.fsdecode(path), score, row_id, moment) for score, row_id, path, moment in hits]

    def vector_of(self, file_id: int) -> np.ndarray | None:
        with self._lock, self.conn.cursor(binary=True) as cursor:
            row = cursor.execute(f"SELECT vector FROM {self.library.files} WHERE id = %s AND vector IS NOT NULL",
                                 (int(file_id),)).fetchone()
        return None if row is None else row[0]

    def files(self, ids: Sequence[int]) -> dict[int, StoredFile]:
        with self._lock:
            rows = self.conn.execute(f"SELECT id, path, size, hash, width, height FROM {self.library.files} "
                                     "WHERE id = ANY(%s) AND status = 'indexed'", ([int(i) for i in ids],)).fetchall()
        return {int(r[0]): StoredFile(int(r[0]), self.root / os.fsdecode(bytes(r[1])), r[2], r[3], r[4], r[5])
                for r in rows}

    def snapshot(self) -> Snapshot:
        """Every indexed file with its vector, a video once per sampled frame (its frames follow its
        first, `times` their moments; empty when no video has a second frame), from one snapshot."""
        with self._snapshot() as conn, conn.cursor(binary=True) as cursor:
            rows = indexed_items(cursor, self.library)
            failed = self._failed(conn)
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vectors = np.stack([r[3] for r in rows]) if rows else np.zeros((0, self.spec.dim), np.float32)
        times = [r[4] for r in rows] if any(r[5] for r in rows) else []
        return Snapshot(ids, [self.root / os.fsdecode(bytes(r[1])) for r in rows], [r[2] for r in rows], vectors,
                        self.spec, failed, times)

    def iter_vectors(self, chunk: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of every indexed file (a video's first frame), in id order, from one snapshot."""
        with self._snapshot() as conn, conn.cursor(binary=True) as cursor:
            rows = cursor.execute(f"SELECT id, vector FROM {self.library.files} WHERE status = 'indexed' "
                                  "ORDER BY id").fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vectors = np.stack([r[1] for r in rows]) if rows else np.zeros((0, self.spec.dim), np.float32)
        for start in range(0, len(ids), chunk):
            yield ids[start : start + chunk], vectors[start : start + chunk]

    def export_records(self) -> tuple[list[dict[str, Any]], np.ndarray]:
        """One row per vector (a video's frames in order, each with its `time`) and the vectors, for `export`."""
        with self._snapshot() as conn, conn.cursor(binary=True) as cursor:
            rows = export_items(cursor, self.library)
        records = [{"id": r[0], "path": display_path(os.fsdecode(bytes(r[1]))), "hash": r[2], "size": r[3],
                    "mtime_ns": r[4], "width": r[5], "height": r[6], "time": r[7], "path_bytes": bytes(r[1])}
                   for r in rows]
        vectors = np.stack([r[8] for r in rows]) if rows else np.zeros((0, self.spec.dim), np.float32)
        return records, vectors

    def next_id(self) -> int:
        with self._lock:
            return int(self.conn.execute(f"SELECT COALESCE(max(id), 0) + 1 FROM {self.library.files}").fetchone()[0])

    def _failed(self, conn: Any) -> list[ImageReadError]:
        rows = conn.execute(f"SELECT path, error FROM {self.library.files} WHERE status = 'failed' "
                            "ORDER BY path").fetchall()
        return [ImageReadError(self.root / os.fsdecode(bytes(p)), e or "") for p, e in rows]

    def failures(self) -> list[ImageReadError]:
        with self._lock:
            return self._failed(self.conn)

    def stats(self, scan: bool = True) -> LibraryStats:
        with self._snapshot() as conn:
            counts = dict(conn.execute(f"SELECT status, count(*) FROM {self.library.files} GROUP BY status").fetchall())
            failed = self._failed(conn)
            rows = read_rows(conn, self.library) if scan else {}
        pending = missing = None
        if scan and self.root.is_dir():
            pending, missing = count_pending(rows, scan_folder(self.root, videos=True))
        return LibraryStats(root=str(self.root), model=self.spec.model, dim=self.spec.dim,
                            index=f"pgvector HNSW ({self.library.vector_type}, cosine)",
                            indexed=counts.get("indexed", 0), failed=counts.get("failed", 0), pending=pending,
                            missing=missing, failures=[(os.path.relpath(str(f.path), self.root), f.reason)
                                                       for f in failed])

    # changes ----------------------------------------------------------------------------------
    def remove(self, files: Sequence[str | os.PathLike[str]]) -> int:
        """Drop files (paths inside the root, or relative to it) in one transaction."""
        with self._lock:
            known = set(read_rows(self.conn, self.library))
        wanted: list[str] = []
        unknown: list[str] = []
        for file in files:
            rel = self._relative(file)
            rel = rel if rel in known else Path(file).as_posix()
            (wanted if rel in known else unknown).append(rel)
        if unknown:
            raise LibraryError(f"not in the store's library of {display_path(self.root)}; nothing was removed",
                               path=unknown[0], not_in_library=len(unknown))
        if not wanted:
            return 0
        with self.writing() as conn:
            gone = conn.execute(f"DELETE FROM {self.library.files} WHERE path = ANY(%s)",
                                     ([os.fsencode(rel) for rel in wanted],))
            return int(gone.rowcount)

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT meta ->> %s FROM lookalike_libraries WHERE id = %s",
                                    (key, self.library.id)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.update_meta(key, lambda current: value)

    def update_meta(self, key: str, change: Callable[[str | None], str]) -> str:
        with self.writing() as conn, conn.transaction():
            row = conn.execute("SELECT meta ->> %s FROM lookalike_libraries WHERE id = %s FOR UPDATE",
                               (key, self.library.id)).fetchone()
            value = change(None if row is None else row[0])
            conn.execute("UPDATE lookalike_libraries SET meta = meta || jsonb_build_object(%s::text, %s::text) "
                         "WHERE id = %s", (key, value, self.library.id))
        return value

    def distinct_pairs(self) -> set[tuple[str, str]]:
        with self._lock:
            rows = self.conn.execute(f"SELECT hash_a, hash_b FROM {self.library.distinct}").fetchall()
        return {(str(a), str(b)) for a, b in rows}

    def record_distinct(self, hashes: Sequence[str]) -> int:
        unique = sorted({h for h in hashes if h})
        pairs = [(a, b) for position, a in enumerate(unique) for b in unique[position + 1 :]]
        if not pairs:
            return 0
        with self.writing() as conn, conn.transaction():
            done = conn.execute(f"INSERT INTO {self.library.distinct} (hash_a, hash_b) SELECT * FROM "
                                     "unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
                                     ([a for a, _ in pairs], [b for _, b in pairs]))
            return int(done.rowcount)

    def verdicts(self, pairs: Sequence[tuple[str, str]], method: str) -> dict[tuple[str, str], PairVerdict]:
        import psycopg

        wanted = sorted({(a, b) if a < b else (b, a) for a, b in pairs if a and b and a != b})
        if not wanted:
            return {}
        try:
            with self._lock:
                rows = self.conn.execute(
                    f"SELECT v.hash_a, v.hash_b, v.inliers, v.agreement FROM {self.library.verdicts} v JOIN "
                    "unnest(%s::text[], %s::text[]) AS w(a, b) ON v.hash_a = w.a AND v.hash_b = w.b "
                    "WHERE v.method = %s", ([a for a, _ in wanted], [b for _, b in wanted], method)).fetchall()
        except psycopg.errors.UndefinedTable:  # a store from before verdicts, never written since
            return {}
        return {(str(a), str(b)): PairVerdict(str(a), str(b), method, int(n), float(g)) for a, b, n, g in rows}

    def record_verdicts(self, verdicts: Sequence[PairVerdict]) -> int:
        kept = [v for v in verdicts if v.hash_a and v.hash_a < v.hash_b]
        if not kept:
            return 0
        with self.writing() as conn, conn.transaction():
            conn.execute(verdicts_table_sql(self.library))
            conn.execute(f"INSERT INTO {self.library.verdicts} (hash_a, hash_b, method, inliers, agreement) "
                         "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::float8[]) "
                         "ON CONFLICT (hash_a, hash_b, method) DO UPDATE SET inliers = EXCLUDED.inliers, "
                         "agreement = EXCLUDED.agreement",
                         ([v.hash_a for v in kept], [v.hash_b for v in kept], [v.method for v in kept],
                          [int(v.inliers) for v in kept], [float(v.agreement) for v in kept]))
        return len(kept)


def store_models(url: str, root: str | os.PathLike[str]) -> list[str]:
    """The models of the store's libraries of `root`."""
    conn = connect(split_url(url)[0])
    try:
        return [lib.spec.model for lib in find_libraries(conn, os.fspath(Path(root).resolve()))]
    finally:
        conn.close()
