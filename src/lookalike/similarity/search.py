"""The one search path: a query (image, text or both) against any store, the query image left out of
its own results by file identity (never by rank); an image already in a library is answered from its
stored vector without building the model."""

from __future__ import annotations

import os

from ..errors import LibraryError
from ..images import ImageSource
from ..store.base import VectorStore
from ..types import Match, Query, check_count, check_threshold
from .query import merge_best, query_vector, view_vectors


def search(store: VectorStore, query: Query | ImageSource, k: int = 10, threshold: float | None = None,
           exact: bool = False, ef_search: int | None = None, nprobe: int | None = None) -> list[Match]:
    """The k stored images most similar to `query` (a `Query`, or an image: path, bytes, file object),
    best first (`exact` bypasses an ANN index; `ef_search`/`nprobe` tune one for this call)."""
    query = query if isinstance(query, Query) else Query(query)
    check_count(k, "k")
    check_threshold(threshold)
    exclude, stored = None, None
    if isinstance(query.image, str | os.PathLike):
        exclude, current = store.id_of(query.image)
        if exclude is not None and current:
            stored = store.vector_of(exclude)
    vectors = [query_vector(query, store.embedder, stored)]
    if query.invariant:
        vectors += view_vectors(query, store.embedder())
    answers = [store.search_vector(v, k, exclude=exclude, threshold=threshold, exact=exact, ef_search=ef_search,
                                   nprobe=nprobe) for v in vectors]
    return merge_best(answers, k)


def similar(store: VectorStore, file_id: int, k: int = 10, threshold: float | None = None,
            exact: bool = False) -> list[Match]:
    """The k images most similar to one already in the store (itself left out), from its stored vector."""
    check_count(k, "k")
    check_threshold(threshold)
    vector = store.vector_of(int(file_id))
    if vector is None:
        raise LibraryError(f"no image with id {file_id} in this library", path=store.location,
                           unknown_id=int(file_id))
    return store.search_vector(vector, k, exclude=int(file_id), threshold=threshold, exact=exact)
