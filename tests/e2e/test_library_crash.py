"""Crash safety and concurrency: a writer killed with SIGKILL at several points leaves a library
that opens with no duplicate or orphan vectors, and the next run finishes the job without
re-embedding what was committed. A second writer fails fast; readers keep working."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from library_helpers import CountingEmbedder, assert_consistent

from lookalike.similarity import search
from lookalike.store import Library

IMAGES = 24
BATCH = 4


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for seed in range(IMAGES):
        pattern_image(seed).save(root / f"img_{seed:02d}.png")
    return root


RUNNER = Path(__file__).resolve().parents[1] / "crash_runner.py"


def _start_index(folder: Path, model_dir: Path, pause: float = 1.0) -> subprocess.Popen[str]:
    """A real indexing process that pauses at each checkpoint (the hook is injected by the runner)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, str(RUNNER), str(folder), str(model_dir), str(BATCH), str(pause)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )


def _wait_for(process: subprocess.Popen[str], checkpoint: str, count: int) -> None:
    seen = 0
    assert process.stderr is not None
    for line in process.stderr:
        if line.strip() == f"lookalike-checkpoint {checkpoint}":
            seen += 1
            if seen == count:
                return
    raise AssertionError(f"process ended before checkpoint {checkpoint} #{count} (exit {process.wait()})")


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _clean_vectors(tmp_path: Path, folder: Path, embedder) -> dict[str, np.ndarray]:
    with Library.open(folder, model=embedder, library=tmp_path / "clean", create=True) as clean:
        clean.sync()
        paths, vectors = clean.vectors()
    return {p.name: v for p, v in zip(paths, vectors, strict=True)}


@pytest.mark.parametrize(("checkpoint", "count", "committed_rows"), [
    ("chunk-committed", 1, BATCH),  # after the first chunk
    ("chunk-committed", 4, 4 * BATCH),  # in the middle
    ("index-saving", 1, IMAGES),  # every chunk committed, index not yet written
    ("index-written", 1, IMAGES),  # new index file renamed in, manifest not yet
])
def test_kill_9_then_resume(checkpoint: str, count: int, committed_rows: int, folder: Path, tmp_path: Path,
                            tiny_siglip_dir: Path, tiny_siglip) -> None:
    process = _start_index(folder, tiny_siglip_dir)
    _wait_for(process, checkpoint, count)
    _kill(process)

    counting = CountingEmbedder(tiny_siglip)
    with Library.open(folder, model=counting) as survivor:
        assert_consistent(survivor)  # opens; no duplicates, no orphans
        committed = survivor.stats(scan=False).indexed
        assert committed == committed_rows
        report = survivor.sync()
        assert counting.embedded == IMAGES - committed
        assert report.added == IMAGES - committed
        assert_consistent(survivor)
        paths, vectors = survivor.vectors()
    expected = _clean_vectors(tmp_path, folder, tiny_siglip)
    assert sorted(p.name for p in paths) == sorted(expected)
    for path, vector in zip(paths, vectors, strict=True):
        np.testing.assert_allclose(vector, expected[path.name], atol=1e-5)


def test_second_writer_gets_the_lock_message(folder: Path, tiny_siglip_dir: Path) -> None:
    first = _start_index(folder, tiny_siglip_dir, pause=2.0)  # stays at each checkpoint long enough
    try:
        _wait_for(first, "chunk-committed", 1)
        second = subprocess.run(
            [sys.executable, "-m", "lookalike", "index", str(folder), "-m", str(tiny_siglip_dir), "--quiet"],
            capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120,
        )
        assert second.returncode == 1
        assert "another lookalike process" in second.stderr and str(first.pid) in second.stderr
    finally:
        _kill(first)


def test_reader_during_a_write_sees_consistent_results(folder: Path, tiny_siglip_dir: Path, tiny_siglip) -> None:
    with Library.open(folder, model=tiny_siglip, create=True) as seeded:  # index the first half
        for path in sorted(folder.iterdir())[IMAGES // 2 :]:
            path.rename(folder.parent / path.name)
        seeded.sync()
    for path in sorted(folder.parent.glob("img_*.png")):
        path.rename(folder / path.name)
    writer = _start_index(folder, tiny_siglip_dir, pause=0.3)
    try:
        _wait_for(writer, "chunk-committed", 1)
        with Library.open(folder, readonly=True) as reader:
            query = folder / "img_00.png"
            for _ in range(5):
                hits = search(reader, query, k=IMAGES)
                exact = search(reader, query, k=IMAGES, exact=True)
                assert all(h.path.exists() for h in hits) and query not in [h.path for h in hits]
                assert IMAGES // 2 - 1 <= len(hits) <= IMAGES - 1
                assert len({h.path for h in hits}) == len(hits)
                assert len(exact) >= len(hits) - BATCH  # the writer may commit a chunk in between
    finally:
        _kill(writer)
