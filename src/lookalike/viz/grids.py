"""Result grids as PNG files: search (the query then its top-k with rank and score), pairs (one row per
pair), duplicate groups (one row per group, with per-member labels), matches between two sets (each A
image followed by its best matches in B), and two images side by side. Each grid function returns the
files it wrote: a long answer is paginated into out.png, out-2.png, ..."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from .layout import (
    GridRow,
    GridStyle,
    PageLayout,
    Tile,
    check_output,
    layout_page,
    page_titles,
    plan_pages,
    wrap_rows,
    write_layouts,
)
from .tiles import BACKGROUND, INK, file_label, font, thumbnail

PathLike = str | os.PathLike[str]
SEARCH_STYLE = GridStyle()
PAIR_STYLE = GridStyle(tile=240, columns=2, rows_per_page=5)
ROW_STYLE = GridStyle(tile=180, columns=6, rows_per_page=5)


@dataclass(frozen=True)
class Member:
    """A member of a duplicate group with its extra caption lines (e.g. "exact", "0.983") and whether it
    is the one to keep (drawn with a green frame)."""

    path: Path
    labels: tuple[str, ...] = ()
    keeper: bool = False


def plan_search(query: PathLike | None, hits: Sequence[tuple[PathLike, float]], style: GridStyle = SEARCH_STYLE,
                title: str | None = None) -> list[PageLayout]:
    """Pages of the query (repeated first on every page, when there is one) and its ranked hits."""
    query_tile = Tile(Path(query), ("query", file_label(query)), "query") if query is not None else None
    per_page = style.columns * style.rows_per_page - (1 if query_tile else 0)
    ranked = [Tile(Path(path), (f"#{rank}  {score:.3f}", file_label(path)))
              for rank, (path, score) in enumerate(hits, start=1)]
    chunks = [ranked[i : i + per_page] for i in range(0, len(ranked), per_page)] or [[]]
    titles = page_titles(title, len(chunks))
    pages = []
    for chunk, page_title in zip(chunks, titles, strict=True):
        tiles = ([query_tile] if query_tile else []) + chunk
        rows = wrap_rows(tiles, style.columns) if tiles else [GridRow((), "no results")]
        pages.append(layout_page(rows, style, page_title))
    return pages


def search_grid(query: PathLike | None, hits: Sequence[tuple[PathLike, float]], out: PathLike,
                title: str | None = None, style: GridStyle = SEARCH_STYLE) -> list[Path]:
    """PNG page(s): the query then each hit with its rank, score and file name."""
    check_output(out)
    return write_layouts(plan_search(query, hits, style, title), out, style)


def plan_pairs(pairs: Sequence[tuple[PathLike, PathLike, float]], style: GridStyle = PAIR_STYLE,
               title: str | None = None) -> list[PageLayout]:
    """One row per pair: its rank and score above, the two images with their names."""
    rows = [GridRow((Tile(Path(a), (file_label(a),)), Tile(Path(b), (file_label(b),))),
                    f"#{rank}   score {score:.4f}")
            for rank, (a, b, score) in enumerate(pairs, start=1)]
    return plan_pages(rows, style, title)


def pairs_grid(pairs: Sequence[tuple[PathLike, PathLike, float]], out: PathLike, title: str | None = None,
               style: GridStyle = PAIR_STYLE) -> list[Path]:
    """PNG page(s) with one row per pair (a, b, score), best first as given."""
    check_output(out)
    return write_layouts(plan_pairs(pairs, style, title), out, style)


def _member(item: PathLike | Member) -> Member:
    return item if isinstance(item, Member) else Member(Path(item))


def plan_duplicates(groups: Sequence[Sequence[PathLike | Member]], style: GridStyle = ROW_STYLE,
                    title: str | None = None) -> list[PageLayout]:
    """One row per group (wrapping after `style.columns` members), each member captioned with its
    name and labels."""
    rows: list[GridRow] = []
    for number, group in enumerate(groups, start=1):
        members = [_member(m) for m in group]
        tiles = [Tile(m.path, (file_label(m.path), *m.labels, *(("keeper",) if m.keeper else ())),
                      "keeper" if m.keeper else None) for m in members]
        rows.extend(wrap_rows(tiles, style.columns, f"group {number}  ·  {len(members)} images"))
    return plan_pages(rows, style, title)


def duplicates_grid(groups: Sequence[Sequence[PathLike | Member]], out: PathLike, title: str | None = None,
                    style: GridStyle = ROW_STYLE) -> list[Path]:
    """PNG page(s) with one row per duplicate group; members may be paths or `Member`s with labels."""
    check_output(out)
    return write_layouts(plan_duplicates(groups, style, title), out, style)


def plan_matches(rows: Sequence[tuple[PathLike, Sequence[tuple[PathLike, float]]]], style: GridStyle = ROW_STYLE,
                 title: str | None = None) -> list[PageLayout]:
    """One row per A image: the image (blue frame) then its best matches in B with rank and score."""
    grid_rows: list[GridRow] = []
    for a, matches in rows:
        tiles = [Tile(Path(a), (file_label(a), "A"), "query")]
        tiles += [Tile(Path(b), (file_label(b), f"#{rank}  {score:.3f}"))
                  for rank, (b, score) in enumerate(matches, start=1)]
        grid_rows.extend(wrap_rows(tiles, style.columns, file_label(a)))
    return plan_pages(grid_rows, style, title)


def match_grid(rows: Sequence[tuple[PathLike, Sequence[tuple[PathLike, float]]]], out: PathLike,
               title: str | None = None, style: GridStyle = ROW_STYLE) -> list[Path]:
    """PNG page(s): each image of A followed by its best matches in B."""
    check_output(out)
    return write_layouts(plan_matches(rows, style, title), out, style)


def result_grid(query: PathLike | None, hits: Sequence[tuple[PathLike, float]], out: PathLike, tile: int = 200,
                title: str | None = None) -> Path:
    """The first page of `search_grid` (kept for callers of the single-file API)."""
    return search_grid(query, hits, out, title=title, style=GridStyle(tile=tile))[0]


def _fit(path: PathLike, height: int) -> Image.Image:
    picture = thumbnail(path, height * 4)
    width = max(1, round(picture.width * height / picture.height))
    return picture.resize((width, height), Image.Resampling.LANCZOS)


def side_by_side(
    a: str | os.PathLike[str], b: str | os.PathLike[str], score: float, out: str | os.PathLike[str],
    height: int = 320,
) -> Path:
    """Write a PNG with `a` and `b` next to each other, their names and the cosine similarity."""
    target = check_output(out)
    left, right = _fit(a, height), _fit(b, height)
    gap, margin, title_h, label_h = 16, 16, 44, 28
    width = margin * 2 + left.width + gap + right.width
    canvas = Image.new("RGB", (width, margin + title_h + height + label_h + margin), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((width // 2, margin), f"cosine similarity {score:.4f}", fill=INK, font=font(26), anchor="mt")
    top = margin + title_h
    canvas.paste(left, (margin, top))
    canvas.paste(right, (margin + left.width + gap, top))
    label_font = font(16)
    draw.text((margin + left.width // 2, top + height + 6), file_label(a), fill=INK, font=label_font, anchor="mt")
    draw.text((margin + left.width + gap + right.width // 2, top + height + 6), file_label(b), fill=INK,
              font=label_font, anchor="mt")
    canvas.save(target, format="PNG")
    return target
