"""For each image of A, its best matches in B, through the bounded-memory join; a file present on both
sides is left out of its own matches by file identity (as search leaves the query out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..join import JoinOptions, Progress, cross_knn
from ..store.base import Snapshot
from ..types import MatchResult, MatchRow, check_count, check_threshold


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def match(a: Snapshot, b: Snapshot, k: int = 1, threshold: float | None = None,
          options: JoinOptions | None = None, progress: Progress | None = None) -> MatchResult:
    """For each file of A (in path order), its k best matches in B (at or above `threshold`)."""
    check_count(k, "k")
    check_threshold(threshold)
    b.spec.check_compatible(a.spec, "the vectors of B")
    position_in_b = {key: row for row, path in enumerate(b.paths) if (key := _identity(path)) is not None}
    same = np.asarray([position_in_b.get(key, -1) if (key := _identity(p)) is not None else -1 for p in a.paths],
                      dtype=np.int64)
    extra = int((same >= 0).any())  # one more candidate where a file of A is itself in B
    scores, indices, report = cross_knn(a.vectors, b.vectors, k + extra, threshold, options, progress)
    rows = []
    for row in sorted(range(len(a.paths)), key=lambda r: a.paths[r]):
        kept = [(s, i) for s, i in zip(scores[row], indices[row], strict=True) if i >= 0 and i != same[row]][:k]
        rows += [MatchRow(a.paths[row], b.paths[i], float(s), rank) for rank, (s, i) in enumerate(kept, 1)]
    return MatchResult(rows, a.failures + b.failures, report)
