"""Helpers of the web section of the reliability suite: what a served process holds in memory and
burns in CPU (read from Linux's /proc), the kind of uploads a hostile client sends (a 97 KB PNG that
declares 99.8 MP), and textured pictures on which keypoint checks are slow."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

BIG_SIDES = (10_000, 9_980)  # 99.8 MP: just under the default limit of 100 MP
IDLE_SHARE = 0.05  # a process using less than 5% of one core over IDLE_WINDOW is idle
IDLE_WINDOW = 1.0  # seconds


def proc_available() -> bool:
    return Path("/proc/self/status").exists() and Path("/proc/self/clear_refs").exists()


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at most since the last reset (VmHWM), in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux >= 4.0: writing 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seconds_to_idle(pid: int, since: float, timeout: float) -> float:
    """Seconds from `since` (a time.monotonic() value) to the end of the first IDLE_WINDOW in which the
    process used less than IDLE_SHARE of a core; raises AssertionError when it never idles in `timeout`."""
    while time.monotonic() - since < timeout:
        before = cpu_seconds(pid)
        time.sleep(IDLE_WINDOW)
        if cpu_seconds(pid) - before < IDLE_SHARE * IDLE_WINDOW:
            return time.monotonic() - since
    raise AssertionError(f"the server still used CPU {timeout:.0f} s after its clients left")


def sparse_png(sides: tuple[int, int] = BIG_SIDES) -> bytes:
    """A greyscale PNG of `sides` pixels, all black: ~97 KB on the wire, 100 MB once decoded (400 MB as
    RGB). Built 500 rows at a time, so this process never holds the pixels."""
    width, height = sides

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    rows = b"\x00" * (width + 1) * 500  # each row: filter byte 0, then its pixels
    body = b"".join(packer.compress(rows[:(width + 1) * min(500, height - done)]) for done in range(0, height, 500))
    body += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def textured(seed: int, size: tuple[int, int] = (512, 384)) -> Image.Image:
    """A picture full of corners (smooth colour blobs plus grain): thousands of keypoints, so checking
    its pairs by keypoints takes a while."""
    rng = np.random.default_rng(seed)
    width, height = size
    blobs = Image.fromarray(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8))
    base = np.asarray(blobs.resize(size, Image.Resampling.BICUBIC), np.int16)
    grain = rng.integers(-40, 40, (height, width, 3))
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))
