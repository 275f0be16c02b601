"""Many threads searching one library while the same process syncs new files, and another process
tries to index it meanwhile: no exception anywhere, every returned id resolves, and the final answers
equal those of a fresh open."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from conftest import pattern_image

from lookalike.query import Query
from lookalike.service import Lookalike
from lookalike.settings import Settings
from lookalike.store import Library

MODEL = "histogram"
FIRST, LATER, THREADS = 40, 80, 16


def _write_images(folder: Path, seeds: range) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        pattern_image(seed, (96, 72)).save(folder / f"img_{seed:03d}.png")


def test_searches_during_a_sync_and_a_second_writer(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    _write_images(folder, range(FIRST))
    service = Lookalike(Settings(batch_size=4))
    library = service.library(folder, model=MODEL, create=True)
    service.sync(library)
    _write_images(folder, range(FIRST, FIRST + LATER))
    queries = [folder / f"img_{seed:03d}.png" for seed in range(0, FIRST, 3)]
    errors: list[BaseException] = []
    answers = 0
    done = threading.Event()

    def searcher(worker: int) -> None:
        nonlocal answers
        rng = np.random.default_rng(worker)
        try:
            while not done.is_set():
                query = queries[int(rng.integers(len(queries)))]
                hits = service.search(library, Query(query), k=5, exact=bool(worker % 4 == 0))
                described = library.files([h.id for h in hits if h.id is not None])
                assert len(hits) == 5 and all(h.id in described and described[h.id].path == h.path for h in hits)
                assert all(h.path.exists() and h.path != query for h in hits)
                answers += 1
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=searcher, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    syncing = threading.Thread(target=lambda: service.sync(library))
    syncing.start()
    time.sleep(0.2)
    other = subprocess.run([sys.executable, "-m", "lookalike", "index", str(folder), "-m", MODEL, "-q"],
                           capture_output=True, text=True, timeout=300, env=env)
    syncing.join(timeout=300)
    time.sleep(0.3)
    done.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:3]
    assert answers > THREADS
    if other.returncode != 0:  # it met the writer lock: one line naming the holder
        assert other.returncode == 1 and other.stderr.count("\n") == 1, other.stderr
        assert f"pid {os.getpid()}" in other.stderr
    with Library.open(folder) as fresh:
        assert fresh.stats(scan=False).indexed == FIRST + LATER
        for query in queries:
            expected = [(h.id, round(h.score, 5)) for h in fresh.search(query, k=8)]
            assert [(h.id, round(h.score, 5)) for h in service.search(library, Query(query), k=8)] == expected
    service.close()
