"""Approximate indexes with their default parameters keep recall@10 >= 0.95 against exact search,
on a seeded Gaussian mixture (d=768, N=5k; N=20k with the slow tests) and on real embeddings of
shared images."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluation.synthetic import clustered_vectors, recall_at_k
from lookalike.store.vectors import IndexParams, VectorIndex


def _recalls(base: np.ndarray, queries: np.ndarray) -> dict[str, float]:
    ids = np.arange(len(base), dtype=np.int64) + 1000  # ids are not positions
    _, truth = VectorIndex.build(ids, base, base.shape[1], IndexParams(kind="flat")).search(queries, 10)
    recalls = {}
    for kind in ("hnsw", "ivf"):
        index = VectorIndex.build(ids, base, base.shape[1], IndexParams(kind=kind))
        _, found = index.search(queries, 10)
        recalls[kind] = recall_at_k(found, truth, 10)
    return recalls


@pytest.mark.parametrize("size", [5_000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_recall_on_gaussian_mixture(size: int) -> None:
    """The quick form (5k vectors) runs by default; `make test-all` also runs 20k."""
    base, queries = clustered_vectors(size, 768, queries=300, seed=7)
    recalls = _recalls(base, queries)
    assert recalls["hnsw"] >= 0.95 and recalls["ivf"] >= 0.95, recalls


def test_auto_picks_flat_small_and_hnsw_large() -> None:
    assert IndexParams().resolved(1_000).kind == "flat"
    assert IndexParams().resolved(60_000).kind == "hnsw"
    lists = {n: IndexParams(kind="ivf").resolved(n) for n in (100, 10_000, 100_000, 1_000_000)}
    assert lists[100_000].nlist == 1264 and lists[100_000].nprobe == 158  # the documented defaults at 100k
    for n, chosen in lists.items():
        nlist, nprobe = chosen.nlist or 0, chosen.nprobe or 0
        assert n // nlist >= 39, (n, nlist)  # k-means gets at least 39 training points per list
        assert 1 <= nprobe <= nlist and (nprobe >= 16 or nprobe == nlist)
    assert [lists[n].nlist for n in sorted(lists)] == sorted(lists[n].nlist or 0 for n in lists)  # grows with N


@pytest.mark.shared_data
@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_recall_on_real_embeddings(cifar_sample) -> None:
    vectors, _ = cifar_sample  # 1,000 CIFAR-10 images (100 a class), embedded once per session
    recalls = _recalls(vectors, vectors[::10])
    assert recalls["hnsw"] >= 0.95 and recalls["ivf"] >= 0.95, recalls
