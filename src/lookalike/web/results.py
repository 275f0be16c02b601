"""Library answers (matches, pairs, groups) turned into the API's shapes, with ids, relative paths
and sizes from the catalog."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..service.collections import ClusterReport, OutlierReport
from ..types import DuplicateGroup, Match, Pair
from .context import WebContext
from .schemas import (
    ClusterOut,
    ClustersOut,
    DuplicateGroupOut,
    DuplicateMemberOut,
    ImageOut,
    MatchOut,
    OutlierOut,
    OutliersOut,
    PairOut,
)

CLUSTER_MEMBERS_SHOWN = 48


def images(context: WebContext, ids: Iterable[int]) -> dict[int, ImageOut]:
    """The facts of these ids (ids no longer in the library are absent)."""
    stored = context.library.files(list(dict.fromkeys(ids)))
    return {i: ImageOut(id=i, path=context.relative(f.path), width=f.width, height=f.height)
            for i, f in stored.items()}


def matches(context: WebContext, found: Sequence[Match]) -> list[MatchOut]:
    """Hits with their facts; a hit whose file left the library since the search is dropped."""
    facts = images(context, (m.id for m in found if m.id is not None))
    return [MatchOut(**facts[m.id].model_dump(), score=round(m.score, 6), time=m.time) for m in found
            if m.id is not None and m.id in facts]


def ids_of(context: WebContext, paths: Iterable[Path]) -> dict[Path, int]:
    """Catalog ids of library files given by path (files no longer indexed are absent)."""
    found: dict[Path, int] = {}
    for path in dict.fromkeys(paths):
        file_id, _ = context.library.id_of(path)
        if file_id is not None:
            found[path] = file_id
    return found


def pairs(context: WebContext, found: Sequence[Pair]) -> list[PairOut]:
    ids = ids_of(context, [p.a for p in found] + [p.b for p in found])
    facts = images(context, ids.values())
    out = []
    for pair in found:
        a, b = ids.get(pair.a), ids.get(pair.b)
        if a in facts and b in facts:
            out.append(PairOut(a=facts[a], b=facts[b], score=round(pair.score, 6), a_time=pair.a_time,
                               b_time=pair.b_time))
    return out


def duplicate_groups(context: WebContext, found: Sequence[DuplicateGroup]) -> list[DuplicateGroupOut]:
    """Groups with each member's facts and strongest link; members that left the library are
    dropped, and so is a group left with fewer than two."""
    ids = ids_of(context, [path for group in found for path in group.members])
    facts = images(context, ids.values())
    out = []
    for group in found:
        links = group.member_links()
        members = []
        for path in group.members:
            if ids.get(path) not in facts:
                continue
            link = links.get(path)
            members.append(DuplicateMemberOut(
                **facts[ids[path]].model_dump(), kind=link.kind if link else group.kind(),
                score=round(link.score, 6) if link else 1.0, inliers=link.inliers if link else None,
                keeper=path == group.keeper))
        if len(members) > 1:
            out.append(DuplicateGroupOut(id=group.id, kind=group.kind(), members=members))
    return out


def clusters(context: WebContext, found: ClusterReport) -> ClustersOut:
    """Clusters with their representative and (at most CLUSTER_MEMBERS_SHOWN) members, by id."""
    shown = {c.number: c.members[:CLUSTER_MEMBERS_SHOWN] for c in found.clusters}
    ids = ids_of(context, [c.representative for c in found.clusters] + [p for paths in shown.values() for p in paths])
    facts = images(context, ids.values())
    out = []
    for cluster in found.clusters:
        head = facts.get(ids.get(cluster.representative, 0))
        if head is None:
            continue
        members = [facts[ids[p]] for p in shown[cluster.number] if ids.get(p) in facts]
        out.append(ClusterOut(number=cluster.number, size=cluster.size, representative=head, members=members))
    unclustered = sum(1 for member in found.members if member.cluster < 0)
    return ClustersOut(count=len(found.members), unclustered=unclustered, clusters=out)


def outliers(context: WebContext, found: OutlierReport, k: int) -> OutliersOut:
    """The most unusual images first, with their scores."""
    ids = ids_of(context, [o.path for o in found.outliers])
    facts = images(context, ids.values())
    return OutliersOut(k=k, outliers=[OutlierOut(**facts[ids[o.path]].model_dump(), score=round(o.score, 6))
                                      for o in found.outliers if ids.get(o.path) in facts])
