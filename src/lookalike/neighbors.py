"""Nearest neighbours over L2-normalised vectors: top-k search, the kNN graph, the most similar
pairs, every pair of a small set, and near-duplicate groups. Exact (FAISS flat inner product, which
blocks and parallelises the matrix products); no Python loop over pairs."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from .errors import TooManyItemsError

ALL_PAIRS_LIMIT = 2000
_QUERY_BLOCK = 4096


@dataclass(frozen=True)
class ScoredPair:
    """Positions `i < j` in the vector set and their cosine similarity."""

    i: int
    j: int
    score: float


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


def top_pairs(vectors: np.ndarray, count: int) -> list[ScoredPair]:
    """The `count` most similar pairs, exactly: a pair in the global top `count` is always within
    the `count` nearest neighbours of both its members, so a kNN graph with k = count holds it."""
    n = len(vectors)
    if n < 2 or count < 1:
        return []
    scores, indices = knn_graph(vectors, min(count, n - 1))
    return pairs_from_graph(scores, indices, limit=count)


def all_pairs(vectors: np.ndarray, limit: int = ALL_PAIRS_LIMIT) -> list[ScoredPair]:
    """Every pair's score, best first; refused above `limit` vectors."""
    n = len(vectors)
    if n > limit:
        raise TooManyItemsError(
            f"every pair of {n} images would be {n * (n - 1) // 2:,} pairs (limit {limit} images)",
            count=n, limit=limit
        )
    if n < 2:
        return []
    matrix = vectors @ vectors.T
    i, j = np.triu_indices(n, k=1)
    values = matrix[i, j]
    order = np.lexsort((j, i, -values))
    return [ScoredPair(int(i[p]), int(j[p]), float(values[p])) for p in order]


def duplicate_groups(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups (connected components) of vectors linked by a similarity >= threshold, largest first.

    Uses FAISS range search, so every link above the threshold is found, whatever its rank.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(vectors)
    if n < 2:
        return []
    index = _flat_index(vectors)
    radius = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
    rows, cols = [], []
    for start in range(0, n, _QUERY_BLOCK):
        block = np.ascontiguousarray(vectors[start : start + _QUERY_BLOCK], dtype=np.float32)
        limits, _, found = index.range_search(block, radius)
        rows.append(np.repeat(np.arange(start, start + len(block)), np.diff(limits).astype(np.int64)))
        cols.append(found)
    edges = coo_matrix((np.ones(sum(map(len, rows))), (np.concatenate(rows), np.concatenate(cols))), (n, n))
    _, labels = connected_components(edges, directed=False)
    order = np.argsort(labels, kind="stable")
    groups = [list(map(int, g)) for g in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)]
    multi = [members for members in groups if len(members) > 1]
    return sorted(multi, key=lambda members: (-len(members), members[0]))
