"""Camera RAW files through rawpy (the `[raw]` extra): the embedded preview JPEG when the file has one
(fast, and what the camera itself showed), else LibRaw's half-size decode. Every failure is an
`ImageReadError(path, reason)`; a missing rawpy is one line naming the extra."""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from .errors import ImageReadError, LookalikeError
from .extras import installed, require

RAW_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf", ".pef",
     ".srw", ".rwl", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq"}
)
# LibRaw's `flip` (the camera's orientation) as the Pillow transpose that makes a preview upright
_FLIP = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}


def raw_supported() -> bool:
    """Whether this install reads camera RAW files (rawpy is importable)."""
    return installed("rawpy")


def is_raw(path: str | os.PathLike[str]) -> bool:
    """Whether `path` has a camera RAW extension."""
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTENSIONS


def _preview(raw: Any, rawpy: Any) -> Image.Image | None:
    """The embedded preview, upright, or None when the file has none (or one LibRaw cannot unpack)."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    picture: Image.Image
    if thumb.format == rawpy.ThumbFormat.JPEG:
        picture = Image.open(io.BytesIO(thumb.data))
        picture.load()
    else:
        picture = Image.fromarray(np.ascontiguousarray(thumb.data))
    turn = _FLIP.get(int(raw.sizes.flip))
    return picture.transpose(turn) if turn is not None else picture


def decode_raw(source: str | os.PathLike[str] | BinaryIO, max_pixels: int, min_side: int,
               name: str | os.PathLike[str] | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """The picture of a RAW file (a path or an open binary file, called `name` in errors): its
    preview, else a half-size decode, as RGB, and the sensor's full upright size. Raises
    `ImageReadError` naming the file and the reason."""
    path = name if name is not None else source if isinstance(source, str | os.PathLike) else "<raw>"
    opened = os.fspath(source) if isinstance(source, str | os.PathLike) else source
    try:
        rawpy = require("rawpy", "raw", "reading camera RAW files")
    except LookalikeError as exc:
        raise ImageReadError(path, str(exc)) from None
    try:
        with rawpy.imread(opened) as raw:
            sizes = raw.sizes
            full = (int(sizes.width), int(sizes.height))
            if int(sizes.flip) in (5, 6):
                full = (full[1], full[0])
            if full[0] * full[1] > max_pixels:
                raise ImageReadError(path, f"RAW image is {full[0]}x{full[1]}, above the limit of "
                                           f"{max_pixels / 1e6:.0f} MP", limit="max_pixels")
            picture = _preview(raw, rawpy)
            if picture is None:
                picture = Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8))
    except ImageReadError:
        raise
    except (rawpy.LibRawFileUnsupportedError, rawpy.NotSupportedError):
        raise ImageReadError(path, "not a camera RAW file LibRaw can read (unsupported or corrupt)") from None
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageReadError(path, f"corrupt or truncated RAW data ({type(exc).__name__}: {exc})") from None
    if min(picture.size) < min_side:
        raise ImageReadError(path, f"RAW preview is {picture.width}x{picture.height}, too small to compare")
    return picture.convert("RGB"), full
