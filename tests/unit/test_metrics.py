"""Metrics against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluation.metrics import (
    allmatch_at_k,
    average_precision,
    mean_average_precision,
    precision_at_k,
    queries_without_relevant,
    rank_by_scores,
    recall_at_k,
    relevance,
    ukbench_ns,
)

# Query 0 (label a) ranks: a, b, a, b  -> relevant at ranks 1 and 3; 2 relevant in the gallery.
# Query 1 (label b) ranks: a, a, b, b  -> relevant at ranks 3 and 4; 3 relevant in the gallery (one unranked).
# Query 2 (label c): nothing relevant.
RANKED = np.array([list("abab"), list("aabb"), list("abab")])
QUERIES = np.array(list("abc"))
N_RELEVANT = np.array([2, 3, 0])


@pytest.fixture
def rel() -> np.ndarray:
    return relevance(QUERIES, RANKED)


def test_precision(rel: np.ndarray) -> None:
    assert precision_at_k(rel, 1) == pytest.approx((1 + 0 + 0) / 3)
    assert precision_at_k(rel, 4) == pytest.approx((2 / 4 + 2 / 4 + 0) / 3)


def test_recall_skips_queries_without_relevant_items(rel: np.ndarray) -> None:
    assert recall_at_k(rel, N_RELEVANT, 1) == pytest.approx((1 / 2 + 0 / 3) / 2)
    assert recall_at_k(rel, N_RELEVANT, 4) == pytest.approx((2 / 2 + 2 / 3) / 2)
    assert queries_without_relevant(N_RELEVANT) == 1


def test_average_precision_by_hand(rel: np.ndarray) -> None:
    assert average_precision(rel[0], 2) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision(rel[1], 3) == pytest.approx((1 / 3 + 2 / 4) / 3)  # the unranked one counts as 0
    assert average_precision(rel[2], 0) == 0.0
    assert mean_average_precision(rel, N_RELEVANT) == pytest.approx(((1 + 2 / 3) / 2 + (1 / 3 + 1 / 2) / 3) / 2)


def test_allmatch_and_ns() -> None:
    rel = relevance(np.array(["x", "y"]), np.array([list("xxxy"), list("yxyy")]))
    assert allmatch_at_k(rel, 1) == 1.0
    assert allmatch_at_k(rel, 3) == 0.5
    assert ukbench_ns(rel) == pytest.approx(1 + (3 + 2) / 2)


def test_ties_rank_in_gallery_order() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.1]])
    assert rank_by_scores(scores).tolist() == [[1, 0, 2, 3]]
    rel_first = relevance(np.array(["a"]), np.array([["b", "a", "a", "b"]])[:, rank_by_scores(scores)[0]])
    assert precision_at_k(rel_first, 2) == 0.5
