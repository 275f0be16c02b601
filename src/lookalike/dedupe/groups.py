"""The duplicate engine: exact copies by content hash, near copies from candidate edges that the
photo-level check confirmed (every one: a score alone never makes a duplicate), similar pairs on
request; "not a duplicate" decisions are never crossed; each group gets a keeper.

Near groups are grown over the confirmed edges strongest first, and a join is made only when every
member of the joined group is confirmed against that group's keeper (checked on the spot when the
pair was no candidate): a chain A~B~C never puts two different photos A and C together. A union
that would put two files marked distinct into one group is refused. Without a checker (an explicit
threshold with no check) the threshold alone decides and groups are connected components, as before.
`similar` groups (when asked) gather near groups and images linked by unconfirmed candidates, split
into communities when larger than a cap (dedupe/similar.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..types import DEFAULT_MIN_INLIERS, KIND_ORDER, DuplicateEdge, DuplicateGroup, GroupingStats, Thresholds
from .decisions import is_distinct
from .edges import Edges, undirected_max
from .keepers import FileFacts, Preferred, choose_keeper, file_facts

Link = tuple[int, int, str, float, int | None]
UNCHECKED = -9  # inliers of a candidate that was not checked


class UnionFind:
    """Groups of positions that never hold a pair of contents marked distinct."""

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

    def allowed(self, ra: int, rb: int) -> bool:
        """Whether groups ra and rb (roots) hold no pair marked distinct across them."""
        if not self.marked:  # nothing marked: no scan of the members (a long chain would cost N^2)
            return True
        left = [self.hashes[m] for m in self.members[ra] if self.hashes[m] in self.marked]
        right = [self.hashes[m] for m in self.members[rb] if self.hashes[m] in self.marked]
        return not any(is_distinct(self.distinct, x, y) for x in left for y in right)

    def union(self, a: int, b: int) -> bool:
        """Join the groups of a and b unless that puts a distinct-marked pair together."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if not self.allowed(ra, rb):
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


