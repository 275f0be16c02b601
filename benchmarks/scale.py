"""Beyond-one-machine benchmarks: synthetic inputs for `build-index` and for the top pairs of vectors
left on disk, and the pairs measurement itself (time and this process's peak RSS).

    python benchmarks/scale.py shards --count 1000000 --out /tmp/shards      # clustered 768-d, + sidecar
    lookalike build-index /tmp/shards --library /tmp/lib --memory 1GB         # timed from outside
    python benchmarks/scale.py npy --count 1000000 --out /tmp/v.npy
    python benchmarks/scale.py pairs /tmp/v.npy                               # DiskVectors (pread)
    python benchmarks/scale.py pairs /tmp/v.npy --mmap                        # np.memmap, for comparison

The Ray engine against the single process is timed on the CLI (see docs/results.md for the commands).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; before faiss loads

import numpy as np  # noqa: E402

from lookalike.embedders import EmbeddingSpec  # noqa: E402
from lookalike.evaluation.synthetic import write_clustered_npy  # noqa: E402
from lookalike.join import JoinOptions, top_pairs  # noqa: E402
from lookalike.join.sources import DiskVectors  # noqa: E402
from lookalike.scale.shards import write_shard, write_sidecar  # noqa: E402

TOP = 1000
SHARD_ROWS = 100_000


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_shards(count: int, dim: int, out: Path) -> None:
    """Clustered unit vectors as shards of SHARD_ROWS rows, written through a temporary .npy."""
    out.mkdir(parents=True, exist_ok=False)
    scratch = out.parent / f".{out.name}.npy"
    write_clustered_npy(str(scratch), count, dim=dim, seed=0)
    vectors = np.load(scratch, mmap_mode="r")
    for number, start in enumerate(range(0, count, SHARD_ROWS)):
        stop = min(start + SHARD_ROWS, count)
        rels = [f"synthetic/{i:09d}.jpg" for i in range(start, stop)]
        write_shard(out / f"part-{number:05d}.parquet", rels, np.asarray(vectors[start:stop]),
                    hashes=[f"{i:064x}" for i in range(start, stop)], sizes=[1] * (stop - start),
                    mtimes=[1] * (stop - start))
    del vectors
    scratch.unlink()
    spec = EmbeddingSpec(model=f"synthetic-{dim}", source="benchmark:clustered", dim=dim, preprocessing="none")
    (out.parent / "synthetic").mkdir(exist_ok=True)  # the folder the library says it indexes
    write_sidecar(out, spec, out.parent / "synthetic")


def pairs(path: Path, mmap: bool, budget_mb: int) -> dict[str, object]:
    vectors = np.load(path, mmap_mode="r") if mmap else DiskVectors(path)
    started = time.perf_counter()
    found, report = top_pairs(vectors, TOP, JoinOptions(budget=budget_mb * 2**20))
    return {"count": len(vectors), "dim": vectors.shape[1], "source": "memmap" if mmap else "pread",
            "seconds": round(time.perf_counter() - started, 1), "how": report.describe(),
            "best": round(found[0].score, 4), "last": round(found[-1].score, 4), "peak_rss_mb": round(peak_rss_mb()),
            "vectors_mb": round(len(vectors) * vectors.shape[1] * 4 / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="task", required=True)
    for name in ("shards", "npy"):
        made = sub.add_parser(name)
        made.add_argument("--count", type=int, required=True)
        made.add_argument("--dim", type=int, default=768)
        made.add_argument("--out", type=Path, required=True)
    measured = sub.add_parser("pairs")
    measured.add_argument("npy", type=Path)
    measured.add_argument("--mmap", action="store_true", help="np.memmap instead of DiskVectors")
    measured.add_argument("--budget-mb", type=int, default=256, help="the join's block budget")
    args = parser.parse_args()
    if args.task == "shards":
        make_shards(args.count, args.dim, args.out)
    elif args.task == "npy":
        write_clustered_npy(str(args.out), args.count, dim=args.dim, seed=0)
    else:
        print(json.dumps(pairs(args.npy, args.mmap, args.budget_mb)))


if __name__ == "__main__":
    main()
