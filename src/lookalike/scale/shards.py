"""Parquet shards of embedded files: one row per file (path, path_bytes, hash, size, mtime_ns,
ctime_ns, width, height, error, vector, times, frames) and a `lookalike-shards.json` beside them
naming the model spec and the folder. A video's row holds every sampled frame: `vector` is the first
frame's, `times` each frame's moment in seconds, `frames` the vectors of frames 1.. (both null for a
photo; format 1 shards have neither column). The Ray engine writes them; a sync ingests them chunk by chunk and
`build-index` turns them into a library without holding every vector in memory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import EmbeddingSpec
from ..errors import ImageReadError, LookalikeError, display_path
from ..pipeline import EmbeddedBatch
from ..store.outofcore import Records

SIDECAR = "lookalike-shards.json"
FORMAT = 2  # 2: videos' frames (times, frames)
INGEST_ROWS = 4096  # rows per ingested chunk (one catalog transaction each)


def write_sidecar(folder: Path, spec: EmbeddingSpec, root: Path) -> None:
    """Record what the shards in `folder` hold (their spec and the folder they index)."""
    (folder / SIDECAR).write_text(json.dumps({"format": FORMAT, "spec": asdict(spec), "root": str(root)}, indent=1))


def read_sidecar(folder: Path) -> tuple[EmbeddingSpec, Path]:
    """(spec, root) of a shards folder, or one clear error."""
    sidecar = folder / SIDECAR
    if not folder.is_dir():
        raise LookalikeError(f"{display_path(folder)}: not a folder of shards")
    try:
        data = json.loads(sidecar.read_text())
        return EmbeddingSpec.from_dict(data["spec"]), Path(data["root"])
    except FileNotFoundError:
        raise LookalikeError(f"{display_path(folder)}: no {SIDECAR} here (not shards written by "
                             "`lookalike index --engine ray --shards`)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LookalikeError(f"{display_path(sidecar)}: unreadable ({exc})") from None


def shard_files(folder: Path) -> list[Path]:
    """The Parquet files of a shards folder, in name order."""
    return sorted(p for p in folder.glob("*.parquet") if p.is_file())


def _chunk(columns: dict[str, list[Any]], vectors: np.ndarray, frames: Any = None) -> Records:
    chunk = Records()
    good: list[int] = []
    times = columns.get("times") or [None] * len(columns["path_bytes"])
    for row, raw in enumerate(columns["path_bytes"]):
        rel = os.fsdecode(bytes(raw))
        if columns["error"][row]:
            chunk.failures.append((rel, str(columns["error"][row])))
            continue
        if times[row] is not None:  # a video: every frame's time, frames 1.. beside the first
            given = frames is not None and frames[row].is_valid and len(frames[row])
            more = frames[row].values.flatten().to_numpy(zero_copy_only=False) if given else []
            chunk.videos[len(good)] = ([float(t) for t in times[row]],
                                       np.asarray(more, np.float32).reshape(-1, vectors.shape[1]))
        good.append(row)
        chunk.rels.append(rel)
        chunk.hashes.append(str(columns["hash"][row]))
        chunk.sizes.append(int(columns["size"][row]))
        chunk.mtimes.append(int(columns["mtime_ns"][row]))
        chunk.ctimes.append(int(columns["ctime_ns"][row] or 0))
        width, height = columns["width"][row], columns["height"][row]
        chunk.pictures.append((int(width), int(height)) if width else None)
    chunk.vectors = np.ascontiguousarray(vectors[good], dtype=np.float32)
    return chunk


def iter_chunks(folder: Path, dim: int, rows: int = INGEST_ROWS) -> Iterator[Records]:
    """Every shard row, `rows` at a time (memory holds one chunk, never the whole set)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in shard_files(folder):
        try:
            reader = pq.ParquetFile(path)
            for batch in reader.iter_batches(batch_size=rows):
                vectors = np.asarray(batch.column("vector").flatten(), dtype=np.float32).reshape(-1, dim)
                frames = batch.column("frames") if "frames" in batch.schema.names else None
                columns = batch.drop_columns([n for n in ("vector", "frames") if n in batch.schema.names]).to_pydict()
                yield _chunk(columns, vectors, frames)
        except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise LookalikeError(f"{display_path(path)}: not a readable shard ({first})") from None


def count_rows(folder: Path) -> int:
    """Rows in every shard (from the Parquet footers; nothing else is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in shard_files(folder))


def batches_from_shards(folder: Path, root: Path, dim: int, rows: int = INGEST_ROWS) -> Iterator[EmbeddedBatch]:
    """The shards as a sync's batches (absolute paths under `root`, failures with their reasons; a
    video once per frame, its frames consecutive, as the in-process pipeline gives them)."""
    for chunk in iter_chunks(folder, dim, rows):
        failures = [ImageReadError(root / rel, reason) for rel, reason in chunk.failures]
        paths: list[Path] = []
        sizes: list[tuple[int, int]] = []
        times: list[float | None] = []
        parts: list[np.ndarray] = []
        for row, rel in enumerate(chunk.rels):
            moments: list[float | None] = [None]  # a photo: one vector, no moment
            more = np.zeros((0, dim), np.float32)
            if row in chunk.videos:
                moments, more = list(chunk.videos[row][0]), chunk.videos[row][1]
            paths += [root / rel] * len(moments)
            sizes += [chunk.pictures[row] or (0, 0)] * len(moments)
            times += moments
            parts += [chunk.vectors[row : row + 1], more]
        vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        yield EmbeddedBatch(paths, vectors, failures, sizes, times)


def frames_type(dim: int) -> Any:
    """The Arrow type of the `frames` column (vectors of a video's frames 1..)."""
    import pyarrow as pa

    return pa.list_(pa.list_(pa.float32(), dim))


def write_shard(path: Path, rels: list[str], vectors: np.ndarray, hashes: list[str] | None = None,
                sizes: list[int] | None = None, mtimes: list[int] | None = None,
                errors: list[str | None] | None = None) -> None:
    """One shard in the engine's format from ready vectors (for vectors embedded elsewhere, tests and
    benchmarks); missing facts are left empty (hash '') or 0."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count, dim = vectors.shape
    raw = [os.fsencode(rel) for rel in rels]
    table = pa.table({
        "path_bytes": pa.array(raw, pa.binary()),
        "hash": pa.array(hashes or [""] * count, pa.string()),
        "size": pa.array(sizes or [0] * count, pa.int64()),
        "mtime_ns": pa.array(mtimes or [0] * count, pa.int64()),
        "ctime_ns": pa.array([0] * count, pa.int64()),
        "path": pa.array([b.decode("utf-8", "replace") for b in raw], pa.string()),
        "width": pa.array([None] * count, pa.int32()),
        "height": pa.array([None] * count, pa.int32()),
        "error": pa.array(errors or [None] * count, pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors, np.float32).ravel()), dim),
        "times": pa.nulls(count, pa.list_(pa.float64())),
        "frames": pa.nulls(count, frames_type(dim)),
    })
    pq.write_table(table, path, row_group_size=8192)  # readers hold one row group at a time
