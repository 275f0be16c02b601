"""Clusters and outliers stop when their caller gives up: `cancel` is asked after every join cell and
between the steps (the join, the graph, HDBSCAN, the numbering), and the first True stops the run
with Cancelled, nothing asked or computed after it; a cancel that never says stop changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lookalike.corpus import cluster_vectors, outlier_scores
from lookalike.errors import Cancelled

pytest.importorskip("sklearn")


def blobs(count: int = 120, dim: int = 16, seed: int = 3) -> np.ndarray:
    """Unit vectors around four centres (clusters to find)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, dim))
    vectors = centres[np.arange(count) % 4] + 0.15 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def stopping_at(call: int) -> tuple[Callable[[], bool], list[int]]:
    """A cancel that says stop the `call`-th time it is asked, and how often it was asked."""
    asked = [0]

    def cancel() -> bool:
        asked[0] += 1
        return asked[0] >= call

    return cancel, asked


@pytest.mark.parametrize(("run", "least"), [
    # join cells, after the join, before HDBSCAN, after it
    (lambda vectors, cancel: cluster_vectors(vectors, 5, cancel=cancel).labels, 4),
    # join cells, after the join
    (lambda vectors, cancel: outlier_scores(vectors, 5, cancel=cancel)[0], 2),
], ids=["clusters", "outliers"])
def test_the_run_stops_at_the_first_cancel_between_any_two_steps(run: Callable[..., np.ndarray],
                                                                  least: int) -> None:
    vectors = blobs()
    never, asked = stopping_at(10**9)
    assert np.array_equal(run(vectors, never), run(vectors, None))
    assert asked[0] >= least
    for call in range(1, asked[0] + 1):
        cancel, count = stopping_at(call)
        with pytest.raises(Cancelled):
            run(vectors, cancel)
        assert count[0] == call, "the run went on asking after it was told to stop"
