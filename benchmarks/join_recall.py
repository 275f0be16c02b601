"""Recall-target benchmark: the top-1000 pairs (and the kNN graph, k=10) of N clustered vectors of
uneven tightness and size (memory-mapped .npy, planted near-duplicate pairs), at the old fixed
nprobe (recall target 0) and at targets 0.95 / 0.99 / 0.999, each in its own subprocess (time, peak
RSS from VmHWM, the join's own estimate).

True recall: top pairs against the exact top 1,000 computed within each generated cluster (pairs of
two clusters score about 0 +- 0.03 in high dimension, far below the cut-off; an N x N exact join of
200k x 1280 takes many minutes); kNN against the exact neighbours of 1,000 other random rows.

    python benchmarks/join_recall.py --size 200000 --dim 1280
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
from lookalike.join import JoinOptions, cross_knn, knn_join, top_pairs  # noqa: E402

TOP = 1000
PLANTED = 300
UNEVEN = (0.5, 2.0)  # cluster spreads from tight to loose (sizes log-normal)


def child(target: str, npy: Path, out: Path) -> dict[str, object]:
    """One join on the memory-mapped vectors: `target` a recall target (0: fixed nprobe) for top
    pairs, or `knn:TARGET` for the kNN graph."""
    vectors = np.load(npy, mmap_mode="r")
    knn = target.startswith("knn:")
    options = JoinOptions(recall=float(target.removeprefix("knn:")))
    start = time.perf_counter()
    if knn:
        scores, indices, report = knn_join(vectors, 10, options)
        seconds = time.perf_counter() - start
        np.save(out, indices)
        np.save(out.with_suffix(".scores.npy"), scores)
    else:
        pairs, report = top_pairs(vectors, TOP, options)
        seconds = time.perf_counter() - start
        np.save(out, np.array([[p.i, p.j, p.score] for p in pairs], dtype=np.float64).reshape(-1, 3))
    with open("/proc/self/status") as status:  # this process's own peak
        peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, "path": report.path(), "estimate": report.recall,
            "sample_seconds": report.sample_seconds}


def measure(target: str, npy: Path, out: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--child", target, "--npy", str(npy), "--out", str(out)],
                          capture_output=True, text=True, timeout=7200)
    if done.returncode:
        raise SystemExit(f"{target} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def reference_pairs(npy: Path, labels: np.ndarray) -> np.ndarray:
    """The exact top pairs, computed within each cluster: (score) of the TOP best, descending."""
    vectors = np.load(npy, mmap_mode="r")
    best = np.zeros(0, np.float32)
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        if len(members) > 1:
            found, _ = top_pairs(np.ascontiguousarray(vectors[members]), TOP, JoinOptions(exact=True))
            best = np.sort(np.concatenate([best, [p.score for p in found]]))[::-1][:TOP]
    return best


def reference_knn(npy: Path, rows: np.ndarray) -> np.ndarray:
    """The exact 10th-best score of `rows` (the row itself left out)."""
    vectors = np.load(npy, mmap_mode="r")
    scores, indices, _ = cross_knn(np.ascontiguousarray(vectors[rows]), vectors, 11, options=JoinOptions(exact=True))
    keep = indices != rows[:, None]
    return np.array([s[k][:10][-1] for s, k in zip(scores, keep, strict=True)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--targets", default="0,0.95,0.99,0.999", help="recall targets; 0 = the old fixed nprobe")
    parser.add_argument("--knn-targets", default="0,0.99", help="recall targets of the kNN graph ('' for none)")
    parser.add_argument("--scratch", type=Path, default=None, help="where the .npy goes (default: a temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.npy, args.out)))
        return
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        npy, labels = Path(scratch) / "v.npy", Path(scratch) / "labels.npy"
        began = time.perf_counter()
        write_clustered_npy(str(npy), args.size, args.dim, seed=0, planted=PLANTED, uneven=UNEVEN,
                            labels_path=str(labels))
        vectors_mb = args.size * args.dim * 4 / 2**20
        note(f"N={args.size:,} d={args.dim}: vectors written in {time.perf_counter() - began:.1f} s, "
             f"{vectors_mb:.0f} MB")
        began = time.perf_counter()
        kth = reference_pairs(npy, np.load(labels))[-1]
        rows = np.sort(np.random.default_rng(99).choice(args.size, 1000, replace=False))
        knn_kth = reference_knn(npy, rows) if args.knn_targets else None
        note(f"references in {time.perf_counter() - began:.1f} s; the 1,000th pair scores {kth:.4f}")
        print(f"## {args.size:,} x {args.dim} clustered vectors of uneven tightness and size ({PLANTED} planted "
              f"near-duplicate pairs, memory-mapped, {os.cpu_count()} cores)")
        print("| answer | recall target | path | recall vs exact | estimate | time (s) | of which sample (s) "
              "| peak RSS (MB) |")
        print("|---|---|---|---|---|---|---|---|")
        jobs = args.targets.split(",") + [f"knn:{t}" for t in args.knn_targets.split(",") if t]
        for target in jobs:
            out = Path(scratch) / f"{target}.npy"
            got = measure(target, npy, out)
            note(f"{target}: {got}")
            if target.startswith("knn:"):
                found = np.load(out.with_suffix(".scores.npy"))[rows]
                assert knn_kth is not None
                recall = float(np.mean(np.count_nonzero(found >= knn_kth[:, None] - 1e-5, axis=1) / 10))
                what = "kNN k=10"
            else:
                recall = float(np.count_nonzero(np.load(out)[:, 2] >= kth - 1e-5)) / TOP
                what = f"top-{TOP} pairs"
            value = float(target.removeprefix("knn:"))
            estimate = "-" if got["estimate"] is None else f"{got['estimate']:.4f}"
            print(f"| {what} | {'fixed (today)' if value == 0 else value} | {str(got['path']).split(', recall')[0]} "
                  f"| {recall:.4f} | {estimate} | {got['seconds']:.1f} | {got['sample_seconds']:.1f} "
                  f"| {got['peak_mb']:.0f} |", flush=True)


def note(text: str) -> None:
    print(f"<!-- {text} -->", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
