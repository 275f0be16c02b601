"""`build-index`: a library from Parquet shards (written by `index --engine ray --shards`), built
within a memory budget: rows go to the catalog chunk by chunk and the index is built out of core
when the vectors would not fit (store.outofcore)."""

from __future__ import annotations

from pathlib import Path

from ..errors import LibraryError, LookalikeError, display_path
from ..store.ingest import IngestReport, ingest_records
from ..store.layout import LibraryPaths, model_slug
from ..store.library import Library
from ..store.outofcore import chunk_rows
from .shards import iter_chunks, read_sidecar, shard_files


def build_library(shards: Path, library: Path, budget: int, root: Path | None = None
                  ) -> tuple[Library, IngestReport]:
    """A new library under `library` (one sub-folder per model, as `--library` everywhere) holding
    every shard row; `root` overrides the folder the shards were embedded from."""
    spec, recorded = read_sidecar(shards)
    if not shard_files(shards):
        raise LookalikeError(f"{display_path(shards)}: no .parquet shards here")
    paths = LibraryPaths(library / model_slug(spec.model))
    if paths.exists():
        raise LibraryError("a library already exists here; nothing was changed", path=paths.directory)
    created = Library.create_from_spec(paths, (root or recorded).resolve(), spec)
    rows = min(chunk_rows(spec.dim, budget), 65_536)
    try:
        report = ingest_records(created, iter_chunks(shards, spec.dim, rows), budget)
    except BaseException:
        created.close()
        raise
    return created, report
