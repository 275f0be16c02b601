"""Duplicate decisions that outlive a run: "not a duplicate" pairs (kept by the store, by content
hash) are never crossed, and the groups of the last `duplicates` run are remembered in the store so
a person can name one by the id it printed (`distinct --group N`)."""

from __future__ import annotations

import json

from ..errors import InvalidArgumentError
from ..store.base import VectorStore

LAST_GROUPS_KEY = "last_duplicate_groups"


def is_distinct(pairs: set[tuple[str, str]], a: str, b: str) -> bool:
    """Whether the contents `a` and `b` were marked as not duplicates of each other."""
    return a != b and ((a, b) if a < b else (b, a)) in pairs


def remember_groups(store: VectorStore, groups: list[list[str]]) -> None:
    """Keep the content hashes of each group of this run (group id = position + 1)."""
    store.set_meta(LAST_GROUPS_KEY, json.dumps(groups))


def remembered_group(store: VectorStore, group: int) -> list[str]:
    """The content hashes of group `group` of the last `duplicates` run on this store."""
    saved = store.get_meta(LAST_GROUPS_KEY)
    try:
        groups = json.loads(saved) if saved else []
    except ValueError:
        groups = []  # unreadable: as if no run had saved groups
    if not 1 <= group <= len(groups):
        known = f"the last duplicates run listed groups 1-{len(groups)}" if groups else "no duplicates run saved groups"
        raise InvalidArgumentError(f"no duplicate group {group}: {known} in this library", argument="group")
    return [str(digest) for digest in groups[group - 1] if digest]
