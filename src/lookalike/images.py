"""Finding image files and decoding them safely into RGB pictures.

Decoding applies EXIF orientation, turns palette/alpha/CMYK/16-bit/greyscale images into RGB (alpha
composited on white), uses JPEG draft mode so large photos decode at about the size the model needs,
and enforces a pixel limit. Every failure is an `ImageReadError(path, reason)`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageReadError, LookalikeError, display_path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff",
     ".heic", ".heif", ".avif"}
)
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (8, b"WEBP", "webp"),
    (4, b"ftypheic", "heic"),
    (4, b"ftypheix", "heic"),
    (4, b"ftypmif1", "heic"),
    (4, b"ftypavif", "avif"),
)
DEFAULT_MAX_PIXELS = 100_000_000
UPLOAD_NAME = "<upload>"
ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
"""A file path, the bytes of an image file, or a readable binary file object."""
MIN_SIDE = 8
_STATE_DIR_NAMES = frozenset({".lookalike"})


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: the short side the consumer needs (for draft mode) and the pixel limit."""

    draft_short_side: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = MIN_SIDE


def sniff_image_type(path: str | os.PathLike[str]) -> str | None:
    """The image format from the file's first bytes, or None when it does not look like an image."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _STATE_DIR_NAMES)
        for name in sorted(filenames):
            yield Path(dirpath) / name


def find_images(root: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """Image files below `root`, sorted: by extension, or by content for files with another one.

    Files with an image extension are listed even when their content is broken, so that the caller
    can report them; files without one are listed only when their first bytes are an image's.
    """
    base = Path(root)
    if base.is_file():
        return [base]
    if not base.is_dir():
        raise LookalikeError(f"{display_path(base)}: no such file or folder")
    candidates = _walk(base) if recursive else (p for p in sorted(base.iterdir()) if p.is_file())
    found = []
    for path in candidates:
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS or sniff_image_type(path) is not None:
            found.append(path)
    return found


def _register_optional_formats() -> None:
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale scaled into 8 bits (Pillow's convert clips instead)."""
    values = np.asarray(image, dtype=np.float32)
    if image.mode.startswith("I;16"):
        scale = 65535.0
    elif image.mode == "I":
        scale = 65535.0 if values.max(initial=0) > 255 else 255.0
    else:  # "F"
        low, high = float(values.min(initial=0)), float(values.max(initial=1))
        values, scale = values - low, max(high - low, 1e-12)
    grey = np.clip(values / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as RGB; transparent areas become white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        return _high_bit_depth_to_rgb(image)
    has_alpha = mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _draft_request(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    width, height = size
    scale = short_side / max(min(width, height), 1)
    return max(1, int(width * scale + 0.999)), max(1, int(height * scale + 0.999))


def source_name(source: ImageSource, name: str | None = None) -> str | os.PathLike[str]:
    """What error messages call a source: its path, or `name` / "<upload>" for bytes and file objects."""
    if isinstance(source, str | os.PathLike):
        return source
    return name or getattr(source, "name", None) or UPLOAD_NAME


def _opened(source: ImageSource, path: str | os.PathLike[str]) -> Image.Image:
    """Pillow's lazy open of a path, of bytes (decoded in memory) or of a binary file object."""
    if isinstance(source, str | os.PathLike):
        try:
            size = os.stat(source).st_size
        except FileNotFoundError:
            raise ImageReadError(path, "file not found") from None
        except PermissionError:
            raise ImageReadError(path, "permission denied") from None
        if size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        return Image.open(source)
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        return Image.open(io.BytesIO(bytes(source)))
    return Image.open(source)


def _open_checked(source: ImageSource, options: DecodeOptions, name: str | None = None) -> Image.Image:
    path = source_name(source, name)
    try:
        image = _opened(source, path)
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not an image file") from None
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"too many pixels to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None
    width, height = image.size
    if width * height > options.max_pixels:
        image.close()
        raise ImageReadError(
            path,
            f"image is {width}x{height} ({width * height / 1e6:.0f} MP), above the limit of "
            f"{options.max_pixels / 1e6:.0f} MP",
            limit="max_pixels",
        )
    if min(width, height) < options.min_side:
        image.close()
        raise ImageReadError(
            path, f"image is {width}x{height}, too small to compare (minimum {options.min_side} px a side)"
        )
    return image


def decode_image(
    source: ImageSource, options: DecodeOptions | None = None, name: str | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """Decode a file, image bytes or a binary file object into an upright RGB image; also return the
    full upright size (before draft-mode reduction). Bytes are decoded in memory, never written out.
    Raises `ImageReadError` saying why the source cannot be read (named `name` or "<upload>")."""
    options = options or DecodeOptions()
    _register_optional_formats()
    path = source_name(source, name)
    image = _open_checked(source, options, name)
    full_size = image.size
    try:
        with image:
            if options.draft_short_side and image.format == "JPEG":
                image.draft("RGB", _draft_request(image.size, options.draft_short_side))
            image.seek(0)
            image.load()
            try:
                upright = ImageOps.exif_transpose(image)
            except Exception:  # a broken EXIF block must not lose an otherwise good picture
                upright = image
            rgb = to_rgb(upright)
            if rgb is image:
                rgb = image.copy()
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"too many pixels to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None
    if (upright.width > upright.height) != (image.width > image.height):
        full_size = (full_size[1], full_size[0])
    return rgb, full_size


def load_image(source: ImageSource, options: DecodeOptions | None = None, name: str | None = None) -> Image.Image:
    """Decode a path, bytes or a file object into an upright RGB image, or raise `ImageReadError`."""
    return decode_image(source, options, name)[0]
