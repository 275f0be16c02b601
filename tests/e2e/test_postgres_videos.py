"""Videos in the PostgreSQL + pgvector store on a real server, as the embedded library keeps them: the
same frames, moments and vectors; search says which moment; duplicates group a re-encoded copy; a
removed or re-embedded video takes its frames along; a store from before videos gets its frames table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image, run_cli
from media import write_video

from lookalike.embedders import Embedder, create_embedder
from lookalike.similarity.pairs import find_pairs
from lookalike.similarity.search import search
from lookalike.store.base import VectorStore
from lookalike.store.library import Library
from lookalike.store.postgres import PostgresStore

pytest.importorskip("av")
SIZE = (128, 96)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """clip.mp4 (scenes 1 then 2), cut.mkv (scene 2 alone, smaller, another codec), a.png (scene 1 as a
    photo) and c.png (something else)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(folder / "clip.mp4", [pattern_image(1, SIZE), pattern_image(2, SIZE)])
    write_video(folder / "cut.mkv", [pattern_image(2, SIZE)], size=(96, 72), codec="mjpeg")
    pattern_image(1, SIZE).save(folder / "a.png")
    pattern_image(3, SIZE).save(folder / "c.png")
    return folder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return create_embedder("histogram")


def _frames(store: PostgresStore) -> list[tuple[int, int, float]]:
    rows = store.conn.execute(f"SELECT file_id, n, time FROM {store.library.frames} ORDER BY file_id, n").fetchall()
    return [(int(i), int(n), float(t)) for i, n, t in rows]


def _items(store: VectorStore) -> list[tuple[str, float | None, np.ndarray]]:
    found = store.snapshot()
    times = found.times or [None] * len(found)
    return [(p.relative_to(store.root).as_posix(), t, v) for p, t, v in zip(found.paths, times, found.vectors,
                                                                           strict=True)]


def test_the_store_keeps_the_same_frames_as_the_library(clips: Path, fresh_database, embedder: Embedder) -> None:
    with Library.open(clips, model=embedder, create=True) as library, \
            PostgresStore(fresh_database(), clips, model=embedder, create=True) as store:
        assert library.sync().added == 4
        report = store.sync()
        assert (report.added, report.embedded, report.failures) == (4, 4, [])
        assert store.stats().indexed == 4 and store.stats().pending == 0
        want, got = _items(library), _items(store)
        assert [(p, t) for p, t, _ in got] == [(p, t) for p, t, _ in want]  # same files, frames and moments
        assert ("clip.mp4", 2.0) in [(p, t) for p, t, _ in got] and len(got) == 5
        assert all(float(a @ b) > 0.999 for (_, _, a), (_, _, b) in zip(want, got, strict=True))
        clip_id = store.id_of(clips / "clip.mp4")[0]
        assert _frames(store) == [(clip_id, 1, 2.0)]
        assert store.conn.execute(f"SELECT path, time FROM {store.library.files} WHERE time IS NOT NULL "
                                  "ORDER BY path").fetchall() == [(b"clip.mp4", 0.0), (b"cut.mkv", 0.0)]
        assert store.sync().unchanged == 4 and len(_frames(store)) == 1  # a second sync embeds nothing


def test_search_and_pairs_on_the_store_say_which_moment(clips: Path, tmp_path: Path, fresh_database,
                                                       embedder: Embedder) -> None:
    url = fresh_database()
    with PostgresStore(url, clips, model=embedder, create=True) as store:
        store.sync()
        query = tmp_path / "q.png"
        pattern_image(2, SIZE).save(query)
        hits = search(store, query, k=4, exact=True)
        assert {(h.path.name, h.time) for h in hits[:2]} == {("clip.mp4", 2.0), ("cut.mkv", 0.0)}
        assert len({h.path for h in hits}) == len(hits) == 4  # each file once, at its best frame
        assert {h.path.name: h.time for h in hits}["c.png"] is None  # a photo has no moment
        assert [(h.path.name, h.time) for h in search(store, query, k=2)] == \
            [(h.path.name, h.time) for h in hits[:2]]  # the HNSW indexes answer as the exact scan
        first = search(store, clips / "a.png", k=1)[0]
        assert (first.path.name, first.time) == ("clip.mp4", 0.0)  # a photo of a frame finds the moment
        pairs = find_pairs(store, top=10, every=True).pairs
        assert pairs and all(p.a != p.b for p in pairs)  # never two frames of one video
        assert ("clip.mp4", 2.0, "cut.mkv", 0.0) in {(p.a.name, p.a_time, p.b.name, p.b_time) for p in pairs} | \
            {(p.b.name, p.b_time, p.a.name, p.a_time) for p in pairs}
    rows = list(csv.DictReader(run_cli("search", str(query), str(clips), "--store", url, "-f", "csv").stdout
                               .splitlines()))
    assert {(Path(r["path"]).name, r["time"]) for r in rows[:2]} == {("clip.mp4", "2.00"), ("cut.mkv", "0.00")}
    assert [r["time"] for r in rows if Path(r["path"]).name == "c.png"] == [""]


