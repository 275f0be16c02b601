"""The operations on plain folders: compare two images, the most similar pairs, top-k search by
image / text / both, and near-duplicate groups. Each returns plain dataclasses; the CLI formats them."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embedders import Embedder, create_embedder, l2_normalize
from .errors import ImageReadError, LookalikeError, TooManyItemsError, display_path
from .images import find_images, load_image
from .neighbors import ALL_PAIRS_LIMIT, all_pairs, duplicate_groups, knn, top_pairs
from .pipeline import EmbedResult, PipelineOptions, embed_paths

if TYPE_CHECKING:
    from .store.library import Library

ModelArg = str | Embedder | None
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """A search hit: a file and its cosine similarity to the query."""

    path: Path
    score: float


@dataclass(frozen=True)
class Pair:
    """Two files and their cosine similarity."""

    a: Path
    b: Path
    score: float


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


@dataclass
class DuplicatesResult:
    """Groups of near-duplicates (each sorted by path), largest group first."""

    groups: list[list[Path]]
    failures: list[ImageReadError] = field(default_factory=list)


def resolve_embedder(model: ModelArg, **options: object) -> Embedder:
    """An `Embedder` as given, or one created from a registry name (None: the default model)."""
    if isinstance(model, Embedder):
        return model
    return create_embedder(model, **options)


def embed_image(path: str | os.PathLike[str], embedder: Embedder) -> np.ndarray:
    """One image's vector through the same decode + preprocessing path as indexed images."""
    picture = load_image(path, embedder.decode_options)
    return embedder.embed_prepared([embedder.prepare(picture)])[0]


def require_folder(folder: str | os.PathLike[str]) -> None:
    """Raise unless `folder` is a folder (a file given where a folder is expected says so)."""
    path = Path(folder)
    if path.is_dir():
        return
    if path.exists() or path.is_symlink():
        raise LookalikeError(f"{display_path(path)}: is a file, not a folder of images")
    raise LookalikeError(f"{display_path(path)}: no such folder")


def embed_folder(
    folder: str | os.PathLike[str], embedder: Embedder, options: PipelineOptions | None = None
) -> EmbedResult:
    """Every image below `folder` embedded; unreadable files are returned as failures."""
    require_folder(folder)
    paths = find_images(folder)
    if not paths:
        raise LookalikeError(f"{folder}: no image files found")
    return embed_paths(embedder, paths, options)


def open_folder_library(folder: str | os.PathLike[str], embedder: Embedder) -> Library | None:
    """The folder's own library for this model (`FOLDER/.lookalike/<model>`), when one exists; opened
    read-only where its storage cannot be written (it is then used as it is, without a sync)."""
    from .store.catalog import storage_writable
    from .store.layout import STATE_DIR, LibraryPaths, model_slug
    from .store.library import Library

    paths = LibraryPaths(Path(folder) / STATE_DIR / model_slug(embedder.spec.model))
    if not paths.exists():
        return None
    return Library.open(folder, model=embedder, readonly=not storage_writable(paths.catalog))


def _sync_if_writable(library: Library, options: PipelineOptions | None) -> None:
    if library.catalog.readonly:
        log.warning("%s is read-only here: using it as it is (new or changed files are not included)",
                    library.paths.directory)
        return
    library.sync(options=options)


def folder_vectors(
    folder: str | os.PathLike[str], embedder: Embedder, options: PipelineOptions | None = None
) -> EmbedResult:
    """Every image of `folder` with its vector: from the folder's library (brought up to date first)
    when it has one for this model, else embedded now."""
    require_folder(folder)
    library = open_folder_library(folder, embedder)
    if library is None:
        return embed_folder(folder, embedder, options)
    with library:
        _sync_if_writable(library, options)
        paths, vectors = library.vectors()
        return EmbedResult(paths, vectors, library.failures())


def compare(a: str | os.PathLike[str], b: str | os.PathLike[str], model: ModelArg = None) -> float:
    """Cosine similarity of two images' L2-normalised embeddings, in [-1, 1]."""
    embedder = resolve_embedder(model)
    return float(np.dot(embed_image(a, embedder), embed_image(b, embedder)))


