"""The exact top pairs of a memory-mapped .npy of unit vectors by blocked exact FAISS flat search:
every (row block, column block) with column block >= row block is one range search (inner product
above `floor`) of the row block against a flat index of the column block, so memory stays at two
blocks whatever N is. Each block pair's hits go to their own file under `--cache`, so an
interrupted run resumes where it stopped; the answer (the `--top` best pairs, i < j, best first)
is written to `<cache>/top<TOP>.npy` as rows (i, j, score).

`floor` must be at most the true `top`-th best score: the `top`-th best of any `top` real pairs is
(join_recall.py passes the within-cluster answer's), so every true top pair is kept.

    nice -n 10 python benchmarks/exact_pairs.py --npy v.npy --floor 0.82 --cache /work/bench-cache/gt-1m
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

BLOCK = 50_000


def block_pair(vectors: np.ndarray, a: int, b: int, block: int, floor: float) -> np.ndarray:
    """(m, 3) float64 rows (i, j, score), i < j, of row block `a` against column block `b` scoring
    >= floor."""
    import faiss

    rows = np.ascontiguousarray(vectors[a * block : (a + 1) * block], dtype=np.float32)
    cols = np.ascontiguousarray(vectors[b * block : (b + 1) * block], dtype=np.float32)
    index = faiss.IndexFlatIP(cols.shape[1])
    index.add(cols)
    lims, scores, found = index.range_search(rows, float(np.nextafter(np.float32(floor), np.float32(-1))))
    i = np.repeat(np.arange(len(rows)), np.diff(lims).astype(np.int64)) + a * block
    j = found.astype(np.int64) + b * block
    keep = (i < j) & (scores >= np.float32(floor))
    return np.stack([i[keep], j[keep], scores[keep]], axis=1).astype(np.float64)


def exact_top_pairs(npy: Path, floor: float, top: int, cache: Path, block: int = BLOCK,
                    deadline: float | None = None) -> np.ndarray | None:
    """The exact top pairs (cached); None when `deadline` (time.time()) passed before the end."""
    answer = cache / f"top{top}.npy"
    if answer.exists():
        return np.load(answer)
    vectors = np.load(npy, mmap_mode="r")
    blocks = -(-len(vectors) // block)
    cache.mkdir(parents=True, exist_ok=True)
    todo = [(a, b) for a in range(blocks) for b in range(a, blocks)]
    began, done = time.perf_counter(), 0
    for a, b in todo:
        part = cache / f"floor{floor:.6f}-{block}-{a}-{b}.npy"
        if part.exists():
            continue
        if deadline is not None and time.time() > deadline:
            left = sum(1 for x, y in todo if not (cache / f"floor{floor:.6f}-{block}-{x}-{y}.npy").exists())
            print(f"stopped at the deadline: {left} of {len(todo)} block pairs left", file=sys.stderr)
            return None
        np.save(part, block_pair(vectors, a, b, block, floor))
        done += 1
        print(f"block pair {a},{b} ({done} this run, {time.perf_counter() - began:.0f} s)", file=sys.stderr,
              flush=True)
    hits = np.vstack([np.load(cache / f"floor{floor:.6f}-{block}-{a}-{b}.npy").reshape(-1, 3) for a, b in todo])
    order = np.lexsort((hits[:, 1], hits[:, 0], -hits[:, 2]))[:top]
    best = hits[order]
    np.save(answer, best)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npy", type=Path, required=True)
    parser.add_argument("--floor", type=float, required=True, help="at most the true top-th best score")
    parser.add_argument("--top", type=int, default=1000)
    parser.add_argument("--cache", type=Path, required=True, help="where block results and the answer go")
    parser.add_argument("--block", type=int, default=BLOCK)
    parser.add_argument("--until", type=float, default=None, help="stop (resumable) after this Unix time")
    args = parser.parse_args()
    best = exact_top_pairs(args.npy, args.floor, args.top, args.cache, args.block, args.until)
    if best is None:
        raise SystemExit(1)
    print(f"{len(best)} pairs, the {args.top}-th scores {best[-1, 2]:.6f}")


if __name__ == "__main__":
    main()
