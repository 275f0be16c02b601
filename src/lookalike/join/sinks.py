"""What the join keeps from each block of scores: per-row top k, the global top pairs, or every pair
above a threshold. Each sink sees one (row block x column block) product at a time, so its memory is
its answer plus one block."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TooManyItemsError

_MASKED = np.float32(-np.inf)
_LOWEST = np.finfo(np.float32).min  # above a masked score, below every real one


@dataclass(frozen=True)
class ScoredPair:
    """Positions `i < j` in the vector set and their cosine similarity."""

    i: int
    j: int
    score: float


def _mask_lower(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray, same: int) -> None:
    """Mask entries of the first `same` columns (the rows' own cell) whose column is not after the
    row, so each unordered pair inside a cell is seen once and nobody is paired with itself."""
    if same and cols[0] <= rows[-1]:
        head = scores[:, :same]
        head[cols[None, :same] <= rows[:, None]] = _MASKED


class KnnSink:
    """Per-row running top k; `self_join` leaves each row's own position out of its answer."""

    def __init__(self, count: int, k: int, self_join: bool) -> None:
        self.k = k
        self.self_join = self_join
        self.scores = np.full((count, k), _MASKED, dtype=np.float32)
        self.indices = np.full((count, k), -1, dtype=np.int64)

    def block(self, rows: np.ndarray, row_vectors: np.ndarray, cols: np.ndarray, col_vectors: np.ndarray,
              same: int) -> None:
        import faiss

        fetch = min(self.k + self.self_join, len(cols))
        found_scores, local = faiss.knn(row_vectors, col_vectors, fetch, metric=faiss.METRIC_INNER_PRODUCT)
        found = np.where(local >= 0, cols[np.maximum(local, 0)], -1)
        if self.self_join:
            mine = found == rows[:, None]
            found_scores[mine], found[mine] = _MASKED, -1
        scores = np.concatenate([self.scores[rows], found_scores.astype(np.float32)], axis=1)
        indices = np.concatenate([self.indices[rows], found], axis=1)
        ties = np.where(indices < 0, np.iinfo(np.int64).max, indices)
        order = np.lexsort((ties, -scores), axis=-1)[:, : self.k]  # best first, ties by position
        self.scores[rows] = np.take_along_axis(scores, order, axis=1)
        self.indices[rows] = np.take_along_axis(indices, order, axis=1)


def _track(best: np.ndarray | None, rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> None:
    """Raise each row's and column's best score seen (rows and columns are distinct within a block)."""
    if best is not None and scores.size:
        best[rows] = np.maximum(best[rows], scores.max(axis=1))
        best[cols] = np.maximum(best[cols], scores.max(axis=0))


class TopPairsSink:
    """The `count` best distinct pairs seen so far, ordered by (-score, i, j); blocks only offer
    entries at or above the current count-th best score. With `groups` (a label per position), pairs
    inside one group (the frames of one video) are left out. `track(n)` also keeps every row's best
    score seen (`best`), which tells the recall target which rows could hold a missed pair."""

    def __init__(self, count: int, groups: np.ndarray | None = None) -> None:
        self.count = count
        self.groups = groups
        self.scores = np.zeros(0, np.float32)
        self.low = np.zeros(0, np.int64)
        self.high = np.zeros(0, np.int64)
        self.best: np.ndarray | None = None

    def track(self, size: int) -> None:
        self.best = np.full(size, _MASKED, np.float32)

    def _cutoff(self) -> np.float32:
        return self.scores[-1] if len(self.scores) >= self.count else _LOWEST

    def block(self, rows: np.ndarray, row_vectors: np.ndarray, cols: np.ndarray, col_vectors: np.ndarray,
              same: int) -> None:
        scores = row_vectors @ col_vectors.T
        _mask_lower(scores, rows, cols, same)
        if self.groups is not None:
            scores[self.groups[rows][:, None] == self.groups[cols][None, :]] = _MASKED
        _track(self.best, rows, cols, scores)
        flat = scores.ravel()
        cutoff = self._cutoff()
        if np.count_nonzero(flat >= cutoff) > self.count:  # only the block's own top count (and ties)
            cutoff = max(cutoff, np.partition(flat, flat.size - self.count)[flat.size - self.count])
        picked = np.flatnonzero(flat >= cutoff)
        if not len(picked):
            return
        i, j = rows[picked // scores.shape[1]], cols[picked % scores.shape[1]]
        self.add(flat[picked], np.minimum(i, j), np.maximum(i, j))

    def add(self, scores: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        """Offer pairs (low < high) found elsewhere; a pair already held keeps its place."""
        if self.groups is not None:
            apart = self.groups[low] != self.groups[high]
            scores, low, high = scores[apart], low[apart], high[apart]
        scores = np.concatenate([self.scores, scores])
        low, high = np.concatenate([self.low, low]), np.concatenate([self.high, high])
        order = np.lexsort((high, low, -scores))
        keys = low[order] * (int(max(high.max(), 0)) + 1) + high[order]
        _, first = np.unique(keys, return_index=True)  # a pair offered twice keeps its first (best) place
        order = order[np.sort(first)][: self.count]
        self.scores, self.low, self.high = scores[order], low[order], high[order]

    def pairs(self) -> list[ScoredPair]:
        return [ScoredPair(int(i), int(j), float(s)) for i, j, s in zip(self.low, self.high, self.scores, strict=True)]


class EdgesSink:
    """Every pair scoring >= threshold; refuses to hold more than `limit` of them. `track(n)`: as
    for TopPairsSink."""

    def __init__(self, threshold: float, limit: int) -> None:
        self.threshold = np.float32(threshold)
        self.limit = limit
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.total = 0
        self.best: np.ndarray | None = None

    def track(self, size: int) -> None:
        self.best = np.full(size, _MASKED, np.float32)

    def block(self, rows: np.ndarray, row_vectors: np.ndarray, cols: np.ndarray, col_vectors: np.ndarray,
              same: int) -> None:
        scores = row_vectors @ col_vectors.T
        _mask_lower(scores, rows, cols, same)
        _track(self.best, rows, cols, scores)
        picked = np.flatnonzero(scores.ravel() >= self.threshold)
        if not len(picked):
            return
        i, j = rows[picked // scores.shape[1]], cols[picked % scores.shape[1]]
        self.add(scores.ravel()[picked], np.minimum(i, j), np.maximum(i, j))

    def add(self, scores: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        """Keep pairs (low < high); one offered twice (a wider search, a sampled row) is kept once."""
        self.parts.append((low, high, scores))
        self.total += len(low)
        if self.total > self.limit:
            self.parts = [self.edges()]  # count each pair once before refusing
            self.total = len(self.parts[0][0])
            if self.total > self.limit:
                raise TooManyItemsError(
                    f"more than {self.limit:,} pairs score >= {float(self.threshold)}; raise the threshold"
                )

    def rows(self) -> np.ndarray:
        """The rows with at least one edge so far, ascending."""
        return np.unique(np.concatenate([np.concatenate(p[:2]) for p in self.parts])) if self.parts else \
            np.zeros(0, np.int64)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, score) with i < j, ordered by (-score, i, j)."""
        if not self.parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        low, high, scores = (np.concatenate(p) for p in zip(*self.parts, strict=True))
        keys = low * (int(high.max()) + 1) + high
        _, first = np.unique(keys, return_index=True)
        low, high, scores = low[first], high[first], scores[first]
        order = np.lexsort((high, low, -scores))
        return low[order], high[order], scores[order]
