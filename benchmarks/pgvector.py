"""pgvector HNSW (vector and halfvec) vs FAISS HNSW on the same clustered vectors: build time, single-
query latency p50/p99, recall@10 against exact search, storage. Not run by the tests.

    python benchmarks/pgvector.py --count 100000 --dim 768 --queries 200
    python benchmarks/pgvector.py --url postgresql://...   # an existing server (default: tests/pg_server.py)

Vectors are loaded through `PostgresStore.add_vectors` (binary COPY, index built after the load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from lookalike.embedders import EmbeddingSpec
from lookalike.evaluation.synthetic import clustered_vectors
from lookalike.store.postgres import PostgresStore
from lookalike.store.postgres_schema import HNSW_EF_CONSTRUCTION, HNSW_M
from lookalike.store.schema import NewFile


def _latencies(search, queries: np.ndarray) -> tuple[list[list[int]], float, float]:
    found, times = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query))
        times.append((time.perf_counter() - started) * 1000)
    return found, float(np.percentile(times, 50)), float(np.percentile(times, 99))


def _recall(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]))


def run_faiss(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int, ef: int) -> dict[str, object]:
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(base.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(base)
    build = time.perf_counter() - started
    index.hnsw.efSearch = ef
    found, p50, p99 = _latencies(lambda q: index.search(q[None, :], k)[1][0].tolist(), queries)
    size = faiss.serialize_index(index).nbytes
    return {"method": "faiss hnsw", "build_s": build, "p50_ms": p50, "p99_ms": p99,
            "recall@10": _recall(found, truth, k), "storage_mb": size / 1e6}


def run_pgvector(url: str, root: Path, kind: str, base: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                 k: int, ef: int) -> dict[str, object]:
    spec = EmbeddingSpec(model=f"bench-{kind}-{time.time_ns()}", source="synthetic", dim=base.shape[1],
                         preprocessing="none")
    store = PostgresStore.create_from_spec(url, root, spec, vector_type=kind)
    try:
        files = [NewFile(f"v{i}", 0, 0, "") for i in range(len(base))]
        started = time.perf_counter()
        store.add_vectors(files, base)  # COPY, then the HNSW index built once
        build = time.perf_counter() - started
        found, p50, p99 = _latencies(lambda q: [h.id - 1 for h in store.search_vector(q, k, ef_search=ef)
                                                if h.id is not None], queries)
        table = store.library.files
        sizes = store.conn.execute(f"SELECT pg_table_size('{table}'), pg_relation_size('{table}_hnsw')").fetchone()
        return {"method": f"pgvector hnsw {kind}", "build_s": build, "p50_ms": p50, "p99_ms": p99,
                "recall@10": _recall(found, truth, k), "storage_mb": (sizes[0] + sizes[1]) / 1e6,
                "table_mb": sizes[0] / 1e6, "index_mb": sizes[1] / 1e6}
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=100)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    k = 10
    base, queries = clustered_vectors(args.count, dim=args.dim, queries=args.queries, seed=0)
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(base)
    truth = exact.search(queries, k)[1]
    stop = None
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as scratch:
        url = args.url
        if url is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            from pg_server import start_postgres

            url, stop = start_postgres()
        try:
            rows = [run_faiss(base, queries, truth, k, args.ef_search)]
            for kind in ("vector", "halfvec"):
                rows.append(run_pgvector(url, Path(scratch) / kind, kind, base, queries, truth, k, args.ef_search))
        finally:
            if stop is not None:
                stop()
    print(f"{args.count} x {args.dim} clustered, {args.queries} queries, M={HNSW_M}, "
          f"ef_construction={HNSW_EF_CONSTRUCTION}, ef_search={args.ef_search}")
    for row in rows:
        print("  ".join(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                        for key, value in row.items()))


if __name__ == "__main__":
    main()
