"""The similarity join checked against brute force: exhaustive parameters give the exact answer,
default ones a high recall; memory-mapped input, small budgets and progress work; peak memory
stays bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import LookalikeError, TooManyItemsError
from lookalike.evaluation.synthetic import clustered_vectors, write_clustered_npy
from lookalike.join import (
    JoinOptions,
    connected_groups,
    cross_knn,
    exact_hash_groups,
    knn_join,
    threshold_edges,
    top_pairs,
)

EXHAUSTIVE = JoinOptions(exact=False, nlist=6, nprobe=6)


@pytest.fixture(scope="module")
def five_k() -> np.ndarray:
    return clustered_vectors(5000, 64, seed=1)[0]


@pytest.fixture(scope="module")
def five_k_scores(five_k: np.ndarray) -> np.ndarray:
    scores = five_k @ five_k.T
    np.fill_diagonal(scores, -np.inf)
    return scores


def _brute_pairs(scores: np.ndarray, count: int) -> list[tuple[int, int]]:
    i, j = np.triu_indices(len(scores), k=1)
    values = scores[i, j]
    order = np.lexsort((j, i, -values))[:count]
    return list(zip(i[order].tolist(), j[order].tolist(), strict=True))


def test_exhaustive_join_top_pairs_equal_brute_force(five_k: np.ndarray, five_k_scores: np.ndarray) -> None:
    expected = _brute_pairs(five_k_scores, 500)
    for options in (EXHAUSTIVE, JoinOptions(exact=True)):
        pairs, report = top_pairs(five_k, 500, options)
        assert [(p.i, p.j) for p in pairs] == expected
        assert report.method == ("exact" if options.exact else "ivf")
        np.testing.assert_allclose([p.score for p in pairs], five_k_scores[tuple(np.array(expected).T)], atol=1e-5)
    assert report.method == "exact" and top_pairs(five_k, 10)[1].method == "exact"  # 5k: exact by default


def test_exhaustive_threshold_edges_equal_range_search(five_k: np.ndarray, five_k_scores: np.ndarray) -> None:
    want_i, want_j = np.nonzero(np.triu(five_k_scores >= 0.6, k=1))
    assert 1000 < len(want_i) < 100_000  # a threshold that links many pairs, not all
    for options in (EXHAUSTIVE, JoinOptions(exact=True)):
        i, j, scores, _ = threshold_edges(five_k, 0.6, options)
        assert np.all(i < j) and np.all(scores >= 0.6) and np.all(np.diff(scores) <= 0)
        assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(zip(want_i.tolist(), want_j.tolist(), strict=True))
        assert len(i) == len(want_i)  # each pair once


def test_exhaustive_knn_join_equals_brute_force(five_k: np.ndarray, five_k_scores: np.ndarray) -> None:
    truth = np.argsort(-five_k_scores, axis=1, kind="stable")[:, :5]
    for options in (EXHAUSTIVE, JoinOptions(exact=True)):
        scores, indices, _ = knn_join(five_k, 5, options)
        assert not np.any(indices == np.arange(len(five_k))[:, None])  # no self
        assert np.mean(indices == truth) > 0.999  # exact up to float ties
        np.testing.assert_allclose(scores, np.take_along_axis(five_k_scores, truth, axis=1), atol=1e-5)


def assert_same_pairs(got: list, want: list) -> None:
    """The same pairs with the same scores, up to float rounding: blocks of other shapes may be summed in
    another order by the BLAS kernel (it differs between CPUs), which can swap two pairs within 1e-6."""
    assert {(p.i, p.j) for p in got} == {(p.i, p.j) for p in want}
    assert np.allclose([p.score for p in got], [p.score for p in want], atol=1e-5)


def test_small_budget_splits_columns_and_keeps_the_answer(five_k: np.ndarray) -> None:
    small = JoinOptions(exact=True, budget=2**20)  # 1 MiB: a few hundred columns per block
    steps: list[tuple[int, int]] = []
    pairs, _ = top_pairs(five_k, 100, small, progress=lambda done, total: steps.append((done, total)))
    assert_same_pairs(pairs, top_pairs(five_k, 100, JoinOptions(exact=True))[0])
    assert steps[0] == (0, 5) and steps[-1] == (5, 5) and [d for d, _ in steps] == list(range(6))
    got = knn_join(five_k[:2000], 3, JoinOptions(exact=False, nlist=4, nprobe=4, budget=2**20))[1]
    want = knn_join(five_k[:2000], 3, JoinOptions(exact=True))[1]
    assert np.mean(got == want) > 0.999


def test_default_parameters_recall_of_exact_top_pairs() -> None:
    vectors = clustered_vectors(50_000, 64, seed=2)[0]
    exact, _ = top_pairs(vectors, 1000, JoinOptions(exact=True))
    found, report = top_pairs(vectors, 1000)
    assert report.method == "ivf" and report.nlist == 50 and report.nprobe == 8
    recall = len({(p.i, p.j) for p in found} & {(p.i, p.j) for p in exact}) / 1000
    assert recall >= 0.99, recall


@pytest.mark.slow
def test_default_parameters_recall_768d() -> None:
    vectors = clustered_vectors(50_000, 768, seed=3)[0]
    exact, _ = top_pairs(vectors, 1000, JoinOptions(exact=True))
    found, _ = top_pairs(vectors, 1000)
    assert len({(p.i, p.j) for p in found} & {(p.i, p.j) for p in exact}) / 1000 >= 0.99


def test_memmap_input_gives_the_same_answer(tmp_path: Path) -> None:
    planted = write_clustered_npy(str(tmp_path / "v.npy"), 3000, 32, seed=4, planted=5, chunk=700)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    loaded = np.array(mapped)
    options = JoinOptions(exact=False, nlist=3, nprobe=2)
    assert top_pairs(mapped, 50, options)[0] == top_pairs(loaded, 50, options)[0]
    i, j, _, _ = threshold_edges(mapped, 0.95, options)
    assert {tuple(p) for p in planted.tolist()} <= set(zip(i.tolist(), j.tolist(), strict=True))


def test_cross_knn_matches_brute_force_and_threshold(five_k: np.ndarray) -> None:
    queries, base = five_k[:300], five_k[300:]
    truth = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :3]
    for options in (JoinOptions(exact=False, nlist=5, nprobe=5), JoinOptions()):
        scores, indices, _ = cross_knn(queries, base, 3, options=options)
        assert np.mean(indices == truth) > 0.999
    scores, indices, _ = cross_knn(queries, base, 3, threshold=0.5)
    assert np.all((scores >= 0.5) == (indices >= 0)) and np.any(indices < 0) and np.any(indices >= 0)


def test_tiny_and_degenerate_inputs() -> None:
    one = np.ones((1, 4), np.float32) / 2
    assert top_pairs(one, 5)[0] == []
    assert knn_join(one, 2)[1].tolist() == [[-1, -1]]
    twins = np.vstack([one, one, one])
    pairs, _ = top_pairs(twins, 10)
    assert [(p.i, p.j) for p in pairs] == [(0, 1), (0, 2), (1, 2)]  # every pair once, ties by position
    _, indices, _ = knn_join(twins, 2)
    assert indices.tolist() == [[1, 2], [0, 2], [0, 1]]  # an identical twin is found, the row itself is not


def test_arguments_are_checked() -> None:
    vectors = np.eye(4, dtype=np.float32)
    with pytest.raises(LookalikeError, match="k must be"):
        knn_join(vectors, 0)
    with pytest.raises(LookalikeError, match="2-D"):
        top_pairs(vectors[0], 3)
    with pytest.raises(LookalikeError, match="nprobe"):
        top_pairs(vectors, 3, JoinOptions(nprobe=0))
    with pytest.raises(LookalikeError, match="dimensions"):
        cross_knn(vectors, np.eye(3, dtype=np.float32), 1)
    with pytest.raises(TooManyItemsError, match="raise the threshold"):
        threshold_edges(np.ones((50, 4), np.float32) / 2, 0.5, max_edges=100)


def test_connected_groups_and_hash_groups() -> None:
    groups = connected_groups(8, np.array([0, 5, 6, 1]), np.array([1, 6, 7, 2]))
    assert groups == [[0, 1, 2], [5, 6, 7]]
    assert connected_groups(8, np.array([3]), np.array([4])) == [[3, 4]]
    assert connected_groups(3, np.zeros(0, np.int64), np.zeros(0, np.int64)) == []
    assert exact_hash_groups(["a", "b", "a", "c", "b", "a"]) == [[0, 2, 5], [1, 4]]
    assert exact_hash_groups(["x", "y"]) == []


PEAK_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from lookalike.join import top_pairs

    def peak_kb():  # this process's own high-water mark (ru_maxrss would include a forking parent's)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

    vectors = np.load(sys.argv[1], mmap_mode="r")
    pairs, report = top_pairs(vectors, 1000)
    print(json.dumps({"peak_kb": peak_kb(), "method": report.method,
                      "pairs": [[p.i, p.j] for p in pairs]}))
""")


