"""Videos as items: frames sampled at scene changes (PyAV), each a vector tied to its video and moment,
in a library (SQLite catalog + index) and in a folder embedded for one call; search says which moment,
pairs never pair a video with itself, duplicates group files. Videos are written by the tests."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from media import write_audio_only, write_video

from lookalike.dedupe.run import find_duplicates
from lookalike.embedders import create_embedder
from lookalike.pipeline import embed_paths
from lookalike.similarity.pairs import find_pairs
from lookalike.similarity.search import search
from lookalike.store.library import Library
from lookalike.store.memory import MemoryStore
from lookalike.store.schema import FRAMES_VERSION, SCHEMA_VERSION
from lookalike.types import DuplicateOptions
from lookalike.video import VideoOptions, sample_frames

pytest.importorskip("av")
SIZE = (128, 96)


def scene(seed: int):
    return pattern_image(seed, SIZE)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """clip.mp4 (scenes 1 then 2), cut.mkv (scene 2 alone, smaller, another codec), a.png (scene 1 as
    a photo) and c.png (something else)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(folder / "clip.mp4", [scene(1), scene(2)])
    write_video(folder / "cut.mkv", [scene(2)], size=(96, 72), codec="mjpeg")
    scene(1).save(folder / "a.png")
    scene(3).save(folder / "c.png")
    return folder


def test_frames_are_taken_at_scene_changes(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", [scene(1), scene(2), scene(4)])
    frames = sample_frames(path)
    assert [f.time for f in frames][0] == 0.0 and len(frames) == 3
    assert abs(frames[1].time - 2.0) <= 0.2 and abs(frames[2].time - 4.0) <= 0.2  # not the drifting square
    assert all(f.picture.size == SIZE and f.size == SIZE for f in frames)
    assert [f.time for f in sample_frames(path, VideoOptions(per_minute=6))] == [0.0]  # 10 s apart at most
    assert len(sample_frames(path, VideoOptions(max_frames=2))) == 2
    small = sample_frames(path, VideoOptions(short_side=48))
    assert small[0].picture.size == (64, 48) and small[0].size == SIZE


def test_videos_without_a_decodable_stream_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"junk" * 50)
    write_audio_only(tmp_path / "sound.mkv")
    (tmp_path / "empty.webm").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.mov")  # never opened: reading it would block for ever
    paths = sorted(tmp_path.iterdir())
    result = embed_paths(create_embedder("histogram"), paths)
    reasons = {Path(f.path or "").name: f.reason for f in result.failures}
    assert result.paths == [] and set(reasons) == {"garbage.mp4", "sound.mkv", "empty.webm", "pipe.mov"}
    assert reasons["pipe.mov"] == "is a named pipe (FIFO), not a regular file; not opened"
    assert reasons["sound.mkv"] == "no video stream in this file (audio only, or not a video)"
    assert reasons["empty.webm"] == "empty file (0 bytes)"
    assert reasons["garbage.mp4"].startswith("no decodable video stream")
    assert all("\n" not in str(f) for f in result.failures)


def test_a_library_keeps_one_vector_per_frame_and_answers_per_file(clips: Path, tmp_path: Path) -> None:
    with Library.open(clips, model=create_embedder("histogram"), create=True) as library:
        report = library.sync()
        assert report.added == 4 and report.failures == [] and library.stats().indexed == 4
        assert library.catalog.db.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == 1  # clip's 2nd frame
        query = tmp_path / "q.png"
        scene(2).save(query)
        hits = search(library, query, k=4, exact=True)
        assert [(h.path.name, h.time) for h in hits[:2]] in ([("clip.mp4", 2.0), ("cut.mkv", 0.0)],
                                                              [("cut.mkv", 0.0), ("clip.mp4", 2.0)])
        assert len({h.path for h in hits}) == len(hits) == 4  # each file once, at its best frame
        moments = {h.path.name: h.time for h in hits}
        assert moments["a.png"] is None and moments["c.png"] is None  # the photos have no moment
        assert [(h.path.name, h.time) for h in search(library, query, k=2)] == \
            [(h.path.name, h.time) for h in hits[:2]]  # the index answers as the exact search
        first = search(library, clips / "a.png", k=1)[0]
        assert (first.path.name, first.time) == ("clip.mp4", 0.0)  # a photo of a frame finds the moment
        pairs = find_pairs(library, top=10, every=True).pairs
        assert pairs and all(p.a != p.b for p in pairs)  # never two frames of one video
        best = {(p.a.name, p.a_time, p.b.name, p.b_time) for p in pairs[:2]}
        assert best == {("clip.mp4", 0.0, "a.png", None), ("clip.mp4", 2.0, "cut.mkv", 0.0)} or \
            best == {("a.png", None, "clip.mp4", 0.0), ("clip.mp4", 2.0, "cut.mkv", 0.0)}
        found = find_duplicates(library, DuplicateOptions(threshold=0.9, check=False), remember=False)
        assert [sorted(p.name for p in g.members) for g in found.groups] == [["a.png", "clip.mp4", "cut.mkv"]]
        assert found.count == 4

        (clips / "clip.mp4").unlink()
        assert library.sync().deleted == 1
        assert library.catalog.db.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == 0
        assert {h.path.name for h in search(library, query, k=5)} == {"cut.mkv", "a.png", "c.png"}
        assert len(library.index().ids()) == 3  # the deleted video's frames left the index too


