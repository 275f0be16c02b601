""""Not a duplicate" memory: pairs of files a person marked as distinct, stored in the library's
catalog by content hash so the decision survives moves, renames and re-indexing; and the groups of
the last `duplicates` run, so a person can name one by the id it printed."""

from __future__ import annotations

import json

from ..errors import InvalidArgumentError
from ..store.catalog import Catalog

LAST_GROUPS_KEY = "last_duplicate_groups"


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def record_distinct(catalog: Catalog, hashes: list[str]) -> int:
    """Mark every pair among `hashes` as distinct; returns how many pairs were new."""
    unique = sorted(set(hashes))
    pairs = [(a, b) for position, a in enumerate(unique) for b in unique[position + 1 :]]
    with catalog.transaction():
        before = catalog.db.total_changes
        catalog.db.executemany("INSERT OR IGNORE INTO distinct_pairs(hash_a, hash_b) VALUES (?, ?)", pairs)
        return catalog.db.total_changes - before


def distinct_pairs(catalog: Catalog) -> set[tuple[str, str]]:
    """Every recorded (hash_a, hash_b), hash_a < hash_b."""
    return {(str(a), str(b)) for a, b in catalog.db.execute("SELECT hash_a, hash_b FROM distinct_pairs")}


def is_distinct(pairs: set[tuple[str, str]], a: str, b: str) -> bool:
    return a != b and _ordered(a, b) in pairs


def remember_groups(catalog: Catalog, groups: list[list[str]]) -> None:
    """Keep the content hashes of each group of this run (group id = position + 1)."""
    with catalog.transaction():
        catalog.set_meta(LAST_GROUPS_KEY, json.dumps(groups))


def remembered_group(catalog: Catalog, group: int) -> list[str]:
    """The content hashes of group `group` of the last `duplicates` run on this library."""
    saved = catalog.get_meta(LAST_GROUPS_KEY)
    try:
        groups = json.loads(saved) if saved else []
    except ValueError:
        groups = []  # unreadable: as if no run had saved groups
    if not 1 <= group <= len(groups):
        known = f"the last duplicates run listed groups 1-{len(groups)}" if groups else "no duplicates run saved groups"
        raise InvalidArgumentError(f"no duplicate group {group}: {known} in this library", argument="group")
    return [str(digest) for digest in groups[group - 1] if digest]
