"""The duplicate engine: exact copies by content hash, near copies from candidate edges (accepted
above the model's accept threshold, geometrically verified in between, or every one with `verify`),
similar pairs on request; "not a duplicate" decisions are never crossed; each group gets a keeper.

Groups are grown by union-find over the edges strongest first (exact, then near, then similar, each
by score); a union that would put two files marked distinct into one group is refused, so such a
group splits where its weakest link was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..types import DEFAULT_MIN_INLIERS, KIND_ORDER, DuplicateEdge, DuplicateGroup, GroupingStats, Thresholds
from .decisions import is_distinct
from .edges import Edges, undirected_max
from .keepers import FileFacts, choose_keeper, file_facts

Link = tuple[int, int, str, float, int | None]


class _UnionFind:
    def __init__(self, n: int, hashes: list[str], distinct: set[tuple[str, str]]) -> None:
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.hashes = hashes
        self.distinct = distinct
        self.marked = {h for pair in distinct for h in pair}

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        """Join the groups of a and b unless that puts a distinct-marked pair together."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        left = [self.hashes[m] for m in self.members[ra] if self.hashes[m] in self.marked]
        right = [self.hashes[m] for m in self.members[rb] if self.hashes[m] in self.marked]
        if any(is_distinct(self.distinct, x, y) for x in left for y in right):
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))
        return True


def exact_edges(hashes: list[str]) -> Edges:
    """Files with the same content hash, linked in a chain per hash."""
    by_hash: dict[str, list[int]] = {}
    for position, digest in enumerate(hashes):
        if digest:
            by_hash.setdefault(digest, []).append(position)
    rows = [m for members in by_hash.values() for m in members[:-1]]
    cols = [m for members in by_hash.values() for m in members[1:]]
    return undirected_max(np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.ones(len(rows), np.float32))


Verify = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, int, float]]


def classify_edges(candidates: Edges, thresholds: Thresholds, verify: Verify | None, min_inliers: int,
                   stats: GroupingStats) -> list[Link]:
    """Each candidate as (i, j, kind, score, inliers), or dropped: accepted unchecked at `accept`
    (unless every edge is verified), else near when the check confirms it, else similar or dropped."""
    stats.candidates = len(candidates)
    check = np.ones(len(candidates), bool) if thresholds.verify_all else candidates.score < thresholds.accept
    if verify is None:
        check[:] = False
    inliers = np.full(len(candidates), -2, np.int64)
    if check.any() and verify is not None:
        counts, images, seconds = verify(candidates.i[check], candidates.j[check])
        inliers[check] = counts
        stats.checked, stats.check_images, stats.check_seconds = int(check.sum()), images, seconds
    kept: list[Link] = []
    for e in range(len(candidates)):
        score = float(candidates.score[e])
        count = int(inliers[e])
        checked = count != -2
        if checked and count >= min_inliers:
            kind = "near"
            stats.confirmed += 1
        elif not checked and score >= thresholds.accept:
            kind = "near"
            stats.accepted += 1
        elif not checked and verify is None and score >= thresholds.candidate:
            kind = "near"  # no checker: the threshold alone decides
            stats.accepted += 1
        elif thresholds.similar is not None and score >= thresholds.similar:
            kind = "similar"
            stats.rejected += checked
        else:
            stats.rejected += checked
            continue
        kept.append((int(candidates.i[e]), int(candidates.j[e]), kind, score, count if checked else None))
    return kept


def build_groups(paths: list[Path], hashes: list[str], candidates: Edges, thresholds: Thresholds,
                 verify: Verify | None = None, min_inliers: int = DEFAULT_MIN_INLIERS,
                 distinct: set[tuple[str, str]] | None = None,
                 keep: str = "best", facts: Callable[[Path], FileFacts] = file_facts,
                 ) -> tuple[list[DuplicateGroup], GroupingStats]:
    """Duplicate groups of `paths`, largest first, each with its links and suggested keeper."""
    stats = GroupingStats()
    exact = exact_edges(hashes)
    same_bytes = {(int(a), int(b)) for a, b in zip(exact.i, exact.j, strict=True)}
    fresh = np.asarray([(int(a), int(b)) not in same_bytes for a, b in zip(candidates.i, candidates.j, strict=True)],
                       dtype=bool)
    pending = Edges(candidates.i[fresh], candidates.j[fresh], candidates.score[fresh]) if len(fresh) else candidates
    links: list[Link] = [(int(a), int(b), "exact", 1.0, None) for a, b in zip(exact.i, exact.j, strict=True)]
    links += classify_edges(pending, thresholds, verify, min_inliers, stats)
    links.sort(key=lambda link: (KIND_ORDER[link[2]], -link[3], link[0], link[1]))
    groups = _UnionFind(len(paths), hashes, distinct or set())
    joined: list[Link] = []
    for link in links:
        if groups.union(link[0], link[1]):
            joined.append(link)
        else:
            stats.refused_distinct += 1
    by_root: dict[int, list[Link]] = {}
    for link in joined:
        by_root.setdefault(groups.find(link[0]), []).append(link)
    result = []
    for root, group_links in by_root.items():
        members = sorted(groups.members[root], key=lambda m: str(paths[m]))
        keeper = choose_keeper([facts(paths[m]) for m in members], keep).path
        edges = [DuplicateEdge(paths[a], paths[b], kind, score, inl) for a, b, kind, score, inl in group_links]
        result.append(DuplicateGroup(0, [paths[m] for m in members], keeper, edges,
                                     sorted({e.kind for e in edges}, key=KIND_ORDER.__getitem__),
                                     [hashes[m] for m in members]))
    result.sort(key=lambda g: (-len(g.members), str(g.members[0])))
    for number, group in enumerate(result, 1):
        group.id = number
    return result, stats
