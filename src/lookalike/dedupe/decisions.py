"""Duplicate decisions that outlive a run: "not a duplicate" pairs (kept by the store, by content
hash) are never crossed, the keepers a person chose (by content hash, with the path chosen among
byte-identical copies) beat any keeper rule, and the groups of the last `duplicates` run are
remembered in the store so a person can name one by the id it printed (`distinct --group N`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvalidArgumentError
from ..store.base import VectorStore
from .keepers import Preferred

LAST_GROUPS_KEY = "last_duplicate_groups"
CHOSEN_KEEPERS_KEY = "chosen_keepers"  # [{"hash", "path"}, ...] a person chose as keepers, latest last
MAX_CHOSEN = 10_000  # the oldest choices are forgotten beyond this


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


def chosen_keepers(store: VectorStore) -> list[tuple[str, str | None]]:
    """The keepers a person chose, oldest first: (content hash, path relative to the store's folder or
    None). Entries of an older library (hashes alone) have no path; an unreadable value counts as none."""
    return _parse_keepers(store.get_meta(CHOSEN_KEEPERS_KEY))


def _parse_keepers(saved: str | None) -> list[tuple[str, str | None]]:
    try:
        found = json.loads(saved) if saved else []
    except ValueError:
        return []
    out: list[tuple[str, str | None]] = []
    for entry in found if isinstance(found, list) else []:
        if isinstance(entry, str):
            out.append((entry, None))
        elif isinstance(entry, dict) and isinstance(entry.get("hash"), str):
            path = entry.get("path")
            out.append((entry["hash"], path if isinstance(path, str) else None))
    return out


def record_keeper(store: VectorStore, digest: str, path: str | None) -> None:
    """Keep this content (the file at `path`, relative to the store's folder, among byte-identical
    copies) whenever it is in a duplicate group: the latest choice for a content replaces older ones."""
    def change(saved: str | None) -> str:
        kept = [(h, p) for h, p in _parse_keepers(saved) if h != digest] + [(digest, path)]
        return json.dumps([{"hash": h, "path": p} for h, p in kept[-MAX_CHOSEN:]])

    store.update_meta(CHOSEN_KEEPERS_KEY, change)  # read and written under the writer lock: never lost to another


def preferred_keepers(store: VectorStore) -> Preferred | None:
    """The store's chosen keepers for the grouping (None when a person chose none)."""
    chosen = chosen_keepers(store)
    if not chosen:
        return None
    root = Path(store.root)
    return Preferred({digest: (rank, root / path if path else None) for rank, (digest, path) in enumerate(chosen)})
