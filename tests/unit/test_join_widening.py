"""The recall target widens only the rows that need it: the plan chosen from the sample is the
cheapest (rows x added probes) that meets the target, and the hard synthetic data has the shape
that makes a fixed search miss (large very tight clusters, noise in few dimensions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.evaluation.synthetic import write_clustered_npy
from lookalike.join.recall import Plan, Truth, choose


def _truth(hot_need: int, cold_need: int) -> tuple[Truth, np.ndarray]:
    """100 sampled rows of 1,000 (weight 10 each), one incidence each: the 10 hot rows' answers
    lie `hot_need` probes away, the others' `cold_need`."""
    heat = np.zeros(1000, np.float32)
    heat[:100] = 1.0  # the hottest tenth of all rows
    rows = np.arange(0, 1000, 10)
    fwd = np.where(rows < 100, hot_need, cold_need)
    truth = Truth(rows, np.full(100, 10.0), np.arange(100), (rows + 1) % 1000, np.ones(100, np.float32),
                  fwd=fwd, heat_row=heat[rows])
    return truth, heat


def test_choose_widens_only_the_rows_that_fall_short() -> None:
    truth, heat = _truth(hot_need=20, cold_need=2)

    def estimate(plan: Plan) -> float:
        return truth.recall("knn", truth.found(8, plan), 1)

    assert estimate(Plan(np.inf, 8, 0)) == 0.9  # the fixed search misses the hot rows' answers
    plan = choose(estimate, truth, heat, first=8, cap=64, target=0.99)
    assert plan.nprobe == 21 and plan.rows == 100 and plan.floor == 1.0  # the hot tenth, just far enough
    assert estimate(plan) == 1.0


def test_choose_widens_every_row_when_the_misses_are_everywhere() -> None:
    truth, heat = _truth(hot_need=2, cold_need=12)
    plan = choose(lambda p: truth.recall("knn", truth.found(8, p), 1), truth, heat, first=8, cap=64, target=0.99)
    assert plan.rows == 1000 and plan.nprobe == 13


def test_choose_stops_at_the_cap_and_keeps_the_first_pass_when_enough() -> None:
    truth, heat = _truth(hot_need=90, cold_need=2)
    plan = choose(lambda p: truth.recall("knn", truth.found(8, p), 1), truth, heat, first=8, cap=64, target=0.99)
    assert plan.nprobe == 64 and plan.rows == 1000  # nothing reaches the target: every row, as far as allowed
    truth, heat = _truth(hot_need=3, cold_need=2)
    plan = choose(lambda p: truth.recall("knn", truth.found(8, p), 1), truth, heat, first=8, cap=64, target=0.99)
    assert plan.nprobe == 8 and plan.rows == 0


def test_the_hard_generator_has_large_tight_clusters_and_low_dimensional_structure(tmp_path: Path) -> None:
    npy, labels, coords = tmp_path / "v.npy", tmp_path / "labels.npy", tmp_path / "coords.npy"
    planted = write_clustered_npy(str(npy), 6000, 96, seed=1, planted=20, uneven=(0.5, 2.0), labels_path=str(labels),
                                  tight=(0.3, 600, 0.3), intrinsic=8, coords_path=str(coords))
    vectors, every, low = np.load(npy), np.load(labels), np.load(coords)
    assert vectors.shape == (6000, 96) and low.shape == (6000, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sizes = np.bincount(every)
    tight = sizes[-3:]  # 0.3 x 6,000 / 600: three tight clusters of about 600 each, appended last
    assert np.all((tight > 450) & (tight < 750)), tight
    singular = np.linalg.svd(vectors, compute_uv=False)
    assert singular[8] < 1e-4 * singular[0]  # everything, planted copies too, in 8 dimensions
    rows = np.arange(0, 6000, 50)
    assert np.allclose(vectors[rows] @ vectors.T, low[rows] @ low.T, atol=1e-5)  # the same inner products
    members = vectors[every == len(sizes) - 1]
    loose = vectors[every == int(np.argmax(sizes[:-3]))]
    assert np.mean(loose @ loose.mean(axis=0)) < np.mean(members @ members.mean(axis=0))
    a, b = planted.T
    assert np.all(np.sum(vectors[a] * vectors[b], axis=1) > 0.99)  # the planted near-duplicates
