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


def _best_distinct(query_owners: np.ndarray, scores: np.ndarray, found: np.ndarray, radius: float, k: int,
                   target_owners: np.ndarray, images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From each query's hits (best first): the k best *other images* above `radius`, as (row, col,
    score) triples; an image seen through several of its views counts once, at its best view."""
    valid = found >= 0
    hit_owners = np.where(valid, target_owners[np.maximum(found, 0)], -1)
    valid &= (scores > radius) & (hit_owners != query_owners[:, None])
    key = np.where(valid, np.arange(len(hit_owners))[:, None] * (images + 1) + hit_owners, -1).ravel()
    _, first = np.unique(key, return_index=True)  # the first hit of an image is its best view
    firsts = np.zeros(key.shape, bool)
    firsts[first] = True
    keep: np.ndarray = (firsts & (key >= 0)).reshape(hit_owners.shape)
    keep &= np.cumsum(keep, axis=1) <= k
    return np.repeat(query_owners, keep.sum(axis=1)), hit_owners[keep], scores[keep]


class EdgeFinder:
    """Searches image vectors for candidate pairs; the index is built once for any number of queries.

    `vectors` are the searched rows, one per image unless `target_owners[t]` names the image row t
    belongs to (extra views of the images: mirrored, rotated)."""

    def __init__(self, vectors: np.ndarray, target_owners: np.ndarray | None = None) -> None:
        from ..join.exact import flat_index

        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.owners = np.arange(len(vectors), dtype=np.int64) if target_owners is None else target_owners
        self.images = int(self.owners.max()) + 1 if len(self.owners) else 0
        self.index = flat_index(self.vectors)

    def edges(self, threshold: float, queries: np.ndarray | None = None, owners: np.ndarray | None = None,
              k: int | None = None) -> Edges:
        """Pairs scoring >= `threshold`. `queries` (default: the rows themselves) are the asking views,
        `owners[q]` naming the image query q belongs to; a pair's score is the best over the views.
        `k` keeps only each query's k best other images."""
        if self.images < 2:
            return Edges.empty()
        if queries is None:
            queries, owners = self.vectors, self.owners
        assert owners is not None and len(owners) == len(queries)
        radius = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
        views_per_image = int(np.bincount(self.owners).max())  # enough hits for k distinct images
        rows, cols, values = [], [], []
        for start in range(0, len(queries), _BLOCK):
            block = np.ascontiguousarray(queries[start : start + _BLOCK], dtype=np.float32)
            block_owners = np.asarray(owners[start : start + len(block)], dtype=np.int64)
            if k is None:
                limits, found_scores, found = self.index.range_search(block, radius)
                rows.append(np.repeat(block_owners, np.diff(limits).astype(np.int64)))
                cols.append(self.owners[found].astype(np.int64))
                values.append(found_scores.astype(np.float32))
            else:
                fetch = min((k + 1) * views_per_image, len(self.vectors))
                found_scores, found = self.index.search(block, fetch)
                row, col, score = _best_distinct(block_owners, found_scores, found, radius, k, self.owners,
                                                 self.images)
                rows.append(row)
                cols.append(col.astype(np.int64))
                values.append(score.astype(np.float32))
        return undirected_max(np.concatenate(rows), np.concatenate(cols), np.concatenate(values))


def candidate_edges(vectors: np.ndarray, threshold: float, queries: np.ndarray | None = None,
                    owners: np.ndarray | None = None, k: int | None = None,
                    target_owners: np.ndarray | None = None) -> Edges:
    """Pairs of images with similarity >= `threshold` (see `EdgeFinder`), in one call."""
    return EdgeFinder(vectors, target_owners).edges(threshold, queries, owners, k)
