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
