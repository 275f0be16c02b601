""""Not a duplicate" decisions in a library's catalog: pairs of content hashes a person marked as
distinct, so the decision survives moves, renames and re-indexing."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import PairVerdict
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


def verdicts(catalog: Catalog, pairs: Sequence[tuple[str, str]], method: str) -> dict[tuple[str, str], PairVerdict]:
    """The stored verdicts of `method` for these hash pairs (either order), keyed (low, high); none in
    a catalog from before schema 5."""
    import sqlite3

    wanted = {(a, b) if a < b else (b, a) for a, b in pairs if a and b and a != b}
    if not wanted:
        return {}
    query = "SELECT inliers, agreement FROM pair_verdicts WHERE hash_a = ? AND hash_b = ? AND method = ?"
    found = {}
    try:
        for key in sorted(wanted):  # point lookups on the primary key: cost grows with the pairs asked
            row = catalog.db.execute(query, (key[0], key[1], method)).fetchone()
            if row is not None:
                found[key] = PairVerdict(key[0], key[1], method, int(row[0]), float(row[1]))
    except sqlite3.OperationalError:  # a catalog from before schema 5, opened read-only
        return {}
    return found


def record_verdicts(catalog: Catalog, found: Sequence[PairVerdict]) -> int:
    """Keep verdicts (a pair already stored for its method is replaced); returns how many."""
    rows = [(v.hash_a, v.hash_b, v.method, int(v.inliers), float(v.agreement)) for v in found
            if v.hash_a and v.hash_a < v.hash_b]
    with catalog.transaction():
        catalog.db.executemany("INSERT OR REPLACE INTO pair_verdicts(hash_a, hash_b, method, inliers, agreement) "
                               "VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)