Verify = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(i, j) -> (confirmed per pair, inliers per pair): the photo-level check."""


def classify_edges(candidates: Edges, thresholds: Thresholds, verify: Verify | None, stats: GroupingStats,
                   max_checks: int | None = None) -> tuple[list[Link], list[Link]]:
    """(near links, other links) of the candidates, each link (i, j, kind, score, inliers). With a check,
    near means confirmed, and at most `max_checks` pairs are checked (the strongest; the rest count as
    unchecked); without one, a score at the candidate threshold decides. Other links are the
    candidates left, kind "similar" (kept only where `thresholds.similar` asks for them)."""
    stats.candidates = len(candidates)
    confirmed = np.zeros(len(candidates), bool)
    inliers = np.full(len(candidates), UNCHECKED, np.int64)
    if verify is None:
        confirmed = candidates.score >= thresholds.candidate
        stats.accepted = int(confirmed.sum())
    elif len(candidates):
        order = np.argsort(-candidates.score, kind="stable")
        chosen = order[: len(order) if max_checks is None else max(0, max_checks)]
        stats.unchecked = len(order) - len(chosen)
        found, counts = verify(candidates.i[chosen], candidates.j[chosen])
        confirmed[chosen], inliers[chosen] = found, counts
        stats.checked, stats.confirmed = len(chosen), int(found.sum())
        stats.rejected = len(chosen) - stats.confirmed
    near: list[Link] = []
    other: list[Link] = []
    for e in range(len(candidates)):
        count = None if inliers[e] == UNCHECKED else int(inliers[e])
        link = (int(candidates.i[e]), int(candidates.j[e]), "near" if confirmed[e] else "similar",
                float(candidates.score[e]), count)
        (near if confirmed[e] else other).append(link)
    return near, other


class _Grouper:
    """Near groups over confirmed links, each member confirmed against its group's keeper."""

    def __init__(self, paths: list[Path], hashes: list[str], verify: Verify | None, distinct: set[tuple[str, str]],
                 keep: str, facts: Callable[[Path], FileFacts], stats: GroupingStats,
                 preferred: Preferred | None = None) -> None:
        self.paths, self.hashes, self.verify, self.keep, self.stats = paths, hashes, verify, keep, stats
        self.preferred = preferred
        self.sets = UnionFind(len(paths), hashes, distinct)
        self._facts: dict[int, FileFacts] = {}
        self.read_facts = facts
        self.verdict: dict[tuple[str, str], tuple[bool, int]] = {}
        self.keeper_links: list[Link] = []

    def key(self, a: int, b: int) -> tuple[str, str]:
        x, y = self.hashes[a] or f"#{a}", self.hashes[b] or f"#{b}"
        return (x, y) if x < y else (y, x)

    def same_content(self, a: int, b: int) -> bool:
        return bool(self.hashes[a]) and self.hashes[a] == self.hashes[b]

    def keeper(self, members: list[int]) -> int:
        for m in members:
            if m not in self._facts:
                self._facts[m] = self.read_facts(self.paths[m])
        chosen = choose_keeper([self._facts[m] for m in members], self.keep, [self.hashes[m] for m in members],
                               self.preferred).path
        return next(m for m in members if self.paths[m] == chosen)

    def learn(self, links: list[Link]) -> None:
        for a, b, kind, _, inliers in links:
            self.verdict[self.key(a, b)] = (kind == "near", -1 if inliers is None else inliers)

    def join(self, link: Link) -> bool:
        """Join the groups of the link's ends when allowed and every member is the keeper's photo."""
        a, b = link[0], link[1]
        ra, rb = self.sets.find(a), self.sets.find(b)
        if ra == rb:
            return True
        if not self.sets.allowed(ra, rb):
            self.stats.refused_distinct += 1
            return False
        if self.verify is not None:
            members = self.sets.members[ra] + self.sets.members[rb]
            keeper = self.keeper(members)
            others = [m for m in members if not self.same_content(m, keeper)]
            unknown = sorted({m for m in others if self.key(m, keeper) not in self.verdict})
            if unknown:
                found, counts = self.verify(np.asarray(unknown, np.int64), np.full(len(unknown), keeper, np.int64))
                self.stats.keeper_checks += len(unknown)
                for m, ok, count in zip(unknown, found, counts, strict=True):
                    self.verdict[self.key(m, keeper)] = (bool(ok), int(count))
                    if ok:
                        self.keeper_links.append((m, keeper, "near", float("nan"), int(count)))
            if not all(self.verdict[self.key(m, keeper)][0] for m in others):
                self.stats.refused_keeper += 1
                return False
        self.sets.union(a, b)
        return True


def make_group(number: int, members: list[int], links: list[Link], paths: list[Path], hashes: list[str],
               facts_of: Callable[[int], FileFacts], keep: str, preferred: Preferred | None) -> DuplicateGroup:
    """One group of positions `members` (listed by path) with its `links` and suggested keeper."""
    members = sorted(members, key=lambda m: str(paths[m]))
    keeper = choose_keeper([facts_of(m) for m in members], keep, [hashes[m] for m in members], preferred).path
    edges = [DuplicateEdge(paths[a], paths[b], kind, score, inliers) for a, b, kind, score, inliers in links]
    return DuplicateGroup(number, [paths[m] for m in members], keeper, edges,
                          sorted({e.kind for e in edges}, key=KIND_ORDER.__getitem__), [hashes[m] for m in members])


