"""Result grids: every page opens with the planned size, holds one tile per answer item (checked by
pixels, not just by the plan), keeps aspect ratio and EXIF orientation, paginates, and survives
unreadable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from PIL import Image, ImageFont

from lookalike.errors import LookalikeError
from lookalike.viz import GridStyle, Member, duplicates_grid, match_grid, pairs_grid, result_grid, search_grid
from lookalike.viz.grids import plan_duplicates, plan_matches, plan_pairs, plan_search, side_by_side
from lookalike.viz.layout import ACCENTS, PageLayout
from lookalike.viz.tiles import fit_text, font, thumbnail, tile_image


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Nine distinct generated JPEGs of different shapes, and one broken file last."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = []
    for seed in range(9):
        path = folder / f"pic_{seed}.jpg"
        pattern_image(seed, (90, 60) if seed % 2 else (50, 80)).save(path, quality=95)
        paths.append(path)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    return [*paths, broken]


def assert_page_matches(png: Path, page: PageLayout) -> None:
    """The file has the planned size and each planned box shows exactly that tile's thumbnail."""
    with Image.open(png) as opened:
        picture = opened.convert("RGB")
    assert picture.size == page.size
    pixels = np.asarray(picture, dtype=np.int16)
    for tile, (x, y, side) in zip(page.tiles, page.boxes, strict=True):
        expected = np.asarray(tile_image(tile.path, side), dtype=np.int16)
        drawn = pixels[y : y + side, x : x + side]
        assert np.abs(drawn - expected).mean() < 1.0, f"tile {tile.path.name} is not where the layout says"


