"""Clusters by content: HDBSCAN (scikit-learn) on the sparse k-nearest-neighbour distance graph from
the bounded-memory join, each cluster with its medoid (the member with the highest mean similarity
to the rest of its cluster in that graph). Deterministic: the same vectors give the same labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError, check_cancel
from ..extras import require
from ..join import JoinOptions, JoinReport, Progress, knn_join
from ..types import Cancel
from .stopping import asking

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

DEFAULT_MIN_SIZE = 5
GRAPH_K = 10  # neighbours per image in the graph (at least min_size)
SELECTION = "eom"
BEYOND = 4.0  # a distance above any cosine distance (at most 2)  # HDBSCAN cluster selection: excess of mass


@dataclass
class ClusterResult:
    """labels[i]: the cluster of row i (0, 1, ...: largest first), -1 in none; representatives[c]: the
    row of cluster c's medoid; report: which join built the graph."""

    labels: np.ndarray
    representatives: list[int]
    report: JoinReport


def check_min_size(min_size: int) -> None:
    if min_size < 2:
        raise InvalidArgumentError(f"a cluster has at least 2 images, not {min_size}", argument="min_size")


def cluster_vectors(vectors: np.ndarray, min_size: int = DEFAULT_MIN_SIZE, k: int | None = None,
                    order: list[str] | None = None, options: JoinOptions | None = None,
                    progress: Progress | None = None, cancel: Cancel | None = None) -> ClusterResult:
    """Cluster unit vectors; `order` (one sort key per row, e.g. its path) breaks ties between clusters
    of one size (the one with the smallest first key is numbered first) and between medoids. `cancel`
    is asked after every join cell and between the steps (a True stops with Cancelled)."""
    check_min_size(min_size)
    count = len(vectors)
    keys = order if order is not None else [f"{i:012d}" for i in range(count)]
    if count < min_size:
        return ClusterResult(np.full(count, -1, np.int64), [], JoinReport("exact", count))
    neighbours = min(count - 1, max(k or GRAPH_K, min_size))
    scores, indices, report = knn_join(vectors, neighbours, options, asking(progress, cancel))
    check_cancel(cancel)
    raw = _hdbscan(scores, indices, min_size, cancel)
    check_cancel(cancel)
    return _numbered(raw, scores, indices, keys, report)


def _hdbscan(scores: np.ndarray, indices: np.ndarray, min_size: int, cancel: Cancel | None = None) -> np.ndarray:
    """HDBSCAN labels on the symmetric sparse distance graph (1 - cosine, floored just above 0 so that
    identical images stay edges); `cancel` is asked once the graph is built."""
    from scipy.sparse import csr_matrix

    cluster = require("sklearn.cluster", "clusters", "clustering")
    count = len(scores)
    valid = indices >= 0
    rows = np.repeat(np.arange(count), indices.shape[1])[valid.ravel()]
    cols = indices[valid]
    dist = np.maximum(1.0 - scores[valid].astype(np.float64), 1e-9)
    graph = csr_matrix((dist, (rows, cols)), shape=(count, count))
    graph = _connected(graph.maximum(graph.T).tocsr())  # symmetric: an edge either way counts
    graph.sort_indices()
    check_cancel(cancel)
    model = cluster.HDBSCAN(min_cluster_size=min_size, min_samples=min(min_size, indices.shape[1]),
                            metric="precomputed", cluster_selection_method=SELECTION, copy=True)
    return np.asarray(model.fit_predict(graph), np.int64)


def _connected(graph: csr_matrix) -> csr_matrix:
    """The graph with its connected components chained by edges longer than any cosine distance
    (HDBSCAN needs one component; the chain only joins the components at the top of its tree, where
    they separate first)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    parts, labels = connected_components(graph, directed=False)
    if parts < 2:
        return graph
    firsts = np.unique(labels, return_index=True)[1]  # each component's first row, in component order
    a, b = firsts[:-1], firsts[1:]
    far = np.full(len(a), BEYOND)
    link = coo_matrix((np.concatenate([far, far]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                      shape=graph.shape)
    return (graph + link).tocsr()


def _numbered(raw: np.ndarray, scores: np.ndarray, indices: np.ndarray, keys: list[str],
              report: JoinReport) -> ClusterResult:
    """Renumber clusters by size (largest first, then smallest first key) and find each medoid."""
    found = sorted({int(c) for c in raw if c >= 0},
                   key=lambda c: (-int(np.sum(raw == c)), min(keys[i] for i in np.flatnonzero(raw == c))))
    mapping = {old: new for new, old in enumerate(found)}
    labels = np.asarray([mapping.get(int(c), -1) for c in raw], np.int64)
    # mean similarity of each row to the rest of its cluster, over its kNN edges (absent edges count 0)
    same = (indices >= 0) & (labels[np.maximum(indices, 0)] == labels[:, None]) & (labels[:, None] >= 0)
    totals = np.where(same, scores, 0.0).sum(axis=1)
    sizes = np.bincount(labels[labels >= 0], minlength=len(found))
    representatives = []
    for cluster in range(len(found)):
        members = np.flatnonzero(labels == cluster)
        mean = totals[members] / max(1, sizes[cluster] - 1)
        best = max(range(len(members)), key=lambda m: (round(float(mean[m]), 6), _reverse(keys[members[m]])))
        representatives.append(int(members[best]))
    return ClusterResult(labels, representatives, report)


class _reverse(str):
    """A string that sorts backwards (so that max() picks the smallest key on a tie)."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)