def build_groups(paths: list[Path], hashes: list[str], candidates: Edges, thresholds: Thresholds,
                 verify: Verify | None = None, min_inliers: int = DEFAULT_MIN_INLIERS,
                 distinct: set[tuple[str, str]] | None = None,
                 keep: str = "best", facts: Callable[[Path], FileFacts] = file_facts,
                 vectors: np.ndarray | None = None, max_checks: int | None = None, similar_cap: int = 24,
                 preferred: Preferred | None = None) -> tuple[list[DuplicateGroup], GroupingStats]:
    """Duplicate groups of `paths`, largest first, each with its links and suggested keeper (a
    person's choice in `preferred` first, then the `keep` rule; members are checked against it).
    `min_inliers` is kept for callers of the old signature: `verify` decides what is confirmed.
    `vectors` give scores to keeper links that were no candidate."""
    del min_inliers
    stats = GroupingStats()
    exact = exact_edges(hashes)
    fresh = np.asarray([not (hashes[a] and hashes[a] == hashes[b]) for a, b in zip(candidates.i, candidates.j,
                                                                                   strict=True)], dtype=bool)
    pending = Edges(candidates.i[fresh], candidates.j[fresh], candidates.score[fresh]) if len(fresh) else candidates
    near, other = classify_edges(pending, thresholds, verify, stats, max_checks)
    grouper = _Grouper(paths, hashes, verify, distinct or set(), keep, facts, stats, preferred)
    grouper.learn(near + [link for link in other if link[4] is not None])
    joined: list[Link] = []
    same: list[Link] = [(int(a), int(b), "exact", 1.0, None) for a, b in zip(exact.i, exact.j, strict=True)]
    for link in same:
        grouper.sets.union(link[0], link[1])
        joined.append(link)
    refused: list[Link] = []
    for link in sorted(near, key=lambda link: (-link[3], link[0], link[1])):
        (joined if grouper.join(link) else refused).append(link)
    for a, b, kind, score, count in grouper.keeper_links:
        value = float(vectors[a] @ vectors[b]) if vectors is not None else score
        joined.append((a, b, kind, value, count))
    sets = grouper.sets
    clusters: dict[int, list[int]] = {root: list(members) for root, members in sets.members.items()}
    links_of: dict[int, list[Link]] = {}
    for link in joined:
        links_of.setdefault(sets.find(link[0]), []).append(link)
    if thresholds.similar is not None:
        clusters, links_of = _with_similar(sets, clusters, links_of, refused + other, thresholds.similar,
                                           similar_cap, stats)
    result = [make_group(0, clusters[root], group_links, paths, hashes,
                         lambda m: grouper._facts.get(m) or facts(paths[m]), keep, preferred)
              for root, group_links in links_of.items() if len(clusters[root]) >= 2]
    result.sort(key=lambda g: (-len(g.members), str(g.members[0])))
    for number, group in enumerate(result, 1):
        group.id = number
    return result, stats


def _with_similar(sets: UnionFind, clusters: dict[int, list[int]], links_of: dict[int, list[Link]],
                  candidates: list[Link], floor: float, cap: int, stats: GroupingStats,
                  ) -> tuple[dict[int, list[int]], dict[int, list[Link]]]:
    """Near groups and single images gathered into similar groups (capped, split into communities) by
    the candidates that were not joined, scoring at least `floor`."""
    from .similar import similar_components

    usable = [(a, b, score, count) for a, b, _, score, count in candidates
              if score >= floor and sets.find(a) != sets.find(b) and sets.allowed(sets.find(a), sets.find(b))]
    roots = sorted({sets.find(x) for a, b, _, _ in usable for x in (a, b)})
    node = {root: n for n, root in enumerate(roots)}
    pieces, stats.similar_split = similar_components(
        len(roots), [(node[sets.find(a)], node[sets.find(b)], score) for a, b, score, _ in usable],
        [len(clusters[root]) for root in roots], cap)
    for piece in pieces:
        members = [root for n in piece for root in [roots[n]]]
        head = members[0]
        inside = set(members)
        marked = [h for root in members for m in clusters[root] if (h := sets.hashes[m]) in sets.marked]
        if any(is_distinct(sets.distinct, x, y) for x in marked for y in marked):
            continue  # a "not a duplicate" decision inside: leave these apart
        merged = [m for root in members for m in clusters[root]]
        links = [link for root in members for link in links_of.pop(root, [])]
        links += [(a, b, "similar", score, count) for a, b, score, count in usable
                  if sets.find(a) in inside and sets.find(b) in inside]
        for root in members:
            clusters.pop(root, None)
        clusters[head] = merged
        links_of[head] = links
    return clusters, links_of
