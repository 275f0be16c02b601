"""Duplicates when a store holds videos: a video has one vector per sampled frame, but groups are of
files. Candidate edges come from every frame (so a clip that was cut, re-encoded or resized meets its
original at the scenes they share, and a photo that is one of its frames meets that frame); pairs of
frames of one file are dropped and the rest are folded into one edge per pair of files, at its best
score."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..store.base import Snapshot
from .edges import Edges, undirected_max

EdgeSource = Callable[[np.ndarray, float, int], Edges]


def files_of(found: Snapshot) -> tuple[list[Path], list[str], np.ndarray, np.ndarray]:
    """(paths, hashes, one vector per file (its first row's), the file position of every row)."""
    position: dict[Path, int] = {}
    firsts: list[int] = []
    owners = np.empty(len(found), np.int64)
    for row, path in enumerate(found.paths):
        if path not in position:
            position[path] = len(firsts)
            firsts.append(row)
        owners[row] = position[path]
    return ([found.paths[r] for r in firsts], [found.hashes[r] for r in firsts], found.vectors[firsts], owners)


def frame_edge_source(source: EdgeSource, frames: np.ndarray, owners: np.ndarray) -> EdgeSource:
    """An edge source over files that asks `source` about every frame: each row proposes as many more
    candidates as the longest video has frames (its own frames would crowd the others out)."""
    extra = int(np.bincount(owners).max()) - 1 if len(owners) else 0

    def per_file(_vectors: np.ndarray, floor: float, k: int) -> Edges:
        edges = source(frames, floor, k + extra)
        return undirected_max(owners[edges.i], owners[edges.j], edges.score)

    return per_file
