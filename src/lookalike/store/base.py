"""The store interface: what any place that keeps a folder's vectors must promise.

`Library` (a SQLite catalog + a FAISS index in one directory) is the default implementation and
`MemoryStore` (a folder embedded for one call) the second; tests/unit/test_store_contract.py runs one
contract suite over every store. A PostgreSQL + pgvector store fits the same shape:

- the catalog is a `files` table (id BIGSERIAL, path BYTEA UNIQUE, size, mtime_ns, hash, width,
  height, status, error, vector vector(dim)) plus a `meta` table for the spec, root and generation;
  `commit_chunk` is one transaction; `generation` is a row bumped in the same transaction;
- `search_vector` is `ORDER BY vector <#> $1 LIMIT k` on an HNSW index (pgvector keeps it in step
  with the table transactionally, so the "index is stale" case below cannot arise), `exact=True`
  runs the same query with `SET LOCAL hnsw.ef_search` raised or the index disabled;
- the writer lock is `pg_try_advisory_lock(hash(root, model))`, released when the session ends;
- readers see a committed snapshot under READ COMMITTED / REPEATABLE READ.

Promises every implementation keeps (tests in tests/e2e/test_library_*.py check the embedded one):

- Atomicity: `commit_chunk`, `move`, `delete` each commit all of their rows and vectors or none.
  A crash (kill -9) at any moment leaves the state of the last commit; the next writer resumes
  without re-embedding what was committed.
- One writer at a time across processes: a second writer fails at once with `LibraryLockedError`
  naming the holder. Readers never wait for the writer.
- Readers (any number of threads or processes) see one committed state per call: every id a search
  returns resolves to a path in the same answer, and results never mix two generations' vectors
  with each other's paths.
- A reader notices another process's commit at its next call (the catalog generation changed) and
  answers from the new state without a restart.
- Vectors are float32, L2-normalised, of the store's `spec.dim`; a vector of another spec is refused
  with `SpecMismatchError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..embedders import Embedder, EmbeddingSpec
from ..errors import ImageReadError
from ..types import Match, PairVerdict

if TYPE_CHECKING:
    from ..pipeline import PipelineOptions
    from .vectors import IndexParams

Checkpoint = Callable[[str], None]
"""Called with a step's name at each durable step of a sync (crash tests pause or kill there)."""


@dataclass
class SyncReport:
    """What a sync did."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    touched: int = 0
    unchanged: int = 0
    embedded: int = 0
    failures: list[ImageReadError] = field(default_factory=list)
    index_rebuilt: bool = False
    seconds: float = 0.0
    added_ids: list[int] = field(default_factory=list)
    unreadable: list[ImageReadError] = field(default_factory=list)  # folders/files kept as they were


@dataclass
class LibraryStats:
    """Counts and failures of a library; `pending`/`missing` come from a quick stat of the folder."""

    root: str
    model: str
    dim: int
    index: str
    indexed: int
    failed: int
    pending: int | None
    missing: int | None
    failures: list[tuple[str, str]]


@dataclass(frozen=True)
class StoredFile:
    """One indexed file as a store describes it."""

    id: int
    path: Path
    size: int
    hash: str
    width: int | None
    height: int | None


@dataclass
class Snapshot:
    """Every indexed file of a store with its unit vector (row i is `paths[i]`), from one committed
    state: catalog ids (ascending), content hashes, the spec, and the files that could not be read.
    A video has one row per sampled frame (same path and hash); `times` then holds each row's moment
    in seconds (None for a photo; an empty list: no videos)."""

    ids: np.ndarray
    paths: list[Path]
    hashes: list[str]
    vectors: np.ndarray
    spec: EmbeddingSpec
    failures: list[ImageReadError] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def time_of(self, row: int) -> float | None:
        """Row `row`'s moment in its video (None for a photo)."""
        return self.times[row] if self.times else None

    def item_groups(self) -> np.ndarray | None:
        """One label per row, shared by the frames of one video (so a join can leave pairs inside a
        video out); None when every row is its own file."""
        if not any(t is not None for t in self.times):
            return None
        labels: dict[Path, int] = {}
        return np.fromiter((labels.setdefault(p, len(labels)) for p in self.paths), np.int64, len(self.paths))


