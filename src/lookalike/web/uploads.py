"""Uploaded images: read into memory up to a byte limit and checked against the pixel limit from the
image header before any decoding. They are never written anywhere under any name."""

from __future__ import annotations

import io
import warnings
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from ..errors import ImageReadError


def read_upload(stream: BinaryIO, field: str, max_bytes: int) -> bytes:
    """At most `max_bytes` of an uploaded file; more is an `ImageReadError` (413), none is one too (400)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageReadError(field, f"upload is larger than the limit of {max_bytes:,} bytes", limit="max_bytes")
    if not data:
        raise ImageReadError(field, "empty file (0 bytes)")
    return data


def check_pixels(data: bytes, field: str, max_pixels: int) -> int:
    """Refuse an image whose header declares more than `max_pixels` (the limit files are held to) before
    its pixels are decoded; returns the pixels it declares. A header Pillow cannot read here is left to
    the decoder, which names the problem (and knows the optional formats): it counts as `max_pixels`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise ImageReadError(field, f"too many pixels to decode safely ({exc})", limit="max_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return max_pixels
    if width * height > max_pixels:
        raise ImageReadError(field, f"image is {width}x{height} ({width * height / 1e6:.0f} MP), above the limit "
                                    f"of {max_pixels / 1e6:.0f} MP", limit="max_pixels")
    return width * height


def upload_bytes(stream: BinaryIO, field: str, max_bytes: int, max_pixels: int) -> tuple[bytes, int]:
    """The checked bytes of one uploaded image, and the pixels its header declares."""
    data = read_upload(stream, field, max_bytes)
    return data, check_pixels(data, field, max_pixels)
