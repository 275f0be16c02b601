"""Library benchmarks.

1. On real images (default ../shared/data/ukbench-a, the offline EfficientNet-Lite0): full index
   time, then a no-op re-sync (target <= 2% of the full time, and no model load).
2. On seeded clustered synthetic vectors (d=768) at several sizes: build time, memory, query latency
   p50/p95 and recall@10 against exact search, for Flat, HNSW and IVF with their default parameters.

    python benchmarks/library.py --images ../shared/data/ukbench-a --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; before torch/faiss load

import numpy as np  # noqa: E402

from lookalike.evaluation.synthetic import clustered_vectors, recall_at_k  # noqa: E402
from lookalike.store import Library  # noqa: E402
from lookalike.store.vectors import IndexParams, VectorIndex  # noqa: E402


def bench_sync(images: Path, model: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        library_dir = Path(scratch) / "lib"
        start = time.perf_counter()
        with Library.open(images, model=model, library=library_dir, create=True) as library:
            report = library.sync()
        full = time.perf_counter() - start
        start = time.perf_counter()
        with Library.open(images, library=library_dir) as library:
            again = library.sync()
            model_loaded = library._embedder is not None
        noop = time.perf_counter() - start
    print(f"## sync on {images} ({report.added} images, {model})")
    print("| full index (s) | no-op re-sync (s) | ratio | model loaded on no-op |")
    print("|---|---|---|---|")
    print(f"| {full:.2f} | {noop:.3f} | {noop / full:.2%} | {'yes' if model_loaded else 'no'} |")
    assert again.embedded == 0
    print()


def _memory_bytes(index: VectorIndex) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "i.faiss"
        index.save(path)
        return path.stat().st_size


def bench_indexes(sizes: list[int], dim: int, queries: int, seed: int) -> None:
    print(f"## indexes on clustered synthetic vectors (d={dim}, {queries} single queries, 2 cores)")
    print("| N | index | params | build (s) | size (MB) | p50 (ms) | p95 (ms) | recall@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes:
        base, query = clustered_vectors(size, dim, queries=queries, seed=seed)
        ids = np.arange(size, dtype=np.int64)
        truth = None
        for kind in ("flat", "hnsw", "ivf"):
            start = time.perf_counter()
            index = VectorIndex.build(ids, base, dim, IndexParams(kind=kind))
            build = time.perf_counter() - start
            latencies, found = [], []
            for row in query:
                tick = time.perf_counter()
                _, hit = index.search(row[None, :], 10)
                latencies.append((time.perf_counter() - tick) * 1000)
                found.append(hit[0])
            found_array = np.asarray(found)
            if kind == "flat":
                truth = found_array
            params = {"flat": "exact", "hnsw": f"M={index.params.hnsw_m} ef={index.params.ef_search}",
                      "ivf": f"nlist={index.params.nlist} nprobe={index.params.nprobe}"}[kind]
            print(f"| {size:,} | {kind} | {params} | {build:.1f} | {_memory_bytes(index) / 1e6:.0f} | "
                  f"{np.percentile(latencies, 50):.2f} | {np.percentile(latencies, 95):.2f} | "
                  f"{recall_at_k(found_array, truth, 10):.3f} |", flush=True)
            del index
        del base
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="Folder of images for the sync benchmark.")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated vector counts.")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.images is not None:
        if args.images.is_dir():
            bench_sync(args.images, args.model)
        else:
            print(f"# {args.images} not found: sync benchmark skipped", file=sys.stderr)
    bench_indexes([int(s) for s in args.sizes.split(",") if s], args.dim, args.queries, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
