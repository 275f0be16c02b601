"""Fill a new library from ready vectors in chunks (shards written by the Ray engine): each chunk's
rows and vectors (a video's frames too) commit in one transaction, then the index is built within a memory budget
(outofcore), so neither step holds every vector in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

import numpy as np

from ..errors import InvalidArgumentError
from .catalog import NewFile
from .frames import count_frames, iter_frame_vectors, put_frames
from .library import Library
from .lock import writer_lock
from .outofcore import Records, build_ondisk_ivf, fits_in_memory
from .vectors import IndexParams, remove_stale_temp_files


@dataclass
class IngestReport:
    """What an ingest wrote: rows indexed and failed, and the index it built."""

    indexed: int = 0
    failed: int = 0
    index: str = ""
    on_disk: bool = False


def _commit(library: Library, records: Records) -> None:
    if len(records.rels) and records.vectors.shape[1:] != (library.spec.dim,):
        raise InvalidArgumentError(f"vectors have shape {records.vectors.shape}, the library expects "
                                   f"(n, {library.spec.dim})", argument="vectors")
    catalog = library.catalog
    with catalog.transaction():
        for row, rel in enumerate(records.rels):
            facts = NewFile(rel, records.sizes[row], records.mtimes[row], records.hashes[row],
                            ctime_ns=records.ctimes[row])
            row_id = catalog.put_indexed(facts, records.vectors[row], records.pictures[row])
            if row in records.videos:  # its moments and frames 1.., as a sync stores them
                times, more = records.videos[row]
                put_frames(catalog, row_id, list(times), np.concatenate([records.vectors[row : row + 1], more]))
        for rel, reason in records.failures:
            catalog.put_failed(NewFile(rel, 0, 0, ""), reason)
        catalog.bump_generation()


def _release_arrow_memory() -> None:
    import sys

    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()


def ingest_records(library: Library, chunks: Iterable[Records], budget: int) -> IngestReport:
    """Write every chunk (one transaction each), then build and save the index within `budget` bytes."""
    report = IngestReport()
    with writer_lock(library.paths.lock):
        remove_stale_temp_files(library.paths.directory)
        for records in chunks:
            _commit(library, records)
            report.indexed += len(records.rels)
            report.failed += len(records.failures)
        _release_arrow_memory()  # what pyarrow's pool kept from reading the shards
        counts = library.catalog.counts()
        count, dim = counts.get("indexed", 0) + count_frames(library.catalog), library.spec.dim  # items
        if fits_in_memory(count, dim, budget) or count == 0:
            index = library.keeper.build_from_catalog(IndexParams())
        else:
            def chunks_of(rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
                return chain(library.catalog.iter_vectors(dim, rows), iter_frame_vectors(library.catalog, dim, rows))

            index = build_ondisk_ivf(chunks_of, count, dim, library.paths.directory, budget)
            report.on_disk = True
        library.keeper.save(index)
    report.index = index.kind + (" (lists on disk)" if report.on_disk else "")
    return report