@runtime_checkable
class VectorStore(Protocol):
    """A folder's vectors under one embedding spec, kept in step with the folder by `sync`.

    Implementations: `store.library.Library` (SQLite catalog + FAISS index on disk, the default) and
    `store.memory.MemoryStore` (a folder embedded for one call, nothing written). Callers (similarity,
    dedupe, the service) are typed against this protocol only.
    """

    @property
    def spec(self) -> EmbeddingSpec:
        """What produced the vectors (model, preprocessing, dimension)."""
        ...

    @property
    def root(self) -> Path:
        """The folder the store indexes."""
        ...

    @property
    def location(self) -> Path:
        """Where the store lives (the library directory, or the folder for an in-memory store)."""
        ...

    @property
    def persistent(self) -> bool:
        """Whether writes (sync results, decisions, metadata) outlive the process."""
        ...

    @property
    def writable(self) -> bool:
        """Whether this open store may be changed (a library on read-only storage may not)."""
        ...

    def sync(self, retry_failed: bool = False, options: PipelineOptions | None = None,
             index_params: IndexParams | None = None, rebuild_index: bool = False,
             checkpoint: Checkpoint | None = None, rehash: bool = False) -> SyncReport:
        """Bring the store in line with its folder (stat, hash what changed, embed only new or changed
        files, keep moved files' vectors, drop deleted ones). Takes the writer lock."""
        ...

    def embedder(self) -> Embedder:
        """The store's model, built on first use and checked against the spec."""
        ...

    def id_of(self, path: str | os.PathLike[str]) -> tuple[int | None, bool]:
        """(id of the file `path` names when it is indexed here, whether its stored vector is current)."""
        ...

    def search_vector(self, vector: np.ndarray, k: int = 10, exclude: int | None = None,
                      threshold: float | None = None, exact: bool = False, ef_search: int | None = None,
                      nprobe: int | None = None) -> list[Match]:
        """The k stored files most similar to a unit vector, best first; `exclude` is an id to leave
        out (the query itself); `exact` bypasses any approximate index; `ef_search`/`nprobe` tune an
        HNSW/IVF index for this call."""
        ...

    def vector_of(self, file_id: int) -> np.ndarray | None:
        """The stored vector of one file, or None when the id is unknown."""
        ...

    def files(self, ids: Sequence[int]) -> dict[int, StoredFile]:
        """The facts of these ids (unknown ids are absent from the answer)."""
        ...

    def snapshot(self) -> Snapshot:
        """Every indexed file with its vector and hash, from one committed state."""
        ...

    def iter_vectors(self, chunk: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of every indexed file in id order, `chunk` rows at a time (for joins and
        export), all from one committed state."""
        ...

    def next_id(self) -> int:
        """The id the next newly indexed file will get at least."""
        ...

    def remove(self, files: Sequence[str | os.PathLike[str]]) -> int:
        """Drop files by path; returns how many were removed. Takes the writer lock."""
        ...

    def failures(self) -> list[ImageReadError]:
        """The files recorded as unreadable, with their reasons."""
        ...

    def stats(self, scan: bool = True) -> LibraryStats:
        """Counts, index kind and failures; with `scan`, what a sync would do."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A stored setting of this store (None when unset or not persistent)."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting, under the writer lock (refused where the store is not persistent)."""
        ...

    def update_meta(self, key: str, change: Callable[[str | None], str]) -> str:
        """Replace a setting by `change(current value)` under the writer lock, so two writers changing it
        at once both count (refused where the store is not persistent); returns the value stored."""
        ...

    def distinct_pairs(self) -> set[tuple[str, str]]:
        """The "not a duplicate" decisions: (hash_a, hash_b) with hash_a < hash_b."""
        ...

    def record_distinct(self, hashes: Sequence[str]) -> int:
        """Mark every pair among these content hashes as distinct; returns how many pairs were new."""
        ...

    def verdicts(self, pairs: Sequence[tuple[str, str]], method: str) -> dict[tuple[str, str], PairVerdict]:
        """Stored photo-level evidence for these content-hash pairs (either order) measured by `method`,
        keyed (low hash, high hash); pairs never checked are absent."""
        ...

    def record_verdicts(self, verdicts: Sequence[PairVerdict]) -> int:
        """Keep photo-level evidence (hash_a < hash_b; a pair already stored for its method is replaced)
        in one transaction, under the writer lock; returns how many were written."""
        ...

    def close(self) -> None:
        """Release connections and files; the store must not be used afterwards."""
        ...
