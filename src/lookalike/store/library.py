"""A library: a folder indexed once with one model, kept in step with the folder by `sync`, and
searched many times, from any number of threads (see `store.base` for the promises it keeps).

The parts, one job each: `opening` (find, open, create), `catalog` (SQLite rows + vectors),
`index_keeper` (the FAISS index and its manifest, shared by threads), `syncer` (the sync steps),
`scan` (change detection), `lock` (one writer across processes).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import Embedder, EmbeddingSpec, create_embedder
from ..errors import ImageReadError, InvalidArgumentError, LibraryError, LibraryLockedError, SpecMismatchError
from ..join.exact import knn, rank_hits
from ..pipeline import PipelineOptions
from ..types import Match, PairVerdict
from .base import Checkpoint, LibraryStats, Snapshot, StoredFile, SyncReport
from .catalog import Catalog, NewFile
from .decisions import distinct_pairs, record_distinct, record_verdicts, verdicts
from .engine import EmbedEngine
from .frames import (
    FILE_MASK,
    FRAME_SHIFT,
    all_item_vectors,
    drop_frames,
    file_times,
    frame_items,
    frame_vectors,
    item_times,
)
from .index_keeper import IndexKeeper
from .layout import LibraryPaths, is_inside, library_home
from .lock import writer_lock
from .opening import (
    OpenedCatalog,
    create_catalog,
    find_paths,
    missing_library_error,
    open_catalog,
    remove_unfinished,
    unfinished_creation,
)
from .scan import count_pending, scan_folder
from .syncer import Syncer
from .vectors import IndexParams

_FETCH_MARGIN = 8  # extra candidates fetched so that dropping the query itself still leaves k


class Library:
    """One model's index of one folder on disk (a `store.base.VectorStore`)."""

    def __init__(self, opened: OpenedCatalog, model: str | Embedder | None = None,
                 embed_options: dict[str, Any] | None = None) -> None:
        self.paths: LibraryPaths = opened.paths
        self.catalog: Catalog = opened.catalog
        self.spec: EmbeddingSpec = opened.spec
        self.root: Path = opened.root
        self._model = model
        self._embed_options = embed_options or {}
        self._embedder = model if isinstance(model, Embedder) else None
        self._embedder_lock = threading.Lock()
        self._factory: Callable[[], Embedder] | None = None
        self._write_guard = threading.Lock()
        self.keeper = IndexKeeper(self.paths, self.catalog, self.spec, self.root)

    # opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | os.PathLike[str] | None = None, model: str | Embedder | None = None,
             library: str | os.PathLike[str] | None = None, create: bool = False, readonly: bool = False,
             home: str | os.PathLike[str] | None = None, **embed_options: Any) -> Library:
        """Open the library of `folder` (or at `library`) for `model`; `create=True` makes it if absent.

        Creating a library loads the model (to learn its spec); opening an existing one does not.
        `home` is where libraries of folders live when not in the folder itself (settings.home).
        """
        root = Path(folder).resolve() if folder is not None else None
        explicit = Path(library) if library is not None else None
        home_dir = library_home(root, explicit, Path(home) if home is not None else None)
        model_name = model.spec.model if isinstance(model, Embedder) else model
        paths = find_paths(home_dir, model_name, create)
        if paths.exists() and create and unfinished_creation(paths):
            remove_unfinished(paths)  # a creation killed before its first commit starts again
        if not paths.exists():
            if not create:
                raise missing_library_error(paths, home_dir, model_name)
            if root is None:
                raise LibraryError("creating a library needs the folder to index", argument="folder")
            embedder = model if isinstance(model, Embedder) else create_embedder(model, **embed_options)
            created = create_catalog(paths, root, embedder.spec, exist_ok=True)
            if created is not None:
                return cls(created, embedder, embed_options)
            model = embedder  # another process created it meanwhile: open theirs
        opened = cls(open_catalog(paths, root, is_inside(root, home_dir), readonly), model, embed_options)
        try:
            opened._check_model(model)
        except SpecMismatchError:
            opened.close()
            raise
        return opened

    @classmethod
    def create_from_spec(cls, paths: LibraryPaths, root: Path, spec: EmbeddingSpec) -> Library:
        """A new, empty library for vectors of `spec` (no model is loaded)."""
        created = create_catalog(paths, root, spec)
        assert created is not None  # exist_ok=False raises instead
        return cls(created)

    def model_location(self) -> str:
        """How to build the library's model from anywhere: a model file or directory by its absolute
        path (a relative name only works from where it was indexed), else its registry name or id."""
        for candidate in (self.spec.extra.get("path"), self.spec.source):
            if isinstance(candidate, str) and candidate.startswith("/") and Path(candidate).exists():
                return candidate
        return self.spec.model

    def same_model(self, name: str) -> bool:
        """Whether `name` names the library's model (another spelling of the same path counts)."""
        if name == self.spec.model:
            return True
        try:
            return Path(name).exists() and Path(name).resolve() == Path(self.model_location()).resolve()
        except OSError:
            return False

    def _check_model(self, model: str | Embedder | None) -> None:
        if isinstance(model, Embedder):
            self.spec.check_compatible(model.spec, f"library {self.paths.directory}")
        elif model is not None and not self.same_model(model):
            raise SpecMismatchError(
                f"library {self.paths.directory} was built with model '{self.spec.model}' but the query "
                f"uses '{model}'", expected=self.spec.model, given=model,
            )

    @property
    def location(self) -> Path:
        return self.paths.directory

    @property
    def persistent(self) -> bool:
        return True

    @property
    def writable(self) -> bool:
        return not self.catalog.readonly

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the model, only when needed ---------------------------------------------------------------
    def set_embedder_factory(self, factory: Callable[[], Embedder]) -> None:
        """Where the model comes from when one is needed (the service shares its loaded models)."""
        self._factory = factory

    def embedder(self) -> Embedder:
        """The library's model, loaded once on first use and checked against the library's spec."""
        with self._embedder_lock:
            if self._embedder is None:
                name = self._model if isinstance(self._model, str) else self.model_location()
                embedder = self._factory() if self._factory else create_embedder(name, **self._embed_options)
                self.spec.check_compatible(embedder.spec, f"library {self.paths.directory}")
                self._embedder = embedder
            return self._embedder

    # sync -------------------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer per library inside this process (the file lock covers other processes)."""
        if not self._write_guard.acquire(blocking=False):
            raise LibraryLockedError("another thread of this process is updating this library; wait for it "
                                     "to finish (searches keep working meanwhile)", path=self.paths.directory)
        try:
            yield
        finally:
            self._write_guard.release()

    def sync(self, retry_failed: bool = False, options: PipelineOptions | None = None,
             index_params: IndexParams | None = None, rebuild_index: bool = False,
             checkpoint: Checkpoint | None = None, rehash: bool = False,
             engine: EmbedEngine | None = None) -> SyncReport:
        """Bring the library in line with its folder; embeds only new or changed files (`rehash`:
        hash every file instead of trusting unchanged size, mtime and ctime).
        `checkpoint(name)` is called at each durable step (crash tests pause there); `engine` embeds
        the files (default: this process's pipeline; `lookalike.scale` has a Ray one)."""
        syncer = Syncer(self.paths, self.catalog, self.keeper, self.root, self.embedder, checkpoint)
        with self._writing():
            return syncer.run(retry_failed, options, index_params, rebuild_index, rehash, engine)

    # queries ----------------------------------------------------------------------------------
    def id_of(self, path: str | os.PathLike[str]) -> tuple[int | None, bool]:
        """(catalog id of `path` when it is an indexed file of this library, whether its stored
        vector is still current: same size and mtime as on disk)."""
        candidate = Path(path)
        try:
            rel = candidate.resolve().relative_to(self.root).as_posix()
            info = candidate.stat()
        except (ValueError, OSError):
            return None, False
        row = self.catalog.row_for_path(rel)
        if row is None or row.status != "indexed":
            return None, False
        return row.id, (row.size, row.mtime_ns) == (info.st_size, info.st_mtime_ns)

    def vector_of(self, file_id: int) -> np.ndarray | None:
        """The stored vector of one file (None for an unknown id)."""
        return self.catalog.vector_for(int(file_id), self.spec.dim)

    def search_vector(self, vector: np.ndarray, k: int = 10, exclude: int | None = None,
                      threshold: float | None = None, exact: bool = False, ef_search: int | None = None,
                      nprobe: int | None = None) -> list[Match]:
        """Search with a ready unit vector (checked to have the library's dimension)."""
        if vector.shape[-1] != self.spec.dim:
            raise InvalidArgumentError(
                f"query vector has {vector.shape[-1]} dimensions, the library {self.spec.dim}", argument="vector")
        with self.catalog.snapshot():
            if exact:
                ids, vectors = all_item_vectors(self.catalog, self.spec.dim)
                frames = int(np.count_nonzero(ids >> FRAME_SHIFT))  # a video's frames beyond its first
                scores, rows = knn(vectors, vector[None, :], min(k + (exclude is not None) + frames, max(len(ids), 1)))
                keys = np.where(rows[0] >= 0, ids[np.maximum(rows[0], 0)], -1)
                return self._hits(scores[0], keys, k, exclude, threshold)
            generation = self.catalog.generation()
            fetch = k + (exclude is not None) + _FETCH_MARGIN
            while True:
                # while a writer syncs, the index may hold ids this snapshot no longer has (or not yet):
                # they are dropped before the cut at k, fetching more until k remain or none are left;
                # a video's other frames are dropped the same way (one hit per file)
                scores_row, keys, total = self.keeper.search(vector, fetch, generation, ef_search, nprobe)
                visible = self._hits(scores_row, keys, fetch, exclude, threshold)
                cut = threshold is not None and len(scores_row) > 0 and scores_row[-1] < threshold
                if len(visible) >= k or fetch >= total or cut:
                    return visible[:k]
                fetch = min(fetch * 4, total)

    def _hits(self, scores: np.ndarray, items: np.ndarray, k: int, exclude: int | None,
              threshold: float | None) -> list[Match]:
        """Index answers (item ids) as at most `k` hits on files this snapshot holds: each file once, at
        its best frame, with that frame's moment; `exclude` (a file id) left out."""
        found = [(s, i) for s, i in rank_hits(scores, items, len(items), None, threshold)
                 if i & FILE_MASK != exclude]
        paths = self.catalog.paths_for({i & FILE_MASK for _, i in found})
        times = item_times(self.catalog, [i for _, i in found])
        best: dict[int, Match] = {}
        for score, item in found:
            file_id = item & FILE_MASK
            if file_id in paths and file_id not in best:
                best[file_id] = Match(self.root / paths[file_id], score, file_id, times.get(item))
        return list(best.values())[:k]

    def vectors(self) -> tuple[list[Path], np.ndarray]:
        """Every indexed file and its vector (for pairs, duplicates, evaluation and export)."""
        with self.catalog.snapshot():
            ids, vectors = self.catalog.vectors(self.spec.dim)
            paths = self.catalog.paths_for(ids)
        return [self.root / paths[int(i)] for i in ids], vectors

    def snapshot(self) -> Snapshot:
        """Every indexed file with its stored vector and hash, from one committed state."""
        with self.catalog.snapshot():
            ids, paths, hashes, vectors = self.catalog.indexed(self.spec.dim)
            items, extra, moments = frame_vectors(self.catalog, self.spec.dim)
            times = file_times(self.catalog, ids.tolist()) if len(items) else []
        full = [self.root / p for p in paths]
        if not len(items):
            return Snapshot(ids, full, hashes, vectors, self.spec, self.failures())
        row_of = {int(i): row for row, i in enumerate(ids)}  # a video's frames 1.. follow its file row
        owners = [row_of[int(i & FILE_MASK)] for i in items]
        order = np.argsort(np.concatenate([ids, ids[owners]]), kind="stable")
        every_id = np.concatenate([ids, ids[owners]])[order]
        return Snapshot(every_id, [(full + [full[o] for o in owners])[r] for r in order],
                        [(hashes + [hashes[o] for o in owners])[r] for r in order],
                        np.concatenate([vectors, extra])[order], self.spec, self.failures(),
                        [(times + moments)[r] for r in order])

    def next_id(self) -> int:
        return self.catalog.max_id() + 1

    def iter_vectors(self, chunk: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, `chunk` rows at a time, from one committed state."""
        yield from self.catalog.iter_vectors(self.spec.dim, chunk)

    def files(self, ids: Sequence[int]) -> dict[int, StoredFile]:
        """The facts (path, size, hash, width, height) of these ids."""
        rows = self.catalog.rows_for_ids(ids)
        return {i: StoredFile(i, self.root / r.path, r.size, r.hash, r.width, r.height) for i, r in rows.items()
                if r.status == "indexed"}

    # maintenance ------------------------------------------------------------------------------
    def remove(self, files: Sequence[str | os.PathLike[str]]) -> int:
        """Drop files (paths inside the root) from the library; returns how many were removed.

        Files still on disk come back at the next sync.
        """
        rows = self.catalog.rows()
        ids, unknown = [], []
        for file in files:
            path = Path(file)
            try:  # a path as the user sees it (absolute, or relative to the working directory)
                rel = path.resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):  # else a path relative to the library's root
                rel = path.as_posix()
            if rel not in rows:
                rel = path.as_posix()
            if rel in rows:
                ids.append(rows[rel].id)
            else:
                unknown.append(path)
        if unknown:  # checked before anything is removed
            others = f" (and {len(unknown) - 1} other path(s))" if len(unknown) > 1 else ""
            raise LibraryError(f"not in the library {self.paths.directory}{others}; nothing was removed",
                               path=unknown[0], not_in_library=len(unknown))
        if not ids:
            return 0
        with self._writing(), writer_lock(self.paths.lock):
            current = self.keeper.saved_index()
            frames = frame_items(self.catalog, ids)
            with self.catalog.transaction():
                self.catalog.delete(ids)
                drop_frames(self.catalog, ids)
                self.catalog.bump_generation()
            self.keeper.update(current, np.asarray(ids + frames, dtype=np.int64), [], [], None)
        return len(ids)

    def add_vectors(self, files: list[NewFile], vectors: np.ndarray,
                    sizes: list[tuple[int, int] | None] | None = None) -> None:
        """Insert ready-made vectors (from an export) for files under the root, then index them."""
        if vectors.shape[1:] != (self.spec.dim,):
            raise InvalidArgumentError(
                f"vectors have shape {vectors.shape}, the library expects (n, {self.spec.dim})", argument="vectors")
        with self._writing(), writer_lock(self.paths.lock):
            with self.catalog.transaction():
                for position, facts in enumerate(files):
                    self.catalog.put_indexed(facts, vectors[position], sizes[position] if sizes else None)
                self.catalog.bump_generation()
            self.keeper.update(None, np.zeros(0, np.int64), [], [], None)

    # settings and decisions -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return self.catalog.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting under the writer lock (one writer across processes)."""
        self.update_meta(key, lambda current: value)

    def update_meta(self, key: str, change: Callable[[str | None], str]) -> str:
        with self._writing(), writer_lock(self.paths.lock), self.catalog.transaction():
            value = change(self.catalog.get_meta(key))
            self.catalog.set_meta(key, value)
        return value

    def distinct_pairs(self) -> set[tuple[str, str]]:
        return distinct_pairs(self.catalog)

    def record_distinct(self, hashes: Sequence[str]) -> int:
        with self._writing(), writer_lock(self.paths.lock):
            return record_distinct(self.catalog, hashes)

    def verdicts(self, pairs: Sequence[tuple[str, str]], method: str) -> dict[tuple[str, str], PairVerdict]:
        return verdicts(self.catalog, pairs, method)

    def record_verdicts(self, found: Sequence[PairVerdict]) -> int:
        with self._writing(), writer_lock(self.paths.lock):
            return record_verdicts(self.catalog, found)

    def failures(self) -> list[ImageReadError]:
        """The files recorded as unreadable, with their reasons."""
        return [ImageReadError(self.root / row.path, row.error or "") for row in self.catalog.failures()]

    def stats(self, scan: bool = True) -> LibraryStats:
        """Counts of indexed and failed files, the failures, and (with `scan`) what a sync would do."""
        counts = self.catalog.counts()
        pending = missing = None
        if scan and self.root.is_dir():
            pending, missing = count_pending(self.catalog.rows(),
                                             scan_folder(self.root, self.paths.directory, videos=True))
        return LibraryStats(
            root=str(self.root), model=self.spec.model, dim=self.spec.dim, index=self.keeper.describe(),
            indexed=counts.get("indexed", 0), failed=counts.get("failed", 0), pending=pending, missing=missing,
            failures=[(row.path, row.error or "") for row in self.catalog.failures()],
        )

    def index(self) -> Any:
        """The in-memory FAISS index in step with the catalog (a `vectors.VectorIndex`)."""
        return self.keeper.current()
