"""Library files opened for serving: only a regular file whose folder resolves inside the library's
root, opened without following a link at its last component (a file swapped for a symlink, a FIFO or a
folder left at an indexed path is refused), then read from that open descriptor only."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import ImageReadError

CHUNK = 256 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer


def _fd_path(fd: int) -> Path | None:
    """Where an open descriptor points (Linux's /proc), or None where that cannot be told."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def _open_folder(folder: Path, root: Path, shown: Path) -> int:
    """A descriptor of `folder`, which must resolve inside `root` (links inside the root are fine)."""
    real = Path(os.path.realpath(folder))
    if not real.is_relative_to(root):
        raise ImageReadError(shown, "not served: its folder leads outside the library")
    try:
        fd = os.open(real, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
    except FileNotFoundError:
        raise ImageReadError(shown, "file not found (removed since it was indexed)", gone=True) from None
    except OSError as exc:
        raise ImageReadError(shown, f"cannot read ({exc.strerror})") from None
    opened = _fd_path(fd)
    if opened is not None and not opened.is_relative_to(root):  # the folder was swapped after realpath
        os.close(fd)
        raise ImageReadError(shown, "not served: its folder leads outside the library")
    return fd


def open_library_file(root: Path, path: Path) -> BinaryIO:
    """`path` (a file of the library at `root`) open for reading, or an `ImageReadError` saying why not:
    outside the root, a symbolic link, not a regular file, gone."""
    real_root = Path(os.path.realpath(root))
    if not Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root)):
        raise ImageReadError(path, "not served: outside the library")
    folder_fd = _open_folder(path.parent, real_root, path)
    try:
        fd = os.open(path.name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=folder_fd)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found (removed since it was indexed)", gone=True) from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise ImageReadError(path, "not served: a symbolic link, not the indexed file") from None
        raise ImageReadError(path, f"cannot read ({exc.strerror})") from None
    finally:
        os.close(folder_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageReadError(path, "not a regular file")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """The first `size` bytes of an open file (its size when it was checked, the Content-Length sent) in
    pieces; the file is closed at the end (or when the stream is dropped)."""
    with handle:
        left = size
        while left > 0 and (block := handle.read(min(CHUNK, left))):
            left -= len(block)
            yield block
