"""The pieces every picture is made of: a readable TrueType font, captions that fit a width, and
square thumbnail tiles that keep the image's aspect ratio (EXIF orientation applied). A file that
cannot be read becomes a labelled placeholder instead of stopping the picture."""

from __future__ import annotations

import base64
import io
import os
import re
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..errors import ImageReadError, display_path
from ..images import DecodeOptions, load_image

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (110, 110, 110)
PLACEHOLDER = (236, 236, 236)
WARNING = (170, 40, 40)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@lru_cache(maxsize=16)
def font(size: int) -> Font:
    """DejaVu Sans when the system has it, else Pillow's bundled TrueType font, at `size` pixels."""
    for candidate in _FONT_FILES:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


MAX_LABEL = 200  # characters drawn at most; longer labels are cut in the middle before measuring
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHOWN = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def drawable(text: str) -> str:
    """`text` safe for one line of ImageDraw.text: control characters (newlines in file names, say)
    shown as \\n, \\r, \\t or \\xNN, and at most MAX_LABEL characters (cut in the middle)."""
    text = _CONTROL.sub(lambda m: _SHOWN.get(m.group(), f"\\x{ord(m.group()):02x}"), text)
    if len(text) > MAX_LABEL:
        half = MAX_LABEL // 2
        text = text[: half - 1] + "…" + text[-half:]
    return text


def fit_text(text: str, width: int, face: Font) -> str:
    """`text` (made `drawable`) shortened with an ellipsis in the middle (keeping the file extension)
    to fit `width` pixels."""
    text = drawable(text)
    if face.getlength(text) <= width:
        return text
    keep_end = min(len(text) // 3, 10)
    head, tail = text[: len(text) - keep_end], text[len(text) - keep_end :]
    while head and face.getlength(head + "…" + tail) > width:
        head = head[:-1]
    if not head:
        while tail and face.getlength("…" + tail) > width:
            tail = tail[1:]
    return head + "…" + tail


def file_label(path: str | os.PathLike[str]) -> str:
    """The file name of `path`, printable and drawable whatever its bytes."""
    return drawable(Path(display_path(path)).name)


def _wrap(text: str, width: int, face: Font, lines: int) -> list[str]:
    words, out, current = text.split(), [], ""
    for word in words:
        trial = f"{current} {word}".strip()
        if face.getlength(trial) <= width or not current:
            current = trial
        else:
            out.append(current)
            current = word
    out.append(current)
    return [fit_text(line, width, face) for line in out[:lines]]


def placeholder(side: int, reason: str) -> Image.Image:
    """A grey square saying the image could not be read, and why."""
    tile = Image.new("RGB", (side, side), PLACEHOLDER)
    draw = ImageDraw.Draw(tile)
    heading, small = font(max(11, side // 12)), font(max(9, side // 16))
    draw.text((side // 2, side // 3), "unreadable", fill=WARNING, font=heading, anchor="mm")
    y = side // 3 + side // 8
    for line in _wrap(reason, side - 12, small, 4):
        draw.text((side // 2, y), line, fill=MUTED, font=small, anchor="mt")
        y += int(small.size * 1.3) if isinstance(small, ImageFont.FreeTypeFont) else 12
    return tile


def thumbnail(path: str | os.PathLike[str], side: int) -> Image.Image:
    """The upright image scaled (up or down) to fit a `side` x `side` square, aspect ratio kept;
    a labelled placeholder square when the file cannot be read."""
    try:
        picture = load_image(path, DecodeOptions(draft_short_side=side))
    except ImageReadError as exc:
        return placeholder(side, exc.reason)
    scale = side / max(picture.width, picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def tile_image(path: str | os.PathLike[str], side: int) -> Image.Image:
    """A `side` x `side` square with the thumbnail of `path` centred on the background colour."""
    square = Image.new("RGB", (side, side), BACKGROUND)
    picture = thumbnail(path, side)
    square.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    return square


def data_uri(path: str | os.PathLike[str], side: int = 160, quality: int = 82) -> str:
    """A JPEG thumbnail of `path` as a `data:` URI, for self-contained HTML."""
    buffer = io.BytesIO()
    thumbnail(path, side).save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_data_uri(path: str | os.PathLike[str]) -> str:
    """A PNG file (a chart) as a `data:` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
