"""Bounded-memory similarity join over unit vectors: every row's k nearest neighbours, the global
top pairs, every pair above a threshold, and queries against a base set.

Small sets (or `exact=True`) are joined exactly in row blocks; larger ones through an inverted-file
partition: spherical k-means cells of about 1,000 vectors, each cell's members compared by one
matrix product with the members of its `nprobe` nearest cells. The partitioned join estimates its
recall on a sample of rows answered exactly and probes more cells until the estimate meets
`JoinOptions.recall` (recall.py); the report says what it reached. Memory is the answer plus one
block (`JoinOptions.budget`), never N x N; vectors may be an `np.memmap` and are read block by block.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

from ..errors import LookalikeError
from .cells import Cells, assign_with_gaps
from .engine import (
    DEFAULT_BUDGET,
    EXACT_LIMIT,
    JoinOptions,
    JoinReport,
    Progress,
    Sink,
    check_vectors,
    count_tasks,
    exact_tasks,
    knn_tasks,
    pair_tasks,
    partition,
    run,
    use_exact,
)
from .recall import meet_target
from .sinks import EdgesSink, KnnSink, ScoredPair, TopPairsSink

__all__ = [
    "DEFAULT_BUDGET", "EXACT_LIMIT", "JoinOptions", "JoinReport", "MAX_EDGES", "Progress", "ScoredPair",
    "connected_groups", "cross_knn", "exact_hash_groups", "knn_join", "threshold_edges", "top_pairs",
]
MAX_EDGES = 50_000_000  # about 1 GB of (i, j, score); beyond it a threshold is too low to be useful


def _self_join(vectors: np.ndarray, sink: Sink, kind: str, want: int, options: JoinOptions,
               progress: Progress | None) -> JoinReport:
    options.check()
    count = len(vectors)
    pairs = kind != "knn"
    if use_exact(count, options):
        report = JoinReport("exact", count, recall=1.0, recall_target=options.recall or None)
        total = -(-count // 1024)
        report.cells = run(exact_tasks(count, count, upper=pairs), total, vectors, vectors, sink,
                           options.budget, progress)
    else:
        part = partition(vectors, options)
        report = JoinReport("ivf", count, part.nlist, part.nprobe)
        if isinstance(sink, (TopPairsSink, EdgesSink)) and options.recall > 0:
            sink.track(count)  # each row's best score: which rows the recall target widens
        if pairs:
            tasks, total = pair_tasks(part), count_tasks(part.own)
        else:
            tasks, total = knn_tasks(part.probers, part.own, part.nlist), count_tasks(part.probers, part.own)
        report.cells = run(tasks, total, vectors, vectors, sink, options.budget, progress)
        meet_target(kind, vectors, vectors, part, sink, options, report, want)
    report.seconds = time.perf_counter() - report.started
    return report


def knn_join(vectors: np.ndarray, k: int, options: JoinOptions | None = None,
             progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, JoinReport]:
    """Each row's k nearest other rows: (scores (n, k) best first, indices (n, k), report); -1 and
    -inf pad rows with fewer than k candidates. The row itself is left out by position."""
    check_vectors(vectors)
    if k < 1:
        raise LookalikeError(f"k must be at least 1, not {k}")
    sink = KnnSink(len(vectors), k, self_join=True)
    report = _self_join(vectors, sink, "knn", k, options or JoinOptions(), progress) if len(vectors) else \
        JoinReport("exact", 0)
    return sink.scores, sink.indices, report


def top_pairs(vectors: np.ndarray, count: int, options: JoinOptions | None = None,
              progress: Progress | None = None, groups: np.ndarray | None = None,
              ) -> tuple[list[ScoredPair], JoinReport]:
    """The `count` most similar distinct pairs (i < j), best first, ties by (i, j); with `groups` (a
    label per vector), never two vectors of one group (two frames of one video)."""
    check_vectors(vectors)
    if count < 1:
        raise LookalikeError(f"the number of pairs must be at least 1, not {count}")
    sink = TopPairsSink(count, groups)
    if len(vectors) < 2:
        return [], JoinReport("exact", len(vectors))
    report = _self_join(vectors, sink, "pairs", count, options or JoinOptions(), progress)
    return sink.pairs(), report


def threshold_edges(vectors: np.ndarray, threshold: float, options: JoinOptions | None = None,
                    progress: Progress | None = None, max_edges: int = MAX_EDGES,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, JoinReport]:
    """Every pair scoring >= `threshold`: (i, j, score) arrays with i < j ordered by (-score, i, j),
    and the report. Raises TooManyItemsError past `max_edges` pairs."""
    check_vectors(vectors)
    sink = EdgesSink(threshold, max_edges)
    if len(vectors) < 2:
        return (*sink.edges(), JoinReport("exact", len(vectors)))
    report = _self_join(vectors, sink, "edges", 0, options or JoinOptions(), progress)
    return (*sink.edges(), report)


def cross_knn(queries: np.ndarray, base: np.ndarray, k: int, threshold: float | None = None,
              options: JoinOptions | None = None, progress: Progress | None = None,
              ) -> tuple[np.ndarray, np.ndarray, JoinReport]:
    """Each query's k nearest rows of `base`: (scores (nq, k), indices (nq, k), report), best first;
    -1 / -inf where there are fewer than k, or (with `threshold`) fewer scoring at least that."""
    check_vectors(queries, "queries")
    check_vectors(base, "base")
    if k < 1:
        raise LookalikeError(f"k must be at least 1, not {k}")
    if len(queries) and len(base) and queries.shape[1] != base.shape[1]:
        raise LookalikeError(f"queries have {queries.shape[1]} dimensions, the base {base.shape[1]}")
    options = options or JoinOptions()
    options.check()
    sink = KnnSink(len(queries), k, self_join=False)
    if not len(queries) or not len(base):
        report = JoinReport("exact", len(base))
    elif use_exact(len(base), options):
        report = JoinReport("exact", len(base), recall=1.0, recall_target=options.recall or None)
        report.cells = run(exact_tasks(len(queries), len(base), upper=False), -(-len(queries) // 1024),
                           queries, base, sink, options.budget, progress)
    else:
        part = partition(base, options)
        report = JoinReport("ivf", len(base), part.nlist, part.nprobe)
        labels, gaps = assign_with_gaps(queries, part.centroids, part.nprobe)
        probers = Cells.from_labels(labels, part.nlist)
        report.cells = run(knn_tasks(probers, part.own, part.nlist), count_tasks(probers, part.own), queries, base,
                           sink, options.budget, progress)
        meet_target("cross", queries, base, part, sink, options, report, k, heat=-gaps)
    report.seconds = time.perf_counter() - report.started
    scores, indices = sink.scores, sink.indices
    if threshold is not None:
        low = scores < np.float32(threshold)
        scores[low], indices[low] = -np.inf, -1
    return scores, indices, report


def connected_groups(count: int, i: np.ndarray, j: np.ndarray) -> list[list[int]]:
    """Connected components of `count` nodes joined by edges (i, j) that have more than one member,
    each ascending, largest first (ties by first member)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if count < 2 or not len(i):
        return []
    edges = coo_matrix((np.ones(len(i), np.int8), (np.asarray(i), np.asarray(j))), shape=(count, count))
    _, labels = connected_components(edges, directed=False)
    sizes = np.bincount(labels)
    keep = np.flatnonzero(sizes[labels] > 1)
    order = keep[np.argsort(labels[keep], kind="stable")]
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    groups = [list(map(int, g)) for g in np.split(order, cuts)] if len(order) else []
    return sorted(groups, key=lambda members: (-len(members), members[0]))


def exact_hash_groups(hashes: Sequence[Hashable]) -> list[list[int]]:
    """Positions sharing a content hash (groups of two or more), each ascending, largest first."""
    by_hash: dict[Hashable, list[int]] = defaultdict(list)
    for position, digest in enumerate(hashes):
        by_hash[digest].append(position)
    groups = [members for members in by_hash.values() if len(members) > 1]
    return sorted(groups, key=lambda members: (-len(members), members[0]))
