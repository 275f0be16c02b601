"""A video's frames in a library's catalog: one file row, several vectors.

The file row (`files`) keeps the first sampled frame's vector and its moment (`files.time`, NULL for
a photo); the other frames live in `frames` (file_id, n >= 1, time, vector). Everything outside the
store speaks of files (ids, paths, hashes); only the vector index sees one id per frame, the *item
id*: the file's id for frame 0, `file_id | n << 40` for frame n, so `item & FILE_MASK` is always the
file. Moves keep the file id, so they keep the frames; deletions and re-embeddings drop them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .catalog import Catalog
from .schema import FRAMES_VERSION

FRAME_SHIFT = 40  # file ids stay below 2**40; up to 2**23 frames a video
FILE_MASK = (1 << FRAME_SHIFT) - 1


def file_ids(items: np.ndarray) -> np.ndarray:
    """The file id of each item id."""
    return np.asarray(items, dtype=np.int64) & FILE_MASK


def _has_frames(catalog: Catalog) -> bool:
    """Whether this catalog knows frames (a read-only open of an older catalog does not)."""
    return catalog.version >= FRAMES_VERSION


def _chunks(values: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield [int(v) for v in values[start : start + size]]


def put_frames(catalog: Catalog, file_id: int, times: Sequence[float | None], vectors: np.ndarray) -> list[int]:
    """Record a just-written file row's moments: `times[0]` on the row (its vector is frame 0's),
    frames 1.. with their vectors; returns the item ids of every frame. Call inside the transaction
    that wrote the row."""
    if not _has_frames(catalog):
        return [file_id]
    catalog.db.execute("DELETE FROM frames WHERE file_id = ?", (file_id,))
    catalog.db.execute("UPDATE files SET time = ? WHERE id = ?", (times[0] if times else None, file_id))
    rows = [(file_id, n, float(times[n] or 0.0), np.ascontiguousarray(vectors[n], dtype=np.float32).tobytes())
            for n in range(1, len(times))]
    catalog.db.executemany("INSERT INTO frames(file_id, n, time, vector) VALUES (?, ?, ?, ?)", rows)
    return [file_id | (n << FRAME_SHIFT) for n in range(len(times))]


def frame_items(catalog: Catalog, ids: Sequence[int]) -> list[int]:
    """The item ids of frames 1.. of these files (what leaves the index with them)."""
    if not _has_frames(catalog):
        return []
    found: list[int] = []
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        for file_id, n in catalog.db.execute(f"SELECT file_id, n FROM frames WHERE file_id IN ({marks})", chunk):
            found.append(int(file_id) | (int(n) << FRAME_SHIFT))
    return found


def drop_frames(catalog: Catalog, ids: Iterable[int]) -> None:
    """Forget the frames of these files (deleted, failed or about to be re-embedded)."""
    if _has_frames(catalog):
        catalog.db.executemany("DELETE FROM frames WHERE file_id = ?", [(int(i),) for i in ids])


def frame_vectors(catalog: Catalog, dim: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(item ids, vectors, times) of frames 1.. of every indexed video, by file id then frame."""
    if not _has_frames(catalog):
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32), []
    items, blobs, times = [], [], []
    query = ("SELECT f.file_id, f.n, f.time, f.vector FROM frames f JOIN files ON files.id = f.file_id "
             "WHERE files.status = 'indexed' ORDER BY f.file_id, f.n")
    for file_id, n, moment, blob in catalog.db.execute(query):
        items.append(int(file_id) | (int(n) << FRAME_SHIFT))
        times.append(float(moment))
        blobs.append(blob)
    vectors = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim).copy() if blobs else \
        np.zeros((0, dim), np.float32)
    return np.asarray(items, dtype=np.int64), vectors, times


def count_frames(catalog: Catalog) -> int:
    """How many frames 1.. indexed videos have (items beyond one per file)."""
    if not _has_frames(catalog):
        return 0
    query = "SELECT COUNT(*) FROM frames f JOIN files ON files.id = f.file_id WHERE files.status = 'indexed'"
    return int(catalog.db.execute(query).fetchone()[0])


def iter_frame_vectors(catalog: Catalog, dim: int, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(item ids, vectors) of frames 1.. of every indexed video, `rows` at a time, in the order of
    `frame_vectors` (for an index built out of core; no writer may run meanwhile)."""
    if not _has_frames(catalog):
        return
    cursor = catalog.db.execute("SELECT f.file_id, f.n, f.vector FROM frames f JOIN files ON files.id = f.file_id "
                                "WHERE files.status = 'indexed' ORDER BY f.file_id, f.n")
    while found := cursor.fetchmany(rows):
        items = np.asarray([int(i) | (int(n) << FRAME_SHIFT) for i, n, _ in found], dtype=np.int64)
        yield items, np.frombuffer(b"".join(r[2] for r in found), np.float32).reshape(len(found), dim).copy()


def all_item_vectors(catalog: Catalog, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, vectors) of every frame of every indexed file: what the vector index holds."""
    with catalog.snapshot():
        ids, vectors = catalog.vectors(dim)
        items, extra, _ = frame_vectors(catalog, dim)
    if not len(items):
        return ids, vectors
    return np.concatenate([ids, items]), np.concatenate([vectors, extra])


def item_times(catalog: Catalog, items: Sequence[int]) -> dict[int, float | None]:
    """The moment of each item id (None for a photo, or where the catalog has no frames)."""
    if not _has_frames(catalog) or not items:
        return {}
    found: dict[int, float | None] = {}
    firsts = [i for i in items if not i >> FRAME_SHIFT]
    for chunk in _chunks(firsts):
        marks = ",".join("?" * len(chunk))
        found.update(catalog.db.execute(f"SELECT id, time FROM files WHERE id IN ({marks})", chunk).fetchall())
    for item in (i for i in items if i >> FRAME_SHIFT):
        row = catalog.db.execute("SELECT time FROM frames WHERE file_id = ? AND n = ?",
                                 (item & FILE_MASK, item >> FRAME_SHIFT)).fetchone()
        if row is not None:
            found[item] = float(row[0])
    return found


def file_times(catalog: Catalog, ids: Sequence[int]) -> list[float | None]:
    """`files.time` of these file ids, in order (frame 0's moment; None for photos)."""
    times = item_times(catalog, [int(i) for i in ids])
    return [times.get(int(i)) for i in ids]


ExportItem = tuple[int, str, str, int, int, int | None, int | None, float | None, bytes]
"""(id, path, hash, size, mtime_ns, width, height, time, vector blob) of one frame of one file."""


def export_items(catalog: Catalog) -> Iterator[ExportItem]:
    """Every frame of every indexed file, by id then frame (a photo: one item, time None; a video:
    frame 0 from its file row, then frames 1..), for `export`; call inside one snapshot."""
    facts = "id, path, hash, size, mtime_ns, width, height"
    if not _has_frames(catalog):  # an older catalog read as it is: one item per file, no moments
        query = f"SELECT {facts}, NULL, vector FROM files WHERE status = 'indexed' ORDER BY id"
    else:
        query = (f"SELECT {facts}, time, vector, 0 AS n FROM files WHERE status = 'indexed' UNION ALL "
                 "SELECT f.id, f.path, f.hash, f.size, f.mtime_ns, f.width, f.height, fr.time, fr.vector, fr.n "
                 "FROM frames fr JOIN files f ON f.id = fr.file_id WHERE f.status = 'indexed' ORDER BY 1, 10")
    for row in catalog.db.execute(query):
        yield (int(row[0]), os.fsdecode(row[1]), *row[2:7], None if row[7] is None else float(row[7]), row[8])
