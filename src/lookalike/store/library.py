"""A library: a folder indexed once with one model, kept in step with the folder by `sync`, and
searched many times.

Data flow of a sync: scan (stat, then hash what looks changed) -> moves, touches and deletes in one
transaction -> embed new/changed files in chunks, each chunk's rows and vectors committed in one
transaction -> the FAISS index patched (or rebuilt) and saved atomically with its manifest. The
catalog is the source of truth; an index whose manifest generation differs from the catalog's is
stale and is rebuilt from the catalog, so a kill at any moment loses at most the chunk in flight.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import DEFAULT_MODEL, Embedder, EmbeddingSpec, create_embedder
from ..errors import (
    CorruptLibraryError,
    ImageReadError,
    LibraryError,
    LookalikeError,
    SpecMismatchError,
    display_path,
)
from ..neighbors import knn
from ..operations import Match, combine_query, embed_image
from ..pipeline import Pipeline, PipelineOptions
from .catalog import Catalog, FileRow, NewFile
from .layout import LibraryPaths, library_home, locate, model_slug
from .lock import writer_lock
from .scan import SyncPlan, count_pending, plan_sync, scan_folder
from .vectors import (
    IndexParams,
    Manifest,
    VectorIndex,
    file_checksum,
    remove_stale_temp_files,
    sync_directory,
    write_atomically,
)

log = logging.getLogger(__name__)
PAUSE_ENV = "LOOKALIKE_SYNC_PAUSE"  # test hook: seconds to sleep at each checkpoint of a sync


def _checkpoint(name: str) -> None:
    """Announce a checkpoint and pause there, when the crash-test hook is set."""
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        print(f"lookalike-checkpoint {name}", file=sys.stderr, flush=True)
        time.sleep(float(pause))


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
    unreadable: list[ImageReadError] = field(default_factory=list)  # folders/files kept as they were
    index_rebuilt: bool = False
    seconds: float = 0.0


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


class Library:
    """One model's index of one folder."""

    def __init__(self, paths: LibraryPaths, catalog: Catalog, spec: EmbeddingSpec, root: Path,
                 model: str | Embedder | None = None, embed_options: dict[str, Any] | None = None) -> None:
        self.paths = paths
        self.catalog = catalog
        self.spec = spec
        self.root = root
        self._model = model
        self._embed_options = embed_options or {}
        self._embedder = model if isinstance(model, Embedder) else None
        self._index: VectorIndex | None = None
        self._index_generation = -1

    # opening ----------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str] | None = None,
        model: str | Embedder | None = None,
        library: str | os.PathLike[str] | None = None,
        create: bool = False,
        readonly: bool = False,
        **embed_options: Any,
    ) -> Library:
        """Open the library of `folder` (or at `library`) for `model`; `create=True` makes it if absent.

        Creating a library loads the model (to learn its spec); opening an existing one does not.
        """
        root = Path(folder).resolve() if folder is not None else None
        home = library_home(root, Path(library) if library is not None else None)
        model_name = model.spec.model if isinstance(model, Embedder) else model
        paths = locate(home, model_name, DEFAULT_MODEL) if (home.is_dir() or not create) else \
            LibraryPaths(home / model_slug(model_name or DEFAULT_MODEL))
        if not paths.exists():
            if not create:
                others = _models_in(home)
                if others and model_name is not None:
                    raise SpecMismatchError(
                        f"{home} holds libraries built with {', '.join(repr(o) for o in others)}, not with "
                        f"'{model_name}'; pass --model {others[0]} or index the folder with --model {model_name}"
                    )
                raise LibraryError(f"{paths.directory}: no library here; create one with `lookalike index FOLDER`")
            if root is None:
                raise LibraryError("creating a library needs the folder to index")
            return cls._create(paths, root, model, embed_options)
        opened = cls._open_existing(paths, root, library is not None, model, readonly, embed_options,
                                    redo_unfinished=create and root is not None)
        if opened is None:  # schema but no meta and no rows: a creation (by an older version) killed early
            for leftover in paths.directory.glob("catalog.sqlite*"):
                leftover.unlink()
            return cls._create(paths, root, model, embed_options)  # type: ignore[arg-type]
        return opened

    @classmethod
    def _open_existing(cls, paths: LibraryPaths, root: Path | None, library_given: bool,
                       model: str | Embedder | None, readonly: bool, embed_options: dict[str, Any],
                       redo_unfinished: bool = False) -> Library | None:
        catalog = Catalog(paths.catalog, readonly=readonly)
        try:
            spec_json = catalog.get_meta("spec")
            stored_root = catalog.get_meta("root")
            if spec_json is None or stored_root is None:
                if redo_unfinished and not catalog.counts() and catalog.get_meta("created") is None:
                    catalog.close()
                    return None
                raise CorruptLibraryError(
                    f"{paths.catalog}: catalog has no spec or root; nothing was changed; "
                    "move the library folder away and index again"
                )
            try:
                spec = EmbeddingSpec.from_dict(json.loads(spec_json))
            except (ValueError, TypeError, KeyError) as exc:
                raise CorruptLibraryError(f"{paths.catalog}: unreadable model spec ({exc}); nothing was changed") \
                    from None
        except BaseException:
            catalog.close()
            raise
        if root is not None and library_given and root != Path(stored_root):
            catalog.close()
            raise LibraryError(f"{paths.directory} indexes {stored_root}, not {root}")
        opened = cls(paths, catalog, spec, Path(stored_root), model, embed_options)
        try:
            if isinstance(model, Embedder):
                spec.check_compatible(model.spec, f"library {paths.directory}")
            elif model is not None and model != spec.model:
                raise SpecMismatchError(
                    f"library {paths.directory} was built with model '{spec.model}' but the query uses '{model}'; "
                    f"pass --model {spec.model} or index the folder with --model {model}"
                )
        except BaseException:
            opened.close()
            raise
        return opened

    @classmethod
    def _create(cls, paths: LibraryPaths, root: Path, model: str | Embedder | None,
                embed_options: dict[str, Any]) -> Library:
        if not root.is_dir():
            raise LibraryError(f"{root}: no such folder to index")
        embedder = model if isinstance(model, Embedder) else create_embedder(model, **embed_options)
        created = cls.create_from_spec(paths, root, embedder.spec, embedder, embed_options, exist_ok=True)
        if created is None:  # another process created it meanwhile: use theirs
            opened = cls._open_existing(paths, root, False, embedder, False, embed_options)
            if opened is None:
                raise CorruptLibraryError(f"{paths.catalog}: catalog has no spec or root; nothing was changed")
            return opened
        return created

    @classmethod
    def create_from_spec(cls, paths: LibraryPaths, root: Path, spec: EmbeddingSpec,
                         model: str | Embedder | None = None, embed_options: dict[str, Any] | None = None,
                         exist_ok: bool = False) -> Library | None:
        """A new, empty library for vectors of `spec` (no model is loaded).

        The catalog is built under a temporary name and renamed into place, under the writer lock:
        a catalog.sqlite is always complete, a second creator waits for or reports the lock, and
        with `exist_ok` a library that appeared meanwhile gives None instead of an error.
        """
        if paths.exists() and not exist_ok:
            raise LibraryError(f"{paths.directory}: a library already exists here; nothing was changed")
        try:
            paths.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"cannot create the library in {paths.directory} ({exc.strerror}); put it elsewhere with --library DIR"
            ) from None
        with writer_lock(paths.lock):
            if paths.exists():
                if exist_ok:
                    return None
                raise LibraryError(f"{paths.directory}: a library already exists here; nothing was changed")
            remove_stale_temp_files(paths.directory)
            temp = paths.directory / f".{paths.catalog.name}.{os.getpid()}.creating"
            catalog = Catalog(temp, create=True)
            try:
                with catalog.transaction():
                    catalog.set_meta("spec", spec.to_json())
                    catalog.set_meta("root", str(root))
                    catalog.set_meta("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            finally:
                catalog.close()
            _checkpoint("catalog-created")
            os.replace(temp, paths.catalog)
            sync_directory(paths.directory)
        return cls(paths, Catalog(paths.catalog), spec, root, model, embed_options)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the model, only when needed ---------------------------------------------------------------
    def embedder(self) -> Embedder:
        """The library's model, loaded on first use and checked against the library's spec."""
        if self._embedder is None:
            name = self._model if isinstance(self._model, str) else self.spec.model
            self._embedder = create_embedder(name, **self._embed_options)
            self.spec.check_compatible(self._embedder.spec, f"library {self.paths.directory}")
        return self._embedder

    # index ------------------------------------------------------------------------------------
    def _manifest(self) -> Manifest | None:
        if not self.paths.manifest.exists():
            return None
        manifest = Manifest.load(self.paths.manifest)
        if EmbeddingSpec.from_dict(manifest.spec).identity() != self.spec.identity():
            raise CorruptLibraryError(
                f"{self.paths.manifest}: its model spec differs from the catalog's; nothing was changed; "
                "`lookalike index --rebuild-index` rewrites it from the catalog"
            )
        return manifest

    def _saved_index(self, mmap: bool = False) -> VectorIndex | None:
        """The saved index, only when it is exactly in step with the catalog; None when stale or when
        its content does not match the checksum in the manifest (it is then rebuilt from the catalog).
        An unreadable manifest is an error (`--rebuild-index` rewrites it)."""
        manifest = self._manifest()
        if manifest is None or manifest.generation != self.catalog.generation() or not self.paths.index.exists():
            return None
        if manifest.checksum and file_checksum(self.paths.index) != manifest.checksum:
            log.warning("%s does not match the checksum in its manifest; rebuilding it from the catalog",
                        self.paths.index)
            return None
        built, requested = manifest.index_params()
        index = VectorIndex.load(self.paths.index, built, requested, mmap=mmap and built.kind == "ivf")
        return index if index.count == manifest.count else None

    def _requested_params(self) -> IndexParams:
        """The index the user asked for last time (the default when nothing was saved or readable)."""
        try:
            manifest = self._manifest()
        except CorruptLibraryError:
            return IndexParams()
        return manifest.index_params()[1] if manifest else IndexParams()

    def index(self) -> VectorIndex:
        """The FAISS index in step with the catalog: the saved one, or rebuilt in memory when stale."""
        generation = self.catalog.generation()
        if self._index is None or self._index_generation != generation:
            index = self._saved_index(mmap=True)
            if index is None:
                ids, vectors = self.catalog.vectors(self.spec.dim)
                index = VectorIndex.build(ids, vectors, self.spec.dim, self._requested_params())
            self._index, self._index_generation = index, generation
        return self._index

    def _save_index(self, index: VectorIndex) -> None:
        _checkpoint("index-saving")
        checksum = index.save(self.paths.index)
        _checkpoint("index-written")
        generation = self.catalog.generation()
        manifest = Manifest(spec=asdict(self.spec), params=asdict(index.params), count=index.count,
                            generation=generation, root=str(self.root), requested=asdict(index.requested),
                            checksum=checksum)
        write_atomically(self.paths.manifest, lambda temp: temp.write_text(manifest.dump()))
        self._index, self._index_generation = index, generation

    def _update_index(self, current: VectorIndex | None, removed: np.ndarray, added_ids: list[int],
                      added_vectors: list[np.ndarray], wanted: IndexParams | None) -> bool:
        """Patch the index where FAISS can and the index type still fits, else rebuild it from the
        catalog; then save it. Returns whether it was rebuilt."""
        requested = wanted or (current.requested if current is not None else self._requested_params())
        if current is not None and wanted is None:
            count = current.count - len(removed) + len(added_ids)
            fits = requested.resolved(count).kind == current.kind
            if fits and (len(removed) == 0 or current.can_remove()):
                current.remove(removed)
                if added_ids:
                    current.add(np.asarray(added_ids, dtype=np.int64), np.vstack(added_vectors))
                self._save_index(current)
                return False
        ids, vectors = self.catalog.vectors(self.spec.dim)
        self._save_index(VectorIndex.build(ids, vectors, self.spec.dim, requested))
        return True

    # sync -------------------------------------------------------------------------------------
    def sync(
        self,
        retry_failed: bool = False,
        options: PipelineOptions | None = None,
        index_params: IndexParams | None = None,
        rebuild_index: bool = False,
        rehash: bool = False,
    ) -> SyncReport:
        """Bring the library in line with its folder; embeds only new or changed files (`rehash`
        hashes every file instead of trusting unchanged size, mtime and ctime)."""
        started = time.perf_counter()
        report = SyncReport()
        with writer_lock(self.paths.lock):
            remove_stale_temp_files(self.paths.directory)  # of killed runs: no other writer exists now
            current = None if rebuild_index else self._saved_index()
            generation_before = self.catalog.generation()
            rows = self.catalog.rows()
            scan = scan_folder(self.root, exclude=self.paths.directory)
            plan = plan_sync(self.root, rows, scan, retry_failed, rehash=rehash)
            report.unreadable = scan.problems + plan.kept_unreadable
            report.unchanged = plan.unchanged + plan.failed_unchanged
            removed = self._apply_bookkeeping(plan, rows, report)
            added_ids, added_vectors = self._embed_plan(plan, options, report)
            wanted = index_params if index_params is not None and (
                current is None or index_params != current.requested) else None
            if self.catalog.generation() != generation_before or current is None or wanted is not None:
                report.index_rebuilt = self._update_index(current, removed, added_ids, added_vectors, wanted)
        report.seconds = time.perf_counter() - started
        return report

    def _apply_bookkeeping(self, plan: SyncPlan, rows: dict[str, FileRow], report: SyncReport) -> np.ndarray:
        """Moves, touches and deletions in one transaction; returns the ids whose vectors leave the
        index (deleted files, and indexed files about to be re-embedded)."""
        replaced = [f.id for f in plan.embed if f.id is not None and rows[f.path].status == "indexed"]
        if not (plan.moves or plan.touches or plan.deletes):
            return np.asarray(replaced, dtype=np.int64)
        with self.catalog.transaction():
            for row_id, path, size, mtime, ctime in plan.moves:
                self.catalog.move(row_id, path, size, mtime, ctime)
            for row_id, size, mtime, ctime in plan.touches:
                self.catalog.touch(row_id, size, mtime, ctime)
            if plan.deletes:
                self.catalog.delete(plan.deletes)
                self.catalog.bump_generation()
        report.moved, report.deleted = len(plan.moves), len(plan.deletes)
        report.touched = len(plan.touches)
        return np.asarray(replaced + plan.deletes, dtype=np.int64)

    def _embed_plan(self, plan: SyncPlan, options: PipelineOptions | None,
                    report: SyncReport) -> tuple[list[int], list[np.ndarray]]:
        """Embed `plan.embed` chunk by chunk, committing each chunk's rows and vectors together."""
        if not plan.embed:
            return [], []
        by_path = {self.root / f.path: f for f in plan.embed}
        pipeline = Pipeline(self.embedder(), options)
        added_ids: list[int] = []
        added_vectors: list[np.ndarray] = []
        for batch in pipeline.iter_batches(list(by_path)):
            with self.catalog.transaction():
                for path, vector, size in zip(batch.paths, batch.vectors, batch.sizes, strict=True):
                    facts = by_path[path]
                    added_ids.append(self.catalog.put_indexed(facts, vector, size))
                    added_vectors.append(vector)
                    report.updated += facts.id is not None
                    report.added += facts.id is None
                for failure in batch.failures:
                    self.catalog.put_failed(by_path[Path(failure.path)], failure.reason)
                self.catalog.bump_generation()
            report.embedded += len(batch.paths)
            report.failures.extend(batch.failures)
            _checkpoint("chunk-committed")
        return added_ids, added_vectors

    # queries ----------------------------------------------------------------------------------
    def _stored_vector(self, path: Path) -> tuple[int | None, np.ndarray | None]:
        """The catalog id of `path` when it is in this library, and its vector when still current."""
        try:
            rel = path.resolve().relative_to(self.root).as_posix()
            stat = path.stat()
        except (ValueError, OSError):
            return None, None
        row = self.catalog.row_for_path(rel)
        if row is None or row.status != "indexed":
            return None, None
        if (row.size, row.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return row.id, self.catalog.vector_for(row.id, self.spec.dim)
        return row.id, None

    def query_vector(self, query: str | os.PathLike[str] | None = None, text: str | None = None,
                     text_weight: float = 0.5) -> tuple[np.ndarray, int | None]:
        """The query as a unit vector, and the library id to leave out (the query image itself).

        An image already in the library, unchanged since it was indexed, uses its stored vector:
        no model is loaded for it.
        """
        exclude, image_vector = (None, None)
        if query is not None:
            exclude, image_vector = self._stored_vector(Path(query))
            if image_vector is None:
                image_vector = embed_image(query, self.embedder())
        text_vector = self.embedder().embed_texts([text])[0] if text else None
        return combine_query(image_vector, text_vector, text_weight), exclude

    def search(
        self,
        query: str | os.PathLike[str] | None = None,
        text: str | None = None,
        k: int = 10,
        text_weight: float = 0.5,
        threshold: float | None = None,
        exact: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> list[Match]:
        """The k library images most similar to an image, a text, or both, best first."""
        vector, exclude = self.query_vector(query, text, text_weight)
        return self.search_vector(vector, k, exclude=exclude, threshold=threshold, exact=exact,
                                  ef_search=ef_search, nprobe=nprobe)

    def search_vector(self, vector: np.ndarray, k: int = 10, exclude: int | None = None,
                      threshold: float | None = None, exact: bool = False, ef_search: int | None = None,
                      nprobe: int | None = None) -> list[Match]:
        """Search with a ready unit vector (checked to have the library's dimension)."""
        if vector.shape[-1] != self.spec.dim:
            raise LookalikeError(f"query vector has {vector.shape[-1]} dimensions, the library {self.spec.dim}")
        with self.catalog.snapshot():
            if exact:
                ids, vectors = self.catalog.vectors(self.spec.dim)
                drop = np.array([-1 if exclude is None else int(np.searchsorted(ids, exclude))])
                if exclude is not None and (drop[0] >= len(ids) or ids[drop[0]] != exclude):
                    drop[0] = -1
                scores, positions = knn(vectors, vector[None, :], k, exclude=drop)
                found = [(float(s), int(ids[p])) for s, p in zip(scores[0], positions[0], strict=True) if p >= 0]
            else:
                index = self.index()
                fetch = min(k + (exclude is not None) + 8, max(index.count, 1))
                scores, hits = index.search(vector[None, :], fetch, ef_search=ef_search, nprobe=nprobe)
                found = [(float(s), int(i)) for s, i in zip(scores[0], hits[0], strict=True)
                         if i >= 0 and i != exclude]
            paths = self.catalog.paths_for(i for _, i in found)
        matches = [Match(self.root / paths[i], s) for s, i in found if i in paths]
        if threshold is not None:
            matches = [m for m in matches if m.score >= threshold]
        return matches[:k]

    def vectors(self) -> tuple[list[Path], np.ndarray]:
        """Every indexed file and its vector (for pairs, duplicates, evaluation and export)."""
        with self.catalog.snapshot():
            ids, vectors = self.catalog.vectors(self.spec.dim)
            paths = self.catalog.paths_for(ids)
        return [self.root / paths[int(i)] for i in ids], vectors

    # maintenance ------------------------------------------------------------------------------
    def remove(self, files: list[str | os.PathLike[str]]) -> int:
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
                unknown.append(display_path(path))
        if unknown:
            raise LookalikeError(
                f"{unknown[0]}: not in the library {self.paths.directory}"
                + (f" (nor {len(unknown) - 1} other path(s))" if len(unknown) > 1 else "") + "; nothing was removed"
            )
        if not ids:
            return 0
        with writer_lock(self.paths.lock):
            current = self._saved_index()
            with self.catalog.transaction():
                self.catalog.delete(ids)
                self.catalog.bump_generation()
            self._update_index(current, np.asarray(ids, dtype=np.int64), [], [], None)
        return len(ids)

    def add_vectors(self, files: list[NewFile], vectors: np.ndarray,
                    sizes: list[tuple[int, int] | None] | None = None) -> None:
        """Insert ready-made vectors (from an export) for files under the root, then index them."""
        if vectors.shape[1:] != (self.spec.dim,):
            raise LookalikeError(f"vectors have shape {vectors.shape}, the library expects (n, {self.spec.dim})")
        with writer_lock(self.paths.lock):
            with self.catalog.transaction():
                for position, facts in enumerate(files):
                    self.catalog.put_indexed(facts, vectors[position], sizes[position] if sizes else None)
                self.catalog.bump_generation()
            self._update_index(None, np.zeros(0, np.int64), [], [], None)

    def failures(self) -> list[ImageReadError]:
        """The files recorded as unreadable, with their reasons."""
        return [ImageReadError(self.root / row.path, row.error or "") for row in self.catalog.failures()]

    def stats(self, scan: bool = True) -> LibraryStats:
        """Counts of indexed and failed files, the failures, and (with `scan`) what a sync would do."""
        counts = self.catalog.counts()
        pending = missing = None
        if scan and self.root.is_dir():
            pending, missing = count_pending(self.catalog.rows(), scan_folder(self.root, exclude=self.paths.directory))
        try:
            manifest = self._manifest()
        except CorruptLibraryError:
            manifest, index_kind = None, "unreadable (the next sync rebuilds it)"
        else:
            index_kind = manifest.params.get("kind", "?") if manifest else "not built"
        if manifest and manifest.generation != self.catalog.generation():
            index_kind += " (stale: the next sync rebuilds it)"
        return LibraryStats(
            root=str(self.root), model=self.spec.model, dim=self.spec.dim, index=str(index_kind),
            indexed=counts.get("indexed", 0), failed=counts.get("failed", 0), pending=pending, missing=missing,
            failures=[(row.path, row.error or "") for row in self.catalog.failures()],
        )


def _models_in(home: Path) -> list[str]:
    """The model names of the libraries under `home`."""
    names = []
    for directory in sorted(home.iterdir()) if home.is_dir() else []:
        if (directory / "catalog.sqlite").is_file():
            catalog = Catalog(directory / "catalog.sqlite", readonly=True)
            try:
                spec_json = catalog.get_meta("spec")
            finally:
                catalog.close()
            if spec_json:
                names.append(str(json.loads(spec_json)["model"]))
    return names
