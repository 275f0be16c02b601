"""The service's library verbs: index (sync, with check-on-add), status, remove, export and import."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..dedupe.added import added_duplicates
from ..errors import LibraryError
from ..pipeline import Progress
from ..scale.build_index import build_library
from ..scale.ray_engine import RayOptions, RayRun, ray_engine
from ..store.base import LibraryStats, SyncReport, VectorStore
from ..store.engine import EmbedEngine
from ..store.exchange import export_library, import_library
from ..store.ingest import IngestReport
from ..store.library import Library
from ..store.outofcore import parse_memory
from ..store.vectors import IndexParams
from ..types import AddedDuplicate, Source
from .core import ServiceCore, Target


@dataclass
class IndexOutcome:
    """What `index` did: the sync's report, where the library is, and (when new files joined files
    indexed before) the new files that duplicate older ones."""

    report: SyncReport
    location: Path
    checked: bool = False
    duplicates: list[AddedDuplicate] = field(default_factory=list)
    ray: RayRun | None = None  # what the Ray engine did (None: embedded in this process)


class LibraryVerbs(ServiceCore):
    """index/sync, status, remove, export, import."""

    def index_params(self, kind: str | None, ef_search: int | None, nprobe: int | None) -> IndexParams | None:
        """Index parameters when any was asked for."""
        if kind is None and ef_search is None and nprobe is None:
            return None
        return IndexParams(kind=kind or "auto", ef_search=ef_search, nprobe=nprobe)  # type: ignore[arg-type]

    def sync(self, store: VectorStore, progress: Progress | None = None, retry_failed: bool = False,
             index_params: IndexParams | None = None, rebuild_index: bool = False, rehash: bool = False,
             engine: EmbedEngine | None = None) -> SyncReport:
        """Bring a store up to date: embed only new or changed files, drop deleted ones (`engine`:
        who embeds them, default this process)."""
        from ..store.postgres import PostgresStore

        if engine is not None and isinstance(store, (Library, PostgresStore)):
            return store.sync(retry_failed=retry_failed, options=self.pipeline_options(progress),
                              index_params=index_params, rebuild_index=rebuild_index, rehash=rehash, engine=engine)
        return store.sync(retry_failed=retry_failed, options=self.pipeline_options(progress),
                          index_params=index_params, rebuild_index=rebuild_index, rehash=rehash)

    def ray_options(self, engine: str | None = None, given: RayOptions | None = None) -> RayOptions | None:
        """The Ray engine's options when the engine (`engine`, else settings.engine) is Ray: `given`, or
        the defaults with settings.ray_address and settings.batch_size."""
        if (engine or self.settings.engine) != "ray":
            return None
        if given is not None:
            return given
        return RayOptions(address=self.settings.ray_address, batch_size=self.settings.batch_size or 64)

    def _ray_engine(self, store: VectorStore, options: RayOptions) -> tuple[EmbedEngine, RayRun]:
        """A Ray engine for a library on disk (shards in it) or a PostgreSQL store (shards in a
        temporary folder, or `options.shards`), filling the returned run."""
        from ..store.postgres import PostgresStore

        if not isinstance(store, (Library, PostgresStore)):
            raise LibraryError("the Ray engine indexes a library on disk or a PostgreSQL store", argument="engine")
        options.check()
        run = RayRun()
        if isinstance(store, Library):
            model, shards_in = store.model_location(), store.location
        else:
            model, shards_in = store.spec.model, None  # the model as the store builds it; shards in a temp folder
        engine = ray_engine(model, store.spec, options, self.settings.embed_options(), self.settings.max_pixels,
                            shards_in, run)
        return engine, run

    def index(self, folder: Path, library: Path | None = None, model: str | None = None,
              progress: Progress | None = None, retry_failed: bool = False, index_params: IndexParams | None = None,
              rebuild_index: bool = False, rehash: bool = False, duplicate_threshold: float | None = None,
              engine: str | None = None, ray: RayOptions | None = None) -> IndexOutcome:
        """Create or update the library of `folder`; new files that duplicate files indexed before them
        are found by the calibrated decision of `duplicates` (or `duplicate_threshold` alone).
        `engine` "ray" (default: settings.engine) embeds on Ray Data with `ray`'s options instead of in
        this process."""
        if not folder.is_dir():
            raise LibraryError("not a folder", path=folder, argument="folder")
        ray = self.ray_options(engine, ray)
        if ray is not None:
            ray.check()
        opened: VectorStore
        if self.settings.store:
            opened = self.postgres(folder, model, create=True)
        else:
            opened = self.library(folder, library=library, model=self.model_for(folder, model, library), create=True)
        first_new = opened.next_id()
        embed, run = self._ray_engine(opened, ray) if ray is not None else (None, None)
        report = self.sync(opened, progress, retry_failed, index_params, rebuild_index, rehash, embed)
        checked = report.added > 0 and first_new > 1  # new files beside files indexed before
        found = added_duplicates(opened, first_new, duplicate_threshold) if checked else []
        return IndexOutcome(report, opened.location, checked, found, run)

    def status(self, target: Target) -> LibraryStats:
        """Counts (indexed, failed, pending, missing) and the failures of a library."""
        return self._open(target, readonly=True).stats()

    def stats(self, store: VectorStore, scan: bool = False) -> LibraryStats:
        return store.stats(scan=scan)

    def remove(self, target: Target, files: list[Path]) -> int:
        """Drop files from a library (files still on disk return at the next index)."""
        return self._open(target, readonly=False).remove(list(files))

    def export(self, target: Target, out: Path, fmt: str = "parquet") -> list[Path]:
        """Write ids, paths, hashes and vectors of a library (Parquet, or .npy with a JSON sidecar)."""
        store = self._open(target, readonly=True)
        if not isinstance(store, Library) and not hasattr(store, "export_records"):
            raise LibraryError("only a library on disk can be exported", path=store.location)
        return export_library(store, out, fmt)

    def import_vectors(self, source: Path, library: Path | None = None, root: Path | None = None
                       ) -> tuple[int, Path]:
        """Build a library from an export (no model); returns how many vectors (a video's frames
        each count) and where it is."""
        if not source.exists():
            raise LibraryError("no such file", path=source)
        with import_library(source, library, root) as created:
            return created.index().count, created.location

    def build_index(self, shards: Path, library: Path, memory: str | int = "4GB", root: Path | None = None
                    ) -> tuple[IngestReport, Path]:
        """A new library from Parquet shards (`index --engine ray --shards`), holding at most about
        `memory` (bytes, or text such as 4GB) of vectors at once; returns what it wrote and where."""
        budget = parse_memory(memory) if isinstance(memory, str) else int(memory)
        if not shards.is_dir():
            raise LibraryError("not a folder of shards", path=shards, argument="shards")
        created, report = build_library(shards, library, budget, root)
        created.close()
        return report, created.location

    def _open(self, target: Target, readonly: bool) -> VectorStore:
        """An existing library named by folder and/or library directory (never embedded on the fly)."""
        if not isinstance(target, Source):
            return target
        if self.settings.store and target.folder is not None and target.library is None:
            return self.postgres(target.folder, target.model)
        return self.library(target.folder, library=target.library, model=target.model, readonly=readonly)

