"""The most similar pairs of a store (through the bounded-memory join), or every pair of a small one."""

from __future__ import annotations

import numpy as np

from ..errors import TooManyItemsError
from ..join import JoinOptions, Progress, ScoredPair
from ..join import top_pairs as join_top_pairs
from ..store.base import Snapshot, VectorStore
from ..types import Pair, PairsResult, check_count

ALL_PAIRS_LIMIT = 2000


def check_all_pairs(count: int, limit: int = ALL_PAIRS_LIMIT) -> None:
    """Refuse every-pair output above `limit` items (checked before anything is embedded)."""
    if count > limit:
        raise TooManyItemsError(
            f"every pair of {count} images would be {count * (count - 1) // 2:,} pairs (limit {limit} images)",
            count=count, limit=limit,
        )


def all_pairs(vectors: np.ndarray, limit: int = ALL_PAIRS_LIMIT) -> list[ScoredPair]:
    """Every pair's score, best first (ties by position); refused above `limit` vectors."""
    n = len(vectors)
    check_all_pairs(n, limit)
    if n < 2:
        return []
    matrix = vectors @ vectors.T
    i, j = np.triu_indices(n, k=1)
    values = matrix[i, j]
    order = np.lexsort((j, i, -values))
    return [ScoredPair(int(i[p]), int(j[p]), float(values[p])) for p in order]


def pairs_of(found: Snapshot, top: int = 1, every: bool = False, options: JoinOptions | None = None,
             progress: Progress | None = None) -> PairsResult:
    """The pairs of ready vectors (see `find_pairs`)."""
    check_count(top, "top")
    groups = found.item_groups()  # two frames of one video are never a pair
    if every:
        scored, report = all_pairs(found.vectors), None
        if groups is not None:
            scored = [p for p in scored if groups[p.i] != groups[p.j]]
    elif len(found) < 2:
        scored, report = [], None
    else:
        scored, report = join_top_pairs(found.vectors, top, options, progress, groups)
    pairs = [Pair(found.paths[p.i], found.paths[p.j], p.score, int(found.ids[p.i]), int(found.ids[p.j]),
                  found.time_of(p.i), found.time_of(p.j)) for p in scored]
    return PairsResult(pairs, found.failures, len(set(found.paths)) if groups is not None else len(found.paths), report)


def find_pairs(store: VectorStore, top: int = 1, every: bool = False, options: JoinOptions | None = None,
               progress: Progress | None = None) -> PairsResult:
    """The `top` most similar pairs of a store, best first (exact below the join's size limit, a
    bounded-memory inverted-file join above), or with `every` each pair of a small store."""
    return pairs_of(store.snapshot(), top, every, options, progress)
