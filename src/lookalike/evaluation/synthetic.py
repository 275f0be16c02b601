"""Seeded synthetic vectors with neighbourhood structure, for index tests and benchmarks.

Uniform random vectors have no structure (every point is nearly equidistant from every other in
high dimension), which makes any ANN index look broken; real embeddings are clustered. A Gaussian
mixture of unit vectors is the usual stand-in.
"""

from __future__ import annotations

import numpy as np

from ..embedders.base import l2_normalize

Tight = tuple[float, int, float]  # (share of the points, points per cluster, spread)


def _centres(rng: np.random.Generator, clusters: int, width: int, spread: float,
             uneven: tuple[float, float] | None, tight: Tight | None,
             count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Cluster centres, spreads and weights, drawn in the order the seeds have always used."""
    if tight is None:  # the order of draws as before, so existing seeds keep their data
        centres = rng.standard_normal((clusters, width), dtype=np.float32)
        spreads, weights = _mixture(rng, clusters, spread, uneven)
    else:
        spreads, weights = _mixture(rng, clusters, spread, uneven, tight, count)
        centres = rng.standard_normal((len(spreads), width), dtype=np.float32)
    return centres, spreads, weights


def _mixture(rng: np.random.Generator, clusters: int, spread: float, uneven: tuple[float, float] | None,
             tight: Tight | None = None, count: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Each cluster's noise scale and weight: `spread` and equal weights for all, or (`uneven` =
    (tightest, loosest)) spreads drawn log-uniformly and weights log-normally per cluster, so some
    clusters are tight, some loose, some many cells large and some a few points. `tight` = (share,
    size, spread) adds clusters of `size` points at `spread` holding `share` of the `count` points
    (large very tight clusters: the closest pairs spread over more cells than a join probes)."""
    if uneven is None and tight is None:
        return np.full((clusters, 1), spread, np.float32), None
    if uneven is None:
        spreads, weights = np.full((clusters, 1), spread, np.float32), np.ones(clusters)
    else:
        low, high = np.log(uneven[0]), np.log(uneven[1])
        spreads = np.exp(rng.uniform(low, high, (clusters, 1))).astype(np.float32)
        weights = rng.lognormal(0.0, 1.5, clusters)
    weights = weights / weights.sum()
    if tight is None:
        return spreads, weights
    share, size, tight_spread = tight
    extra = max(1, int(round(share * count / size)))
    spreads = np.vstack([spreads, np.full((extra, 1), tight_spread, np.float32)])
    weights = np.concatenate([weights * (1.0 - share), np.full(extra, share / extra)])
    return spreads, weights / weights.sum()


def _labels(rng: np.random.Generator, clusters: int, size: int, weights: np.ndarray | None) -> np.ndarray:
    return rng.integers(0, clusters, size) if weights is None else rng.choice(clusters, size, p=weights)


def clustered_vectors(
    count: int, dim: int = 768, clusters: int | None = None, spread: float = 1.0, seed: int = 0,
    queries: int = 0, chunk: int = 100_000, uneven: tuple[float, float] | None = None,
    tight: Tight | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(`count` base vectors, `queries` query vectors) drawn from one mixture, unit length, float32.

    Each point is a random cluster centre plus Gaussian noise of relative size `spread`; the
    default uses about sqrt(count) clusters; `uneven` (tightest, loosest) gives each cluster its own
    spread; `tight` adds large very tight clusters (see `_mixture`). Generated in chunks to bound memory.
    """
    rng = np.random.default_rng(seed)
    clusters = clusters or max(1, int(np.sqrt(count)))
    centres, spreads, weights = _centres(rng, clusters, dim, spread, uneven, tight, count)
    clusters = len(spreads)

    def draw(n: int) -> np.ndarray:
        out = np.empty((n, dim), np.float32)
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            labels = _labels(rng, clusters, size, weights)
            noise = rng.standard_normal((size, dim), dtype=np.float32) * spreads[labels]
            out[start : start + size] = l2_normalize(centres[labels] + noise)
        return out

    return draw(count), draw(queries)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k ids (rows of `truth`) present in `found`'s top k."""
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (len(truth) * k)


def write_clustered_npy(
    path: str, count: int, dim: int = 768, clusters: int | None = None, spread: float = 1.0, seed: int = 0,
    planted: int = 0, planted_noise: float = 0.05, chunk: int = 50_000, uneven: tuple[float, float] | None = None,
    labels_path: str | None = None, tight: Tight | None = None, intrinsic: int | None = None,
    coords_path: str | None = None,
) -> np.ndarray:
    """Write `count` clustered unit vectors (as `clustered_vectors`) to an .npy file chunk by chunk,
    so memory stays at one chunk whatever the size; then plant `planted` near-duplicate pairs (a
    copy of a random row plus relative noise `planted_noise`). Returns the planted (a, b) rows;
    `labels_path`: also write each row's cluster there (.npy; a planted copy takes its original's).
    `intrinsic`: the mixture (centres and noise) is drawn in that many dimensions and turned into
    `dim` by a random rotation. Real embeddings vary along few directions, so clusters overlap and
    a vector's nearest neighbours can sit in cells far down its list; isotropic noise in high
    dimension leaves clusters apart and every point about as near every cell of its own, which
    hides the misses of a partitioned search. The planted copies' noise is drawn there too, so every
    inner product equals that of the `intrinsic`-dimensional coordinates (written to `coords_path`
    if given): an exact answer can be computed on them at a fraction of the cost."""
    rng = np.random.default_rng(seed)
    clusters = clusters or max(1, int(np.sqrt(count)))
    width = intrinsic or dim
    centres, spreads, weights = _centres(rng, clusters, width, spread, uneven, tight, count)
    clusters = len(spreads)
    rotation = None
    if intrinsic is not None:  # (intrinsic, dim) orthonormal rows: unit vectors stay unit vectors
        rotation = np.linalg.qr(rng.standard_normal((dim, intrinsic)))[0].T.astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, dim))
    coords: np.ndarray = out
    if rotation is not None:
        coords = np.lib.format.open_memmap(coords_path, mode="w+", dtype=np.float32, shape=(count, width)) \
            if coords_path else np.empty((count, width), np.float32)
    every = np.empty(count, np.int32)
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        labels = _labels(rng, clusters, size, weights)
        every[start : start + size] = labels
        noise = rng.standard_normal((size, width), dtype=np.float32) * spreads[labels]
        coords[start : start + size] = l2_normalize(centres[labels] + noise)
        if rotation is not None:
            out[start : start + size] = coords[start : start + size] @ rotation
    pairs = rng.choice(count, size=(planted, 2), replace=False) if planted else np.zeros((0, 2), np.int64)
    for a, b in pairs:
        copy = coords[a] + planted_noise * rng.standard_normal(width, dtype=np.float32) / np.sqrt(width)
        coords[b] = copy / np.linalg.norm(copy)
        every[b] = every[a]
        if rotation is not None:
            out[b] = coords[b] @ rotation
    if labels_path is not None:
        np.save(labels_path, every)
    out.flush()
    if isinstance(coords, np.memmap):
        coords.flush()
    del out, coords
    return np.sort(pairs, axis=1)
