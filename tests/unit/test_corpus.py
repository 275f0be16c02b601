"""The collection engines on vectors: clusters (HDBSCAN on the join's kNN graph) and outlier scores."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.corpus import cluster_vectors, outlier_scores
from lookalike.errors import InvalidArgumentError
from lookalike.evaluation.synthetic import clustered_vectors


def _adjusted_rand(truth: np.ndarray, found: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth, found))


def test_well_separated_groups_are_found_even_when_the_graph_falls_apart() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((30, 64))
    truth = np.repeat(np.arange(30), 40)
    vectors = centres[truth] + 0.05 * rng.standard_normal((len(truth), 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    found = cluster_vectors(vectors, min_size=5)  # k = 10 < 40: the kNN graph has 30 components
    assert _adjusted_rand(truth, found.labels) > 0.99
    assert len(found.representatives) == 30
    sizes = [int(np.sum(found.labels == c)) for c in range(30)]
    assert sizes == sorted(sizes, reverse=True)


def test_the_same_vectors_give_the_same_clusters() -> None:
    vectors, _ = clustered_vectors(2000, 32, clusters=20, spread=0.4, seed=3)
    first, second = cluster_vectors(vectors, 5), cluster_vectors(vectors.copy(), 5)
    assert np.array_equal(first.labels, second.labels) and first.representatives == second.representatives


def test_the_representative_is_the_medoid() -> None:
    centre = np.ones(8) / np.sqrt(8)
    offsets = np.eye(8)[:4] * 0.3
    group = np.vstack([centre, centre + offsets, -centre, -centre - offsets[:2]])
    group = (group / np.linalg.norm(group, axis=1, keepdims=True)).astype(np.float32)
    found = cluster_vectors(group, min_size=2)
    cluster_of_centre = found.labels[0]
    assert cluster_of_centre >= 0 and found.representatives[cluster_of_centre] == 0


def test_min_size_below_two_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        cluster_vectors(np.eye(4, dtype=np.float32), min_size=1)


def test_the_stranger_scores_lowest() -> None:
    vectors, _ = clustered_vectors(500, 32, clusters=5, spread=0.2, seed=1)
    stranger = np.zeros((1, 32), np.float32)
    stranger[0, 0] = 1.0
    scores, _ = outlier_scores(np.vstack([vectors, stranger]), k=10)
    assert int(np.argmin(scores)) == 500
    small, _ = outlier_scores(vectors[:3], k=10)  # k is capped at the other rows
    assert small.shape == (3,)
