"""What every verb of the service stands on: the settings, the loaded embedders (each loaded once per
process) and the open libraries (each opened once), shared safely between threads, and the one way a
verb turns a folder or a library into a store."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import suppress
from pathlib import Path

from ..embedders import DEFAULT_MODEL, Embedder, create_embedder
from ..errors import LibraryError
from ..pipeline import PipelineOptions, Progress
from ..settings import Settings, load_settings
from ..store.base import VectorStore
from ..store.folders import library_models, library_paths, library_writable, open_folder, require_folder
from ..store.library import Library
from ..system import release_memory
from ..types import Source

Target = Source | VectorStore
MAX_FOLDER_STORES = 8  # folder stores a service keeps open for verbs; opening another closes the oldest


class ServiceCore:
    """Loaded models and open libraries, shared safely between threads."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._embedders: dict[tuple[str, str, str, str], Embedder] = {}
        self._libraries: dict[tuple[Path, bool], Library] = {}
        self._loading: dict[tuple[str, str, str, str], threading.Lock] = {}
        self._opening: dict[tuple[Path, bool], threading.Lock] = {}
        self._guard = threading.Lock()
        self._threads_limited = False
        self._opened: list[VectorStore] = []  # the latest folder stores opened for verbs, oldest first
        self._stores: dict[tuple[Path, str | None], VectorStore] = {}  # libraries in settings.store
        self._store_opening: dict[tuple[Path, str | None], threading.Lock] = {}

    # models -------------------------------------------------------------------------------------
    def model_for(self, folder: str | os.PathLike[str] | None = None, model: str | None = None,
                  library: str | os.PathLike[str] | None = None) -> str:
        """The model to use: `model` when given; else the model of the only library of the folder (or in
        the `library` directory); else the configured default (settings.model, then the registry's) when
        it has no libraries or one for that model; a folder with libraries of several other models must
        name one."""
        default = self.settings.model or DEFAULT_MODEL
        if model:
            return model
        if folder is not None or library is not None:
            home, present = library_models(Path(folder) if folder is not None else None,
                                           Path(library) if library is not None else None, self.settings.home)
            if len(present) == 1:
                return present[0]
            if len(present) > 1 and default not in present:
                raise LibraryError(f"holds libraries for several models ({', '.join(present)})", path=home,
                                   choose_model=present)
        return default

    def embedder(self, model: str | None = None) -> Embedder:
        """The embedder for `model` (None: the configured default), loaded once per process."""
        name = model or self.settings.model or DEFAULT_MODEL
        key = (name, self.settings.device, self.settings.precision, self.settings.backend)
        with self._guard:
            if key in self._embedders:
                return self._embedders[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:  # one load per model, other models load meanwhile
            if key not in self._embedders:
                built = create_embedder(name, **self.settings.embed_options())
                self._limit_threads()
                with self._guard:
                    self._embedders[key] = built
        return self._embedders[key]

    def _limit_threads(self) -> None:
        """Cap torch's threads at the usable cores, once, after the first torch model is built."""
        if self._threads_limited or "torch" not in sys.modules:
            return
        from ..embedders.torch_base import limit_torch_threads

        limit_torch_threads()
        self._threads_limited = True

    def pipeline_options(self, progress: Progress | None = None) -> PipelineOptions:
        """Batching, decode workers and the pixel limit from the settings."""
        return PipelineOptions(batch_size=self.settings.batch_size, workers=self.settings.workers or None,
                               max_pixels=self.settings.max_pixels, progress=progress)

    # stores -------------------------------------------------------------------------------------
    def library(self, folder: str | os.PathLike[str] | None = None, library: str | os.PathLike[str] | None = None,
                model: str | None = None, create: bool = False, readonly: bool = False) -> Library:
        """The library of `folder` (or at `library`), opened once and kept open; `create` makes it."""
        chosen = model if (model or folder is None) else self.model_for(folder, None, library)
        if create and chosen is None:
            chosen = self.settings.model or DEFAULT_MODEL
        root = Path(folder).resolve() if folder is not None else None
        paths = library_paths(root, Path(library) if library is not None else None, chosen, create,
                              self.settings.home)
        key = (paths.directory.resolve(), readonly)
        with self._guard:
            lock = self._opening.setdefault(key, threading.Lock())
        with lock:  # one open (or creation) of a library at a time
            with self._guard:
                cached = self._libraries.get(key)
            if cached is not None and (chosen is None or cached.same_model(chosen)):
                if root is not None and root != cached.root:
                    raise LibraryError(f"this library indexes {cached.root}, not {root}", path=paths.directory,
                                       indexes=str(cached.root))
                return cached
            # a new library learns its spec from the model: build it through this service's cache
            model_arg: str | Embedder | None = self.embedder(chosen) if create and not paths.exists() else chosen
            opened = Library.open(folder, model=model_arg, library=library, create=create, readonly=readonly,
                                  home=self.settings.home, **self.settings.embed_options())
            opened.set_embedder_factory(lambda: self.embedder(opened.model_location()))
            with self._guard:
                self._libraries[key] = opened
        return opened

    def store(self, target: Target, progress: Progress | None = None, write: bool = False) -> VectorStore:
        """The store a verb runs on. A `Source` naming a library: that library as it is (no model; read
        only unless `write` asks to keep something in it, such as duplicate groups, and its storage
        allows). A folder: its library for the model when it has one (brought up to date first, or used
        as it is where its storage cannot be written), else the folder embedded now, nothing written. The
        service keeps the MAX_FOLDER_STORES folder stores it opened last; opening another closes the oldest."""
        if not isinstance(target, Source):
            return target
        if target.library is not None:
            if target.folder is not None:
                raise LibraryError("give either a folder or a library, not both", argument="library")
            readonly = not (write and library_writable(target.library, target.model, self.settings.home))
            return self.library(library=target.library, model=target.model, readonly=readonly)
        assert target.folder is not None
        if self.settings.store:
            return self.postgres(target.folder, target.model, sync=True)
        name = self.model_for(require_folder(target.folder), target.model)
        store = open_folder(target.folder, name, self.pipeline_options(progress), self.settings.home,
                            embedder=lambda: self.embedder(name))
        with self._guard:  # a long-lived service (serve, a script looping over folders) keeps only a few
            self._opened.append(store)
            evicted, self._opened = self._opened[:-MAX_FOLDER_STORES], self._opened[-MAX_FOLDER_STORES:]
        for old in evicted:
            old.close()
        return store

    # libraries in PostgreSQL (settings.store) ----------------------------------------------------
    def postgres(self, folder: str | os.PathLike[str], model: str | None = None, create: bool = False,
                 sync: bool = False, progress: Progress | None = None) -> VectorStore:
        """The library of `folder` in the PostgreSQL store `settings.store` (opened once per process):
        for `model`, else the store's only model for that folder (`create`: else the default model).
        `sync` brings it up to date first unless another process is writing it (then used as it is)."""
        from ..errors import LibraryLockedError
        from ..store.postgres import PostgresStore, store_models

        assert self.settings.store is not None
        root = require_folder(folder).resolve()
        if model is None and create:
            present = store_models(self.settings.store, root)
            model = present[0] if len(present) == 1 else None if present else self.settings.model or DEFAULT_MODEL
        key = (root, model)
        with self._guard:
            lock = self._store_opening.setdefault(key, threading.Lock())
        with lock:  # one open per store: two threads opening at once would leave one connection unclosed
            with self._guard:
                cached = self._stores.get(key)
            if cached is None:
                opened = PostgresStore(self.settings.store, root, model=model, create=create,
                                       **self.settings.embed_options())
                opened.set_embedder_factory(lambda: self.embedder(opened.spec.model))
                with self._guard:
                    self._stores[key] = cached = opened
        if sync:
            # another process indexing it: answer from what it has committed
            with suppress(LibraryLockedError):
                cached.sync(options=self.pipeline_options(progress))
        return cached

    # lifetime -----------------------------------------------------------------------------------
    def release_memory(self) -> bool:
        """Give the heap memory this process freed back to the system (after large decodes spread over
        many threads, glibc keeps it otherwise); whether the C library could."""
        return release_memory()

    def close(self) -> None:
        """Close every open library (loaded models are dropped with the object)."""
        with self._guard:
            stores: list[VectorStore] = [*self._libraries.values(), *self._opened, *self._stores.values()]
            self._libraries, self._opened, self._stores = {}, [], {}
        for store in stores:
            store.close()
