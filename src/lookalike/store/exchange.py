"""Export a library as Parquet (one row per file: id, path, hash, facts and the vector, with the
embedding spec in the schema metadata) or as .npy + a JSON sidecar, and build a library back from
either: the formats clip-retrieval, LanceDB and pandas users read."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import EmbeddingSpec
from ..errors import LookalikeError, display_path
from .catalog import NewFile
from .layout import LibraryPaths, model_slug
from .library import Library

COLUMNS = ("id", "path", "hash", "size", "mtime_ns", "width", "height")


def _records(library: Library) -> tuple[list[dict[str, Any]], np.ndarray]:
    rows, blobs = [], []
    with library.catalog.snapshot():
        for row_id, path, digest, size, mtime, width, height, blob in library.catalog.export_rows():
            rows.append({"id": row_id, "path": display_path(path), "hash": digest, "size": size,
                         "mtime_ns": mtime, "width": width, "height": height})
            blobs.append(blob)
    dim = library.spec.dim
    vectors = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim) if blobs else \
        np.zeros((0, dim), np.float32)
    return rows, vectors


def export_library(library: Library, out: Path, fmt: str) -> list[Path]:
    """Write the library's files and vectors; returns the files written."""
    rows, vectors = _records(library)
    meta = {"spec": asdict(library.spec), "root": str(library.root), "count": len(rows)}
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({
            **{column: [row[column] for row in rows] for column in COLUMNS},
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), library.spec.dim),
        }).replace_schema_metadata({"lookalike": json.dumps(meta)})
        target = out if out.suffix == ".parquet" else out.with_suffix(".parquet")
        pq.write_table(table, target)
        return [target]
    if fmt == "npy":
        target = out.with_suffix(".npy")
        sidecar = out.with_suffix(".json")
        np.save(target, vectors)
        sidecar.write_text(json.dumps({**meta, "rows": rows}, indent=1))
        return [target, sidecar]
    raise LookalikeError(f"unknown export format '{fmt}': choose parquet or npy")


def _read(source: Path) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray]:
    if source.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(source)
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
    return meta, meta.pop("rows"), np.load(vectors_path).astype(np.float32)


def import_library(source: Path, library_dir: Path | None, root: Path | None) -> Library:
    """A new library holding the exported vectors; `root` overrides the exported folder."""
    meta, rows, vectors = _read(source)
    if len(rows) != len(vectors):
        raise LookalikeError(f"{source}: {len(rows)} rows but {len(vectors)} vectors")
    spec = EmbeddingSpec.from_dict(meta["spec"])
    folder = (root or Path(meta["root"])).resolve()
    home = library_dir if library_dir is not None else folder / ".lookalike"
    paths = LibraryPaths(home / model_slug(spec.model))
    library = Library.create_from_spec(paths, folder, spec)
    files = [NewFile(os.fspath(r["path"]), int(r["size"]), int(r["mtime_ns"]), str(r["hash"])) for r in rows]
    sizes = [(int(r["width"]), int(r["height"])) if r.get("width") else None for r in rows]
    library.add_vectors(files, vectors, sizes)
    return library
