"""Exact neighbours, pairs and connected groups checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lookalike.embedders import l2_normalize
from lookalike.errors import TooManyItemsError
from lookalike.join import connected_groups, threshold_edges
from lookalike.join import top_pairs as join_top_pairs
from lookalike.join.exact import knn
from lookalike.similarity.pairs import all_pairs


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=(n, d)))


def _brute_force_pairs(vectors: np.ndarray) -> list[tuple[int, int, float]]:
    scored = [(i, j, float(vectors[i] @ vectors[j])) for i, j in itertools.combinations(range(len(vectors)), 2)]
    return sorted(scored, key=lambda t: -t[2])


@pytest.mark.parametrize("count", [1, 5, 40])
def test_top_pairs_match_brute_force(count: int) -> None:
    vectors = _vectors(60)
    expected = _brute_force_pairs(vectors)[:count]
    got, _ = join_top_pairs(vectors, count)
    assert [(p.i, p.j) for p in got] == [(i, j) for i, j, _ in expected]
    np.testing.assert_allclose([p.score for p in got], [s for _, _, s in expected], atol=1e-5)


def test_all_pairs_lists_every_pair_once_best_first() -> None:
    vectors = _vectors(12)
    got = all_pairs(vectors)
    assert len(got) == 66
    assert len({(p.i, p.j) for p in got}) == 66
    assert all(p.i < p.j for p in got)
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)


def test_all_pairs_refuses_large_sets() -> None:
    from lookalike.cli.errors import with_hint

    with pytest.raises(TooManyItemsError, match="30 images") as caught:
        all_pairs(_vectors(30), limit=20)
    assert "--top K" in with_hint(caught.value)


def test_knn_excludes_the_query_by_identity_not_rank() -> None:
    base = _vectors(5)
    vectors = np.vstack([base, base[2:3]])  # row 5 duplicates row 2 exactly
    scores, indices = knn(vectors, vectors[2:3], k=3, exclude=np.array([2]))
    assert 2 not in indices[0]
    assert indices[0][0] == 5 and scores[0][0] == pytest.approx(1.0, abs=1e-6)
    scores, indices = knn(vectors, vectors[2:3], k=3)  # an outside query keeps every hit
    assert set(indices[0][:2]) == {2, 5}


def test_knn_graph_has_no_self_loops_and_pads_small_sets() -> None:
    scores, indices = knn(_vectors(4), _vectors(4), k=6, exclude=np.arange(4))
    for row in range(4):
        assert row not in indices[row]
        assert list(indices[row][3:]) == [-1, -1, -1]


def test_threshold_edges_grow_connected_components() -> None:
    rng = np.random.default_rng(1)
    centres = _vectors(3, d=32, seed=2)
    near = [l2_normalize(centres[c : c + 1] + 0.01 * rng.normal(size=(1, 32)))[0] for c in (0, 0, 0, 1, 1)]
    vectors = np.vstack([near, _vectors(4, d=32, seed=3)])
    i, j, _, _ = threshold_edges(vectors, 0.95)
    assert connected_groups(len(vectors), i, j) == [[0, 1, 2], [3, 4]]
    i, j, _, _ = threshold_edges(vectors, 1.01)
    assert connected_groups(len(vectors), i, j) == []
