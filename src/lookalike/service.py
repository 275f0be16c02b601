"""The service: one object that owns loaded embedders (each loaded once) and open libraries, and that
any number of threads may call at once. The command line and the web server both go through it.

    from lookalike import Lookalike, Query

    with Lookalike() as service:                      # settings: defaults < lookalike.toml < env
        library = service.library("photos", create=True)
        service.sync(library)
        hits = service.search(library, Query("query.jpg"), k=10)
        hits = service.search(library, Query(upload_bytes, text="red", text_weight=0.3))
        twins = service.similar(library, hits[0].id, k=5)

Models load lazily: answering from stored vectors (an image already in a library, pairs and
duplicates over a library) never builds one.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .dedupe.run import DuplicateOptions, DuplicateReport
from .embedders import DEFAULT_MODEL, Embedder, create_embedder
from .errors import InvalidArgumentError, LibraryError
from .images import ImageSource
from .operations import (
    LazyModel,
    PairsResult,
    SearchResult,
    find_pairs,
    search,
)
from .pipeline import PipelineOptions, Progress
from .query import Match, Pair, Query, check_count, check_threshold, embed_image
from .settings import Settings, load_settings
from .store.base import LibraryStats, SyncReport
from .store.layout import library_home
from .store.library import Library
from .store.opening import find_paths, models_in
from .store.vectors import IndexParams


class Lookalike:
    """Loaded models and open libraries, shared safely between threads."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._embedders: dict[tuple[str, str, str], Embedder] = {}
        self._libraries: dict[tuple[Path, bool], Library] = {}
        self._loading: dict[tuple[str, str, str], threading.Lock] = {}
        self._opening: dict[tuple[Path, bool], threading.Lock] = {}
        self._guard = threading.Lock()
        self._threads_limited = False

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
            home = library_home(Path(folder) if folder is not None else None,
                                Path(library) if library is not None else None, self.settings.home)
            present = models_in(home)
            if len(present) == 1:
                return present[0]
            if len(present) > 1 and default not in present:
                raise LibraryError(f"holds libraries for several models ({', '.join(present)})", path=home,
                                   choose_model=present)
        return default

    def embedder(self, model: str | None = None) -> Embedder:
        """The embedder for `model` (None: the configured default), loaded once per process."""
        name = model or self.settings.model or DEFAULT_MODEL
        key = (name, self.settings.device, self.settings.precision)
        with self._guard:
            if key in self._embedders:
                return self._embedders[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:  # one load per model, other models load meanwhile
            if key not in self._embedders:
                built = create_embedder(name, **self.settings.embed_options())
                self._limit_threads(built)
                with self._guard:
                    self._embedders[key] = built
        return self._embedders[key]

    def _limit_threads(self, embedder: Embedder) -> None:
        """Cap torch's threads at the usable cores, once, after the first torch model is built."""
        if self._threads_limited or "torch" not in sys.modules:
            return
        from .embedders.torch_base import limit_torch_threads

        limit_torch_threads()
        self._threads_limited = True

    def pipeline_options(self, progress: Progress | None = None) -> PipelineOptions:
        """Batching, decode workers and the pixel limit from the settings."""
        return PipelineOptions(batch_size=self.settings.batch_size, workers=self.settings.workers or None,
                               max_pixels=self.settings.max_pixels, progress=progress)

    # libraries ----------------------------------------------------------------------------------
    def library(self, folder: str | os.PathLike[str] | None = None, library: str | os.PathLike[str] | None = None,
                model: str | None = None, create: bool = False, readonly: bool = False) -> Library:
        """The library of `folder` (or at `library`), opened once and kept open; `create` makes it."""
        chosen = model if (model or folder is None) else self.model_for(folder, None, library)
        if create and chosen is None:
            chosen = self.settings.model or DEFAULT_MODEL
        root = Path(folder).resolve() if folder is not None else None
        home = library_home(root, Path(library) if library is not None else None, self.settings.home)
        paths = find_paths(home, chosen, create)
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

    def sync(self, library: Library, progress: Progress | None = None, **options: Any) -> SyncReport:
        """Bring a library up to date (see `Library.sync` for `options`)."""
        return library.sync(options=self.pipeline_options(progress), **options)

    # queries ------------------------------------------------------------------------------------
    def search(self, library: Library, query: Query, k: int = 10, threshold: float | None = None,
               exact: bool = False, ef_search: int | None = None, nprobe: int | None = None) -> list[Match]:
        """The k library images most similar to an image (path, bytes), a text, or both."""
        check_count(k, "k")
        check_threshold(threshold)
        return library.search(query, k=k, threshold=threshold, exact=exact, ef_search=ef_search, nprobe=nprobe)

    def similar(self, library: Library, file_id: int, k: int = 10, threshold: float | None = None) -> list[Match]:
        """The k images most like one already in the library (itself left out); no model needed."""
        check_count(k, "k")
        return library.similar(file_id, k=k, threshold=check_threshold(threshold))

    def compare(self, a: ImageSource, b: ImageSource, model: str | None = None,
                names: tuple[str | None, str | None] = (None, None)) -> float:
        """Cosine similarity of two images (paths, bytes or file objects)."""
        embedder = self.embedder(model)
        return float(np.dot(embed_image(a, embedder, names[0]), embed_image(b, embedder, names[1])))

    def compare_ids(self, library: Library, a: int, b: int) -> float:
        """Cosine similarity of two images of a library, from their stored vectors."""
        vectors = [library.vector_of(i) for i in (a, b)]
        for file_id, vector in zip((a, b), vectors, strict=True):
            if vector is None:
                raise InvalidArgumentError(f"no image with id {file_id} in this library", argument="id",
                                           unknown_id=file_id)
        first, second = vectors
        assert first is not None and second is not None
        return float(np.dot(first, second))

    def pairs(self, library: Library, top: int = 10) -> list[Pair]:
        """The `top` most similar pairs of a library, from its stored vectors."""
        from .neighbors import top_pairs

        check_count(top, "top")
        paths, vectors = library.vectors()
        return [Pair(paths[p.i], paths[p.j], p.score) for p in top_pairs(vectors, top)]

    def duplicates(self, library: Library, options: DuplicateOptions | None = None,
                   max_checks: int | None = None) -> DuplicateReport:
        """Duplicate groups of a library from its stored vectors: the calibrated two-stage decision of
        `lookalike duplicates` (exact copies by hash, near copies above the model's thresholds, borderline
        pairs checked by keypoints), with the library's "not a duplicate" decisions and calibration;
        more than `max_checks` pairs to check is refused (TooManyItemsError)."""
        from .dedupe.run import library_duplicates

        if options is not None and options.threshold is not None:
            check_threshold(options.threshold)
        return library_duplicates(library, options, max_checks)

    # folders (answered from the folder's library for the model when it has one) ----------------------
    def lazy_model(self, folder: str | os.PathLike[str] | None, model: str | None) -> LazyModel:
        """The model for a folder command, built through this service's cache only when needed."""
        return LazyModel(self.model_for(folder, model), self.embedder, self.settings.home)

    def folder_pairs(self, folder: str | os.PathLike[str], model: str | None = None, top: int = 1,
                     every: bool = False, progress: Progress | None = None) -> PairsResult:
        return find_pairs(folder, self.lazy_model(folder, model), top=top, every=every,
                          options=self.pipeline_options(progress))

    def folder_search(self, folder: str | os.PathLike[str], query: Query, k: int = 5, model: str | None = None,
                      threshold: float | None = None, progress: Progress | None = None) -> SearchResult:
        return search(folder, query, query.text, k=k, model=self.lazy_model(folder, model),
                      text_weight=query.text_weight, options=self.pipeline_options(progress), threshold=threshold)

    def stats(self, library: Library, scan: bool = False) -> LibraryStats:
        return library.stats(scan=scan)

    def index_params(self, kind: str | None, ef_search: int | None, nprobe: int | None) -> IndexParams | None:
        """Index parameters when any was asked for."""
        if kind is None and ef_search is None and nprobe is None:
            return None
        return IndexParams(kind=kind or "auto", ef_search=ef_search, nprobe=nprobe)  # type: ignore[arg-type]

    # lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close every open library (loaded models are dropped with the object)."""
        with self._guard:
            libraries, self._libraries = list(self._libraries.values()), {}
        for library in libraries:
            library.close()

    def __enter__(self) -> Lookalike:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

