"""The operations on folders: compare two images, the most similar pairs, top-k search by image /
text / both, and near-duplicate groups. A folder with a library for the model answers from it
(brought up to date first); any other folder is embedded for the call. Each returns plain
dataclasses; the CLI and the web layer format them."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embedders import DEFAULT_MODEL, Embedder, create_embedder
from .errors import ImageReadError, LibraryError, LookalikeError, TooManyItemsError
from .images import ImageSource, find_images
from .neighbors import ALL_PAIRS_LIMIT, all_pairs, knn, top_pairs
from .pipeline import EmbedResult, PipelineOptions, embed_paths
from .query import (
    Match,
    Pair,
    Query,
    check_count,
    check_threshold,
    embed_image,
    merge_best,
    query_vector,
    rank_hits,
    view_vectors,
)
from .query import same_file_position as _same_file_position
from .store.catalog import storage_writable
from .store.layout import LibraryPaths, library_home, model_slug
from .store.library import Library

ModelArg = str | Embedder | None
Factory = Callable[[str], Embedder]
log = logging.getLogger(__name__)

__all__ = ["Match", "Pair", "PairsResult", "SearchResult", "compare", "embed_folder",
           "embed_image", "find_pairs", "folder_vectors", "search"]


@dataclass
class PairsResult:
    """Pairs best first, plus the files that could not be read."""

    pairs: list[Pair]
    failures: list[ImageReadError] = field(default_factory=list)
    count: int = 0


@dataclass
class SearchResult:
    """Hits best first, plus the files that could not be read."""

    matches: list[Match]
    failures: list[ImageReadError] = field(default_factory=list)


def resolve_embedder(model: ModelArg, **options: object) -> Embedder:
    """An `Embedder` as given, or one created from a registry name (None: the default model)."""
    if isinstance(model, Embedder):
        return model
    return create_embedder(model, **options)


class LazyModel:
    """A model by name, built (through `factory`, e.g. the service's cache) only when first needed;
    `home` is where folders' libraries live when not inside the folders (settings.home)."""

    def __init__(self, model: ModelArg, factory: Factory | None = None, home: Path | None = None) -> None:
        self._embedder = model if isinstance(model, Embedder) else None
        self.name = model.spec.model if isinstance(model, Embedder) else (model or DEFAULT_MODEL)
        self._factory = factory or (lambda name: create_embedder(name))
        self.home = home

    def __call__(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._factory(self.name)
        return self._embedder


def require_folder(folder: str | os.PathLike[str], argument: str = "folder") -> None:
    """Raise unless `folder` is a folder (a file given where a folder is expected says so)."""
    path = Path(folder)
    if path.is_dir():
        return
    if path.exists() or path.is_symlink():
        raise LookalikeError("is a file, not a folder of images", path=path, argument=argument)
    raise LookalikeError("no such file or folder", path=path, argument=argument)


def embed_folder(folder: str | os.PathLike[str], embedder: Embedder,
                 options: PipelineOptions | None = None) -> EmbedResult:
    """Every image below `folder` embedded; unreadable files are returned as failures."""
    require_folder(folder)
    paths = find_images(folder)
    if not paths:
        raise LibraryError("no image files found", path=folder)
    return embed_paths(embedder, paths, options)


def folder_library_paths(folder: str | os.PathLike[str], model: str | Embedder,
                         home: Path | None = None) -> LibraryPaths:
    """Where the folder's library for this model is (`FOLDER/.lookalike/<model>`, or under `home`)."""
    name = model.spec.model if isinstance(model, Embedder) else model
    return LibraryPaths(library_home(Path(folder), None, home) / model_slug(name))


def has_folder_library(folder: str | os.PathLike[str], model: str | Embedder, home: Path | None = None) -> bool:
    """Whether the folder has a library for this model."""
    return folder_library_paths(folder, model, home).exists()


def open_folder_library(folder: str | os.PathLike[str], model: LazyModel) -> Library | None:
    """The folder's library for this model, when one exists (its model comes from `model`);
    opened read-only where its storage cannot be written (it is then used as it is, without a sync)."""
    paths = folder_library_paths(folder, model.name, model.home)
    if not paths.exists():
        return None
    library = Library.open(folder, model=model.name, readonly=not storage_writable(paths.catalog), home=model.home)
    library.set_embedder_factory(model)
    return library


def _sync_if_writable(library: Library, options: PipelineOptions | None) -> None:
    if library.catalog.readonly:
        log.warning("%s is read-only here: using it as it is (new or changed files are not included)",
                    library.paths.directory)
        return
    library.sync(options=options)


def folder_vectors(folder: str | os.PathLike[str], model: ModelArg | LazyModel,
                   options: PipelineOptions | None = None) -> EmbedResult:
    """Every image of `folder` with its vector: from the folder's library (brought up to date first;
    the model is built only when files changed) when it has one for this model, else embedded now."""
    require_folder(folder)
    lazy = model if isinstance(model, LazyModel) else LazyModel(model)
    library = open_folder_library(folder, lazy)
    if library is None:
        return embed_folder(folder, lazy(), options)
    with library:
        _sync_if_writable(library, options)
        paths, vectors = library.vectors()
        return EmbedResult(paths, vectors, library.failures())


def compare(a: ImageSource, b: ImageSource, model: ModelArg = None) -> float:
    """Cosine similarity of two images' L2-normalised embeddings, in [-1, 1]."""
    embedder = resolve_embedder(model)
    return float(np.dot(embed_image(a, embedder), embed_image(b, embedder)))


def find_pairs(folder: str | os.PathLike[str], model: ModelArg | LazyModel = None, top: int = 1,
               every: bool = False, options: PipelineOptions | None = None) -> PairsResult:
    """The `top` most similar pairs in a folder (exact, through a kNN graph), or every pair
    (refused before any embedding when the folder holds more than ALL_PAIRS_LIMIT images)."""
    check_count(top, "top")
    require_folder(folder)
    if every:
        count = len(find_images(folder))
        if count > ALL_PAIRS_LIMIT:
            raise TooManyItemsError(
                f"every pair of {count} images would be {count * (count - 1) // 2:,} pairs (limit "
                f"{ALL_PAIRS_LIMIT} images)", count=count, limit=ALL_PAIRS_LIMIT,
            )
    embedded = folder_vectors(folder, model, options)
    scored = all_pairs(embedded.vectors) if every else top_pairs(embedded.vectors, top)
    pairs = [Pair(embedded.paths[p.i], embedded.paths[p.j], p.score) for p in scored]
    return PairsResult(pairs, embedded.failures, count=len(embedded.paths))


def search(
    folder: str | os.PathLike[str],
    query: ImageSource | Query | None = None,
    text: str | None = None,
    k: int = 5,
    model: ModelArg | LazyModel = None,
    text_weight: float = 0.5,
    options: PipelineOptions | None = None,
    threshold: float | None = None,
) -> SearchResult:
    """The k images in `folder` most similar to an image query, a text query, or both.

    When the query image is itself in the folder it is left out of its results (by file identity).
    """
    asked = query if isinstance(query, Query) else Query(query, text, text_weight)
    check_count(k, "k")
    check_threshold(threshold)
    require_folder(folder)
    lazy = model if isinstance(model, LazyModel) else LazyModel(model)
    library = open_folder_library(folder, lazy)
    if library is not None:
        with library:
            _sync_if_writable(library, options)
            return SearchResult(library.search(asked, k=k, threshold=threshold), library.failures())
    vectors = [query_vector(asked, lazy), *view_vectors(asked, lazy())]
    embedded = embed_folder(folder, lazy(), options)
    exclude = _same_file_position(embedded.paths, asked.image)
    answers = []
    for vector in vectors:  # one, or one per view with --invariant
        scores, positions = knn(embedded.vectors, vector[None, :], min(k + 1, len(embedded.paths)))
        found = rank_hits(scores[0], positions[0], k, exclude, threshold)
        answers.append([Match(embedded.paths[i], s) for s, i in found])
    return SearchResult(merge_best(answers, k), embedded.failures)

