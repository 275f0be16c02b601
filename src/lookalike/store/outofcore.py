"""A library's index built within a memory budget: vectors that fit (with room for the index) get
the usual one (exact flat, or HNSW beyond 50,000); more get an IVF index whose inverted lists live
on disk (FAISS `OnDiskInvertedLists`, `vectors.ivfdata` beside `vectors.faiss`), trained on a sample
and filled chunk by chunk, so no step holds every vector in memory."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from .vectors import IndexParams, VectorIndex

IVFDATA = "vectors.ivfdata"
TRAIN_PER_LIST = 39  # FAISS warns below this many training points per list
MEMORY_FACTOR = 3  # an in-memory index needs about this many times the raw vectors (HNSW graph, copies)
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
          "t": 2**40, "tb": 2**40}

VectorChunks = Callable[[int], Iterator[tuple[np.ndarray, np.ndarray]]]
"""`chunks(rows)`: (ids, vectors) of every vector, `rows` at a time, the same order every call."""


@dataclass
class Records:
    """Files with ready vectors, to be written to a library in one transaction: relative paths and
    the facts the scan recorded, (width, height) or None, the vectors (a video's first frame), and
    (path, reason) failures; `videos` maps a video's row to (every frame's time, frames 1.. vectors)."""

    rels: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    ctimes: list[int] = field(default_factory=list)
    pictures: list[tuple[int, int] | None] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    failures: list[tuple[str, str]] = field(default_factory=list)
    videos: dict[int, tuple[list[float], np.ndarray]] = field(default_factory=dict)


def parse_memory(text: str) -> int:
    """Bytes from `4GB`, `512MB`, `1.5G` or a plain number of bytes (binary units)."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise InvalidArgumentError(f"'{text}' is not an amount of memory (e.g. 4GB, 512MB)", argument="memory")
    value = int(float(found.group(1)) * _UNITS[unit])
    if value < 64 * 2**20:
        raise InvalidArgumentError(f"the memory budget must be at least 64MB, not {text}", argument="memory")
    return value


def fits_in_memory(count: int, dim: int, budget: int) -> bool:
    """Whether an in-memory index of `count` vectors fits the budget."""
    return count * dim * 4 * MEMORY_FACTOR <= budget


def chunk_rows(dim: int, budget: int) -> int:
    """Vectors read at a time: a sixteenth of the budget (a chunk is briefly held about three times
    over while it is read from the catalog and copied into an index)."""
    return max(1024, budget // 16 // (dim * 4))


def sample_rows(dim: int, budget: int) -> int:
    """Vectors k-means trains on: a quarter of the budget."""
    return max(1024, budget // 4 // (dim * 4))


def _sample(chunks: VectorChunks, count: int, dim: int, size: int, rows: int, seed: int = 0) -> np.ndarray:
    """`size` vectors chosen at random positions, read in one pass."""
    wanted = np.sort(np.random.default_rng(seed).choice(count, size, replace=False)) if size < count else \
        np.arange(count)
    sample = np.empty((len(wanted), dim), np.float32)
    taken = position = 0
    for _, vectors in chunks(rows):
        stop = position + len(vectors)
        upto = int(np.searchsorted(wanted, stop))
        picked = wanted[taken:upto] - position
        sample[taken:upto] = vectors[picked]
        taken, position = upto, stop
    return sample[:taken]


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what C++ code prints on file descriptor 1 to 2 meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def build_ondisk_ivf(chunks: VectorChunks, count: int, dim: int, directory: Path, budget: int) -> VectorIndex:
    """An IVF-Flat index over every vector with its lists in `directory/vectors.ivfdata`: k-means on a
    sample that fits a quarter of the budget (read in chunks of a sixteenth), then each chunk added to
    a small index written to a temporary file, and the parts merged into the on-disk lists (FAISS
    contrib.ondisk)."""
    import faiss
    from faiss.contrib.ondisk import merge_ondisk

    from ..join.exact import flat_index

    rows = chunk_rows(dim, budget)
    train = min(count, sample_rows(dim, budget))
    nlist = max(1, min(int(4 * math.sqrt(count)), train // TRAIN_PER_LIST))
    trained = faiss.IndexIVFFlat(flat_index(dim=dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    trained.train(_sample(chunks, count, dim, train, rows))
    parts_dir = Path(tempfile.mkdtemp(prefix=".build-parts-", dir=directory))
    building = directory / f".{IVFDATA}.{os.getpid()}.building"
    try:
        parts = []
        for number, (ids, vectors) in enumerate(chunks(rows)):
            part = faiss.clone_index(trained)
            part.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))
            parts.append(str(parts_dir / f"part-{number:06d}.index"))
            faiss.write_index(part, parts[-1])
            del part
        index = faiss.clone_index(trained)
        with _stdout_to_stderr():  # FAISS prints "resizing ..." on stdout, where results go
            merge_ondisk(index, parts, str(building))
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    final = directory / IVFDATA
    os.replace(building, final)  # the open mapping follows the file; the index records the final name
    invlists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(index).invlists)
    invlists.filename = str(final)
    nprobe = min(nlist, max(16, nlist // 8))
    params = IndexParams(kind="ivf", nlist=nlist, nprobe=nprobe, ef_search=IndexParams().resolved(count).ef_search)
    return VectorIndex(index, params, IndexParams(kind="ivf", nlist=nlist, nprobe=nprobe))
