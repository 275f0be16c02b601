"""Retrieval metrics as pure functions of a relevance matrix.

`relevant[q, r]` is True when the item ranked r-th for query q is relevant (shares the query's
label); rows are rankings of the whole gallery with the query itself already left out, best first.
`n_relevant[q]` is how many relevant items the gallery holds for query q. Queries with no relevant
item count as 0 in precision and all-match, and are left out of recall and mAP (there is nothing
to recall); `queries_without_relevant` reports how many there were.
"""

from __future__ import annotations

import numpy as np


def rank_by_scores(scores: np.ndarray) -> np.ndarray:
    """Gallery positions by descending score; ties keep gallery order (stable), so ranks are
    deterministic."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")


def relevance(query_labels: np.ndarray, ranked_labels: np.ndarray) -> np.ndarray:
    """Boolean (queries, ranks) matrix: does the r-th result share the query's label?"""
    return np.asarray(ranked_labels) == np.asarray(query_labels)[:, None]


def precision_at_k(relevant: np.ndarray, k: int) -> float:
    """Mean fraction of the top k that is relevant."""
    return float(relevant[:, :k].sum(axis=1).mean() / k) if len(relevant) else 0.0


def recall_at_k(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean fraction of each query's relevant items found in its top k (queries with none skipped)."""
    has = n_relevant > 0
    if not has.any():
        return 0.0
    return float((relevant[has, :k].sum(axis=1) / n_relevant[has]).mean())


def average_precision(relevant_row: np.ndarray, n_relevant: int) -> float:
    """AP of one full ranking: mean of precision@rank over the ranks of the relevant items."""
    if n_relevant == 0:
        return 0.0
    hits = np.flatnonzero(relevant_row)
    if len(hits) == 0:
        return 0.0
    precisions = np.arange(1, len(hits) + 1) / (hits + 1)
    return float(precisions.sum() / n_relevant)


def mean_average_precision(relevant: np.ndarray, n_relevant: np.ndarray) -> float:
    """mAP over the queries that have at least one relevant item."""
    values = [average_precision(row, int(n)) for row, n in zip(relevant, n_relevant, strict=True) if n > 0]
    return float(np.mean(values)) if values else 0.0


def allmatch_at_k(relevant: np.ndarray, k: int) -> float:
    """The seeds' top-k accuracy: the share of queries whose top k are all relevant."""
    return float(relevant[:, :k].all(axis=1).mean()) if len(relevant) else 0.0


def ukbench_ns(relevant: np.ndarray) -> float:
    """UKBench N-S score (0-4): relevant images among the top 4 of a ranking that includes the
    query itself. With the query left out of `relevant`, that is 1 + relevant in the top 3."""
    return float(1.0 + relevant[:, :3].sum(axis=1).mean()) if len(relevant) else 0.0


def queries_without_relevant(n_relevant: np.ndarray) -> int:
    return int((n_relevant == 0).sum())
