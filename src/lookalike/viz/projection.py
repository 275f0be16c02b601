"""From stored vectors to map coordinates and colours: PCA (exact, via the d x d covariance, so memory
grows with the dimension and never with N^2) or UMAP, and k-means clusters (FAISS) when no labels are
given."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, LookalikeError

_BLOCK = 16384
UMAP_PCA_DIMS = 50  # UMAP runs on the first 50 principal components: much faster, same picture


@dataclass(frozen=True)
class Projection:
    """`coords` (N x dims); for PCA the share of the variance each axis explains."""

    coords: np.ndarray
    method: str
    explained: tuple[float, ...] | None = None

    def axis_titles(self) -> list[str]:
        prefix = "PC" if self.method == "pca" else "UMAP "
        if self.explained is None:
            return [f"{prefix}{i + 1}" for i in range(self.coords.shape[1])]
        return [f"{prefix}{i + 1} ({share:.1%})" for i, share in enumerate(self.explained)]

    def summary(self) -> str:
        if self.explained is None:
            return self.method.upper()
        return f"PCA, explained variance {sum(self.explained):.1%} ({', '.join(f'{s:.1%}' for s in self.explained)})"


def pca(vectors: np.ndarray, dims: int) -> Projection:
    """Exact PCA: the top `dims` eigenvectors of the covariance, accumulated in blocks (float64)."""
    n, d = vectors.shape
    if n < 2:
        raise LookalikeError(f"a map needs at least 2 images, the library has {n}")
    dims = min(dims, d)
    mean = np.zeros(d)
    scatter = np.zeros((d, d))
    for start in range(0, n, _BLOCK):
        block = vectors[start : start + _BLOCK].astype(np.float64)
        mean += block.sum(axis=0)
        scatter += block.T @ block
    mean /= n
    covariance = scatter / n - np.outer(mean, mean)
    values, basis = _top_eigenpairs(covariance, dims)
    # a sign convention so the same library always gives the same picture
    basis = basis * np.where(basis[np.abs(basis).argmax(axis=0), np.arange(dims)] < 0, -1.0, 1.0)
    coords = np.empty((n, dims), np.float32)
    for start in range(0, n, _BLOCK):
        coords[start : start + _BLOCK] = (vectors[start : start + _BLOCK].astype(np.float64) - mean) @ basis
    total = float(np.trace(covariance)) or 1.0
    return Projection(coords, "pca", tuple(float(max(v, 0.0)) / total for v in values))


def _top_eigenpairs(matrix: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The `count` largest eigenvalues of a symmetric matrix (descending) and their eigenvectors.
    Lanczos (ARPACK) for big matrices: 1 s instead of 10 s for a full 1280 x 1280 decomposition."""
    size = len(matrix)
    if size <= 64 or count >= size - 1:
        values, vectors = np.linalg.eigh(matrix)
        return values[::-1][:count], vectors[:, ::-1][:, :count]
    from scipy.sparse.linalg import eigsh

    values, vectors = eigsh(matrix, k=count, which="LA", v0=np.ones(size))  # fixed start: same answer each run
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def require_umap() -> Any:
    """The umap-learn module, or a one-line error saying how to install it."""
    try:
        import umap as umap_learn
    except ImportError:
        raise LookalikeError("UMAP needs umap-learn: pip install 'lookalike[viz]' (or use the PCA method)") from None
    return umap_learn


def umap(vectors: np.ndarray, dims: int, seed: int = 0) -> Projection:
    """UMAP (umap-learn, imported only here) on the first principal components."""
    umap_learn = require_umap()
    n = len(vectors)
    if n < 4:
        raise LookalikeError(f"UMAP needs at least 4 images, the library has {n}; use the PCA method")
    reduced = pca(vectors, UMAP_PCA_DIMS).coords if vectors.shape[1] > UMAP_PCA_DIMS else vectors
    reducer = umap_learn.UMAP(n_components=dims, n_neighbors=min(15, n - 1), random_state=seed,
                              init="spectral" if n > 50 else "random")
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": the seed is the point
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(reduced)
    return Projection(np.asarray(coords, np.float32), "umap")


def project(vectors: np.ndarray, method: str, dims: int, seed: int = 0) -> Projection:
    """`vectors` reduced to `dims` (2 or 3) coordinates with `method` ("pca" or "umap")."""
    if dims not in (2, 3):
        raise InvalidArgumentError(f"a map has 2 or 3 dimensions, not {dims}")
    if method == "pca":
        return pca(vectors, dims)
    if method == "umap":
        return umap(vectors, dims, seed)
    raise InvalidArgumentError(f"unknown projection method {method!r}; choose pca or umap")


def kmeans(vectors: np.ndarray, clusters: int, seed: int = 0) -> np.ndarray:
    """A cluster number (0..K-1) per vector, K capped at the number of vectors (FAISS k-means)."""
    import faiss

    if clusters < 1:
        raise InvalidArgumentError(f"the number of clusters must be at least 1, not {clusters}")
    k = min(clusters, len(vectors))
    if k <= 1:
        return np.zeros(len(vectors), np.int64)
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    model = faiss.Kmeans(data.shape[1], k, niter=25, seed=seed, min_points_per_centroid=1,
                         max_points_per_centroid=512, verbose=False)
    model.train(data)
    _, assigned = model.index.search(data, 1)
    # number clusters by size, largest first, so colours and legends are stable and meaningful
    counts = np.bincount(assigned[:, 0], minlength=k)
    rank = np.empty(k, np.int64)
    rank[np.argsort(-counts, kind="stable")] = np.arange(k)
    return rank[assigned[:, 0]]


def sample_indices(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded sample of at most `limit` of `n` items (all of them when n <= limit)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
