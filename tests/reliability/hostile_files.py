"""A generator of hostile files: every kind a hostile user or file system can put in a folder, next
to good images, with what lookalike must do with each (index it, record one reason, or not list it).

`make_hostile_folder(root)` writes them and returns a `HostileSet`:
- `good`: relative paths (str, bytes-safe via os.fsdecode) that must be indexed;
- `bad`: relative path -> a substring of the reason that must be recorded for it;
- `unlisted`: files that are not images by name or content and must be neither indexed nor failed.
All files are small (a few KiB; the bombs only declare huge sizes), so a folder is built in well under
a second.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class HostileSet:
    """What was written under `root`, and the outcome expected for each file."""

    root: Path
    good: list[str] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)
    unlisted: list[str] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def picture(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A distinct RGB picture per seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = rng.integers(0, 256, 3)
    for _ in range(3):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        pixels[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(0, 256, 3)
    return Image.fromarray(pixels)


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG whose header declares width x height pixels (3.6 gigapixels) with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def gif_bomb() -> bytes:
    """A GIF whose logical screen and single frame declare 65535 x 65535 pixels."""
    small = encoded(Image.new("P", (8, 8)), "GIF")
    header = bytearray(small)
    header[6:10] = struct.pack("<HH", 65535, 65535)
    position = header.index(b"\x2c")  # image descriptor
    header[position + 5 : position + 9] = struct.pack("<HH", 65535, 65535)
    return bytes(header)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    return encoded(picture(31, (64, 32)), "JPEG", exif=exif.tobytes())


def multi_page_tiff() -> bytes:
    pages = [picture(40 + i) for i in range(3)]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def many_frame_gif(frames: int = 500) -> bytes:
    base = [Image.new("P", (16, 16), i % 256) for i in range(frames)]
    buffer = io.BytesIO()
    base[0].save(buffer, format="GIF", save_all=True, append_images=base[1:], duration=10)
    return buffer.getvalue()


def sixteen_bit_png() -> bytes:
    ramp = (np.arange(32 * 24, dtype=np.uint16).reshape(24, 32) * 80).astype(np.uint16)
    return encoded(Image.fromarray(ramp), "PNG")  # uint16 -> mode I;16


def palette_alpha_png() -> bytes:
    image = picture(50).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.info["transparency"] = 0
    return encoded(image, "PNG", transparency=0)


def make_hostile_folder(root: Path, good_count: int = 6) -> HostileSet:
    """Write good images and every hostile kind under `root` (created); see the module docstring."""
    root.mkdir(parents=True, exist_ok=True)
    found = HostileSet(root)

    def write(rel: str | bytes, data: bytes, expect: str | None, unlisted: bool = False) -> None:
        target = os.path.join(os.fsencode(root), os.fsencode(rel))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
        name = os.fsdecode(os.fsencode(rel))
        if unlisted:
            found.unlisted.append(name)
        elif expect is None:
            found.good.append(name)
        else:
            found.bad[name] = expect

    for seed in range(good_count):
        write(f"good/photo_{seed}.{'jpg' if seed % 2 else 'png'}",
              encoded(picture(seed), "JPEG" if seed % 2 else "PNG"), None)
    # kinds that decode: odd modes and containers
    write("odd/cmyk.jpg", encoded(picture(20).convert("CMYK"), "JPEG"), None)
    write("odd/sixteen_bit.png", sixteen_bit_png(), None)
    write("odd/exif_rotated.jpg", exif_rotated(), None)
    write("odd/palette_alpha.png", palette_alpha_png(), None)
    write("odd/multi_page.tiff", multi_page_tiff(), None)
    write("odd/frames_500.gif", many_frame_gif(), None)
    write("odd/no_extension", encoded(picture(21), "PNG"), None)  # found by content
    write("names/with space.png", encoded(picture(22), "PNG"), None)
    write("names/new\nline.png", encoded(picture(23), "PNG"), None)
    write(b"names/bad-utf8-\xff\xfe.png", encoded(picture(24), "PNG"), None)
    # kinds that must fail with a reason
    jpeg, png, webp = (encoded(picture(30), f) for f in ("JPEG", "PNG", "WEBP"))
    write("bad/zero_bytes.jpg", b"", "empty file")
    write("bad/truncated.jpg", jpeg[: len(jpeg) // 2], "truncated")
    write("bad/truncated.png", png[: len(png) // 2], "truncated")
    write("bad/truncated.webp", webp[: len(webp) // 2], "")
    write("bad/text.jpg", b"this is not a picture\n" * 20, "not an image")
    write("bad/png_bomb.png", png_bomb(), "pixels")
    write("bad/gif_bomb.gif", gif_bomb(), "pixels")
    write("bad/wide_65535x1.png", encoded(Image.new("L", (65535, 1)), "PNG"), "too small")
    write("bad/tall_1x65535.png", encoded(Image.new("L", (1, 65535)), "PNG"), "too small")
    write("bad/header_only.jpg", jpeg[:20], "")
    # not images at all: never listed
    write("other/drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', None,
          unlisted=True)
    write("other/notes.txt", b"hello", None, unlisted=True)
    # special files: never opened
    special = root / "special"
    special.mkdir(exist_ok=True)
    os.mkfifo(special / "pipe.jpg")
    found.bad["special/pipe.jpg"] = "named pipe"
    os.mkfifo(special / "pipe_no_extension")
    found.unlisted.append("special/pipe_no_extension")
    os.symlink("/dev/zero", special / "zero.jpg")
    found.bad["special/zero.jpg"] = "device"
    os.symlink("loop_b", special / "loop_a.jpg")
    os.symlink("loop_a.jpg", special / "loop_b")
    found.bad["special/loop_a.jpg"] = "link loop"
    found.unlisted.append("special/loop_b")  # no image extension, and never sniffed open
    os.symlink("does-not-exist.png", special / "dangling.png")
    found.bad["special/dangling.png"] = "no such file"
    os.mkdir(special / "folder.jpg")  # a folder named like an image: walked, holds nothing
    sock_path = special / "socket.png"
    if len(os.fsencode(sock_path)) < 100:  # AF_UNIX paths are short
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(os.fspath(sock_path))
        found.sockets.append(sock)
        found.bad["special/socket.png"] = "socket"
    return found
