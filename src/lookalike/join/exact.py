"""Exact nearest neighbours over unit vectors: the one place that builds an exact (flat inner-product)
FAISS index, top-k search with the query itself left out by identity, and ranking of one query's
candidates. Everything exact in lookalike (a library's `--exact` search, a folder embedded on the fly,
the join's cell assignment, duplicate candidates over extra views) goes through here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss

_QUERY_BLOCK = 4096


def flat_index(vectors: np.ndarray | None = None, dim: int | None = None) -> faiss.IndexFlatIP:
    """An exact inner-product index over `vectors` (or an empty one of `dim` dimensions)."""
    import faiss

    width = int(vectors.shape[1]) if vectors is not None else int(dim or 0)
    index = faiss.IndexFlatIP(width)
    if vectors is not None and len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def knn(vectors: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of `vectors` for each query: (scores, indices), best first, -1 where fewer exist.

    `exclude[q]` is a position to leave out of query q's results (-1 for none): the query itself
    when it is in the set, matched by identity and never by rank.
    """
    n = len(vectors)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    fetch = min(k + (0 if exclude is None else 1), n)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    indices = np.full((len(queries), k), -1, dtype=np.int64)
    if n == 0 or k == 0:
        return scores, indices
    index = flat_index(vectors)
    for start in range(0, len(queries), _QUERY_BLOCK):
        block = queries[start : start + _QUERY_BLOCK]
        found_scores, found = index.search(block, fetch)
        if exclude is not None:
            drop = found == exclude[start : start + len(block), None]
            found_scores = np.where(drop, -np.inf, found_scores)
            found = np.where(drop, -1, found)
            order = np.argsort(-found_scores, axis=1, kind="stable")
            found_scores = np.take_along_axis(found_scores, order, axis=1)
            found = np.take_along_axis(found, order, axis=1)
        width = min(k, found.shape[1])
        scores[start : start + len(block), :width] = found_scores[:, :width]
        indices[start : start + len(block), :width] = found[:, :width]
    return scores, indices


def rank_hits(scores: np.ndarray, keys: np.ndarray, k: int, exclude: int | None = None,
              threshold: float | None = None) -> list[tuple[float, int]]:
    """(score, key) pairs best first from one query's candidates: invalid keys (-1) and the excluded
    key dropped, then cut at `threshold` and at `k`. Ties keep the candidates' order."""
    found = [(float(s), int(i)) for s, i in zip(scores, keys, strict=True) if i >= 0 and i != exclude]
    found.sort(key=lambda hit: -hit[0])
    if threshold is not None:
        found = [hit for hit in found if hit[0] >= threshold]
    return found[:k]
