"""Which image formats this install reads: Pillow's built-in decoders, plus the optional ones
(HEIC/HEIF through pillow-heif, AVIF when Pillow was built with it, camera RAW through rawpy, and
videos through PyAV)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..raw import raw_supported
from ..video import video_supported


@dataclass(frozen=True)
class ImageFormat:
    """One format: its name, the file extensions, whether this install reads it, and what to install
    when it does not (empty when nothing is needed)."""

    name: str
    extensions: str
    readable: bool
    install: str = ""
    note: str = ""


def _pillow_has(codec: str) -> bool:
    from PIL import features

    try:
        return bool(features.check(codec))
    except ValueError:  # a Pillow that does not know the feature's name
        return False


def readable_formats() -> list[ImageFormat]:
    """Every format lookalike knows of, in a fixed order."""
    heif = importlib.util.find_spec("pillow_heif") is not None
    avif = _pillow_has("avif")
    raw, video = raw_supported(), video_supported()
    return [
        ImageFormat("JPEG", ".jpg .jpeg .jpe .jfif", True),
        ImageFormat("PNG", ".png", True),
        ImageFormat("WebP", ".webp", _pillow_has("webp"), "" if _pillow_has("webp") else "a Pillow built with libwebp"),
        ImageFormat("TIFF", ".tif .tiff", True, note="first page"),
        ImageFormat("GIF", ".gif", True, note="first frame"),
        ImageFormat("BMP", ".bmp .dib", True),
        ImageFormat("HEIC/HEIF", ".heic .heif", heif, "" if heif else "pip install 'lookalike[heif]'"),
        ImageFormat("AVIF", ".avif", avif, "" if avif else "a Pillow built with libavif (pip install 'pillow>=11.3')"),
        ImageFormat("Camera RAW", ".cr2 .cr3 .nef .arw .dng .orf .rw2 .raf",
                    raw, "" if raw else "pip install 'lookalike[raw]'", note="embedded preview, else a decode"),
        ImageFormat("Video", ".mp4 .mov .mkv .webm .avi .m4v", video,
                    "" if video else "pip install 'lookalike[video]'", note="frames at scene changes"),
    ]