def test_peak_memory_stays_bounded_on_memory_mapped_vectors(tmp_path: Path) -> None:
    """40k x 1280 float32 (195 MB, memory-mapped): the whole process must stay under the vectors'
    size + 1.5 GB scaled to 40k/200k (300 MB) + a fixed 400 MB (the interpreter and its imports,
    about 150 MB, and the join's 256 MiB block budget). An N x N matrix would be 6.4 GB."""
    count, dim = 40_000, 1280
    planted = write_clustered_npy(str(tmp_path / "v.npy"), count, dim, seed=5, planted=20)
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(tmp_path / "v.npy")], capture_output=True,
                          text=True, timeout=300, check=True)
    result = json.loads(done.stdout)
    assert result["method"] == "ivf" and len(result["pairs"]) == 1000
    assert {tuple(p) for p in planted.tolist()} <= {tuple(p) for p in result["pairs"]}  # planted copies found
    vectors_mb = count * dim * 4 / 2**20
    bound_mb = vectors_mb + 1.5 * 1024 * count / 200_000 + 400
    peak_mb = result["peak_kb"] / 1024
    print(f"peak RSS {peak_mb:.0f} MB, bound {bound_mb:.0f} MB")
    assert peak_mb < bound_mb, (peak_mb, bound_mb)
