""""Not a duplicate" memory: pairs of files a person marked as distinct, stored in the library's
catalog by content hash so the decision survives moves, renames and re-indexing."""

from __future__ import annotations

from ..store.catalog import Catalog


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
