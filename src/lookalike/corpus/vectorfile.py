"""Vectors for any files, without a library, written in the export's schema (store/exchange.py) so that
`lookalike import` builds a library from them and pandas, DuckDB or pyarrow read them: Parquet
(path, path_bytes, hash, size, mtime_ns, width, height, time, vector; the spec in the schema metadata),
.npy (+ the .json sidecar the export writes) or JSON lines. A photo is one row (`time` null), a video
one row per sampled frame with its moment, as the export writes them. Written chunk by chunk: memory
stays one chunk (of files; a video's frames come with it)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import Embedder, EmbeddingSpec
from ..errors import ImageReadError, InvalidArgumentError, LookalikeError, display_path
from ..pipeline import Pipeline, PipelineOptions
from ..store.scan import file_hash

CHUNK = 1024
FORMATS = (".parquet", ".npy")


@dataclass
class Chunk:
    """One chunk of embedded files: rows (the export's columns, no vector; a video once per frame) and
    their vectors; `files` the path of each row."""

    rows: list[dict[str, Any]]
    vectors: np.ndarray
    failures: list[ImageReadError] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def check_output(out: Path | None) -> None:
    """Fail before any work for an output of an unknown kind or in a missing folder."""
    if out is None:
        return
    if out.suffix.lower() not in FORMATS:
        raise InvalidArgumentError(f"{display_path(out)}: name a .parquet or .npy file (or - for JSON lines)",
                                   argument="out")
    if not out.parent.is_dir():
        raise InvalidArgumentError(f"{display_path(out)}: the folder {display_path(out.parent)} does not exist",
                                   argument="out")
    if out.is_dir():
        raise InvalidArgumentError(f"{display_path(out)}: is a folder; name the file to write", argument="out")


def embed_chunks(files: list[Path], root: Path, embedder: Embedder, options: PipelineOptions,
                 chunk: int = CHUNK) -> Iterator[Chunk]:
    """Embed `files` `chunk` at a time; row paths are relative to `root` (as a library stores them)."""
    pipeline = Pipeline(embedder, PipelineOptions(options.batch_size, options.workers, options.max_pixels,
                                                  video=options.video))
    done = 0
    for start in range(0, len(files), chunk):
        part = files[start : start + chunk]
        rows, vectors, failures, good = [], [], [], []
        for batch in pipeline.iter_batches(part):
            failures.extend(batch.failures)
            good.extend(batch.paths)
            facts: dict[Path, dict[str, Any]] = {}  # a video's frames share its facts (hashed once)
            for position, path in enumerate(batch.paths):
                if path not in facts:
                    facts[path] = _row(path, root, batch.sizes[position] if batch.sizes else None)
                rows.append({**facts[path], "time": batch.times[position] if batch.times else None})
            vectors.append(batch.vectors)
        done += len(part)
        if options.progress is not None:
            options.progress(done, len(files))
        stacked = np.concatenate(vectors) if vectors else np.zeros((0, embedder.spec.dim), np.float32)
        yield Chunk(rows, np.ascontiguousarray(stacked, np.float32), failures, good)


def _row(path: Path, root: Path, size: tuple[int, int] | None) -> dict[str, Any]:
    stat = path.stat()
    name = os.path.relpath(path, root)
    return {"path": display_path(name), "path_bytes": os.fsencode(name), "hash": file_hash(path),
            "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "width": size[0] if size else None, "height": size[1] if size else None}


def text_chunk(texts: list[str], embedder: Embedder) -> Chunk:
    """Text rows (`text`, vector) from the model's text tower."""
    return Chunk([{"text": text} for text in texts], np.ascontiguousarray(embedder.embed_texts(texts), np.float32))


def metadata(spec: EmbeddingSpec, root: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The export's metadata: spec, root, `count` (files or texts) and `vectors` (rows)."""
    files = len(rows) if rows and "text" in rows[0] else len({row["path_b64"] for row in rows})
    return {"spec": asdict(spec), "root": str(root), "count": files, "vectors": len(rows)}


def write_lines(chunks: Iterable[Chunk], emit: Callable[[str], None]) -> Iterator[Chunk]:
    """Each row as one JSON line ({"path", "hash", "time", "vector"}, the path relative to the working
    folder when below it, `time` null for a photo; {"text", "vector"} for texts), passed on chunk by chunk."""
    here = Path.cwd()
    for chunk in chunks:
        for position, (row, vector) in enumerate(zip(chunk.rows, chunk.vectors, strict=True)):
            record: dict[str, Any] = {"text": row["text"]} if "text" in row else \
                {"path": _shown(chunk.files[position], here), "hash": row["hash"], "time": row["time"]}
            record["vector"] = [round(float(x), 7) for x in vector]
            emit(json.dumps(record, ensure_ascii=False))
        yield chunk


def _shown(path: Path, here: Path) -> str:
    return display_path(path.relative_to(here) if path.is_relative_to(here) else path)


def write_parquet(out: Path, chunks: Iterable[Chunk], spec: EmbeddingSpec, root: Path) -> Iterator[Chunk]:
    """Append each chunk to a Parquet file as one row group (the spec and root in the schema metadata,
    as the export writes them; written under a temporary name and renamed when complete)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {"lookalike": json.dumps({"spec": asdict(spec), "root": str(root)})}
    writer: Any = None
    pending = out.with_name(f".{out.name}.part")
    try:
        for chunk in chunks:
            texts = bool(chunk.rows) and "text" in chunk.rows[0]
            if writer is None:
                writer = pq.ParquetWriter(pending, _schema(pa, spec.dim, texts).with_metadata(meta))
            if chunk.rows:
                writer.write_table(_table(pa, chunk, writer.schema, spec.dim, texts))
            yield chunk
        if writer is None:
            writer = pq.ParquetWriter(pending, _schema(pa, spec.dim, False).with_metadata(meta))
        writer.close()
        writer = None
        pending.replace(out)
    except OSError as exc:
        raise LookalikeError(f"{display_path(out)}: cannot write ({exc.strerror or exc})") from None
    finally:
        if writer is not None:
            writer.close()
        pending.unlink(missing_ok=True)


def _schema(pa: Any, dim: int, texts: bool) -> Any:
    vector = ("vector", pa.list_(pa.float32(), dim))
    if texts:
        return pa.schema([("text", pa.string()), vector])
    return pa.schema([("path", pa.string()), ("path_bytes", pa.binary()), ("hash", pa.string()),
                      ("size", pa.int64()), ("mtime_ns", pa.int64()), ("width", pa.int64()),
                      ("height", pa.int64()), ("time", pa.float64()), vector])


def _table(pa: Any, chunk: Chunk, schema: Any, dim: int, texts: bool) -> Any:
    columns = {name: [row[name] for row in chunk.rows] for name in schema.names if name != "vector"}
    flat = pa.array(chunk.vectors.ravel(), pa.float32())
    return pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(flat, dim)}, schema=schema)


def write_npy(out: Path, chunks: Iterable[Chunk], spec: EmbeddingSpec, root: Path, capacity: int) -> Iterator[Chunk]:
    """Vectors into an .npy opened as a memory map sized for `capacity` rows up front (doubled when a
    video's frames overflow it, cut to the rows written at the end), the rows in the export's .json sidecar."""
    from numpy.lib.format import open_memmap

    sidecar = out.with_suffix(".json")
    pending = out.with_name(f".{out.name}.part")
    rows: list[dict[str, Any]] = []
    try:
        block = open_memmap(pending, mode="w+", dtype=np.float32, shape=(max(capacity, 0), spec.dim))
        for chunk in chunks:
            if len(rows) + len(chunk.rows) > len(block):
                block = _grown(block, pending, len(rows), max(2 * len(block), len(rows) + len(chunk.rows)))
            block[len(rows) : len(rows) + len(chunk.rows)] = chunk.vectors
            rows.extend(_sidecar_row(row) for row in chunk.rows)
            yield chunk
        block.flush()
        written = len(block)
        del block
        if len(rows) == written:
            pending.replace(out)
        else:  # some files were skipped, or the block grew: copy the rows written
            _copy_rows(pending, out, len(rows), spec.dim)
        sidecar.write_text(json.dumps({**metadata(spec, root, rows), "rows": rows}, indent=1))
    except OSError as exc:
        raise LookalikeError(f"{display_path(out)}: cannot write ({exc.strerror or exc})") from None
    finally:
        pending.unlink(missing_ok=True)
        pending.with_name(pending.name + ".grow").unlink(missing_ok=True)


def _copy_rows(source: Path, target: Path, count: int, dim: int) -> None:
    """The first `count` rows of the .npy `source` into a new .npy `target`, block by block."""
    from numpy.lib.format import open_memmap

    kept = open_memmap(target, mode="w+", dtype=np.float32, shape=(count, dim))
    rows = np.load(source, mmap_mode="r")
    for start in range(0, count, 65536):
        end = min(start + 65536, count)
        kept[start:end] = rows[start:end]
    kept.flush()
    del kept, rows


def _grown(block: np.memmap[Any, Any], path: Path, used: int, capacity: int) -> np.memmap[Any, Any]:
    """`block` (the .npy at `path`, `used` rows written) as a memory map of `capacity` rows."""
    from numpy.lib.format import open_memmap

    block.flush()
    bigger = path.with_name(path.name + ".grow")
    larger = open_memmap(bigger, mode="w+", dtype=np.float32, shape=(capacity, block.shape[1]))
    for start in range(0, used, 65536):
        larger[start : min(start + 65536, used)] = block[start : min(start + 65536, used)]
    larger.flush()
    del larger, block
    bigger.replace(path)
    grown: np.memmap[Any, Any] = np.load(path, mmap_mode="r+")
    return grown


def _sidecar_row(row: dict[str, Any]) -> dict[str, Any]:
    if "text" in row:
        return dict(row)
    shown = {key: value for key, value in row.items() if key != "path_bytes"}
    return {**shown, "path_b64": base64.b64encode(row["path_bytes"]).decode("ascii")}