def find_pairs(
    folder: str | os.PathLike[str],
    model: ModelArg = None,
    top: int = 1,
    every: bool = False,
    options: PipelineOptions | None = None,
) -> PairsResult:
    """The `top` most similar pairs in a folder (exact, through a kNN graph), or every pair
    (refused before any embedding when the folder holds more than ALL_PAIRS_LIMIT images)."""
    if top < 1:
        raise LookalikeError(f"top must be at least 1, not {top}")
    require_folder(folder)
    if every:
        count = len(find_images(folder))
        if count > ALL_PAIRS_LIMIT:
            raise TooManyItemsError(
                f"--all on {count} images would print {count * (count - 1) // 2:,} pairs (limit {ALL_PAIRS_LIMIT} "
                "images); use --top K for the K most similar pairs"
            )
    embedded = folder_vectors(folder, resolve_embedder(model), options)
    scored = all_pairs(embedded.vectors) if every else top_pairs(embedded.vectors, top)
    pairs = [Pair(embedded.paths[p.i], embedded.paths[p.j], p.score) for p in scored]
    return PairsResult(pairs, embedded.failures, count=len(embedded.paths))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def combine_query(image_vector: np.ndarray | None, text_vector: np.ndarray | None,
                  text_weight: float = 0.5) -> np.ndarray:
    """One unit query vector: the image's, the text's, or their weighted sum (`text_weight` on text)."""
    if image_vector is None and text_vector is None:
        raise LookalikeError("a query needs an image, a text, or both")
    if not 0.0 <= text_weight <= 1.0:
        raise LookalikeError(f"--text-weight must be between 0 and 1, not {text_weight}")
    if image_vector is None or text_vector is None:
        single = image_vector if image_vector is not None else text_vector
        return l2_normalize(np.asarray(single)[None, :])[0]
    return l2_normalize(((1.0 - text_weight) * image_vector + text_weight * text_vector)[None, :])[0]


def query_vector(
    embedder: Embedder,
    image: str | os.PathLike[str] | None = None,
    text: str | None = None,
    text_weight: float = 0.5,
) -> np.ndarray:
    """The query as one unit vector: an image, a text, or both (see `combine_query`)."""
    image_vector = embed_image(image, embedder) if image is not None else None
    text_vector = embedder.embed_texts([text])[0] if text else None
    return combine_query(image_vector, text_vector, text_weight)


def search(
    folder: str | os.PathLike[str],
    query: str | os.PathLike[str] | None = None,
    text: str | None = None,
    k: int = 5,
    model: ModelArg = None,
    text_weight: float = 0.5,
    options: PipelineOptions | None = None,
) -> SearchResult:
    """The k images in `folder` most similar to an image query, a text query, or both.

    When the query image is itself in the folder it is left out of its results (by file identity).
    `k` is capped at the number of images.
    """
    if k < 1:
        raise LookalikeError(f"k must be at least 1, not {k}")
    require_folder(folder)
    embedder = resolve_embedder(model)
    library = open_folder_library(folder, embedder)
    if library is not None:
        with library:
            _sync_if_writable(library, options)
            found = library.search(query, text=text, k=k, text_weight=text_weight)
            return SearchResult(found, library.failures())
    vector = query_vector(embedder, query, text, text_weight)
    embedded = embed_folder(folder, embedder, options)
    exclude = -1
    if query is not None:
        exclude = next((i for i, p in enumerate(embedded.paths) if _same_file(p, Path(query))), -1)
    scores, indices = knn(embedded.vectors, vector[None, :], k, exclude=np.array([exclude]))
    matches = [Match(embedded.paths[i], float(s)) for s, i in zip(scores[0], indices[0], strict=True) if i >= 0]
    return SearchResult(matches, embedded.failures)


def find_duplicates(
    folder: str | os.PathLike[str],
    model: ModelArg = None,
    threshold: float = 0.95,
    options: PipelineOptions | None = None,
) -> DuplicatesResult:
    """Groups of images whose similarity chains stay >= `threshold`."""
    embedded = folder_vectors(folder, resolve_embedder(model), options)
    groups = duplicate_groups(embedded.vectors, threshold)
    return DuplicatesResult([[embedded.paths[i] for i in group] for group in groups], embedded.failures)