def count_tiles(png: Path, side: int) -> int:
    """Tiles found by geometry alone: connected non-background blobs at least half a tile wide and high
    (captions are far smaller)."""
    from scipy import ndimage

    ink = (np.asarray(Image.open(png).convert("RGB")) < 245).any(axis=2)
    labelled, _ = ndimage.label(ink)
    boxes = ndimage.find_objects(labelled)
    return sum(1 for b in boxes if b[0].stop - b[0].start >= side // 2 and b[1].stop - b[1].start >= side // 2)


def test_search_grid_paginates_and_repeats_the_query(images: Path, tmp_path: Path) -> None:
    query, hits = images[0], [(p, 0.9 - i / 100) for i, p in enumerate(images[1:])]  # 9 hits, 1 broken
    style = GridStyle(tile=64, columns=3, rows_per_page=2)  # 6 tiles a page: query + 5 hits
    written = search_grid(query, hits, tmp_path / "out.png", title="grid", style=style)
    assert [p.name for p in written] == ["out.png", "out-2.png"]
    pages = plan_search(query, hits, style, "grid")
    assert [len(p.tiles) for p in pages] == [6, 5]  # 9 hits + the query on each page
    assert [t.path for p in pages for t in p.tiles if t.accent != "query"] == [p for p, _ in hits]
    assert all(p.tiles[0].path == query and p.tiles[0].accent == "query" for p in pages)
    for png, page in zip(written, pages, strict=True):
        assert_page_matches(png, page)
        assert count_tiles(png, style.tile) == len(page.tiles)
    assert pages[0].title == "grid (page 1 of 2)"
    assert pages[1].tiles[-1].lines == ("#9  0.820", "broken.jpg")


def test_unreadable_file_is_a_labelled_placeholder(images: list[Path]) -> None:
    tile = np.asarray(thumbnail(images[-1], 100))
    assert tile.shape == (100, 100, 3)
    grey = (tile == [236, 236, 236]).all(axis=2).mean()
    red = ((tile[..., 0] > 120) & (tile[..., 1] < 110)).any()  # the "unreadable" lettering
    assert grey > 0.6 and red


def test_thumbnails_keep_aspect_ratio_and_exif_orientation(tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    Image.new("RGB", (300, 100), (200, 10, 10)).save(wide)
    assert thumbnail(wide, 120).size == (120, 40)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.new("RGB", (80, 40), (10, 200, 10)).save(rotated, exif=exif)
    assert thumbnail(rotated, 100).size == (50, 100)


def test_pairs_grid_one_row_per_pair(images: list[Path], tmp_path: Path) -> None:
    pairs = [(images[i], images[i + 1], 0.9 - i / 10) for i in range(0, 6, 2)]
    style = GridStyle(tile=60, columns=2, rows_per_page=2)
    written = pairs_grid(pairs, tmp_path / "pairs.png", style=style)
    pages = plan_pairs(pairs, style)
    assert len(written) == 2 and [len(p.tiles) for p in pages] == [4, 2]
    assert [h[2] for p in pages for h in p.headings] == ["#1   score 0.9000", "#2   score 0.7000", "#3   score 0.5000"]
    first_row_y = {y for _, y, _ in pages[0].boxes[:2]}
    assert len(first_row_y) == 1  # a and b side by side
    for png, page in zip(written, pages, strict=True):
        assert_page_matches(png, page)
        assert count_tiles(png, style.tile) == len(page.tiles)


def test_duplicates_grid_rows_labels_and_keeper(images: list[Path], tmp_path: Path) -> None:
    groups = [[Member(images[0], ("exact",), keeper=True), Member(images[1], ("0.981",)), images[2]],
              [images[3], images[4]]]
    style = GridStyle(tile=64, columns=2, rows_per_page=10)
    out = duplicates_grid(groups, tmp_path / "dups.png", style=style)
    page = plan_duplicates(groups, style)[0]
    assert len(out) == 1 and len(page.tiles) == 5
    assert [h[2] for h in page.headings] == ["group 1  ·  3 images", "group 2  ·  2 images"]
    assert page.tiles[0].lines == ("pic_0.jpg", "exact", "keeper") and page.tiles[1].lines == ("pic_1.jpg", "0.981")
    rows = sorted({y for _, y, _ in page.boxes})
    assert len(rows) == 3  # group 1 wraps after two members, group 2 starts its own row
    assert_page_matches(out[0], page)
    x, y, side = page.boxes[0]
    frame = np.asarray(Image.open(out[0]).convert("RGB"))[y - 2, x + side // 2]
    assert tuple(frame) == ACCENTS["keeper"]


def test_match_grid_a_then_its_matches(images: list[Path], tmp_path: Path) -> None:
    rows = [(images[0], [(images[1], 0.8), (images[2], 0.7)]), (images[3], [(images[4], 0.6)])]
    out = match_grid(rows, tmp_path / "match.png")
    page = plan_matches(rows)[0]
    assert [t.path for t in page.tiles] == [images[0], images[1], images[2], images[3], images[4]]
    assert page.tiles[0].accent == "query" and page.tiles[2].lines[1] == "#2  0.700"
    assert_page_matches(out[0], page)


def test_existing_single_file_api(images: list[Path], tmp_path: Path) -> None:
    out = result_grid(images[0], [(images[1], 0.5)], tmp_path / "grid.png", tile=80)
    assert out == tmp_path / "grid.png" and Image.open(out).size[0] == 2 * 80 + 12 + 2 * 16
    pair = side_by_side(images[0], images[1], 0.42, tmp_path / "pair.png", height=100)
    assert Image.open(pair).size[1] == 16 + 44 + 100 + 28 + 16


def test_outputs_are_checked_before_drawing(images: list[Path], tmp_path: Path) -> None:
    with pytest.raises(LookalikeError, match="end.* in .png"):
        search_grid(images[0], [], tmp_path / "grid.jpg")
    with pytest.raises(LookalikeError, match="does not exist"):
        pairs_grid([], tmp_path / "missing" / "grid.png")
    assert not list(tmp_path.glob("*.jpg"))


def test_empty_answer_is_one_page_saying_so(tmp_path: Path) -> None:
    written = pairs_grid([], tmp_path / "none.png")
    assert len(written) == 1 and Image.open(written[0]).size[0] > 0


def test_captions_use_a_truetype_font_and_fit() -> None:
    face = font(14)
    assert isinstance(face, ImageFont.FreeTypeFont) and face.size == 14
    name = "a_really_long_photo_name_from_the_camera_roll_2024_07_01.jpeg"
    short = fit_text(name, 150, face)
    assert face.getlength(short) <= 150 and "…" in short and short.endswith(".jpeg")
    assert fit_text("dog.jpg", 150, face) == "dog.jpg"
