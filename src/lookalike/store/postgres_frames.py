"""A video's frames in a PostgreSQL library, kept as the embedded library keeps them (store.frames):
the file row holds the first sampled frame's vector and its moment (`time`, NULL for a photo), the
library's frames table frames 1.. (file_id, n, time, vector). A frame goes with its file row: the
foreign key drops it in the statement that deletes the row, and a re-written row's frames are
replaced in the transaction that writes it (postgres_sync.write_records). A search asks the HNSW
index of both tables and keeps each file once, at its best frame, with that frame's moment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .postgres_schema import LibraryRow, PgHalfvec, PgVector

FrameRows = dict[str, tuple[list[float | None], np.ndarray]]
"""A chunk's videos: relative path -> (moments of frames 1.., their vectors)."""

Hit = tuple[float, int, bytes, float | None]
"""(score, file id, relative path as bytes, moment or None)."""

MAX_EF_SEARCH = 1000  # pgvector's bound on hnsw.ef_search


def write_frames(conn: Any, library: LibraryRow, ids: dict[str, int], frames: FrameRows) -> None:
    """Add the frames 1.. of the rows just written (`ids`: relative path -> id; their old frames
    already dropped), inside the transaction that wrote the rows."""
    wanted = [(ids[rel], times, vectors) for rel, (times, vectors) in frames.items() if rel in ids and times]
    if not wanted:
        return
    wrap = PgHalfvec if library.vector_type == "halfvec" else PgVector
    with conn.cursor() as cursor, cursor.copy(f"COPY {library.frames} (file_id, n, time, vector) FROM STDIN "
                                              "(FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int4", "float8", library.vector_type])
        for file_id, times, vectors in wanted:
            for n, (moment, vector) in enumerate(zip(times, vectors, strict=True), start=1):
                copy.write_row((file_id, n, float(moment or 0.0), wrap(np.asarray(vector, dtype=np.float32))))


def indexed_items(conn: Any, library: LibraryRow) -> list[tuple[Any, ...]]:
    """(id, path, hash, vector, time, n) of every frame of every indexed file, by id then frame (a
    photo: one row, n 0; call on a binary cursor inside one snapshot)."""
    return list(conn.execute(
        f"SELECT id, path, hash, vector, time, 0 AS n FROM {library.files} WHERE status = 'indexed' UNION ALL "
        f"SELECT f.id, f.path, f.hash, fr.vector, fr.time, fr.n FROM {library.frames} fr JOIN {library.files} f "
        "ON f.id = fr.file_id WHERE f.status = 'indexed' ORDER BY 1, 6").fetchall())


def export_items(cursor: Any, library: LibraryRow) -> list[tuple[Any, ...]]:
    """(id, path, hash, size, mtime_ns, width, height, time, vector) of every frame of every indexed
    file, by id then frame (a photo: one row, time NULL), for `export` (a binary cursor, one snapshot)."""
    facts = "id, path, hash, size, mtime_ns, width, height"
    return [row[:9] for row in cursor.execute(
        f"SELECT {facts}, time, vector, 0 AS n FROM {library.files} WHERE status = 'indexed' UNION ALL "
        f"SELECT f.id, f.path, f.hash, f.size, f.mtime_ns, f.width, f.height, fr.time, fr.vector, fr.n FROM "
        f"{library.frames} fr JOIN {library.files} f ON f.id = fr.file_id WHERE f.status = 'indexed' "
        "ORDER BY 1, 10").fetchall()]


def _best(rows: Sequence[tuple[Any, ...]], into: dict[int, tuple[float, float | None]]) -> None:
    for file_id, score, moment in rows:
        key, value = int(file_id), (float(score), None if moment is None else float(moment))
        if key not in into or value[0] > into[key][0]:
            into[key] = value


def search_files(conn: Any, library: LibraryRow, query: PgVector, k: int, exclude: int | None = None,
                 threshold: float | None = None, exact: bool = False, ef_search: int = 100) -> list[Hit]:
    """The k files nearest to `query` by cosine, each at its best frame, best first (ties by id), from
    one snapshot: the files' index gives the k best first frames, the frames' index frames 1.. until
    no frame it has not given can change the answer (a video's frames may crowd the first ones)."""
    skip = exclude is not None
    files_sql = (f"SELECT id, -(vector <#> %(q)s), time FROM {library.files} WHERE vector IS NOT NULL"
                 f"{' AND id <> %(exclude)s' if skip else ''} ORDER BY vector <=> %(q)s LIMIT %(k)s")
    frames_sql = (f"SELECT file_id, -(vector <#> %(q)s), time FROM {library.frames}"
                  f"{' WHERE file_id <> %(exclude)s' if skip else ''} ORDER BY vector <=> %(q)s LIMIT %(limit)s")
    params: dict[str, Any] = {"q": query, "exclude": exclude, "k": k, "limit": k}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if exact:
            conn.execute("SET LOCAL enable_indexscan = off")
        else:
            ef = min(max(ef_search, k), MAX_EF_SEARCH)
            conn.execute(f"SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order")
        best: dict[int, tuple[float, float | None]] = {}
        _best(conn.execute(files_sql, params).fetchall(), best)
        while True:
            frames = conn.execute(frames_sql, params).fetchall()
            found = dict(best)
            _best(frames, found)
            ranked = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))[:k]
            lowest = min((float(score) for _, score, _ in frames), default=-2.0)
            if len(frames) < params["limit"] or (len(ranked) == k and lowest < ranked[-1][1][0]) or \
                    (threshold is not None and lowest < threshold):
                break
            params["limit"] *= 4
        paths = dict(conn.execute(f"SELECT id, path FROM {library.files} WHERE id = ANY(%s)",
                                  ([file_id for file_id, _ in ranked],)).fetchall())
    return [(score, file_id, bytes(paths[file_id]), moment) for file_id, (score, moment) in ranked
            if file_id in paths and (threshold is None or score >= threshold)]
