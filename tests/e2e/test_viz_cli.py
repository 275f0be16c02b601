"""The picture options end to end: `lookalike map`, `search --grid/--report`, `eval --plot/--report`,
run as subprocesses on small generated libraries; plus the search grid on the shared sample photos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from conftest import run_cli as run
from PIL import Image
from viz_html import network_loads, parse

from lookalike.similarity import search
from lookalike.store.folders import open_folder
from lookalike.viz import search_grid
from lookalike.viz.grids import plan_search
from lookalike.viz.tiles import tile_image


@pytest.fixture
def indexed(image_folder: Path, tiny_siglip) -> Path:  # type: ignore[no-untyped-def]
    from lookalike.store import Library

    with Library.open(image_folder, model=tiny_siglip, create=True) as library:
        library.sync()
    return image_folder


def test_map_html_png_and_labels(indexed: Path, tmp_path: Path) -> None:
    html_out, png_out = tmp_path / "map.html", tmp_path / "map.png"
    done = run("map", str(indexed), "--out", str(html_out), "--clusters", "50")
    assert "wrote" in done.stderr and "(6 images)" in done.stderr
    page = parse(html_out)
    assert network_loads(page) == []
    assert len(json.loads(page.script("lookalike-thumbnails"))) == 6
    text = html_out.read_text()
    assert "explained variance" in text
    assert re.search(r"a(/|\\/|\\u002f)img_0\.jpg", text)  # hover text: the path below the folder, JSON-escaped
    run("map", "--library", str(indexed / ".lookalike"), "--out", str(png_out))
    assert Image.open(png_out).size == (1200, 1000)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\na/img_0.jpg,first\na/img_1.jpg,first\nb/img_3.jpg,second\n")
    run("map", str(indexed), "--out", str(html_out), "--labels", str(labels), "--dims", "3")
    text = html_out.read_text()
    assert "first (2)" in text and "second (1)" in text and "unlabelled (3)" in text and "scatter3d" in text


def test_map_errors_are_one_line(indexed: Path, tmp_path: Path) -> None:
    for args, message in [
        (["--out", str(tmp_path / "m.png"), "--dims", "3"], "PNG maps are 2-D"),
        (["--out", str(tmp_path / "m.svg")], "written as .html"),
        (["--out", str(tmp_path / "m.html"), "--labels", str(tmp_path / "none.csv")], "no such labels file"),
    ]:
        done = run("map", str(indexed), *args, check=False)
        assert done.returncode == 2, done.stderr  # usage errors
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "m.html").exists()
    empty = tmp_path / "empty"  # a folder is embedded on the fly now: one without images says so
    empty.mkdir()
    done = run("map", str(empty), "--out", str(tmp_path / "m.html"), "-m", "histogram", check=False)
    assert done.returncode == 1 and "no image files found" in done.stderr and "Traceback" not in done.stderr


def test_search_grid_and_report(image_folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    query = image_folder / "a" / "img_0.jpg"
    grid, report = tmp_path / "grid.png", tmp_path / "report.html"
    done = run("search", str(query), str(image_folder), "-m", str(tiny_siglip_dir), "-k", "3", "-f", "json",
               "--grid", str(grid), "--report", str(report))
    hits = json.loads(done.stdout)
    assert len(hits) == 3 and f"wrote {grid}" in done.stderr
    pages = plan_search(query, [(image_folder / h["path"], h["score"]) for h in hits])
    assert len(pages) == 1 and len(pages[0].tiles) == 4
    assert Image.open(grid).size == pages[0].size
    page = parse(report)
    assert network_loads(page) == []
    thumbs = [a for a in page.of("img") if a.get("src", "").startswith("data:image/jpeg")]
    assert len(thumbs) == 4  # the query and the three results
    assert "--report" in report.read_text()  # the command line that made it
    done = run("search", str(query), str(image_folder), "-m", str(tiny_siglip_dir), "--grid",
               str(tmp_path / "grid.jpg"), check=False)
    assert done.returncode == 2 and "--grid" in done.stderr and ".png" in done.stderr


@pytest.fixture
def labelled_folder(tmp_path: Path) -> Path:
    root = tmp_path / "labelled"
    for label in ("x", "y", "z"):
        (root / label).mkdir(parents=True)
        for index in range(3):
            pattern_image(hash((label, index)) % 1000).save(root / label / f"{index}.png")
    return root


def test_eval_plot_and_report(labelled_folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    plot, report = tmp_path / "curves.png", tmp_path / "eval.html"
    done = run("eval", str(labelled_folder), "-m", str(tiny_siglip_dir), "-m", "histogram", "--plot", str(plot),
               "--report", str(report), "--json", "-q")
    models = [row["model"] for row in json.loads(done.stdout)]
    assert len(models) == 2
    assert Image.open(plot).size == (770, 495)
    page = parse(report)
    assert network_loads(page) == []
    assert [a["src"][:22] for a in page.of("img")] == ["data:image/png;base64,"]
    text = report.read_text()
    assert all(model in text for model in models) and "precision@5" in text


@pytest.mark.shared_data
def test_search_grid_on_shared_samples(shared_data: Path, effnet, tmp_path: Path) -> None:
    samples = shared_data / "samples"
    query = samples / "Query_Image.jpg"
    matches = search(open_folder(samples / "Images", effnet), query, k=3)
    hits = [(m.path, m.score) for m in matches]
    written = search_grid(query, hits, tmp_path / "grid.png")
    page = plan_search(query, hits)[0]
    pixels = np.asarray(Image.open(written[0]).convert("RGB"), dtype=np.int16)

    def tile_at(position: int) -> np.ndarray:
        x, y, side = page.boxes[position]
        return pixels[y : y + side, x : x + side]

    side = page.boxes[0][2]
    query_tile = np.asarray(tile_image(query, side), dtype=np.int16)
    dog_tile = np.asarray(tile_image(samples / "Images" / "Dog_2.jpg", side), dtype=np.int16)
    assert np.abs(tile_at(0) - query_tile).mean() < 1.0
    assert np.abs(tile_at(1) - dog_tile).mean() < 1.0
    assert np.abs(tile_at(1) - query_tile).mean() > 20  # the comparison can tell pictures apart
