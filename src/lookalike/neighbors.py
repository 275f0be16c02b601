"""Nearest neighbours over L2-normalised vectors: top-k search, the kNN graph, the most similar
pairs, every pair of a small set, and near-duplicate groups. Search is exact (FAISS flat inner
product); the most similar pairs and the duplicate groups go through the bounded-memory join
(`lookalike.join`), exact below its size limit. No Python loop over pairs."""

from __future__ import annotations

import faiss
import numpy as np

from .errors import TooManyItemsError
from .join import JoinOptions, ScoredPair, connected_groups, threshold_edges
from .join import top_pairs as join_top_pairs

__all__ = ["ALL_PAIRS_LIMIT", "ScoredPair", "all_pairs", "check_all_pairs", "duplicate_groups", "knn", "knn_graph",
           "pairs_from_graph", "top_pairs"]

ALL_PAIRS_LIMIT = 2000
_QUERY_BLOCK = 4096


def _flat_index(vectors: np.ndarray) -> faiss.IndexFlatIP:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def knn(
    vectors: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of `vectors` for each query: (scores, indices), best first, -1 where fewer exist.

    `exclude[q]` is a position to leave out of query q's results (-1 for none): the query itself
    when it is in the set, matched by identity and never by rank.
    """
    n = len(vectors)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    extra = 0 if exclude is None else 1
    fetch = min(k + extra, n)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    indices = np.full((len(queries), k), -1, dtype=np.int64)
    if n == 0 or k == 0:
        return scores, indices
    index = _flat_index(vectors)
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


def knn_graph(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's k nearest other vectors: (scores, indices) of shape (n, k)."""
    positions = np.arange(len(vectors), dtype=np.int64)
    return knn(vectors, vectors, k, exclude=positions)


def pairs_from_graph(scores: np.ndarray, indices: np.ndarray, limit: int | None = None) -> list[ScoredPair]:
    """Unique undirected pairs of a kNN graph, best first (ties by position), at most `limit`."""
    rows = np.repeat(np.arange(len(indices), dtype=np.int64), indices.shape[1])
    cols = indices.ravel()
    values = scores.ravel()
    keep = cols >= 0
    low = np.minimum(rows[keep], cols[keep])
    high = np.maximum(rows[keep], cols[keep])
    values = values[keep]
    if len(values) == 0:
        return []
    order = np.lexsort((high, low, -values))
    low, high, values = low[order], high[order], values[order]
    keys = low * (len(indices) + 1) + high
    _, first = np.unique(keys, return_index=True)
    first.sort()
    if limit is not None:
        first = first[:limit]
    return [ScoredPair(int(low[p]), int(high[p]), float(values[p])) for p in first]


def top_pairs(vectors: np.ndarray, count: int, options: JoinOptions | None = None) -> list[ScoredPair]:
    """The `count` most similar distinct pairs, best first (see `lookalike.join.top_pairs`)."""
    if len(vectors) < 2 or count < 1:
        return []
    return join_top_pairs(vectors, count, options)[0]


def check_all_pairs(count: int, limit: int = ALL_PAIRS_LIMIT) -> None:
    """Refuse every-pair output above `limit` items (checked before anything is embedded)."""
    if count > limit:
        raise TooManyItemsError(
            f"--all on {count} images would print {count * (count - 1) // 2:,} pairs (limit {limit} images); "
            f"use --top K for the K most similar pairs"
        )


def all_pairs(vectors: np.ndarray, limit: int = ALL_PAIRS_LIMIT) -> list[ScoredPair]:
    """Every pair's score, best first; refused above `limit` vectors."""
    n = len(vectors)
    check_all_pairs(n, limit)
    if n < 2:
        return []
    matrix = vectors @ vectors.T
    i, j = np.triu_indices(n, k=1)
    values = matrix[i, j]
    order = np.lexsort((j, i, -values))
    return [ScoredPair(int(i[p]), int(j[p]), float(values[p])) for p in order]


def duplicate_groups(vectors: np.ndarray, threshold: float, options: JoinOptions | None = None) -> list[list[int]]:
    """Groups (connected components) of vectors linked by a similarity >= threshold, largest first."""
    if len(vectors) < 2:
        return []
    i, j, _, _ = threshold_edges(vectors, threshold, options)
    return connected_groups(len(vectors), i, j)
