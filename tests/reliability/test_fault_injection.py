"""Fault injection on the real `lookalike` command: SIGKILL at seeded random points of `index`, a full
disk, truncated or bit-flipped library files, a read-only library, a catalog locked by another process
and two creators racing. Each case ends with an intact library or a one-line error, and a rerun
(plus `--rebuild-index`, or a fresh library when the catalog itself was destroyed) matches the export
of a clean run.

STRESS_RUNS (default 4) sets how many SIGKILL runs; STRESS_SEED (default 0) their seed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from library_helpers import assert_consistent

from lookalike.errors import LibraryError
from lookalike.store import Library
from reliability.harness import (
    assert_one_line_error,
    assert_same_export,
    can_mount_tmpfs,
    export_records,
    run_cli,
)
from reliability.hostile_files import picture

IMAGES = 16
BATCH = 4
PAUSE = 0.15  # seconds the writer waits at each checkpoint
RUNS = int(os.environ.get("STRESS_RUNS", "4"))
SEED = int(os.environ.get("STRESS_SEED", "0"))
INDEX_ARGS = ("-m", "histogram", "--batch-size", str(BATCH), "-q")


# the one switchable piece: how a writer is made to pause and announce its checkpoints ----------
RUNNER = Path(__file__).with_name("paused_cli.py")


def start_paused_index(folder: Path, library: Path, pause: float) -> subprocess.Popen[str]:
    """`lookalike index` that prints `lookalike-checkpoint NAME` to stderr and waits `pause` seconds
    at each checkpoint (the hook is injected into Library.sync by tests/reliability/paused_cli.py)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, os.fspath(RUNNER), str(pause), "index", os.fspath(folder), "--library", os.fspath(library),
         *INDEX_ARGS],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=env,
    )


def checkpoints(process: subprocess.Popen[str]) -> Iterator[str]:
    """The checkpoint names a paused writer announces, as they come."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("lookalike-checkpoint "):
            yield line.split(maxsplit=1)[1].strip()


# fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "photos"
    root.mkdir()
    for seed in range(IMAGES):
        picture(seed).save(root / f"img_{seed:02d}.png")
    return root


@pytest.fixture(scope="module")
def indexed(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library of an undisturbed run, indexed once: tests that damage one work on a copy."""
    where = tmp_path_factory.mktemp("clean") / "lib"
    assert run_cli("index", folder, "--library", where, *INDEX_ARGS).returncode == 0
    return where


@pytest.fixture(scope="module")
def clean(indexed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bytes, tuple[str, np.ndarray]]:
    """The export of an undisturbed run."""
    return export_records(indexed, tmp_path_factory.mktemp("clean-export") / "clean.parquet")


def copy_library(indexed: Path, home: Path) -> Path:
    """A private copy of the clean library at `home` (what `index FOLDER --library home` would make)."""
    shutil.copytree(indexed, home, symlinks=True)
    return home


