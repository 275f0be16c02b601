"""The life of a library's FAISS index: load the saved one when it reflects the catalog, rebuild it
from the catalog when it does not, patch it after a sync, save it with its manifest, and share the
in-memory copy between threads (a readers-writer lock; a newer catalog generation, committed by this
process or another one, makes the next search load or rebuild the index first)."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..embedders import EmbeddingSpec
from ..errors import CorruptLibraryError
from .base import Checkpoint
from .catalog import Catalog
from .frames import all_item_vectors
from .layout import LibraryPaths
from .lock import writer_active
from .outofcore import IVFDATA
from .rwlock import ReadWriteLock
from .vectors import IndexParams, Manifest, VectorIndex, file_checksum, write_atomically

log = logging.getLogger(__name__)


RECHECK_SECONDS = 0.5  # while a writer syncs, readers look for its saved index this often


def _no_checkpoint(name: str) -> None:
    """The default checkpoint: nothing to announce."""


class IndexKeeper:
    """Owns the in-memory index of one library."""

    def __init__(self, paths: LibraryPaths, catalog: Catalog, spec: EmbeddingSpec, root: Path) -> None:
        self.paths = paths
        self.catalog = catalog
        self.spec = spec
        self.root = root
        self._index: VectorIndex | None = None
        self._generation = -1
        self._lock = ReadWriteLock()
        self._checked = (-1, 0.0)  # (generation, when) a busy writer was last seen

    # the saved index ----------------------------------------------------------------------------
    def manifest(self) -> Manifest | None:
        """The saved manifest (None when there is none); one whose spec is not the catalog's is an error."""
        if not self.paths.manifest.exists():
            return None
        manifest = Manifest.load(self.paths.manifest)
        if EmbeddingSpec.from_dict(manifest.spec).identity() != self.spec.identity():
            raise CorruptLibraryError(
                "its model spec differs from the catalog's; nothing was changed", path=self.paths.manifest,
                repair=True,
            )
        return manifest

    def saved_index(self, mmap: bool = False) -> VectorIndex | None:
        """The index on disk, only when it is exactly in step with the catalog; None when stale or when
        its content does not match the checksum in the manifest (it is then rebuilt from the catalog)."""
        manifest = self.manifest()
        if manifest is None or manifest.generation != self.catalog.generation() or not self.paths.index.exists():
            return None
        if manifest.checksum and file_checksum(self.paths.index) != manifest.checksum:
            log.warning("%s does not match the checksum in its manifest; rebuilding it from the catalog",
                        self.paths.index)
            return None
        built, requested = manifest.index_params()
        # lists already on disk (build-index) are mapped by FAISS itself; IO_FLAG_MMAP would crash on them
        on_disk = (self.paths.directory / IVFDATA).exists()
        index = VectorIndex.load(self.paths.index, built, requested, mmap=mmap and built.kind == "ivf" and not on_disk)
        return index if index.count == manifest.count else None

    def requested_params(self) -> IndexParams:
        """The index the user asked for last time (the default when nothing was saved or readable)."""
        try:
            manifest = self.manifest()
        except CorruptLibraryError:
            return IndexParams()
        return manifest.index_params()[1] if manifest else IndexParams()

    def build_from_catalog(self, params: IndexParams | None = None) -> VectorIndex:
        """A new index over every vector in the catalog."""
        ids, vectors = all_item_vectors(self.catalog, self.spec.dim)  # a video: one vector per frame
        return VectorIndex.build(ids, vectors, self.spec.dim, params or self.requested_params())

    # the shared in-memory index -----------------------------------------------------------------
    def search(self, vector: np.ndarray, fetch: int, generation: int, ef_search: int | None = None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """(scores, ids, vectors in the index) of one query, from an index at least as new as
        `generation` (or, while a writer syncs, the last one it saved: see `_ensure`)."""
        self._ensure(generation)
        with self._lock.read():
            assert self._index is not None
            total = self._index.count
            scores, ids = self._index.search(vector[None, :], min(fetch, max(total, 1)), ef_search=ef_search,
                                             nprobe=nprobe)
        return scores[0], ids[0], total

    def current(self) -> VectorIndex:
        """The in-memory index, brought up to the catalog's generation."""
        self._ensure(self.catalog.generation())
        assert self._index is not None
        return self._index

    def _ensure(self, generation: int) -> None:
        """Bring the in-memory index up to `generation` when that is cheap and final.

        While a writer (this process's or another's) is syncing, the catalog's generation moves with
        every committed chunk; rebuilding at each would cost O(N) per chunk. Readers then keep the
        index they have (hits the catalog no longer holds are dropped by the caller) and load the
        writer's saved index when its manifest moves. With no writer, an index behind the catalog (a
        writer killed mid-sync) is rebuilt from the catalog."""
        if self._index is not None and self._generation >= generation:
            return
        checked_generation, checked_at = self._checked
        if self._index is not None and generation <= checked_generation and \
                time.monotonic() - checked_at < RECHECK_SECONDS:
            return  # a writer was busy a moment ago: keep the index without probing again
        if self._index is not None and writer_active(self.paths.lock):
            manifest = self._manifest_or_none()
            if manifest is not None and manifest.generation > self._generation:
                with self._lock.write(), self.catalog.snapshot():
                    now, saved = self.catalog.generation(), self.saved_index(mmap=True)
                    if saved is not None and now > self._generation:
                        self._index, self._generation = saved, now
            self._checked = (generation, time.monotonic())
            return
        with self._lock.write():
            if self._index is not None and self._generation >= generation:
                return
            with self.catalog.snapshot():
                now = self.catalog.generation()
                index = self.saved_index(mmap=True)
                if index is None:
                    index = self.build_from_catalog()
            self._index, self._generation = index, now

    def _manifest_or_none(self) -> Manifest | None:
        try:
            return self.manifest()
        except CorruptLibraryError:
            return None

    def install(self, index: VectorIndex, generation: int) -> None:
        """Make `index` (reflecting `generation`) the one searches use, unless a newer one is in place."""
        with self._lock.write():
            if generation >= self._generation:
                self._index, self._generation = index, generation

    # writing (under the library's writer lock) ----------------------------------------------------
    def save(self, index: VectorIndex, checkpoint: Checkpoint = _no_checkpoint) -> None:
        """Write the index, then its manifest (each atomically), then serve it."""
        checkpoint("index-saving")
        checksum = index.save(self.paths.index)
        checkpoint("index-written")
        generation = self.catalog.generation()
        manifest = Manifest(spec=asdict(self.spec), params=asdict(index.params), count=index.count,
                            generation=generation, root=str(self.root), requested=asdict(index.requested),
                            checksum=checksum)
        write_atomically(self.paths.manifest, lambda temp: temp.write_text(manifest.dump()))
        self.install(index, generation)

    def update(self, current: VectorIndex | None, removed: np.ndarray, added_ids: list[int],
               added_vectors: list[np.ndarray], wanted: IndexParams | None,
               checkpoint: Checkpoint = _no_checkpoint) -> bool:
        """Patch `current` (the saved index, a private copy) where FAISS can and the index type still
        fits, else rebuild from the catalog; then save. Returns whether it was rebuilt."""
        requested = wanted or (current.requested if current is not None else self.requested_params())
        if current is not None and wanted is None:
            count = current.count - len(removed) + len(added_ids)
            fits = requested.resolved(count).kind == current.kind
            if fits and (len(removed) == 0 or current.can_remove()):
                current.remove(removed)
                if added_ids:
                    current.add(np.asarray(added_ids, dtype=np.int64), np.vstack(added_vectors))
                self.save(current, checkpoint)
                return False
        self.save(self.build_from_catalog(requested), checkpoint)
        return True

    def describe(self) -> str:
        """The index kind for `status` (and whether the next sync must rebuild it)."""
        manifest = self.manifest()
        kind = str(manifest.params.get("kind", "?")) if manifest else "not built"
        if manifest and manifest.generation != self.catalog.generation():
            kind += " (stale: the next sync rebuilds it)"
        return kind
