"""Videos in Parquet shards (without Ray: the Ray engine's actor called as Ray Data calls it): a
video's row holds every sampled frame with its moment, a sync reads it back as the in-process
pipeline gives it, and build-index stores the frames as a sync does."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from media import write_video

from lookalike.embedders import create_embedder
from lookalike.pipeline import Pipeline
from lookalike.scale.actor import EmbedActor
from lookalike.scale.build_index import build_library
from lookalike.scale.shards import FORMAT, batches_from_shards, write_shard, write_sidecar
from lookalike.store.library import Library

pytest.importorskip("av")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def library_items(library: Library) -> dict[tuple[str, float | None], np.ndarray]:
    """(path, moment) -> vector of every frame of every indexed file, read from the catalog."""
    db = library.catalog.db
    found = {(os.fsdecode(bytes(p)), t): np.frombuffer(v, np.float32)
             for p, t, v in db.execute("SELECT path, time, vector FROM files WHERE status = 'indexed'")}
    query = "SELECT files.path, f.time, f.vector FROM frames f JOIN files ON files.id = f.file_id"
    found.update({(os.fsdecode(bytes(p)), t): np.frombuffer(v, np.float32) for p, t, v in db.execute(query)})
    return found


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two photos, a video of three scenes and a file that is not a video."""
    folder = tmp_path / "media"
    folder.mkdir()
    pattern_image(1).save(folder / "a.png")
    pattern_image(5).save(folder / "b.png")
    write_video(folder / "clip.mp4", [pattern_image(1, (128, 96)), pattern_image(2, (128, 96)),
                                      pattern_image(3, (128, 96))])
    (folder / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"junk" * 50)
    return folder


def test_a_shard_row_holds_every_frame_and_reads_back_as_the_pipeline_gives_it(folder: Path,
                                                                                   tmp_path: Path) -> None:
    embedder = create_embedder("histogram")
    rels = ["a.png", "clip.mp4", "bad.mp4", "b.png"]
    table = pa.table({"path_bytes": pa.array([r.encode() for r in rels], pa.binary()),
                      "hash": pa.array([f"h{i}" for i in range(4)]), "size": pa.array([1, 2, 3, 4], pa.int64()),
                      "mtime_ns": pa.array([5] * 4, pa.int64()), "ctime_ns": pa.array([6] * 4, pa.int64())})
    actor = EmbedActor("histogram", str(folder), asdict(embedder.spec), {}, None, 1, None, 0)
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(actor(table), shards / "part-0.parquet")
    write_sidecar(shards, embedder.spec, folder)
    rows = pq.read_table(shards / "part-0.parquet").to_pydict()
    assert rows["times"][0] is None and rows["times"][3] is None and rows["times"][2] is None
    assert len(rows["times"][1]) == 3 and rows["times"][1][0] == 0.0 and len(rows["frames"][1]) == 2
    assert rows["error"][2].startswith("no decodable video stream") and FORMAT == 2

    local = Pipeline(embedder).run([folder / r for r in rels])
    [batch] = list(batches_from_shards(shards, folder, embedder.spec.dim))
    assert batch.paths == local.paths and batch.times == local.times  # a video once per frame, in order
    assert len(batch.paths) == 5 and batch.sizes[1] == (128, 96)
    assert np.allclose(batch.vectors, local.vectors, atol=1e-6)
    assert [Path(f.path or "").name for f in batch.failures] == ["bad.mp4"]

    built, report = build_library(shards, tmp_path / "built", budget=2**30)
    assert (report.indexed, report.failed, built.index().count) == (3, 1, 5)
    with Library.open(folder, library=tmp_path / "synced", model=embedder, create=True) as synced:
        synced.sync()
        want = library_items(synced)
        got = library_items(built)
        assert sorted(got, key=str) == sorted(want, key=str) and ("clip.mp4", 0.0) in got
        assert all(np.allclose(got[key], want[key], atol=1e-6) for key in want)
    on_disk, report = build_library(shards, tmp_path / "ondisk", budget=64)  # the IVF with lists on disk
    assert report.on_disk and on_disk.index().count == 5
    assert sorted(int(i) >> 40 for i in on_disk.index().ids()) == [0, 0, 0, 1, 2]  # the video's frames 1 and 2
    built.close()
    on_disk.close()


def test_shards_without_frame_columns_still_read(tmp_path: Path) -> None:
    vectors = np.eye(3, 8, dtype=np.float32)
    write_shard(tmp_path / "new.parquet", ["x.jpg", "y.jpg", "z.jpg"], vectors)
    old = pq.read_table(tmp_path / "new.parquet").drop_columns(["times", "frames"])  # a format 1 shard
    (tmp_path / "new.parquet").unlink()
    pq.write_table(old, tmp_path / "old.parquet")
    [batch] = list(batches_from_shards(tmp_path, tmp_path, 8))
    assert [p.name for p in batch.paths] == ["x.jpg", "y.jpg", "z.jpg"] and batch.times == [None] * 3
    assert np.array_equal(batch.vectors, vectors)
