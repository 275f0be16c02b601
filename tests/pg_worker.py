"""A process that works on a PostgreSQL store for the concurrency tests:

    python pg_worker.py search URL ROOT STOPFILE   search until STOPFILE exists; print how many searches
    python pg_worker.py create URL ROOT            create the histogram library of ROOT; print its id
    python pg_worker.py stall URL ROOT N           sync 4 files per chunk; inside the Nth chunk's transaction
                                                   (rows written, not committed) print "stalled" and sleep
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lookalike.errors import LibraryError
from lookalike.pipeline import PipelineOptions
from lookalike.store.postgres import PostgresStore


def search(url: str, root: str, stop: str) -> int:
    """Every answer resolves: each hit's id is a stored file of the same library, scores descend."""
    done = 0
    while not (Path(stop).exists() and done):
        try:
            store = PostgresStore(url, root)
        except LibraryError:  # not created yet
            time.sleep(0.05)
            continue
        with store:
            found = store.snapshot()
            for vector in found.vectors[:3]:
                hits = store.search_vector(vector, k=5)
                facts = store.files([h.id for h in hits if h.id is not None])
                assert all(h.id in facts and facts[h.id].path == h.path for h in hits), hits
                assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
                done += 1
    print(done)
    return 0


def main(mode: str, url: str, root: str, *rest: str) -> int:
    if mode == "search":
        return search(url, root, rest[0])
    if mode == "create":
        with PostgresStore(url, root, model="histogram", create=True) as store:
            print(store.library.id)
        return 0
    stall_at, seen = int(rest[0]), []

    def checkpoint(name: str) -> None:
        if name == "chunk-written":
            seen.append(name)
            if len(seen) == stall_at:
                print("stalled", flush=True)
                time.sleep(600)

    with PostgresStore(url, root, model="histogram", create=True) as store:
        store.sync(options=PipelineOptions(batch_size=4, workers=1), checkpoint=checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
