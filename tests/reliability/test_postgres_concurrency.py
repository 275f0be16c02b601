"""Several processes on one PostgreSQL store: two writers syncing disjoint folders into an empty
database while a third process searches, two creating the same library at once, and a writer killed
with SIGKILL in the middle of a chunk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pattern_image

from lookalike.errors import LibraryLockedError
from lookalike.store.postgres import PostgresStore

WORKER = Path(__file__).resolve().parents[1] / "pg_worker.py"


def _folder(root: Path, seeds: range) -> Path:
    root.mkdir(parents=True)
    for seed in seeds:
        pattern_image(seed, (64, 48)).save(root / f"img_{seed}.png")
    return root


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def _worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())


def _rows(url: str, root: Path) -> list[tuple[bytes, str]]:
    with PostgresStore(url, root) as store:
        return store.conn.execute(f"SELECT path, status FROM {store.library.files} ORDER BY path").fetchall()


@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_two_writers_on_an_empty_database_while_a_third_searches(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    a, b = _folder(tmp_path / "a", range(0, 12)), _folder(tmp_path / "b", range(12, 24))
    stop = tmp_path / "stop"
    searcher = _worker("search", url, str(a), str(stop))
    writers = [subprocess.Popen([sys.executable, "-m", "lookalike", "index", str(folder), "--store", url, "-m",
                                 "histogram", "--batch-size", "4", "-q"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env()) for folder in (a, b)]
    results = [w.communicate(timeout=120) for w in writers]
    stop.touch()
    searched, errors = searcher.communicate(timeout=60)
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in results]
    assert searcher.returncode == 0 and int(searched) > 0, errors
    for folder, seeds in ((a, range(0, 12)), (b, range(12, 24))):
        rows = _rows(url, folder)
        assert sorted(os.fsdecode(bytes(p)) for p, _ in rows) == sorted(f"img_{s}.png" for s in seeds)
        assert {status for _, status in rows} == {"indexed"}
    with PostgresStore(url, a) as store:
        assert store.conn.execute("SELECT count(*) FROM lookalike_libraries").fetchone()[0] == 2


def test_two_processes_create_the_same_library_at_once(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(2))
    workers = [_worker("create", url, str(folder)) for _ in range(2)]
    answers = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in answers]
    assert answers[0][0].strip() == answers[1][0].strip() != ""
    with PostgresStore(url, folder) as store:
        assert store.conn.execute("SELECT count(*) FROM lookalike_libraries").fetchone()[0] == 1


def test_a_killed_writer_leaves_whole_chunks_and_the_next_sync_completes(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(14))
    writer = _worker("stall", url, str(folder), "3")  # killed inside its third chunk, 8 rows committed
    assert writer.stdout is not None and writer.stdout.readline().strip() == "stalled"
    with PostgresStore(url, folder) as reader:  # readers are not blocked by the open transaction
        assert reader.stats(scan=False).indexed == 8
        with pytest.raises(LibraryLockedError):  # one writer per library
            reader.sync()
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    rows = _rows(url, folder)
    assert len(rows) == 8 and len({p for p, _ in rows}) == 8 and {s for _, s in rows} == {"indexed"}
    with PostgresStore(url, folder) as store:
        report = store.sync()  # the killed writer's lock went with its session
        assert (report.added, report.unchanged) == (6, 8)
        found = store.snapshot()
        assert len(found) == 14 and len(set(found.ids.tolist())) == 14


def test_a_writer_killed_inside_a_video_leaves_no_part_of_it(tmp_path: Path, fresh_database) -> None:
    pytest.importorskip("av")
    from media import write_video

    url = fresh_database()
    folder = _folder(tmp_path / "media", range(4))  # img_0..3: the first chunk, committed
    write_video(folder / "z_clip.mp4", [pattern_image(s, (128, 96)) for s in (1, 2, 4)])  # 3 frames
    pattern_image(9, (64, 48)).save(folder / "z_photo.png")
    writer = _worker("stall", url, str(folder), "2")  # killed inside the chunk holding the video
    assert writer.stdout is not None and writer.stdout.readline().strip() == "stalled"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    rows = _rows(url, folder)
    assert sorted(os.fsdecode(bytes(p)) for p, _ in rows) == [f"img_{s}.png" for s in range(4)]
    with PostgresStore(url, folder) as store:
        frames = store.library.frames
        assert store.conn.execute(f"SELECT count(*) FROM {frames}").fetchone()[0] == 0  # no frame left behind
        report = store.sync()
        assert (report.added, report.unchanged) == (2, 4)
        assert store.conn.execute(f"SELECT n, time FROM {frames} ORDER BY n").fetchall() == [(1, 2.0), (2, 4.0)]


def test_two_processes_open_a_store_from_before_videos_at_once(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(2))
    with PostgresStore(url, folder, model="histogram", create=True) as store:
        frames, files = store.library.frames, store.library.files
        store.conn.execute(f"DROP TABLE {frames}; ALTER TABLE {files} DROP COLUMN time")  # as older stores were
    workers = [_worker("create", url, str(folder)) for _ in range(3)]  # each adds the frames table if missing
    answers = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], [err for _, err in answers]
    with PostgresStore(url, folder) as store:
        found = store.conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s AND "
                                   "column_name = 'time'", (files,)).fetchone()[0]
        assert found == 1 and store.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (frames,)).fetchone()[0]
        assert store.sync().added == 2 and store.stats(scan=False).indexed == 2
