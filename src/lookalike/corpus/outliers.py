"""Outliers: the images least like their neighbours. A row's score is its mean cosine similarity to
its k nearest other rows (from the bounded-memory join); the lowest scores are the most unusual."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, check_cancel
from ..join import JoinOptions, JoinReport, Progress, knn_join
from ..types import Cancel
from .stopping import asking

DEFAULT_K = 10


def outlier_scores(vectors: np.ndarray, k: int = DEFAULT_K, options: JoinOptions | None = None,
                   progress: Progress | None = None, cancel: Cancel | None = None) -> tuple[np.ndarray, JoinReport]:
    """(score per row, the join's report); k is capped at the number of other rows. `cancel` is asked
    after every join cell and once the join is done (a True stops with Cancelled)."""
    if k < 1:
        raise InvalidArgumentError(f"k must be at least 1, not {k}", argument="k")
    count = len(vectors)
    if count < 2:
        return np.zeros(count, np.float32), JoinReport("exact", count)
    scores, _, report = knn_join(vectors, min(k, count - 1), options, asking(progress, cancel))
    check_cancel(cancel)
    return scores.mean(axis=1).astype(np.float32), report


def most_unusual(scores: np.ndarray, keys: list[str]) -> list[int]:
    """Row positions, lowest score first (ties by key)."""
    return sorted(range(len(scores)), key=lambda i: (float(scores[i]), keys[i]))
