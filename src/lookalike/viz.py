"""Pictures people would rather look at than numbers: two images side by side with their score, and
a grid of search results."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .errors import display_path
from .images import load_image

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _fit(path: str | os.PathLike[str], height: int) -> Image.Image:
    picture = load_image(path)
    width = max(1, round(picture.width * height / picture.height))
    return picture.resize((width, height), Image.Resampling.LANCZOS)


def _caption(path: str | os.PathLike[str], limit: int = 40) -> str:
    name = Path(display_path(path)).name
    return name if len(name) <= limit else name[: limit - 1] + "…"


def side_by_side(
    a: str | os.PathLike[str], b: str | os.PathLike[str], score: float, out: str | os.PathLike[str],
    height: int = 320,
) -> Path:
    """Write a PNG with `a` and `b` next to each other, their names and the cosine similarity."""
    left, right = _fit(a, height), _fit(b, height)
    gap, margin, title_h, label_h = 16, 16, 44, 28
    width = margin * 2 + left.width + gap + right.width
    canvas = Image.new("RGB", (width, margin + title_h + height + label_h + margin), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((width // 2, margin), f"cosine similarity {score:.4f}", fill=_INK, font=_font(26), anchor="mt")
    top = margin + title_h
    canvas.paste(left, (margin, top))
    canvas.paste(right, (margin + left.width + gap, top))
    label_font = _font(16)
    draw.text((margin + left.width // 2, top + height + 6), _caption(a), fill=_INK, font=label_font, anchor="mt")
    draw.text((margin + left.width + gap + right.width // 2, top + height + 6), _caption(b), fill=_INK,
              font=label_font, anchor="mt")
    target = Path(out)
    canvas.save(target, format="PNG")
    return target


def result_grid(
    query: str | os.PathLike[str] | None,
    hits: Sequence[tuple[str | os.PathLike[str], float]],
    out: str | os.PathLike[str],
    tile: int = 200,
    title: str | None = None,
) -> Path:
    """Write a PNG: the query (when there is one) then each hit with its rank and score."""
    tiles: list[tuple[Image.Image, str]] = []
    if query is not None:
        tiles.append((_square(query, tile), f"query: {_caption(query, 24)}"))
    for rank, (path, score) in enumerate(hits, start=1):
        tiles.append((_square(path, tile), f"#{rank} {score:.3f} {_caption(path, 16)}"))
    gap, label_h, title_h = 10, 24, 36 if title else 0
    columns = min(len(tiles), 6) or 1
    rows = (len(tiles) + columns - 1) // columns
    canvas = Image.new("RGB", (gap + columns * (tile + gap), title_h + gap + rows * (tile + label_h + gap)),
                       _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((canvas.width // 2, 8), title, fill=_INK, font=_font(20), anchor="mt")
    for position, (picture, label) in enumerate(tiles):
        x = gap + (position % columns) * (tile + gap)
        y = title_h + gap + (position // columns) * (tile + label_h + gap)
        canvas.paste(picture, (x + (tile - picture.width) // 2, y + (tile - picture.height) // 2))
        draw.text((x + tile // 2, y + tile + 4), label, fill=_INK, font=_font(13), anchor="mt")
    target = Path(out)
    canvas.save(target, format="PNG")
    return target


def _square(path: str | os.PathLike[str], size: int) -> Image.Image:
    picture = load_image(path)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    return picture
