"""Time and peak memory of clusters and outliers on seeded clustered synthetic vectors.

    python benchmarks/collections_scale.py --count 100000 --dim 768
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--min-size", type=int, default=5)
    parser.add_argument("--spread", type=float, default=1.0)
    args = parser.parse_args()

    from lookalike.corpus import cluster_vectors, outlier_scores
    from lookalike.evaluation.synthetic import clustered_vectors

    vectors, _ = clustered_vectors(args.count, args.dim, spread=args.spread)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    found = cluster_vectors(vectors, args.min_size)
    clustered = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    outlier_scores(vectors)
    outliers = time.perf_counter() - started
    peak_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"vectors {args.count:,} x {args.dim} ({vectors.nbytes / 2**20:.0f} MiB), {found.report.path()}")
    print(f"clusters: {len(found.representatives):,} found, {np.mean(found.labels >= 0):.1%} clustered, "
          f"{clustered:.1f} s; peak RSS {peak:.0f} MiB (after generating the vectors: {base:.0f} MiB)")
    print(f"outliers: {outliers:.1f} s; peak RSS {peak_all:.0f} MiB")


if __name__ == "__main__":
    main()
