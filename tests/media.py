"""Short videos the tests write themselves with PyAV: a few seconds of synthetic frames, one still
scene after another, small and fast to encode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def write_video(path: Path, scenes: Sequence[Image.Image], seconds: float = 2.0, fps: int = 10,
                size: tuple[int, int] = (128, 96), codec: str = "mpeg4") -> Path:
    """`scenes` one after another, each shown for `seconds` (a small square drifts across it so that
    frames inside a scene differ a little, as in real footage)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for scene in scenes:
            base = np.asarray(scene.convert("RGB").resize(size))
            for step in range(int(seconds * fps)):
                pixels = base.copy()
                x = (step * 2) % (size[0] - 6)
                pixels[2:8, x : x + 6] = 255 - pixels[2:8, x : x + 6]
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """A Matroska file with one audio stream and no video."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = np.zeros((1, int(8000 * seconds)), np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
