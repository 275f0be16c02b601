"""The inverted-file partition the join runs over: spherical k-means centroids trained on a sample,
every vector's own cell and the `nprobe` nearest cells it is compared with. Reads the vectors in
chunks, so a memory-mapped array is never loaded whole."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELL_SIZE = 1000  # vectors per cell the partition aims at
TRAIN_PER_CELL = 64  # k-means sample per cell: stable centroids at bounded cost
KMEANS_ITERATIONS = 20
CHUNK = 65_536  # rows read at a time when assigning


def gather(vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows `ids` (sorted or not) as a float32 array; a contiguous run is read as one slice."""
    if len(ids) and int(ids[-1]) - int(ids[0]) + 1 == len(ids) and bool(np.all(np.diff(ids) == 1)):
        block = vectors[int(ids[0]) : int(ids[-1]) + 1]
    else:
        block = vectors[ids]
    return np.ascontiguousarray(block, dtype=np.float32)


def choose_nlist(count: int, cell_size: int = CELL_SIZE) -> int:
    """How many cells for `count` vectors: about `cell_size` vectors each."""
    return max(1, int(round(count / cell_size)))


def train_centroids(vectors: np.ndarray, nlist: int, seed: int = 0) -> np.ndarray:
    """(nlist, d) unit centroids by spherical k-means on a seeded sample of the rows."""
    import faiss

    count, dim = vectors.shape
    size = min(count, nlist * TRAIN_PER_CELL)
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(count, size, replace=False)) if size < count else np.arange(count)
    sample = np.vstack([gather(vectors, ids[s : s + CHUNK]) for s in range(0, len(ids), CHUNK)])
    if nlist >= len(sample):
        return sample[:nlist].copy()
    kmeans = faiss.Kmeans(dim, nlist, niter=KMEANS_ITERATIONS, seed=seed, spherical=True, verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=TRAIN_PER_CELL)
    kmeans.train(sample)
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def assign(vectors: np.ndarray, centroids: np.ndarray, nprobe: int = 1, skip: int = 0,
           rows: np.ndarray | None = None) -> np.ndarray:
    """(n, nprobe - skip) int32: each row's `nprobe` nearest centroids by inner product, nearest first
    (column 0 is the row's own cell), less the first `skip`; read chunk by chunk (`rows`: only those
    rows, ascending, in that order)."""
    return assign_with_gaps(vectors, centroids, nprobe, skip, rows)[0]


def assign_with_gaps(vectors: np.ndarray, centroids: np.ndarray, nprobe: int = 1, skip: int = 0,
                     rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`assign`, and each row's gap between its nearest and its `nprobe`-th nearest centroid score
    (a small gap: the row sits among many cells, the probes are a near-arbitrary few of them)."""
    from .exact import flat_index

    index = flat_index(centroids)
    nprobe = min(nprobe, len(centroids))
    count = len(vectors) if rows is None else len(rows)
    labels = np.empty((count, max(0, nprobe - skip)), dtype=np.int32)
    gaps = np.empty(count, dtype=np.float32)
    for start in range(0, count, CHUNK):
        if rows is None:
            chunk = np.ascontiguousarray(vectors[start : start + CHUNK], dtype=np.float32)
        else:
            chunk = gather(vectors, rows[start : start + CHUNK])
        scores, found = index.search(chunk, nprobe)
        labels[start : start + CHUNK] = found[:, skip:]
        gaps[start : start + CHUNK] = scores[:, 0] - scores[:, -1]
    return labels, gaps


def ranks(vectors: np.ndarray, centroids: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """For each row, the rank of `cells[row]` among its nearest centroids (0: its nearest), i.e. the
    fewest probes that reach that cell."""
    scores = vectors @ centroids.T
    target = scores[np.arange(len(cells)), cells]
    return np.count_nonzero(scores > target[:, None], axis=1)


@dataclass(frozen=True)
class Cells:
    """Positions grouped by cell: cell c holds `order[starts[c]:starts[c + 1]]` (ascending)."""

    order: np.ndarray
    starts: np.ndarray

    @classmethod
    def from_labels(cls, labels: np.ndarray, nlist: int) -> Cells:
        """Cells from (n,) labels, or from (n, m) labels where each row belongs to m cells."""
        flat = labels.ravel()
        order = np.argsort(flat, kind="stable")
        if labels.ndim == 2:
            order //= labels.shape[1]
        starts = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=nlist))]).astype(np.int64)
        return cls(order, starts)

    def members(self, cell: int) -> np.ndarray:
        return self.order[self.starts[cell] : self.starts[cell + 1]]

    def size(self, cell: int) -> int:
        return int(self.starts[cell + 1] - self.starts[cell])
