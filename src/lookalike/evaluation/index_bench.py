"""Index benchmark: numpy brute force, FAISS Flat, IVF-Flat at several nprobe and HNSW at several
efSearch on the same vectors: build time, size, single-query latency p50/p95, batch QPS and
recall@k against exact search."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ..store.vectors import IndexParams, VectorIndex
from .synthetic import recall_at_k

NPROBES = (4, 16, 64)
EF_SEARCHES = (16, 64, 256)


@dataclass
class BenchRow:
    """One method at one size."""

    size: int
    method: str
    params: str
    build_s: float
    memory_mb: float
    p50_ms: float
    p95_ms: float
    batch_qps: float
    recall: float


def _numpy_search(base: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    def search(queries: np.ndarray, k: int) -> np.ndarray:
        scores = queries @ base.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1)

    return search


def _searcher(index: VectorIndex, knob: int | None) -> Callable[[np.ndarray, int], np.ndarray]:
    """Search `index` with `knob` as efSearch (HNSW) or nprobe (IVF)."""

    def search(queries: np.ndarray, k: int) -> np.ndarray:
        return index.search(queries, k, ef_search=knob if index.kind == "hnsw" else None,
                            nprobe=knob if index.kind == "ivf" else None)[1]

    return search


def _timed(search: Callable[[np.ndarray, int], np.ndarray], queries: np.ndarray, k: int,
           single: int) -> tuple[np.ndarray, list[float], float]:
    latencies = []
    for row in queries[:single]:
        tick = time.perf_counter()
        search(row[None, :], k)
        latencies.append((time.perf_counter() - tick) * 1000)
    tick = time.perf_counter()
    found = search(queries, k)
    return found, latencies, len(queries) / (time.perf_counter() - tick)


def bench_size(base: np.ndarray, queries: np.ndarray, k: int = 10, single: int = 100,
               nprobes: Sequence[int] = NPROBES, ef_searches: Sequence[int] = EF_SEARCHES) -> list[BenchRow]:
    """Every method on `base` (unit rows) with `queries`; recall against the exact answer."""
    dim, size = base.shape[1], len(base)
    rows: list[BenchRow] = []
    ids = np.arange(size, dtype=np.int64)
    exact, latencies, qps = _timed(_numpy_search(base), queries, k, single)

    def add(method: str, params: str, build: float, memory: float, found: np.ndarray, lat: list[float],
            rate: float) -> None:
        rows.append(BenchRow(size, method, params, build, memory / 1e6, float(np.percentile(lat, 50)),
                             float(np.percentile(lat, 95)), rate, recall_at_k(found, exact, k)))

    add("numpy", "brute force", 0.0, base.nbytes, exact, latencies, qps)
    for kind, knobs in (("flat", [None]), ("ivf", list(nprobes)), ("hnsw", list(ef_searches))):
        start = time.perf_counter()
        index = VectorIndex.build(ids, base, dim, IndexParams(kind=kind))  # type: ignore[arg-type]
        build = time.perf_counter() - start
        memory = float(len(faiss.serialize_index(index.index)))
        if kind == "ivf":  # nprobe beyond nlist is the same as nprobe = nlist
            knobs = sorted({min(int(n), index.params.nlist or 1) for n in nprobes})
        for knob in knobs:
            found, lat, rate = _timed(_searcher(index, knob), queries, k, single)
            params = {"flat": "exact", "ivf": f"nlist={index.params.nlist} nprobe={knob}",
                      "hnsw": f"M={index.params.hnsw_m} efSearch={knob}"}[kind]
            add(f"faiss-{kind}", params, build, memory, found, lat, rate)
    return rows


def load_vectors(source: Path) -> np.ndarray:
    """Unit vectors from a .npy file, a lookalike Parquet export, or a library directory: every vector,
    a video's frames too (one row each in an export, as the library's index holds them)."""
    from ..embedders.base import l2_normalize

    if source.suffix == ".npy":
        return l2_normalize(np.load(source))
    if source.suffix == ".parquet":
        import pyarrow.parquet as pq

        column = pq.read_table(source, columns=["vector"]).column("vector").combine_chunks()
        return l2_normalize(np.asarray(column.flatten(), np.float32).reshape(len(column), -1))
    from ..store import Library

    with Library.open(library=source, readonly=True) as library:
        return library.snapshot().vectors
