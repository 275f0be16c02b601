"""Candidate edges between vectors: every pair whose cosine similarity reaches a threshold (exact
FAISS range search, blocked so memory follows the number of edges, never N²), optionally capped to
each row's k best. The similarity join (issue 12) can answer the same question at scale; this is the
one place the duplicate engine asks it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BLOCK = 4096


@dataclass(frozen=True)
class Edges:
    """Undirected pairs `i < j` with their scores, as parallel arrays."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    @classmethod
    def empty(cls) -> Edges:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


def undirected_max(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> Edges:
    """Directed (row, col, score) triples folded into unique pairs i < j keeping the best score;
    self pairs dropped."""
    keep = rows != cols
    low = np.minimum(rows[keep], cols[keep]).astype(np.int64)
    high = np.maximum(rows[keep], cols[keep]).astype(np.int64)
    values = scores[keep].astype(np.float32)
    if len(values) == 0:
        return Edges.empty()
    order = np.lexsort((-values, high, low))
    low, high, values = low[order], high[order], values[order]
    first = np.ones(len(low), bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    return Edges(low[first], high[first], values[first])


def candidate_edges(vectors: np.ndarray, threshold: float, queries: np.ndarray | None = None,
                    owners: np.ndarray | None = None, k: int | None = None) -> Edges:
    """Pairs of rows of `vectors` with similarity >= `threshold`.

    `queries` (default: the vectors themselves) are extra views of the rows, `owners[q]` naming the
    row query q belongs to (e.g. its mirrored or rotated copy): a pair's score is the best over the
    views. `k` keeps only each query's k best hits.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 2:
        return Edges.empty()
    if queries is None:
        queries, owners = vectors, np.arange(n, dtype=np.int64)
    assert owners is not None and len(owners) == len(queries)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    radius = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
    rows, cols, values = [], [], []
    for start in range(0, len(queries), _BLOCK):
        block = np.ascontiguousarray(queries[start : start + _BLOCK], dtype=np.float32)
        if k is None:
            limits, found_scores, found = index.range_search(block, radius)
            counts = np.diff(limits).astype(np.int64)
            rows.append(np.repeat(owners[start : start + len(block)], counts))
        else:
            found_scores, found = index.search(block, min(k + 1, n))
            keep = (found >= 0) & (found_scores > radius)
            rows.append(np.repeat(owners[start : start + len(block)], keep.sum(axis=1)))
            found_scores, found = found_scores[keep], found[keep]
        cols.append(found.astype(np.int64))
        values.append(found_scores.astype(np.float32))
    return undirected_max(np.concatenate(rows), np.concatenate(cols), np.concatenate(values))
