""""Not a duplicate" decisions in a library's catalog: pairs of content hashes a person marked as
distinct, so the decision survives moves, renames and re-indexing."""

from __future__ import annotations

from collections.abc import Sequence

from .catalog import Catalog


def record_distinct(catalog: Catalog, hashes: Sequence[str]) -> int:
    """Mark every pair among `hashes` as distinct; returns how many pairs were new."""
    unique = sorted({h for h in hashes if h})
    pairs = [(a, b) for position, a in enumerate(unique) for b in unique[position + 1 :]]
    with catalog.transaction():
        before = catalog.db.total_changes
        catalog.db.executemany("INSERT OR IGNORE INTO distinct_pairs(hash_a, hash_b) VALUES (?, ?)", pairs)
        return catalog.db.total_changes - before


def distinct_pairs(catalog: Catalog) -> set[tuple[str, str]]:
    """Every recorded (hash_a, hash_b), hash_a < hash_b (none in a catalog from before schema 3)."""
    import sqlite3

    try:
        rows = catalog.db.execute("SELECT hash_a, hash_b FROM distinct_pairs").fetchall()
    except sqlite3.OperationalError:  # a catalog from before schema 3, opened read-only
        return set()
    return {(str(a), str(b)) for a, b in rows}