@pytest.fixture(scope="module")
def trace(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int]]:
    """Every (checkpoint, occurrence) of a clean run: the points a kill can be aimed at."""
    process = start_paused_index(folder, tmp_path_factory.mktemp("trace") / "lib", 0.0)
    seen: dict[str, int] = {}
    points = []
    for name in checkpoints(process):
        seen[name] = seen.get(name, 0) + 1
        points.append((name, seen[name]))
    assert process.wait(timeout=120) == 0
    assert ("chunk-committed", IMAGES // BATCH) in points and ("index-written", 1) in points
    return points


def _library_dir(home: Path) -> Path:
    return home / "histogram"


def _recover(folder: Path, home: Path) -> int:
    """Bring a library back the way a user would: rerun; then --rebuild-index; then a fresh library.
    Returns how many steps it took (1, 2 or 3)."""
    if run_cli("index", folder, "--library", home, *INDEX_ARGS).returncode == 0:
        return 1
    if run_cli("index", folder, "--library", home, "--rebuild-index", *INDEX_ARGS).returncode == 0:
        return 2
    shutil.rmtree(home)
    assert run_cli("index", folder, "--library", home, *INDEX_ARGS).returncode == 0
    return 3


# SIGKILL -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", range(RUNS))
def test_sigkill_at_a_seeded_random_point(run: int, folder: Path, clean, trace, tmp_path: Path, stress) -> None:
    rng = random.Random(SEED * 100_003 + run)
    home = tmp_path / "lib"
    target = rng.randrange(len(trace) + 1)  # the last choice: a moment before the first checkpoint
    process = start_paused_index(folder, home, PAUSE)
    try:
        if target == len(trace):
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            wanted = trace[target]
            seen: dict[str, int] = {}
            for name in checkpoints(process):
                seen[name] = seen.get(name, 0) + 1
                if (name, seen[name]) == wanted:
                    break
            time.sleep(rng.uniform(0.0, PAUSE * 1.5))  # in the pause, or just past it
        killed = process.poll() is None
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()
    stress.faults += killed
    stress.inputs += 1
    if _library_dir(home).joinpath("catalog.sqlite").exists():  # the survivor opens and is consistent
        with Library.open(library=home, readonly=True) as survivor:
            assert_consistent(survivor)
    assert _recover(folder, home) == 1
    assert not list(_library_dir(home).glob(".*.tmp")) and not list(_library_dir(home).glob(".*creating*"))
    assert_same_export(export_records(home, tmp_path / "after.parquet"), clean)


def test_temp_files_of_killed_runs_are_removed(folder: Path, indexed: Path, tmp_path: Path, stress) -> None:
    home = copy_library(indexed, tmp_path / "lib")
    directory = _library_dir(home)
    leftovers = [directory / ".vectors.faiss.99999.tmp", directory / ".manifest.json.99998.tmp",
                 directory / ".catalog.sqlite.99997.creating"]
    for leftover in leftovers:
        leftover.write_bytes(b"half-written")
    stress.faults += len(leftovers)
    assert run_cli("index", folder, "--library", home, *INDEX_ARGS).returncode == 0
    assert not any(p.exists() for p in leftovers)
    leftovers[0].write_bytes(b"half-written")
    assert run_cli("index", folder, "--library", home, "--rebuild-index", *INDEX_ARGS).returncode == 0
    assert not leftovers[0].exists()


# disk full ---------------------------------------------------------------------------------------
def test_disk_full_on_a_small_tmpfs(folder: Path, clean, tmp_path: Path, stress) -> None:
    mount = tmp_path / "small"
    if not can_mount_tmpfs(mount):
        pytest.skip("cannot mount a tmpfs here (needs root and a kernel that allows it); "
                    "test_disk_full_injected covers the same paths")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", os.fspath(mount)], check=True, timeout=30)
    try:
        full = run_cli("index", folder, "--library", mount / "lib", *INDEX_ARGS)
        stress.faults += 1
        assert "no space left on device" in assert_one_line_error(full)
        subprocess.run(["mount", "-o", "remount,size=16m", os.fspath(mount)], check=True, timeout=30)
        assert _recover(folder, mount / "lib") == 1
        assert_same_export(export_records(mount / "lib", tmp_path / "after.parquet"), clean)
    finally:
        subprocess.run(["umount", "-l", os.fspath(mount)], capture_output=True, timeout=30)


@pytest.mark.parametrize("where", ["index", "catalog"])
def test_disk_full_injected(where: str, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            stress) -> None:
    import faiss

    from lookalike.embedders import create_embedder
    from lookalike.store.catalog import Catalog

    if where == "index":
        def full(*args: object) -> None:
            raise RuntimeError("Error in faiss::FileIOWriter: write error ... No space left on device")
        monkeypatch.setattr(faiss, "write_index", full)
    else:
        def full_catalog(*args: object, **kwargs: object) -> int:
            raise sqlite3.OperationalError("database or disk is full")
        monkeypatch.setattr(Catalog, "put_indexed", full_catalog)
    stress.faults += 1
    with Library.open(folder, model=create_embedder("histogram"), library=tmp_path / "lib", create=True) as library:
        with pytest.raises(LibraryError, match="no space left on device") as caught:
            library.sync()
        assert "\n" not in str(caught.value) and "nothing indexed was lost" in str(caught.value)
        monkeypatch.undo()
        report = library.sync()
        assert report.index_rebuilt and library.stats().indexed == IMAGES
        assert_consistent(library)


# damaged library files ---------------------------------------------------------------------------
def _damage(path: Path, how: str, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    else:  # flip bits: anywhere in the index and manifest, in the header page of the catalog
        span = min(len(data), 100) if path.name == "catalog.sqlite" else len(data)
        for _ in range(4):
            position = rng.randrange(span)
            data[position] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("victim", ["catalog.sqlite", "vectors.faiss", "manifest.json"])
@pytest.mark.parametrize("how", ["truncate", "bitflip"])
def test_damaged_library_file(victim: str, how: str, folder: Path, indexed: Path, clean, tmp_path: Path,
                              stress) -> None:
    home = copy_library(indexed, tmp_path / "lib")
    _damage(_library_dir(home) / victim, how, random.Random(f"{SEED}-{victim}-{how}"))
    stress.faults += 1
    for args in (["status", "--library", home], ["search", folder / "img_03.png", "--library", home],
                 ["index", folder, "--library", home, *INDEX_ARGS]):
        result = run_cli(*args)
        stress.inputs += 1
        if result.returncode != 0:
            assert_one_line_error(result)
    steps = _recover(folder, home)
    assert steps <= (3 if victim == "catalog.sqlite" else 2)
    assert_same_export(export_records(home, tmp_path / "after.parquet"), clean)


def test_a_bit_flipped_index_is_never_used(folder: Path, indexed: Path, tmp_path: Path, stress) -> None:
    """Results from a damaged index would be silently wrong: its checksum sends every reader to the catalog."""
    home = copy_library(indexed, tmp_path / "lib")
    expected = run_cli("search", folder / "img_05.png", "--library", home, "-k", "8", "-f", "csv").stdout
    index_file = _library_dir(home) / "vectors.faiss"
    data = bytearray(index_file.read_bytes())
    data[-4096:] = bytes(4096)  # overwrite 4 KB of vectors
    index_file.write_bytes(bytes(data))
    stress.faults += 1
    got = run_cli("search", folder / "img_05.png", "--library", home, "-k", "8", "-f", "csv")
    assert got.returncode == 0 and got.stdout == expected
    assert "checksum" in got.stderr


# read-only library, locked catalog, racing creators ---------------------------------------------
def test_read_only_library(folder: Path, indexed: Path, clean, tmp_path: Path, stress) -> None:
    mount = tmp_path / "ro"
    if not can_mount_tmpfs(mount):
        pytest.skip("cannot mount a tmpfs here to make a truly read-only library (root ignores chmod)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", os.fspath(mount)], check=True, timeout=30)
    try:
        home = copy_library(indexed, mount / "lib")
        subprocess.run(["mount", "-o", "remount,ro", os.fspath(mount)], check=True, timeout=30)
        stress.faults += 1
        status = run_cli("status", "--library", home, "-f", "json")
        assert status.returncode == 0 and f'"indexed": {IMAGES}' in status.stdout, status.stderr
        searched = run_cli("search", folder / "img_01.png", "--library", home, "-k", "3")
        assert searched.returncode == 0 and "img_" in searched.stdout, searched.stderr
        exported = export_records(home, tmp_path / "ro.parquet")
        assert_same_export(exported, clean)
        assert "cannot be written here" in assert_one_line_error(run_cli("index", folder, "--library", home,
                                                                         *INDEX_ARGS))
        subprocess.run(["mount", "-o", "remount,rw", os.fspath(mount)], check=True, timeout=30)
        assert _recover(folder, home) == 1
        assert_same_export(export_records(home, tmp_path / "after.parquet"), clean)
    finally:
        subprocess.run(["umount", "-l", os.fspath(mount)], capture_output=True, timeout=30)


def test_catalog_locked_by_another_process(folder: Path, tmp_path: Path, stress) -> None:
    work = tmp_path / "photos"
    shutil.copytree(folder, work)
    home = tmp_path / "lib"
    assert run_cli("index", work, "--library", home, *INDEX_ARGS).returncode == 0
    picture(500).save(work / "new.png")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(120)",
         os.fspath(_library_dir(home) / "catalog.sqlite")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        stress.faults += 1
        status = run_cli("status", "--library", home)  # readers are not blocked by a writer (WAL)
        assert status.returncode == 0, status.stderr
        blocked = run_cli("index", work, "--library", home, *INDEX_ARGS)
        assert "locked by another process" in assert_one_line_error(blocked)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert run_cli("index", work, "--library", home, *INDEX_ARGS).returncode == 0
    with Library.open(library=home, readonly=True) as library:
        assert library.stats(scan=False).indexed == IMAGES + 1
        assert_consistent(library)


def test_two_index_runs_racing_to_create_a_library(folder: Path, clean, tmp_path: Path, stress) -> None:
    home = tmp_path / "lib"
    command = [sys.executable, "-m", "lookalike", "index", os.fspath(folder), "--library", os.fspath(home),
               *INDEX_ARGS]
    racers = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    outcomes = [(racer.wait(timeout=120), racer.communicate()[1]) for racer in racers]
    stress.faults += 1
    assert any(code == 0 for code, _ in outcomes), outcomes
    for code, stderr in outcomes:
        assert "already exists" not in stderr
        if code != 0:
            assert code == 1 and ("another lookalike process" in stderr or "locked" in stderr), stderr
    assert _recover(folder, home) == 1
    assert_same_export(export_records(home, tmp_path / "after.parquet"), clean)
