"""Library answers (matches, pairs, groups) turned into the API's shapes, with ids, relative paths
and sizes from the catalog."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..query import Match, Pair
from .context import WebContext
from .schemas import ImageOut, MatchOut, PairOut


def images(context: WebContext, ids: Iterable[int]) -> dict[int, ImageOut]:
    """The facts of these ids (ids no longer in the library are absent)."""
    stored = context.library.files(list(dict.fromkeys(ids)))
    return {i: ImageOut(id=i, path=context.relative(f.path), width=f.width, height=f.height)
            for i, f in stored.items()}


def matches(context: WebContext, found: Sequence[Match]) -> list[MatchOut]:
    """Hits with their facts; a hit whose file left the library since the search is dropped."""
    facts = images(context, (m.id for m in found if m.id is not None))
    return [MatchOut(**facts[m.id].model_dump(), score=round(m.score, 6)) for m in found
            if m.id is not None and m.id in facts]


def ids_of(context: WebContext, paths: Iterable[Path]) -> dict[Path, int]:
    """Catalog ids of library files given by path (files no longer indexed are absent)."""
    found: dict[Path, int] = {}
    for path in dict.fromkeys(paths):
        row = context.library.catalog.row_for_path(Path(path).relative_to(context.library.root).as_posix())
        if row is not None and row.status == "indexed":
            found[path] = row.id
    return found


def pairs(context: WebContext, found: Sequence[Pair]) -> list[PairOut]:
    ids = ids_of(context, [p.a for p in found] + [p.b for p in found])
    facts = images(context, ids.values())
    out = []
    for pair in found:
        a, b = ids.get(pair.a), ids.get(pair.b)
        if a in facts and b in facts:
            out.append(PairOut(a=facts[a], b=facts[b], score=round(pair.score, 6)))
    return out


def groups(context: WebContext, found: Sequence[Sequence[Path]]) -> list[list[ImageOut]]:
    ids = ids_of(context, [path for group in found for path in group])
    facts = images(context, ids.values())
    out = []
    for group in found:
        members = [facts[ids[p]] for p in group if p in ids and ids[p] in facts]
        if len(members) > 1:
            out.append(members)
    return out
