"""Recall-target benchmark: the top-1000 pairs (and the kNN graph, k=10) of N clustered vectors of
uneven tightness and size (memory-mapped .npy, planted near-duplicate pairs), at the old fixed
nprobe (recall target 0) and at targets 0.95 / 0.99 / 0.999, each in its own subprocess (time, peak
RSS from VmHWM, the join's own estimate).

The data (`--hard`, the default) is the case that made the fixed search miss pairs: besides clusters
of spreads from tight to loose and log-normal sizes, a share of the points sits in large very tight
clusters (many cells each), and the noise around each centre spans a 64-dimensional subspace of
its own, as real embeddings vary along few directions. `--easy` is the older isotropic mixture.

True recall: top pairs against the exact top 1,000 by blocked exact FAISS flat search over all
N x N pairs (exact_pairs.py; cached under `--cache` and resumable, as it takes long at 10^6), or,
when that is not done (`--flat-truth 0`, or `--until` passed), the exact top 1,000 computed within
each generated cluster (pairs of two clusters score far below the cut-off in high dimension); kNN
against the exact neighbours of 1,000 random rows.

    python benchmarks/join_recall.py --size 200000 --dim 1280 --cache /work/bench-cache
    nice -n 10 python benchmarks/join_recall.py --size 1000000 --dim 768 --cache /work/bench-cache
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

sys.path.insert(0, str(Path(__file__).parent))  # exact_pairs beside this script

from lookalike.evaluation.synthetic import write_clustered_npy  # noqa: E402
from lookalike.join import JoinOptions, cross_knn, knn_join, top_pairs  # noqa: E402

TOP = 1000
PLANTED = 300
UNEVEN = (0.5, 2.0)  # cluster spreads from tight to loose (sizes log-normal)
TIGHT = (0.15, 12_000, 0.45)  # --hard: 15% of the points in clusters of 12,000 at spread 0.45
INTRINSIC = 64  # --hard: the noise around each centre spans this many dimensions


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
    """The exact top pairs computed within each cluster: (TOP, 3) rows (i, j, score), best first."""
    vectors = np.load(npy, mmap_mode="r")
    best = np.zeros((0, 3))
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        if len(members) > 1:
            found, _ = top_pairs(np.ascontiguousarray(vectors[members]), TOP, JoinOptions(exact=True))
            got = np.array([[members[p.i], members[p.j], p.score] for p in found], dtype=np.float64)
            best = np.vstack([best, got])
            best = best[np.argsort(-best[:, 2], kind="stable")][:TOP]
    return best


def reference_knn(npy: Path, rows: np.ndarray) -> np.ndarray:
    """The exact 10th-best score of `rows` (the row itself left out)."""
    vectors = np.load(npy, mmap_mode="r")
    scores, indices, _ = cross_knn(np.ascontiguousarray(vectors[rows]), vectors, 11, options=JoinOptions(exact=True))
    keep = indices != rows[:, None]
    return np.array([s[k][:10][-1] for s, k in zip(scores, keep, strict=True)])


def data(args: argparse.Namespace, scratch: Path) -> tuple[Path, Path]:
    """The vectors and their cluster labels, generated once per (kind, size, dim) under `scratch`."""
    kind = "hard" if args.hard else "easy"
    npy, labels = scratch / f"{kind}-{args.size}x{args.dim}.npy", scratch / f"{kind}-{args.size}x{args.dim}-labels.npy"
    if npy.exists() and labels.exists():
        return npy, labels
    began = time.perf_counter()
    more = {"tight": TIGHT, "intrinsic": INTRINSIC} if args.hard else {}
    write_clustered_npy(str(npy) + ".part.npy", args.size, args.dim, seed=0, planted=PLANTED, uneven=UNEVEN,
                        labels_path=str(labels), **more)  # type: ignore[arg-type]
    os.replace(str(npy) + ".part.npy", npy)
    note(f"N={args.size:,} d={args.dim} ({kind}): vectors written in {time.perf_counter() - began:.1f} s, "
         f"{args.size * args.dim * 4 / 2**20:.0f} MB")
    return npy, labels


def truth(args: argparse.Namespace, npy: Path, labels: Path, scratch: Path) -> tuple[np.ndarray, str]:
    """The exact top TOP pairs: by flat search when it is (or gets) done, else within clusters."""
    from exact_pairs import exact_top_pairs

    began = time.perf_counter()
    within = reference_pairs(npy, np.load(labels))
    note(f"within-cluster reference in {time.perf_counter() - began:.1f} s; its {TOP:,}th pair scores "
         f"{within[-1, 2]:.4f}")
    if not args.flat_truth:
        return within, "exact within each cluster"
    began = time.perf_counter()
    flat = exact_top_pairs(npy, float(within[-1, 2]) - 1e-4, TOP, scratch / f"{npy.stem}-flat", deadline=args.until)
    if flat is None:
        return within, "exact within each cluster (the flat search did not finish; rerun to resume it)"
    same = len({(int(i), int(j)) for i, j, _ in within} & {(int(i), int(j)) for i, j, _ in flat})
    note(f"flat exact top pairs in {time.perf_counter() - began:.1f} s; {same} of {TOP} also within clusters")
    return flat, f"exact flat search over all pairs ({same:,} of {TOP:,} agree with the within-cluster answer)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--targets", default="0,0.95,0.99,0.999", help="recall targets; 0 = the old fixed nprobe")
    parser.add_argument("--knn-targets", default="0,0.99", help="recall targets of the kNN graph ('' for none)")
    parser.add_argument("--hard", action=argparse.BooleanOptionalAction, default=True,
                        help="large very tight clusters, low-dimensional noise (--no-hard: isotropic mixture)")
    parser.add_argument("--flat-truth", type=int, default=1, help="1: exact flat search over all pairs")
    parser.add_argument("--until", type=float, default=None, help="Unix time to stop the flat search (resumable)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the data and truth here (default: temp)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.npy, args.out)))
        return
    with tempfile.TemporaryDirectory(dir=args.cache) as temp:
        scratch = args.cache or Path(temp)
        npy, labels = data(args, scratch)
        exact, how = truth(args, npy, labels, scratch)
        kth, wanted = exact[-1, 2], {(int(i), int(j)) for i, j, _ in exact}
        rows = np.sort(np.random.default_rng(99).choice(args.size, 1000, replace=False))
        knn_kth = reference_knn(npy, rows) if args.knn_targets else None
        print(f"## {args.size:,} x {args.dim} clustered vectors of uneven tightness and size "
              f"({'hard: large very tight clusters, 64-d noise, ' if args.hard else ''}{PLANTED} planted "
              f"near-duplicate pairs, memory-mapped, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})\n")
        print(f"Truth: {how}; the {TOP:,}th pair scores {kth:.4f}.\n")
        print("| answer | recall target | path | recall vs exact | estimate | time (s) | of which sample (s) "
              "| peak RSS (MB) |")
        print("|---|---|---|---|---|---|---|---|")
        jobs = [t for t in args.targets.split(",") if t] + [f"knn:{t}" for t in args.knn_targets.split(",") if t]
        for target in jobs:
            out = Path(temp) / f"{target}.npy"
            got = measure(target, npy, out)
            note(f"{target}: {got} (load {os.getloadavg()[0]:.1f})")
            if target.startswith("knn:"):
                found = np.load(out.with_suffix(".scores.npy"))[rows]
                assert knn_kth is not None
                recall = float(np.mean(np.count_nonzero(found >= knn_kth[:, None] - 1e-5, axis=1) / 10))
                what = "kNN k=10"
            else:
                pairs = np.load(out)
                recall = sum(1 for i, j, score in pairs if (int(i), int(j)) in wanted or score >= kth - 1e-5) / TOP
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
