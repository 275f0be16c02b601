"""Laying tiles out on pages and drawing them: rows of square thumbnails with caption lines under each,
an optional heading per row and a title per page. A long answer becomes several pages (out.png,
out-2.png, ...) so that every page stays readable at 100% zoom.

The layout is computed before anything is drawn (`layout_page`), so callers and tests can know
where each tile lands."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

from ..errors import InvalidArgumentError, display_path
from .tiles import BACKGROUND, INK, MUTED, fit_text, font, tile_image

ACCENTS = {"query": (40, 100, 200), "keeper": (30, 140, 60), "best": (30, 140, 60)}


@dataclass(frozen=True)
class Tile:
    """One picture on a grid and the caption lines under it; `accent` draws a coloured frame
    (one of ACCENTS, e.g. "query" or "keeper")."""

    path: Path
    lines: tuple[str, ...] = ()
    accent: str | None = None


@dataclass(frozen=True)
class GridRow:
    """Tiles drawn side by side, with an optional heading above them."""

    tiles: tuple[Tile, ...]
    heading: str | None = None


@dataclass(frozen=True)
class GridStyle:
    """Sizes in pixels; `columns` tiles at most per row, `rows_per_page` rows at most per page."""

    tile: int = 200
    columns: int = 6
    rows_per_page: int = 6
    gap: int = 12
    margin: int = 16
    caption_size: int = 14
    heading_size: int = 16
    title_size: int = 22

    def __post_init__(self) -> None:
        if self.tile < 32:
            raise InvalidArgumentError(f"tile size must be at least 32 pixels, not {self.tile}")
        if self.columns < 1 or self.rows_per_page < 1:
            raise InvalidArgumentError("a grid needs at least one column and one row per page")

    @property
    def line_height(self) -> int:
        return round(self.caption_size * 1.35)

    @property
    def heading_height(self) -> int:
        return round(self.heading_size * 1.6)

    @property
    def title_height(self) -> int:
        return round(self.title_size * 1.8)


@dataclass
class PageLayout:
    """Where everything on one page goes: `boxes[i]` is (x, y, side) of `tiles[i]`'s square."""

    size: tuple[int, int]
    title: str | None
    tiles: list[Tile] = field(default_factory=list)
    boxes: list[tuple[int, int, int]] = field(default_factory=list)
    headings: list[tuple[int, int, str]] = field(default_factory=list)
    caption_lines: int = 0


def wrap_rows(tiles: Sequence[Tile], columns: int, heading: str | None = None) -> list[GridRow]:
    """`tiles` cut into rows of at most `columns`; the heading goes on the first."""
    rows = [GridRow(tuple(tiles[i : i + columns]), heading if i == 0 else None)
            for i in range(0, len(tiles), columns)]
    return rows or [GridRow((), heading)]


def paginate(rows: Sequence[GridRow], rows_per_page: int) -> list[list[GridRow]]:
    """Consecutive pages of at most `rows_per_page` rows."""
    return [list(rows[i : i + rows_per_page]) for i in range(0, len(rows), rows_per_page)]


def layout_page(rows: Sequence[GridRow], style: GridStyle, title: str | None = None) -> PageLayout:
    """Positions of every tile, heading and the page size."""
    columns = max([len(row.tiles) for row in rows] + [1])
    lines = max([len(t.lines) for row in rows for t in row.tiles] + [0])
    width = 2 * style.margin + columns * style.tile + (columns - 1) * style.gap
    page = PageLayout((width, 0), title, caption_lines=lines)
    y = style.margin + (style.title_height if title else 0)
    for row in rows:
        if row.heading:
            page.headings.append((style.margin, y, row.heading))
            y += style.heading_height
        for column, tile in enumerate(row.tiles):
            page.tiles.append(tile)
            page.boxes.append((style.margin + column * (style.tile + style.gap), y, style.tile))
        y += style.tile + 7 + lines * style.line_height + style.gap
    page.size = (width, y - style.gap + style.margin)
    return page


def render_page(page: PageLayout, style: GridStyle) -> Image.Image:
    """Draw `page`: thumbnails (placeholders for unreadable files), captions, headings, title."""
    canvas = Image.new("RGB", page.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if page.title:
        title_font = font(style.title_size)
        draw.text((page.size[0] // 2, style.margin), fit_text(page.title, page.size[0] - 2 * style.margin, title_font),
                  fill=INK, font=title_font, anchor="mt")
    heading_font, caption_font = font(style.heading_size), font(style.caption_size)
    for x, y, text in page.headings:
        draw.text((x, y), fit_text(text, page.size[0] - 2 * style.margin, heading_font), fill=INK, font=heading_font)
    for tile, (x, y, side) in zip(page.tiles, page.boxes, strict=True):
        canvas.paste(tile_image(tile.path, side), (x, y))
        if tile.accent in ACCENTS:
            draw.rectangle((x - 3, y - 3, x + side + 2, y + side + 2), outline=ACCENTS[tile.accent], width=3)
        for number, line in enumerate(tile.lines):
            colour = INK if number == 0 else MUTED
            draw.text((x + side // 2, y + side + 7 + number * style.line_height),
                      fit_text(line, side, caption_font), fill=colour, font=caption_font, anchor="mt")
    return canvas


def page_paths(out: str | os.PathLike[str], pages: int) -> list[Path]:
    """out.png, then out-2.png, out-3.png, ... for the following pages."""
    target = Path(out)
    suffix = target.suffix or ".png"
    return [target if n == 1 else target.with_name(f"{target.stem}-{n}{suffix}") for n in range(1, pages + 1)]


def check_output(out: str | os.PathLike[str]) -> Path:
    """`out` as a Path, after checking it names a PNG file in an existing folder."""
    target = Path(out)
    if target.suffix.lower() != ".png":
        raise InvalidArgumentError("grids are PNG files; give a name ending in .png", path=target)
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"the folder {display_path(target.parent)} does not exist", path=target)
    if target.is_dir():
        raise InvalidArgumentError("is a folder, not a file name", path=target)
    return target


def page_titles(title: str | None, pages: int) -> list[str | None]:
    """The title of each page: "title (page n of N)" when there is more than one."""
    if title is None or pages == 1:
        return [title] * pages
    return [f"{title} (page {n} of {pages})" for n in range(1, pages + 1)]


def plan_pages(rows: Sequence[GridRow], style: GridStyle, title: str | None = None) -> list[PageLayout]:
    """The page layouts for `rows`: at most `style.rows_per_page` rows per page."""
    pages = paginate(rows, style.rows_per_page) or [[GridRow((), "nothing to show")]]
    return [layout_page(page, style, page_title)
            for page, page_title in zip(pages, page_titles(title, len(pages)), strict=True)]


def write_layouts(layouts: Sequence[PageLayout], out: str | os.PathLike[str], style: GridStyle) -> list[Path]:
    """Draw and save each page; returns the files written (page 1 at `out`, then out-2.png, ...)."""
    target = check_output(out)
    written = []
    for page, path in zip(layouts, page_paths(target, len(layouts)), strict=True):
        render_page(page, style).save(path, format="PNG")
        written.append(path)
    return written


__all__ = ["GridRow", "GridStyle", "PageLayout", "Tile", "check_output", "layout_page", "page_paths",
           "page_titles", "paginate", "plan_pages", "render_page", "wrap_rows", "write_layouts"]
