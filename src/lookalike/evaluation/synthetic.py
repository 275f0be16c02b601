"""Seeded synthetic vectors with neighbourhood structure, for index tests and benchmarks.

Uniform random vectors have no structure (every point is nearly equidistant from every other in
high dimension), which makes any ANN index look broken; real embeddings are clustered. A Gaussian
mixture of unit vectors is the usual stand-in.
"""

from __future__ import annotations

import numpy as np

from ..embedders.base import l2_normalize


def clustered_vectors(
    count: int, dim: int = 768, clusters: int | None = None, spread: float = 1.0, seed: int = 0,
    queries: int = 0, chunk: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """(`count` base vectors, `queries` query vectors) drawn from one mixture, unit length, float32.

    Each point is a random cluster centre plus Gaussian noise of relative size `spread`; the
    default uses about sqrt(count) clusters. Generated in chunks to bound memory.
    """
    rng = np.random.default_rng(seed)
    clusters = clusters or max(1, int(np.sqrt(count)))
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)

    def draw(n: int) -> np.ndarray:
        out = np.empty((n, dim), np.float32)
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            labels = rng.integers(0, clusters, size)
            noise = rng.standard_normal((size, dim), dtype=np.float32) * np.float32(spread)
            out[start : start + size] = l2_normalize(centres[labels] + noise)
        return out

    return draw(count), draw(queries)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k ids (rows of `truth`) present in `found`'s top k."""
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (len(truth) * k)


def write_clustered_npy(
    path: str, count: int, dim: int = 768, clusters: int | None = None, spread: float = 1.0, seed: int = 0,
    planted: int = 0, planted_noise: float = 0.05, chunk: int = 50_000,
) -> np.ndarray:
    """Write `count` clustered unit vectors (as `clustered_vectors`) to an .npy file chunk by chunk,
    so memory stays at one chunk whatever the size; then plant `planted` near-duplicate pairs (a
    copy of a random row plus relative noise `planted_noise`). Returns the planted (a, b) rows."""
    rng = np.random.default_rng(seed)
    clusters = clusters or max(1, int(np.sqrt(count)))
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, dim))
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        labels = rng.integers(0, clusters, size)
        noise = rng.standard_normal((size, dim), dtype=np.float32) * np.float32(spread)
        out[start : start + size] = l2_normalize(centres[labels] + noise)
    pairs = rng.choice(count, size=(planted, 2), replace=False) if planted else np.zeros((0, 2), np.int64)
    for a, b in pairs:
        copy = out[a] + planted_noise * rng.standard_normal(dim, dtype=np.float32) / np.sqrt(dim)
        out[b] = copy / np.linalg.norm(copy)
    out.flush()
    del out
    return np.sort(pairs, axis=1)