def test_a_folder_without_a_library_answers_the_same(clips: Path, tmp_path: Path) -> None:
    store = MemoryStore(clips, lambda: create_embedder("histogram"))
    report = store.sync()
    assert report.added == 4 and report.embedded == 4
    query = tmp_path / "q.png"
    scene(2).save(query)
    hits = search(store, query, k=4)
    assert {(h.path.name, h.time) for h in hits[:2]} == {("clip.mp4", 2.0), ("cut.mkv", 0.0)}
    assert len({h.path for h in hits}) == 4
    pairs = find_pairs(store, top=3).pairs
    assert all(p.a != p.b for p in pairs) and ("clip.mp4", 2.0) in {(p.a.name, p.a_time) for p in pairs} | \
        {(p.b.name, p.b_time) for p in pairs}
    groups = find_duplicates(store, DuplicateOptions(threshold=0.9, check=False)).groups
    assert [sorted(p.name for p in g.members) for g in groups] == [["a.png", "clip.mp4", "cut.mkv"]]
    assert store.remove([clips / "clip.mp4"]) == 1
    assert "clip.mp4" not in {h.path.name for h in search(store, query, k=4)}


def test_a_catalog_from_before_videos_is_migrated(clips: Path) -> None:
    (clips / "clip.mp4").rename(clips / "later.bin")  # index photos only first
    with Library.open(clips, model=create_embedder("histogram"), create=True) as library:
        library.sync()
        catalog_path = library.catalog.path
    db = sqlite3.connect(catalog_path)  # back to the schema before videos, as older lookalikes wrote it
    db.executescript("DROP TABLE pair_verdicts; DROP TABLE frames; ALTER TABLE files DROP COLUMN time; "
                     f"PRAGMA user_version={FRAMES_VERSION - 1};")
    db.close()
    with Library.open(clips, readonly=True) as old:  # read-only: not migrated, still answers
        assert old.catalog.version == FRAMES_VERSION - 1 and len(search(old, clips / "a.png", k=2)) == 2
    (clips / "later.bin").rename(clips / "clip.mp4")
    with Library.open(clips, model=create_embedder("histogram")) as library:
        assert library.catalog.version == SCHEMA_VERSION
        assert library.sync().added == 1
        assert search(library, clips / "a.png", k=1)[0].time == 0.0
        ids = library.snapshot().ids
        assert np.all(np.diff(ids) >= 0) and len(ids) == 5  # 4 files, the clip twice


def test_indexed_videos_stay_when_pyav_goes_missing(clips: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Library.open(clips, model=create_embedder("histogram"), create=True) as library:
        library.sync()
        monkeypatch.setitem(__import__("sys").modules, "av", None)  # as if the extra were uninstalled
        report = library.sync()
        assert report.deleted == 0 and library.stats().indexed == 4 and library.stats().missing == 0
        assert search(library, clips / "a.png", k=1)[0].path.name == "clip.mp4"  # answered from stored frames
        with pytest.raises(Exception, match=r"pip install 'lookalike\[video\]'"):
            sample_frames(clips / "clip.mp4")
