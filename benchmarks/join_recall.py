"""Recall-target benchmark: the top-1000 pairs of N clustered vectors of uneven tightness and size
(memory-mapped .npy, planted near-duplicate pairs), at the old fixed nprobe (recall target 0) and at
targets 0.95 / 0.99 / 0.999, each in its own subprocess (time, peak RSS from VmHWM, the join's own
estimate), then the exact answer once for the true recall.

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
from lookalike.join import JoinOptions, top_pairs  # noqa: E402

TOP = 1000
PLANTED = 300
UNEVEN = (0.5, 2.0)  # cluster spreads from tight to loose (sizes log-normal)


def child(target: str, npy: Path, out: Path) -> dict[str, object]:
    """One join on the memory-mapped vectors; `target` "exact" or a recall target (0: fixed nprobe)."""
    vectors = np.load(npy, mmap_mode="r")
    options = JoinOptions(exact=True) if target == "exact" else JoinOptions(recall=float(target))
    start = time.perf_counter()
    pairs, report = top_pairs(vectors, TOP, options)
    seconds = time.perf_counter() - start
    np.save(out, np.array([[p.i, p.j] for p in pairs], dtype=np.int64).reshape(-1, 2))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--targets", default="0,0.95,0.99,0.999", help="recall targets; 0 = the old fixed nprobe")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact answer (recall not measured)")
    parser.add_argument("--scratch", type=Path, default=None, help="where the .npy goes (default: a temp dir)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.npy, args.out)))
        return
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        npy = Path(scratch) / "v.npy"
        began = time.perf_counter()
        write_clustered_npy(str(npy), args.size, args.dim, seed=0, planted=PLANTED, uneven=UNEVEN)
        vectors_mb = args.size * args.dim * 4 / 2**20
        print(f"<!-- N={args.size:,} d={args.dim}: vectors written in {time.perf_counter() - began:.1f} s, "
              f"{vectors_mb:.0f} MB -->", file=sys.stderr, flush=True)
        runs = {}
        for target in args.targets.split(","):
            runs[target] = measure(target, npy, Path(scratch) / f"{target}.npy")
            print(f"<!-- {target}: {runs[target]} -->", file=sys.stderr, flush=True)
        truth = None
        if not args.no_exact:
            exact = measure("exact", npy, Path(scratch) / "exact.npy")
            truth = {(int(a), int(b)) for a, b in np.load(Path(scratch) / "exact.npy")}
            print(f"<!-- exact: {exact} -->", file=sys.stderr, flush=True)
        print(f"## top-{TOP} pairs, {args.size:,} x {args.dim} clustered vectors of uneven tightness "
              f"({PLANTED} planted near-duplicate pairs, {os.cpu_count()} cores)")
        print("| recall target | path | recall vs exact | estimate | time (s) | sample (s) | peak RSS (MB) |")
        print("|---|---|---|---|---|---|---|")
        for target, got in runs.items():
            found = {(int(a), int(b)) for a, b in np.load(Path(scratch) / f"{target}.npy")}
            recall = f"{len(found & truth) / len(truth):.4f}" if truth else "not measured"
            estimate = "-" if got["estimate"] is None else f"{got['estimate']:.4f}"
            print(f"| {'fixed (today)' if float(target) == 0 else target} | {str(got['path']).split(', recall')[0]} "
                  f"| {recall} | {estimate} | {got['seconds']:.1f} | {got['sample_seconds']:.1f} "
                  f"| {got['peak_mb']:.0f} |", flush=True)
        if truth:
            print(f"| exact | exact join | 1.0000 | - | {exact['seconds']:.1f} | - | {exact['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
