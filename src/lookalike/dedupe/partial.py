"""Groups as they are found, for a caller that shows them while a `duplicates` run goes on: exact copies
(same content hash) as soon as the hashes are known, then near copies as the photo-level check
confirms candidates, a chunk of pairs at a time. They are provisional: connected components over the
pairs confirmed so far (the check against each group's keeper and the similar groups come with the
final answer), never crossing a "not a duplicate" decision, each with its suggested keeper (a
person's choice first). Memory: one union-find over the files plus the confirmed pairs (at most
N x k); a listener asks for the groups (`groups(limit)`) only when it wants to show them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..types import DuplicateGroup
from .groups import Link, UnionFind, exact_edges, make_group
from .keepers import FileFacts, Preferred, file_facts

Found = Callable[["PartialGroups"], None]
"""Hears the groups found so far, after the hashes and after each chunk of checked pairs."""


class PartialGroups:
    """The groups found so far among `paths` (content `hashes`, same order)."""

    def __init__(self, paths: list[Path], hashes: list[str], distinct: set[tuple[str, str]] | None = None,
                 keep: str = "best", preferred: Preferred | None = None,
                 facts: Callable[[Path], FileFacts] = file_facts) -> None:
        self.paths, self.hashes, self.keep, self.preferred, self.read_facts = paths, hashes, keep, preferred, facts
        self.sets = UnionFind(len(paths), hashes, distinct or set())
        self.links: list[Link] = []
        self.phase = "exact"  # then "near" once candidates are being checked
        self.confirmed = 0  # near pairs confirmed so far
        self._facts: dict[int, FileFacts] = {}
        exact = exact_edges(hashes)
        for a, b in zip(exact.i.tolist(), exact.j.tolist(), strict=True):
            if self.sets.union(a, b):
                self.links.append((a, b, "exact", 1.0, None))

    def confirm(self, i: np.ndarray, j: np.ndarray, ok: np.ndarray, inliers: np.ndarray,
                scores: np.ndarray) -> None:
        """Checked pairs (i[e], j[e]): the confirmed ones join their groups (unless marked distinct)."""
        self.phase = "near"
        for e in np.flatnonzero(np.asarray(ok, bool)).tolist():
            a, b = int(i[e]), int(j[e])
            if self.sets.find(a) != self.sets.find(b) and self.sets.union(a, b):
                self.links.append((a, b, "near", float(scores[e]), int(inliers[e])))
                self.confirmed += 1

    def count(self) -> int:
        """How many groups there are so far."""
        return sum(1 for members in self.sets.members.values() if len(members) > 1)

    def groups(self, limit: int | None = None) -> list[DuplicateGroup]:
        """The groups so far, largest first (at most `limit`), numbered from 1 in that order."""
        found = sorted((members for members in self.sets.members.values() if len(members) > 1),
                       key=lambda members: (-len(members), min(str(self.paths[m]) for m in members)))
        chosen = found if limit is None else found[:limit]
        roots = {self.sets.find(members[0]): n for n, members in enumerate(chosen)}
        links: list[list[Link]] = [[] for _ in chosen]
        for link in self.links:
            if (n := roots.get(self.sets.find(link[0]))) is not None:
                links[n].append(link)
        return [make_group(number, members, own, self.paths, self.hashes, self._facts_of, self.keep, self.preferred)
                for number, (members, own) in enumerate(zip(chosen, links, strict=True), 1)]

    def _facts_of(self, position: int) -> FileFacts:
        if position not in self._facts:
            self._facts[position] = self.read_facts(self.paths[position])
        return self._facts[position]
