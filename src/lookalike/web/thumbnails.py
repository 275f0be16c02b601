"""Thumbnails of library images: JPEGs that fit a size x size box, upright (EXIF applied), made once
and kept in the library's folder (`<library>/thumbnails/<content hash>-<size>.jpg`, so a changed file
gets a new one). The cache is bounded: past its byte budget the least recently used thumbnails are
removed. Where the library's folder is read-only they are made on each request instead. The image is
read only through `open_library_file` (a regular file inside the library, no links followed)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from ..images import DecodeOptions, decode_image
from ..service import StoredFile
from .files import open_library_file

logger = logging.getLogger(__name__)
THUMBNAIL_DIR = "thumbnails"
MIN_SIZE, MAX_SIZE = 16, 1024
PRUNE_TO = 0.8  # a full cache is pruned to this share of its budget, so pruning is not on every write


def render_thumbnail(handle: BinaryIO, name: str, size: int, max_pixels: int) -> bytes:
    """The JPEG bytes of the open image file `handle` scaled to fit size x size, upright."""
    picture, _ = decode_image(handle, DecodeOptions(draft_short_side=size, max_pixels=max_pixels), name=name)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def prune_cache(folder: Path, max_bytes: int) -> int:
    """Remove the least recently used thumbnails of `folder` while it holds more than `max_bytes`
    (down to PRUNE_TO of it); returns how many were removed."""
    entries = []
    with os.scandir(folder) as found:
        for entry in found:
            if entry.name.endswith(".jpg") and not entry.name.startswith("."):
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((info.st_mtime, info.st_size, entry.path))
    total = sum(size for _, size, _ in entries)
    if total <= max_bytes:
        return 0
    removed = 0
    for _, size, path in sorted(entries):
        if total <= max_bytes * PRUNE_TO:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def _store(cached: Path, data: bytes, max_bytes: int) -> None:
    cached.parent.mkdir(exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=cached.parent, prefix=".thumb-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, cached)  # atomic: concurrent requests never read half a file
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    removed = prune_cache(cached.parent, max_bytes)
    if removed:
        logger.debug("thumbnail cache %s: removed %d least recently used", cached.parent, removed)


def thumbnail(library_dir: Path, root: Path, stored: StoredFile, size: int, max_pixels: int,
              cache_bytes: int) -> bytes:
    """The cached thumbnail of a stored file, made (and cached when the folder allows, within
    `cache_bytes`) on first use. The file itself is checked first: no thumbnail of a file that is gone
    or was swapped for a link."""
    with open_library_file(root, stored.path) as handle:
        key = stored.hash or f"id{stored.id}-{stored.size}"
        cached = library_dir / THUMBNAIL_DIR / f"{key}-{size}.jpg"
        try:
            data = cached.read_bytes()
        except OSError:
            pass
        else:
            with contextlib.suppress(OSError):
                os.utime(cached)  # recently used: pruned last
            return data
        data = render_thumbnail(handle, str(stored.path), size, max_pixels)
    if cache_bytes > 0:
        try:
            _store(cached, data, cache_bytes)
        except OSError as exc:
            logger.debug("thumbnail not cached in %s: %s", cached.parent, exc)
    return data
