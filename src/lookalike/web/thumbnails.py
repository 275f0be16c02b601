"""Thumbnails of library images: JPEGs that fit a size x size box, upright (EXIF applied), made once
and kept in the library's folder (`<library>/thumbnails/<content hash>-<size>.jpg`, so a changed file
gets a new one). Where the library's folder is read-only they are made on each request instead."""

from __future__ import annotations

import io
import logging
import os
import stat
import tempfile
from pathlib import Path

from PIL import Image

from ..errors import ImageReadError
from ..images import DecodeOptions, decode_image
from ..service import StoredFile

logger = logging.getLogger(__name__)
THUMBNAIL_DIR = "thumbnails"
MIN_SIZE, MAX_SIZE = 16, 1024


def check_regular_file(path: Path) -> None:
    """Only regular files are opened (after links): not a FIFO, device or folder left at an indexed path."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageReadError(path, "file not found (removed since it was indexed)", gone=True) from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ImageReadError(path, "not a regular file")


def render_thumbnail(path: Path, size: int, max_pixels: int) -> bytes:
    """The JPEG bytes of `path` scaled to fit size x size, upright."""
    check_regular_file(path)
    picture, _ = decode_image(path, DecodeOptions(draft_short_side=size, max_pixels=max_pixels))
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def thumbnail(library_dir: Path, stored: StoredFile, size: int, max_pixels: int) -> bytes:
    """The cached thumbnail of a stored file, made (and cached when the folder allows) on first use."""
    key = stored.hash or f"id{stored.id}-{stored.size}"
    cached = library_dir / THUMBNAIL_DIR / f"{key}-{size}.jpg"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    data = render_thumbnail(stored.path, size, max_pixels)
    try:
        cached.parent.mkdir(exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=cached.parent, prefix=".thumb-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, cached)  # atomic: concurrent requests never read half a file
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.debug("thumbnail not cached in %s: %s", cached.parent, exc)
    return data
