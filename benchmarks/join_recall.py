"""Recall-target benchmark: the top-1000 pairs (and the kNN graph, k=10) of N clustered vectors of
uneven tightness and size (memory-mapped .npy, planted near-duplicate pairs), at the old fixed
nprobe (recall target 0) and at targets 0.95 / 0.99 / 0.999, each in its own subprocess (time, peak
RSS from VmHWM, the join's own estimate).

The data (`--hard`, the default) is the case that makes the fixed search miss pairs: clusters of
spreads from tight to loose and log-normal sizes drawn in 64 dimensions and turned into `--dim` by
a random rotation (real embeddings vary along few directions, so clusters overlap and a vector's
nearest neighbours can sit in cells far down its list). `--no-hard` is the older isotropic mixture
in full dimension, where every cluster stays apart and the fixed search finds every top pair.

True recall: top pairs against the exact top 1,000 by blocked exact FAISS flat search over all
N x N pairs (exact_pairs.py; cached under `--cache`, resumable). For the hard data it runs on the
64-d coordinates, whose inner products are the vectors' (checked on a sample), at 1/12 of the cost
at 768-d; otherwise on the vectors, or, when not done (`--flat-truth 0`, or `--until` passed),
within each generated cluster. kNN against the exact neighbours of 1,000 random rows.

    python benchmarks/join_recall.py --size 200000 --dim 1280 --cache /work/bench-cache
    nice -n 10 python benchmarks/join_recall.py --size 1000000 --dim 768 --cache /work/bench-cache
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
INTRINSIC = 64  # --hard: the dimensions the mixture is drawn in before its rotation into --dim
CLUSTER_SIZE = 2000  # --hard: points per cluster on average (larger than a cell of the join's partition)


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
    used = resource.getrusage(resource.RUSAGE_SELF)  # CPU seconds: comparable on a shared machine
    return {"seconds": seconds, "cpu_seconds": used.ru_utime + used.ru_stime, "peak_mb": peak_mb,
            "path": report.path(), "estimate": report.recall,
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


def data(args: argparse.Namespace, scratch: Path) -> tuple[Path, Path, Path | None]:
    """The vectors, their cluster labels and (hard) their 64-d coordinates, generated once per
    (kind, size, dim) under `scratch`."""
    kind = "hard" if args.hard else "easy"
    stem = scratch / f"{kind}-{args.size}x{args.dim}"
    npy, labels = Path(f"{stem}.npy"), Path(f"{stem}-labels.npy")
    coords = Path(f"{stem}-coords{INTRINSIC}.npy") if args.hard else None
    if npy.exists() and labels.exists():
        return npy, labels, coords
    began = time.perf_counter()
    more = {"intrinsic": INTRINSIC, "coords_path": str(coords), "clusters": max(1, args.size // CLUSTER_SIZE)} \
        if coords is not None else {}
    write_clustered_npy(f"{stem}.part.npy", args.size, args.dim, seed=0, planted=PLANTED, uneven=UNEVEN,
                        labels_path=str(labels), **more)  # type: ignore[arg-type]
    os.replace(f"{stem}.part.npy", npy)
    note(f"N={args.size:,} d={args.dim} ({kind}): vectors written in {time.perf_counter() - began:.1f} s, "
         f"{args.size * args.dim * 4 / 2**20:.0f} MB")
    return npy, labels, coords


def truth(args: argparse.Namespace, npy: Path, labels: Path, coords: Path | None,
          scratch: Path) -> tuple[np.ndarray, str]:
    """The exact top TOP pairs by blocked flat search over all pairs: of the 64-d coordinates for the
    hard data (the same inner products as the vectors, checked on a sample), else of the vectors,
    or else (not finished, or `--flat-truth 0`) within each cluster."""
    from exact_pairs import exact_top_pairs

    source = coords or npy
    cached = scratch / f"{source.stem}-flat" / f"top{TOP}.npy"
    if args.flat_truth and cached.exists():
        where = f" of the {INTRINSIC}-d coordinates" if coords else ""
        return np.load(cached), f"exact flat search over all pairs{where}"
    began = time.perf_counter()
    if coords is not None:
        vectors, low = np.load(npy, mmap_mode="r"), np.load(coords, mmap_mode="r")
        rows = np.sort(np.random.default_rng(5).choice(len(low), 200, replace=False))
        cols = np.arange(min(len(low), 50_000))
        error = float(np.abs(np.asarray(vectors[rows]) @ np.asarray(vectors[cols]).T
                             - np.asarray(low[rows]) @ np.asarray(low[cols]).T).max())
        note(f"inner products of the {args.dim}-d vectors and their {INTRINSIC}-d coordinates differ by at most "
             f"{error:.1e}")
        head, _ = top_pairs(np.ascontiguousarray(low[: min(len(low), 50_000)]), TOP, JoinOptions(exact=True))
        floor, within, how = head[-1].score, None, f"exact flat search over all pairs of the {INTRINSIC}-d coordinates"
    else:
        within = reference_pairs(npy, np.load(labels))
        floor, how = float(within[-1, 2]), "exact flat search over all pairs"
    note(f"floor for the flat search {floor:.4f} ({time.perf_counter() - began:.1f} s)")
    flat = None
    if args.flat_truth:
        began = time.perf_counter()
        flat = exact_top_pairs(source, floor - 1e-4, TOP, scratch / f"{source.stem}-flat", deadline=args.until)
        note(f"flat search {'done' if flat is not None else 'stopped'} in {time.perf_counter() - began:.1f} s")
    if flat is not None:
        return flat, how
    if within is None:
        raise SystemExit("no exact answer yet: rerun to resume the flat search")
    return within, "exact within each cluster (the flat search is not done)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--targets", default="0,0.95,0.99,0.999", help="recall targets; 0 = the old fixed nprobe")
    parser.add_argument("--knn-targets", default="0,0.99", help="recall targets of the kNN graph ('' for none)")
    parser.add_argument("--hard", action=argparse.BooleanOptionalAction, default=True,
                        help="drawn in 64-d and rotated (--no-hard: the isotropic mixture in full dimension)")
    parser.add_argument("--flat-truth", type=int, default=1, help="1: exact flat search over all pairs")
    parser.add_argument("--until", type=float, default=None, help="Unix time to stop the flat search (resumable)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the data, the joins' results and the truth here, reused by a rerun (default: temp)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.npy, args.out)))
        return
    with tempfile.TemporaryDirectory(dir=args.cache) as temp:
        scratch = args.cache or Path(temp)
        npy, labels, coords = data(args, scratch)
        results = scratch / f"{npy.stem}-joins" if args.cache else Path(temp)
        results.mkdir(exist_ok=True)
        jobs = [t for t in args.targets.split(",") if t] + [f"knn:{t}" for t in args.knn_targets.split(",") if t]
        measured = {}
        for target in jobs:  # the joins first (kept under --cache): the flat search may stop at --until
            out, saved = results / f"{target}.npy", results / f"{target}.json"
            if not saved.exists():
                got = measure(target, npy, out)
                got["load"] = os.getloadavg()[0]
                saved.write_text(json.dumps(got))
                note(f"{target}: {got}")
            measured[target] = json.loads(saved.read_text())
        exact, how = truth(args, npy, labels, coords, scratch)
        kth, wanted = exact[-1, 2], {(int(i), int(j)) for i, j, _ in exact}
        rows = np.sort(np.random.default_rng(99).choice(args.size, 1000, replace=False))
        knn_kth = reference_knn(npy, rows) if args.knn_targets else None
        print(f"## {args.size:,} x {args.dim} clustered vectors of uneven tightness and size "
              f"({'hard: drawn in 64-d and rotated, ' if args.hard else ''}{PLANTED} planted "
              f"near-duplicate pairs, memory-mapped, {os.cpu_count()} cores)\n")
        print(f"Truth: {how}; the {TOP:,}th pair scores {kth:.4f}.\n")
        print("| answer | recall target | path | recall vs exact | estimate | CPU (s) | time (s) | of which sample (s) "
              "| peak RSS (MB) | load |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for target in jobs:
            got, out = measured[target], results / f"{target}.npy"
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
                  f"| {recall:.4f} | {estimate} | {got.get('cpu_seconds', float('nan')):.1f} | {got['seconds']:.1f} "
                  f"| {got['sample_seconds']:.1f} "
                  f"| {got['peak_mb']:.0f} | {got['load']:.1f} |", flush=True)


def note(text: str) -> None:
    print(f"<!-- {text} -->", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
