"""Videos and camera RAW through the command line, as a user runs it: `index` keeps a video as several
frames and names a broken one in one line; `search`, `pairs` and `duplicates` say which moment (a
`time` column, empty for photos) in every format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import pattern_image, run_cli
from media import write_video

pytest.importorskip("av")
SIZE = (128, 96)
MODEL = ["-m", "histogram", "-q"]


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(folder / "clip.mp4", [pattern_image(1, SIZE), pattern_image(2, SIZE)])
    write_video(folder / "cut.mov", [pattern_image(2, SIZE)], size=(96, 72))  # scene 2 alone, smaller
    pattern_image(3, SIZE).save(folder / "c.png")
    (folder / "broken.mp4").write_bytes(b"not a video" * 20)
    pattern_image(2, SIZE).save(tmp_path / "query.png")
    return folder


def test_index_search_pairs_and_duplicates_over_videos(clips: Path) -> None:
    done = run_cli("index", str(clips), *MODEL)
    broken = [line for line in done.stderr.splitlines() if "broken.mp4" in line]
    assert broken == [f"skipped: {clips / 'broken.mp4'}: no decodable video stream (Invalid data found when "
                      "processing input)"]
    query = str(clips.parent / "query.png")
    rows = list(csv.DictReader(run_cli("search", query, str(clips), *MODEL, "-f", "csv").stdout.splitlines()))
    assert [(Path(r["path"]).name, r["time"]) for r in rows] == [("cut.mov", "0.00"), ("clip.mp4", "2.00"),
                                                                  ("c.png", "")]
    table = run_cli("search", query, str(clips), *MODEL, "-k", "1").stdout.splitlines()
    assert table[0].split() == ["path", "time", "score"] and table[1].split()[1] == "0.00"
    pairs = json.loads(run_cli("pairs", str(clips), *MODEL, "--top", "2", "-f", "json").stdout)
    assert {(Path(p["a"]).name, p["a_time"], Path(p["b"]).name, p["b_time"]) for p in pairs[:1]} == \
        {("clip.mp4", 2.0, "cut.mov", 0.0)}
    assert all(p["a"] != p["b"] for p in pairs)
    groups = list(csv.DictReader(run_cli("duplicates", str(clips), *MODEL, "--threshold", "0.9", "-f", "csv")
                                 .stdout.splitlines()))
    assert sorted(Path(r["path"]).name for r in groups) == ["clip.mp4", "cut.mov"]


def test_photos_only_keep_their_columns(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(3):
        pattern_image(seed, SIZE).save(folder / f"{seed}.png")
    out = run_cli("search", str(folder / "0.png"), str(folder), *MODEL, "-f", "csv").stdout.splitlines()
    assert out[0] == "path,score"  # no time column when no hit is a video


def test_a_video_as_a_query_and_as_an_embed_input(clips: Path) -> None:
    for library in ("without", "with"):  # a folder embedded for the call, then its library
        if library == "with":
            run_cli("index", str(clips), *MODEL)
        rows = list(csv.DictReader(run_cli("search", str(clips / "clip.mp4"), str(clips), *MODEL, "-f", "csv")
                                   .stdout.splitlines()))
        assert [Path(r["path"]).name for r in rows] == ["c.png", "cut.mov"] or \
            [Path(r["path"]).name for r in rows] == ["cut.mov", "c.png"]  # none of the query video's own frames
    rows = list(csv.DictReader(run_cli("search", str(clips / "cut.mov"), str(clips), *MODEL, "-f", "csv")
                               .stdout.splitlines()))
    assert [(Path(r["path"]).name, r["time"]) for r in rows][0] == ("clip.mp4", "2.00")  # a video query: frame 0
    lines = [json.loads(line) for line in run_cli("embed", str(clips / "clip.mp4"), *MODEL, "--out", "-")
             .stdout.splitlines()]
    assert [(Path(r["path"]).name, r["time"]) for r in lines] == [("clip.mp4", 0.0), ("clip.mp4", 2.0)]
    assert lines[0]["hash"] == lines[1]["hash"] and lines[0]["vector"] != lines[1]["vector"]  # one file, two moments
