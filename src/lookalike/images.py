"""Finding image files and decoding them safely into RGB pictures.

Decoding applies EXIF orientation, turns palette/alpha/CMYK/16-bit/greyscale images into RGB (alpha
composited on white), uses JPEG draft mode so large photos decode at about the size the model needs,
and enforces a pixel limit. Every failure is an `ImageReadError(path, reason)`.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .errors import ImageReadError, LookalikeError, display_path
from .raw import decode_raw, is_raw, raw_supported
from .types import STATE_DIR, ImageSource
from .video import VideoOptions, is_video, sample_frames, video_supported

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
"""A file path, the bytes of an image file, or a readable binary file object."""
MIN_SIDE = 8
_STATE_DIR_NAMES = frozenset({STATE_DIR})


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: the short side the consumer needs (for draft mode) and the pixel limit."""

    draft_short_side: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = MIN_SIDE


def not_regular_reason(path: str | os.PathLike[str]) -> str | None:
    """Why `path` is not a regular file that may be opened (None when it is one).

    Links are followed (the kernel's own loop limit applies); FIFOs, devices and sockets are never
    opened, since opening or reading them can block for ever or never end.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        return _stat_error_reason(exc)
    return _mode_reason(info.st_mode)


def _stat_error_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of links)"
    if exc.errno == errno.ENOENT:
        return "no such file or folder (or a broken symbolic link)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot read file information ({exc.strerror or exc})"


def _mode_reason(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not an image file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file; not opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file; not opened"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file; not opened"
    return "not a regular file; not opened"


def open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of `path`, only when it is a regular file (checked before opening, and
    again on the open descriptor, so a file swapped for a FIFO in between cannot block). Raises
    `ImageReadError` with the reason otherwise."""
    reason = not_regular_reason(path)
    if reason is not None:
        raise ImageReadError(path, reason)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImageReadError(path, _stat_error_reason(exc)) from None
    reason = _mode_reason(os.fstat(fd).st_mode)
    if reason is not None:
        os.close(fd)
        raise ImageReadError(path, reason)
    return fd


def sniff_image_type(path: str | os.PathLike[str]) -> str | None:
    """The image format from the file's first bytes, or None when it does not look like an image
    (or is not a regular file: FIFOs and devices are never opened)."""
    try:
        fd = open_regular(path)
    except ImageReadError:
        return None
    try:
        head = os.read(fd, 16)
    except OSError:
        return None
    finally:
        os.close(fd)
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


FolderErrorHandler = Callable[[ImageReadError], None]


