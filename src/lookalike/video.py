"""Video files as items (the `[video]` extra, PyAV): a few frames per video, taken at scene changes.

Every frame about `probe` seconds apart is shrunk to a tiny grey thumbnail; a frame is kept when it
differs from the last kept one by more than `threshold` (0-1: the mean of the grey histograms' total
variation distance, which motion inside a shot barely moves, and the mean absolute pixel difference,
which tells apart shots of similar tones), and no sooner than 60 / `per_minute` seconds after it.
The first frame is always kept, so every video with a decodable stream gives at least one frame;
`max_frames` bounds a long video. Kept frames are scaled so that their short side is `short_side`
(the model needs no more), so memory stays small.
Every failure is an `ImageReadError(path, reason)`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from .errors import ImageReadError, LookalikeError
from .extras import installed, require

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
_THUMB = 32  # side of the grey thumbnail the scene-change measure compares


@dataclass(frozen=True)
class VideoOptions:
    """How frames are sampled: scene-change threshold (0-1, see the module's docstring), at most
    `per_minute` frames a minute, frames looked at every `probe` seconds, at most `max_frames` per
    video, kept frames scaled to `short_side` pixels on their short side, frames above `max_pixels`
    refused before any is decoded."""

    threshold: float = 0.18
    per_minute: int = 30
    probe: float = 0.2
    max_frames: int = 200
    short_side: int = 256
    max_pixels: int = 100_000_000


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: its time in seconds from the start, the picture (RGB) and the video's size."""

    time: float
    picture: Image.Image
    size: tuple[int, int]


def video_supported() -> bool:
    """Whether this install reads videos (PyAV is importable)."""
    return installed("av")


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether `path` has a video file extension."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def _grey(frame: Any) -> np.ndarray:
    thumb = frame.reformat(width=_THUMB, height=_THUMB, format="gray").to_ndarray()
    return np.asarray(thumb, dtype=np.float32) / 255.0


def _change(a: np.ndarray, b: np.ndarray) -> float:
    """How different two grey thumbnails look, 0 (same) to 1."""
    bins = np.linspace(0.0, 1.0, 17)
    ha, hb = np.histogram(a, bins)[0] / a.size, np.histogram(b, bins)[0] / b.size
    return 0.5 * (0.5 * float(np.abs(ha - hb).sum()) + float(np.abs(a - b).mean()))


def _picture(frame: Any, short_side: int) -> Image.Image:
    width, height = int(frame.width), int(frame.height)
    scale = min(1.0, short_side / max(min(width, height), 1))
    size = max(1, round(width * scale)), max(1, round(height * scale))
    return Image.fromarray(frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray())


def sample_frames(source: str | os.PathLike[str] | BinaryIO, options: VideoOptions | None = None,
                  name: str | os.PathLike[str] | None = None) -> list[VideoFrame]:
    """The frames of a video (a path or an open binary file, called `name` in errors) at its scene
    changes, at least the first one. Raises `ImageReadError` when the file cannot be opened, has no
    video stream, or no frame decodes."""
    options = options or VideoOptions()
    path = name if name is not None else source if isinstance(source, str | os.PathLike) else "<video>"
    opened = os.fspath(source) if isinstance(source, str | os.PathLike) else source
    try:
        av = require("av", "video", "reading video files")
    except LookalikeError as exc:
        raise ImageReadError(path, str(exc)) from None
    gap = 60.0 / max(options.per_minute, 1)
    kept: list[VideoFrame] = []
    try:
        with av.open(opened, mode="r") as container:
            if not container.streams.video:
                raise ImageReadError(path, "no video stream in this file (audio only, or not a video)")
            stream = container.streams.video[0]
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            if width * height > options.max_pixels:
                raise ImageReadError(path, f"video frames are {width}x{height}, above the limit of "
                                           f"{options.max_pixels / 1e6:.0f} MP", limit="max_pixels")
            stream.thread_type = "AUTO"
            last_grey: np.ndarray | None = None
            last_probe = last_kept = -1e9
            for frame in container.decode(stream):
                time = float(frame.time) if frame.time is not None else last_probe + options.probe
                if kept and time - last_probe < options.probe - 1e-6:
                    continue
                last_probe = time
                grey = _grey(frame)
                changed = last_grey is None or _change(grey, last_grey) > options.threshold
                if changed and time - last_kept >= gap - 1e-6:
                    size = (int(frame.width), int(frame.height))
                    kept.append(VideoFrame(round(time, 3), _picture(frame, options.short_side), size))
                    last_grey, last_kept = grey, time
                    if len(kept) >= options.max_frames:
                        break
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg's errors (InvalidDataError, ...) on hostile bytes
        if kept:
            return kept  # a truncated tail: the frames before it are good
        reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
        raise ImageReadError(path, f"no decodable video stream ({reason})") from None
    if not kept:
        raise ImageReadError(path, "no decodable video frame")
    return kept
