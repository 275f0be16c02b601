"""Similarity-join benchmark: the top-1000 pairs, the duplicate edges at 0.9 and per-row kNN over
N seeded clustered vectors (d=768 by default), memory-mapped from an .npy written chunk by chunk.

Each measurement runs in its own subprocess, so its peak RSS (VmHWM: the mapped vectors it touched
plus everything else) is its own. Recall is against the exact join where N <= --exact-max;
above that, per-row kNN recall on --sample rows checked exactly, and the planted near-duplicate
pairs (a copy of a row plus 5% noise, cosine ~0.999) must all be among the edges.

    python benchmarks/pairs.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; before faiss loads

import numpy as np  # noqa: E402

from lookalike.evaluation.synthetic import write_clustered_npy  # noqa: E402
from lookalike.join import JoinOptions, cross_knn, knn_join, threshold_edges, top_pairs  # noqa: E402

TOP = 1000
THRESHOLD = 0.9
PLANTED = 100


def child(task: str, npy: Path, out: Path, sample: int) -> dict[str, object]:
    """One measurement on the memory-mapped vectors; writes found pairs to `out`."""
    vectors = np.load(npy, mmap_mode="r")
    exact = JoinOptions(exact=True)
    start = time.perf_counter()
    result: dict[str, object] = {}
    if task in ("pairs", "pairs-exact"):
        pairs, report = top_pairs(vectors, TOP, exact if task == "pairs-exact" else None)
        np.save(out, np.array([[p.i, p.j] for p in pairs], dtype=np.int64).reshape(-1, 2))
    elif task in ("edges", "edges-exact"):
        i, j, _, report = threshold_edges(vectors, THRESHOLD, exact if task == "edges-exact" else None)
        np.save(out, np.stack([i, j], axis=1))
    elif task == "knn":
        _, indices, report = knn_join(vectors, 10)
        seconds = time.perf_counter() - start
        rows = np.sort(np.random.default_rng(1).choice(len(vectors), sample, replace=False))
        _, truth, _ = cross_knn(np.ascontiguousarray(vectors[rows]), vectors, 11, options=exact)
        truth = [[t for t in row if t != r][:10] for r, row in zip(rows, truth, strict=True)]
        hits = sum(len(set(indices[r].tolist()) & set(t)) for r, t in zip(rows, truth, strict=True))
        result["recall"] = hits / (10 * len(rows))
        result["seconds"] = seconds
    else:
        raise SystemExit(f"unknown task {task}")
    result.setdefault("seconds", time.perf_counter() - start)
    result["how"] = report.describe().split(" over ")[0]
    with open("/proc/self/status") as status:  # this process's own peak (ru_maxrss may include the parent's)
        result["peak_mb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return result


def measure(task: str, npy: Path, out: Path, sample: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--child", task, "--npy", str(npy), "--out", str(out),
                           "--sample", str(sample)], capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise SystemExit(f"{task} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pairs(path: Path) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in np.load(path)}


def bench(size: int, dim: int, exact_max: int, sample: int, scratch: Path) -> None:
    npy = scratch / f"v{size}.npy"
    start = time.perf_counter()
    planted = {tuple(p) for p in write_clustered_npy(str(npy), size, dim, seed=0, planted=PLANTED).tolist()}
    made = time.perf_counter() - start
    vectors_mb = size * dim * 4 / 2**20
    print(f"<!-- N={size:,}: vectors written in {made:.1f} s, {vectors_mb:.0f} MB -->", file=sys.stderr)
    for task in ("pairs", "edges"):
        got = measure(task, npy, scratch / f"{task}.npy", sample)
        found = _pairs(scratch / f"{task}.npy")
        if size <= exact_max:
            truth_run = measure(f"{task}-exact", npy, scratch / f"{task}-exact.npy", sample)
            truth = _pairs(scratch / f"{task}-exact.npy")
            recall = f"{len(found & truth) / max(len(truth), 1):.4f} of {len(truth):,} exact " \
                     f"({truth_run['seconds']:.1f} s exact)"
        else:
            recall = "not checked (exact too slow)" if task == "pairs" else ""
        if task == "edges":
            recall += f"; planted {len(planted & found)}/{len(planted)}"
        label = f"top-{TOP} pairs" if task == "pairs" else f"edges >= {THRESHOLD} ({len(found):,})"
        print(f"| {size:,} | {label} | {got['how']} | {got['seconds']:.1f} | {got['peak_mb']:.0f} | "
              f"{got['peak_mb'] - vectors_mb:.0f} | {recall} |", flush=True)
    if size > exact_max:
        got = measure("knn", npy, scratch / "knn.npy", sample)
        print(f"| {size:,} | kNN k=10, every row | {got['how']} | {got['seconds']:.1f} | {got['peak_mb']:.0f} | "
              f"{got['peak_mb'] - vectors_mb:.0f} | recall@10 {got['recall']:.4f} on {sample:,} rows |", flush=True)
    npy.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated N")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--exact-max", type=int, default=200_000, help="largest N checked against the exact join")
    parser.add_argument("--sample", type=int, default=1000, help="rows whose kNN is checked exactly (large N)")
    parser.add_argument("--scratch", type=Path, default=None, help="where the .npy files go (default: a temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.npy, args.out, args.sample)))
        return
    print(f"## similarity join on clustered synthetic vectors (d={args.dim}, memory-mapped, {os.cpu_count()} cores)")
    print("| N | answer | path | time (s) | peak RSS (MB) | RSS above vectors (MB) | recall |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            bench(size, args.dim, args.exact_max, args.sample, Path(scratch))


if __name__ == "__main__":
    main()
