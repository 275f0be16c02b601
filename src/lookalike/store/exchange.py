"""Export a library as Parquet (one row per vector: id, path, hash, facts, `time` and the vector, with
the embedding spec in the schema metadata) or as .npy + a JSON sidecar, and build a library back from
either: the formats clip-retrieval, LanceDB and pandas users read.

A photo is one row, `time` null; a video one row per sampled frame, consecutive, first frame first,
each with its moment in seconds (`time`), all sharing the file's id, path, hash and facts. The
metadata's `count` is the number of files, `vectors` the number of rows. Import makes the rows of one
path one file again: the row with the lowest time is the file's vector, the others its frames.
Exports written before `time` existed (one row per file) read as they always did.

File names round-trip as bytes: `path` is the readable text (undecodable bytes shown as U+FFFD) and
`path_bytes` (Parquet binary; base64 `path_b64` in the .npy sidecar) the exact name. Exports written
before `path_bytes` existed are still read (their `path` is used as is)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..embedders import EmbeddingSpec
from ..errors import LibraryError, LookalikeError, display_path
from .base import VectorStore
from .frames import export_items
from .ingest import ingest_records
from .layout import STATE_DIR, LibraryPaths, model_slug
from .library import Library
from .outofcore import Records

COLUMNS = ("id", "path", "hash", "size", "mtime_ns", "width", "height")
TIME = "time"
_BYTES_COLUMN = "path_bytes"
_IN_MEMORY = 1 << 62  # an import holds the export whole, so its index is built in memory as before


def _records(library: Library | VectorStore) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One row per vector (a video once per frame, first frame first) and the vectors."""
    if not isinstance(library, Library):  # a store that lists its own records (PostgresStore)
        records: tuple[list[dict[str, Any]], np.ndarray] = cast(Any, library).export_records()
        return records
    rows, blobs = [], []
    with library.catalog.snapshot():
        for row_id, path, digest, size, mtime, width, height, moment, blob in export_items(library.catalog):
            rows.append({"id": row_id, "path": display_path(path), "hash": digest, "size": size, "mtime_ns": mtime,
                         "width": width, "height": height, TIME: moment, _BYTES_COLUMN: os.fsencode(path)})
            blobs.append(blob)
    dim = library.spec.dim
    vectors = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim) if blobs else \
        np.zeros((0, dim), np.float32)
    return rows, vectors


def export_library(library: Library | VectorStore, out: Path, fmt: str) -> list[Path]:
    """Write the library's files and vectors (a video's every frame); returns the files written."""
    if fmt not in ("parquet", "npy"):
        raise LookalikeError(f"unknown export format '{fmt}': choose parquet or npy")
    if not out.parent.is_dir():
        raise LookalikeError(f"{display_path(out)}: its folder {display_path(out.parent)} does not exist")
    if out.is_dir():
        raise LookalikeError(f"{display_path(out)}: is a folder; name the file to write")
    rows, vectors = _records(library)
    meta = {"spec": asdict(library.spec), "root": str(library.root), "count": len({row["id"] for row in rows}),
            "vectors": len(rows)}
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            **{column: [row[column] for row in rows] for column in COLUMNS},
            TIME: pa.array([row[TIME] for row in rows], pa.float64()),
            _BYTES_COLUMN: pa.array([row[_BYTES_COLUMN] for row in rows], pa.binary()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), library.spec.dim),
        }).replace_schema_metadata({"lookalike": json.dumps(meta)})
        target = out if out.suffix == ".parquet" else out.with_suffix(".parquet")
        _write_or_explain(target, lambda: pq.write_table(table, target))
        return [target]
    target = out.with_suffix(".npy")
    sidecar = out.with_suffix(".json")
    for row in rows:
        row["path_b64"] = base64.b64encode(row.pop(_BYTES_COLUMN)).decode("ascii")
    _write_or_explain(target, lambda: np.save(target, vectors))
    _write_or_explain(sidecar, lambda: sidecar.write_text(json.dumps({**meta, "rows": rows}, indent=1)))
    return [target, sidecar]


def _write_or_explain(target: Path, write: Any) -> None:
    try:
        write()
    except OSError as exc:
        raise LookalikeError(f"{display_path(target)}: cannot write the export ({exc.strerror or exc})") from None