def test_duplicates_on_the_store_find_a_reencoded_video(tmp_path: Path, fresh_database) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    scenes = [pattern_image(4, SIZE), pattern_image(5, SIZE)]
    write_video(folder / "holiday.mp4", scenes)
    write_video(folder / "holiday_copy.mkv", scenes, size=(96, 72), codec="mjpeg")  # re-encoded, smaller
    write_video(folder / "other.mp4", [pattern_image(6, SIZE)])
    pattern_image(7, SIZE).save(folder / "photo.png")
    url = fresh_database()
    done = json.loads(run_cli("index", str(folder), "--store", url, "-m", "histogram", "-f", "json").stdout)
    assert done[0]["added"] == 4
    groups = list(csv.DictReader(run_cli("duplicates", str(folder), "--store", url, "--threshold", "0.9",
                                         "-f", "csv").stdout.splitlines()))
    assert sorted(Path(r["path"]).name for r in groups) == ["holiday.mp4", "holiday_copy.mkv"]
    assert len({r["group"] for r in groups}) == 1


def test_a_removed_or_changed_video_takes_its_frames_along(clips: Path, fresh_database, embedder: Embedder) -> None:
    with PostgresStore(fresh_database(), clips, model=embedder, create=True) as store:
        store.sync()
        clip_id = store.id_of(clips / "clip.mp4")[0]
        assert [row[0] for row in _frames(store)] == [clip_id]
        write_video(clips / "clip.mp4", [pattern_image(s, SIZE) for s in (1, 2, 4)])  # re-embedded: 3 frames
        assert store.sync().updated == 1
        assert _frames(store) == [(clip_id, 1, 2.0), (clip_id, 2, 4.0)]
        (clips / "cut.mkv").write_bytes(b"not a video any more" * 10)  # a failed re-embedding drops frames too
        write_video(clips / "cut2.mkv", [pattern_image(s, SIZE) for s in (2, 3)], codec="mjpeg")
        assert len(store.sync().failures) == 1 and len(_frames(store)) == 3
        (clips / "cut2.mkv").write_bytes(b"broken" * 10)
        assert len(store.sync().failures) == 1 and [row[0] for row in _frames(store)] == [clip_id, clip_id]
        assert store.remove([clips / "clip.mp4"]) == 1
        assert _frames(store) == []  # in the statement that removed the row
        assert "clip.mp4" not in {h.path.name for h in search(store, clips / "a.png", k=5)}
        assert store.sync().added == 1 and len(_frames(store)) == 2  # still on disk: back at the next sync
        (clips / "clip.mp4").unlink()
        assert store.sync().deleted == 1 and _frames(store) == []
        assert len(store.snapshot()) == 2 and store.snapshot().times == []  # photos only are left


def test_a_store_from_before_videos_gets_its_frames_table(clips: Path, fresh_database, embedder: Embedder) -> None:
    url = fresh_database()
    with PostgresStore(url, clips, model=embedder, create=True) as store:
        store.sync()
        files, frames = store.library.files, store.library.frames
        store.conn.execute(f"DROP TABLE {frames}; ALTER TABLE {files} DROP COLUMN time")  # as older stores were
        store.conn.execute(f"DELETE FROM {files} WHERE path LIKE '%%.m%%'")  # its videos were never indexed
    with PostgresStore(url, clips) as store:  # opening it adds the table and the column
        assert store.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (frames,)).fetchone()[0]
        report = store.sync()
        assert (report.added, report.unchanged) == (2, 2) and len(_frames(store)) == 1
        assert search(store, clips / "a.png", k=1)[0].time == 0.0