def _walk(root: Path, on_error: FolderErrorHandler | None = None) -> Iterator[Path]:
    def report(exc: OSError) -> None:
        if on_error is not None:
            where = exc.filename if exc.filename is not None else root
            reason = "permission denied" if isinstance(exc, PermissionError) else \
                f"cannot list folder ({exc.strerror or exc})"
            on_error(ImageReadError(where, f"unreadable folder: {reason}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=report, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _STATE_DIR_NAMES)
        for name in sorted(filenames):
            yield Path(dirpath) / name


def find_images(root: str | os.PathLike[str], recursive: bool = True,
                on_error: FolderErrorHandler | None = None, videos: bool = False) -> list[Path]:
    """Image files below `root`, sorted: by extension, or by content for files with another one;
    camera RAW files where rawpy is installed, and with `videos` video files where PyAV is.

    Files with an image extension are listed even when their content is broken (or they are not
    regular files), so that the caller can report them; files without one are listed only when they
    are regular files whose first bytes are an image's. Folders that cannot be listed go to
    `on_error` (else they are skipped).
    """
    base = Path(root)
    try:
        info = os.stat(base)
    except OSError as exc:
        raise LookalikeError(f"{display_path(base)}: {_stat_error_reason(exc)}") from None
    if not stat.S_ISDIR(info.st_mode):
        return [base]
    candidates = _walk(base, on_error) if recursive else (p for p in sorted(base.iterdir()) if p.is_file())
    found = []
    raw, video = raw_supported(), videos and video_supported()  # RAW and videos only where the extra can read them
    for path in candidates:
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS or (raw and is_raw(path)) or (video and is_video(path)) \
                or sniff_image_type(path) is not None:
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


_ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                 4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_QUARTER_TURNS = frozenset({Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE,
                            Image.Transpose.ROTATE_90})
REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK"})
REDUCE_GAP = 4  # a reduced picture keeps a short side of at least 4x the model's: its final resize stays fair


def _reduced(image: Image.Image, short_side: int | None) -> Image.Image:
    """A large decoded picture box-averaged by the largest whole factor that keeps its short side at
    least REDUCE_GAP times `short_side`, before any mode conversion: what draft mode does for JPEG, for
    the formats that must decode in full (a 100 MP PNG is then converted to RGB at about 1 MP, not at
    400 MB). Pictures below that size decode exactly as before."""
    factor = min(image.size) // (short_side * REDUCE_GAP) if short_side else 1
    if factor < 2 or image.mode not in REDUCIBLE_MODES or "transparency" in image.info:
        return image
    return image.reduce(factor)


def _upright(image: Image.Image, small: Image.Image) -> tuple[Image.Image, bool]:
    """`small` (the decoded `image`, maybe reduced) turned as `image`'s EXIF orientation says, and
    whether that turned it a quarter (width and height swapped)."""
    try:
        method = _ORIENTATIONS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # a broken EXIF block must not lose an otherwise good picture
        method = None
    if method is None:
        return small, False
    return small.transpose(method), method in _QUARTER_TURNS


def source_name(source: ImageSource, name: str | None = None) -> str | os.PathLike[str]:
    """What error messages call a source: its path, or `name` / "<upload>" for bytes and file objects."""
    if isinstance(source, str | os.PathLike):
        return source
    return name or getattr(source, "name", None) or UPLOAD_NAME


def check_regular(path: str | os.PathLike[str]) -> None:
    """Raise `ImageReadError` unless `path` is a non-empty regular file (checked before any open():
    a FIFO would block it for ever)."""
    reason = not_regular_reason(path)
    if reason is not None:
        raise ImageReadError(path, reason)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ImageReadError(path, _stat_error_reason(exc)) from None
    if size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")


def _opened(source: ImageSource, path: str | os.PathLike[str]) -> Image.Image:
    """Pillow's lazy open of a path, of bytes (decoded in memory) or of a binary file object."""
    if isinstance(source, str | os.PathLike):
        check_regular(source)
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
    except ImageReadError:
        raise
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory, not an image file") from None
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"too many pixels to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile bytes is still this file's problem
        raise ImageReadError(path, f"cannot decode ({type(exc).__name__}: {exc})") from None
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
    path = source_name(source, name)
    if is_raw(path) or is_video(path):  # by name: a path, or a file object or bytes named like one
        if isinstance(source, str | os.PathLike):
            check_regular(source)
        elif isinstance(source, bytes | bytearray | memoryview):
            source = io.BytesIO(bytes(source))
        if is_raw(path):
            return decode_raw(source, options.max_pixels, options.min_side, path)
        still = VideoOptions(max_frames=1, short_side=max(options.draft_short_side or 512, 64),
                             max_pixels=options.max_pixels)
        first = sample_frames(source, still, path)[0]
        return first.picture, first.size  # a video as one picture: its first frame
    _register_optional_formats()
    image = _open_checked(source, options, name)
    full_size = image.size
    try:
        with image:
            if options.draft_short_side and image.format == "JPEG":
                image.draft("RGB", _draft_request(image.size, options.draft_short_side))
            image.seek(0)
            image.load()
            upright, turned = _upright(image, _reduced(image, options.draft_short_side))
            rgb = to_rgb(upright)
            if rgb is image:
                rgb = image.copy()
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"too many pixels to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(path, f"truncated or corrupt image data ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile bytes is still this file's problem
        raise ImageReadError(path, f"cannot decode ({type(exc).__name__}: {exc})") from None
    if turned:
        full_size = (full_size[1], full_size[0])
    return rgb, full_size


IMAGE_VIEWS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "mirror": ImageOps.mirror,
    "rot90": lambda image: image.transpose(Image.Transpose.ROTATE_90),
    "rot180": lambda image: image.transpose(Image.Transpose.ROTATE_180),
    "rot270": lambda image: image.transpose(Image.Transpose.ROTATE_270),
}
"""The other views of a picture that flip/rotation-invariant matching also embeds."""


def load_image(source: ImageSource, options: DecodeOptions | None = None, name: str | None = None) -> Image.Image:
    """Decode a path, bytes or a file object into an upright RGB image, or raise `ImageReadError`."""
    return decode_image(source, options, name)[0]