def _row_path(row: dict[str, Any]) -> str:
    """The exact file name of an exported row (bytes when the export has them, else its text)."""
    if row.get(_BYTES_COLUMN) is not None:
        return os.fsdecode(bytes(row[_BYTES_COLUMN]))
    if row.get("path_b64"):
        return os.fsdecode(base64.b64decode(row["path_b64"]))
    return os.fspath(row["path"])


def _read(source: Path) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray]:
    try:
        return _read_export(source)
    except LookalikeError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise LookalikeError(f"{display_path(source)}: not a readable lookalike export ({first})") from None


def _read_export(source: Path) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray]:
    if source.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(source)
        except pa.ArrowException as exc:
            raise ValueError(str(exc)) from None
        raw = (table.schema.metadata or {}).get(b"lookalike")
        if raw is None:
            raise LookalikeError(f"{source}: not a lookalike export (no 'lookalike' schema metadata)")
        meta = json.loads(raw)
        vectors = np.asarray(table.column("vector").combine_chunks().flatten(), dtype=np.float32)
        rows = table.drop_columns(["vector"]).to_pylist()
        return meta, rows, vectors.reshape(len(rows), -1) if rows else vectors.reshape(0, meta["spec"]["dim"])
    vectors_path, sidecar = source.with_suffix(".npy"), source.with_suffix(".json")
    if not (vectors_path.is_file() and sidecar.is_file()):
        raise LookalikeError(f"{source}: expected a .parquet file or a .npy with its .json sidecar")
    meta = json.loads(sidecar.read_text())
    return meta, meta.pop("rows"), np.load(vectors_path, allow_pickle=False).astype(np.float32)


def _group(source: Path, rows: list[dict[str, Any]], vectors: np.ndarray) -> Records:
    """The rows of one path as one file: the row with the lowest time on the file row, the others its
    frames; a row without a time is a photo (or a file of an export from before times)."""
    by_path: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        by_path.setdefault(_row_path(row), []).append(position)
    records, firsts = Records(), list[int]()
    for rel, positions in by_path.items():
        if len(positions) > 1:
            if any(rows[p].get(TIME) is None for p in positions):
                raise LookalikeError(f"{display_path(source)}: {len(positions)} rows for {display_path(rel)}, "
                                     "not all with a time (only a video's frames share a path)")
            positions.sort(key=lambda p: float(rows[p][TIME]))
        first = rows[positions[0]]
        if first.get(TIME) is not None:
            records.videos[len(firsts)] = ([float(rows[p][TIME]) for p in positions], vectors[positions[1:]])
        firsts.append(positions[0])
        records.rels.append(rel)
        records.hashes.append(str(first["hash"]))
        records.sizes.append(int(first["size"]))
        records.mtimes.append(int(first["mtime_ns"]))
        records.ctimes.append(0)
        records.pictures.append((int(first["width"]), int(first["height"])) if first.get("width") else None)
    records.vectors = vectors[firsts]
    return records


def import_library(source: Path, library_dir: Path | None, root: Path | None) -> Library:
    """A new library holding the exported vectors (a video with all its frames); `root` overrides the
    exported folder."""
    if not source.is_file():
        raise LookalikeError(f"{display_path(source)}: no such file")
    meta, rows, vectors = _read(source)
    if len(rows) != len(vectors):
        raise LookalikeError(f"{source}: {len(rows)} rows but {len(vectors)} vectors")
    try:
        spec = EmbeddingSpec.from_dict(meta["spec"])
        records = _group(source, rows, vectors)
    except (KeyError, TypeError, ValueError) as exc:
        raise LookalikeError(f"{display_path(source)}: not a readable lookalike export (bad field {exc})") from None
    folder = (root or Path(meta["root"])).resolve()
    home = library_dir if library_dir is not None else folder / STATE_DIR
    paths = LibraryPaths(home / model_slug(spec.model))
    library = Library.create_from_spec(paths, folder, spec)
    if library is None:
        raise LibraryError(f"{paths.directory}: a library already exists here; nothing was changed")
    try:
        ingest_records(library, [records], _IN_MEMORY)
    except BaseException:
        library.close()
        raise
    return library
