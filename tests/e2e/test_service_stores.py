"""What a long-lived service holds open: folder stores opened for verbs are bounded (the oldest closed),
and two threads opening the same PostgreSQL library at once share one store and one connection."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from conftest import pattern_image

from lookalike.service import Lookalike
from lookalike.service.core import MAX_FOLDER_STORES
from lookalike.settings import load_settings
from lookalike.types import Source


def _folder(root: Path, seeds: range) -> Path:
    root.mkdir(parents=True)
    for seed in seeds:
        pattern_image(seed, (64, 48)).save(root / f"img_{seed}.png")
    return root


def _open_catalogs(under: Path) -> set[str]:
    """The catalog files below `under` this process holds open."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(under)) and target.endswith(".sqlite"):
            found.add(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in Linux's /proc")
def test_a_long_lived_service_keeps_only_the_latest_folder_stores_open(tmp_path: Path) -> None:
    folders = [_folder(tmp_path / f"f{n:02d}", range(n, n + 2)) for n in range(MAX_FOLDER_STORES + 4)]
    with Lookalike(load_settings(tmp_path)) as indexer:
        for folder in folders:
            indexer.sync(indexer.library(folder, model="histogram", create=True))
    assert not _open_catalogs(tmp_path)
    with Lookalike(load_settings(tmp_path)) as service:
        stores = []
        for folder in folders:  # a script looping over folders, as `serve` or a notebook would
            stores.append(service.store(Source(folder=folder)))
            assert stores[-1].stats(scan=False).indexed == 2
            assert len(_open_catalogs(tmp_path)) <= MAX_FOLDER_STORES
        assert len(_open_catalogs(tmp_path)) == MAX_FOLDER_STORES
        assert stores[-1].snapshot().paths  # the latest ones still answer
    assert not _open_catalogs(tmp_path)


PROBE = "lookalike-test-probe"  # this test's own counting connections, left out of the count


def _backends(url: str) -> int:
    """Client connections to the database other than this test's probes (autovacuum workers, and probes
    still exiting after their close under load, are not the store's connections)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, application_name=PROBE) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND backend_type = 'client backend' AND application_name <> %s", (PROBE,)).fetchone()
    assert row is not None
    return int(row[0])


def _settled_to_none(url: str) -> bool:
    """Whether every connection to the database has ended (the server notices closed sockets shortly)."""
    deadline = time.monotonic() + 30
    while _backends(url) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _backends(url) == 0


def test_threads_opening_one_postgres_library_at_once_share_one_connection(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(3))
    with Lookalike(load_settings(folder, store=url)) as indexer:
        indexer.postgres(folder, "histogram", create=True)  # (no vectors: nothing synced)
    assert _settled_to_none(url)
    service = Lookalike(load_settings(folder, store=url))
    try:
        start = threading.Barrier(4)
        opened: list[object] = []

        def open_it() -> None:
            start.wait()
            opened.append(service.postgres(folder))

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(opened) == 4 and all(store is opened[0] for store in opened)
        assert _backends(url) == 1  # no store was made and dropped unclosed
    finally:
        service.close()
    assert _settled_to_none(url)
