"""Vectors for any files, without a library, written in the export's schema (store/exchange.py) so that
`lookalike import` builds a library from them and pandas, DuckDB or pyarrow read them: Parquet
(path, path_bytes, hash, size, mtime_ns, width, height, vector; the spec in the schema metadata), .npy
(+ the .json sidecar the export writes) or JSON lines. Written chunk by chunk: memory stays one chunk."""

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
    """One chunk of embedded files: rows (the export's columns, no vector) and their vectors."""

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
    pipeline = Pipeline(embedder, PipelineOptions(options.batch_size, options.workers, options.max_pixels))
    done = 0
    for start in range(0, len(files), chunk):
        part = files[start : start + chunk]
        rows, vectors, failures, good = [], [], [], []
        for batch in pipeline.iter_batches(part):
            failures.extend(batch.failures)
            good.extend(batch.paths)
            for position, path in enumerate(batch.paths):
                rows.append(_row(path, root, batch.sizes[position] if batch.sizes else None))
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


def metadata(spec: EmbeddingSpec, root: Path, count: int) -> dict[str, Any]:
    """The export's schema metadata (spec, root, count)."""
    return {"spec": asdict(spec), "root": str(root), "count": count}


def write_lines(chunks: Iterable[Chunk], emit: Callable[[str], None]) -> Iterator[Chunk]:
    """Each row as one JSON line ({"path", "hash", "vector"}, the path relative to the working folder
    when below it; {"text", "vector"} for texts), passed on chunk by chunk."""
    here = Path.cwd()
    for chunk in chunks:
        for position, (row, vector) in enumerate(zip(chunk.rows, chunk.vectors, strict=True)):
            record: dict[str, Any] = {"text": row["text"]} if "text" in row else \
                {"path": _shown(chunk.files[position], here), "hash": row["hash"]}
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
                      ("height", pa.int64()), vector])


def _table(pa: Any, chunk: Chunk, schema: Any, dim: int, texts: bool) -> Any:
    columns = {name: [row[name] for row in chunk.rows] for name in schema.names if name != "vector"}
    flat = pa.array(chunk.vectors.ravel(), pa.float32())
    return pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(flat, dim)}, schema=schema)


def write_npy(out: Path, chunks: Iterable[Chunk], spec: EmbeddingSpec, root: Path, capacity: int) -> Iterator[Chunk]:
    """Vectors into an .npy opened as a memory map sized for `capacity` rows up front (cut to the rows
    written at the end), the rows in the export's .json sidecar."""
    from numpy.lib.format import open_memmap

    sidecar = out.with_suffix(".json")
    pending = out.with_name(f".{out.name}.part")
    rows: list[dict[str, Any]] = []
    try:
        block = open_memmap(pending, mode="w+", dtype=np.float32, shape=(max(capacity, 0), spec.dim))
        for chunk in chunks:
            block[len(rows) : len(rows) + len(chunk.rows)] = chunk.vectors
            rows.extend(_sidecar_row(row) for row in chunk.rows)
            yield chunk
        block.flush()
        del block
        if len(rows) == capacity:
            pending.replace(out)
        else:  # some files were skipped: copy the rows written, block by block
            kept = open_memmap(out, mode="w+", dtype=np.float32, shape=(len(rows), spec.dim))
            source = np.load(pending, mmap_mode="r")
            for start in range(0, len(rows), 65536):
                kept[start : start + 65536] = source[start : start + 65536]
            kept.flush()
            del kept, source
        sidecar.write_text(json.dumps({**metadata(spec, root, len(rows)), "rows": rows}, indent=1))
    except OSError as exc:
        raise LookalikeError(f"{display_path(out)}: cannot write ({exc.strerror or exc})") from None
    finally:
        pending.unlink(missing_ok=True)


def _sidecar_row(row: dict[str, Any]) -> dict[str, Any]:
    if "text" in row:
        return dict(row)
    shown = {key: value for key, value in row.items() if key != "path_bytes"}
    return {**shown, "path_b64": base64.b64encode(row["path_bytes"]).decode("ascii")}
