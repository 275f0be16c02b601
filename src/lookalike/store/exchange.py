"""Export a library as Parquet (one row per file: id, path, hash, facts and the vector, with the
embedding spec in the schema metadata) or as .npy + a JSON sidecar, and build a library back from
either: the formats clip-retrieval, LanceDB and pandas users read.

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
from .catalog import NewFile
from .layout import STATE_DIR, LibraryPaths, model_slug
from .library import Library

COLUMNS = ("id", "path", "hash", "size", "mtime_ns", "width", "height")
_BYTES_COLUMN = "path_bytes"


def _records(library: Library | VectorStore) -> tuple[list[dict[str, Any]], np.ndarray]:
    if not isinstance(library, Library):  # a store that lists its own records (PostgresStore)
        records: tuple[list[dict[str, Any]], np.ndarray] = cast(Any, library).export_records()
        return records
    rows, blobs = [], []
    with library.catalog.snapshot():
        for row_id, path, digest, size, mtime, width, height, blob in library.catalog.export_rows():
            rows.append({"id": row_id, "path": display_path(path), "hash": digest, "size": size,
                         "mtime_ns": mtime, "width": width, "height": height, _BYTES_COLUMN: os.fsencode(path)})
            blobs.append(blob)
    dim = library.spec.dim
    vectors = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim) if blobs else \
        np.zeros((0, dim), np.float32)
    return rows, vectors


def export_library(library: Library | VectorStore, out: Path, fmt: str) -> list[Path]:
    """Write the library's files and vectors; returns the files written."""
    if fmt not in ("parquet", "npy"):
        raise LookalikeError(f"unknown export format '{fmt}': choose parquet or npy")
    if not out.parent.is_dir():
        raise LookalikeError(f"{display_path(out)}: its folder {display_path(out.parent)} does not exist")
    if out.is_dir():
        raise LookalikeError(f"{display_path(out)}: is a folder; name the file to write")
    rows, vectors = _records(library)
    meta = {"spec": asdict(library.spec), "root": str(library.root), "count": len(rows)}
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            **{column: [row[column] for row in rows] for column in COLUMNS},
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


def import_library(source: Path, library_dir: Path | None, root: Path | None) -> Library:
    """A new library holding the exported vectors; `root` overrides the exported folder."""
    if not source.is_file():
        raise LookalikeError(f"{display_path(source)}: no such file")
    meta, rows, vectors = _read(source)
    if len(rows) != len(vectors):
        raise LookalikeError(f"{source}: {len(rows)} rows but {len(vectors)} vectors")
    try:
        spec = EmbeddingSpec.from_dict(meta["spec"])
        files = [NewFile(_row_path(r), int(r["size"]), int(r["mtime_ns"]), str(r["hash"])) for r in rows]
        sizes = [(int(r["width"]), int(r["height"])) if r.get("width") else None for r in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise LookalikeError(f"{display_path(source)}: not a readable lookalike export (bad field {exc})") from None
    folder = (root or Path(meta["root"])).resolve()
    home = library_dir if library_dir is not None else folder / STATE_DIR
    paths = LibraryPaths(home / model_slug(spec.model))
    library = Library.create_from_spec(paths, folder, spec)
    if library is None:
        raise LibraryError(f"{paths.directory}: a library already exists here; nothing was changed")
    library.add_vectors(files, vectors, sizes)
    return library
