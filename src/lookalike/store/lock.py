"""One writer at a time: an advisory `flock` on a file in the library, released by the kernel when
the process ends (even on kill -9), so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LibraryError, LibraryLockedError

GRACE_SECONDS = 0.5  # a reader's probe (`writer_active`) holds the lock for microseconds


def writer_active(path: Path) -> bool:
    """Whether some process (this one included) holds the writer lock right now."""
    try:
        with open(path, "rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return False


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the library's writer lock, or fail (within a moment) with who holds it."""
    try:
        handle = open(path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise LibraryError(f"cannot take the writer lock ({exc.strerror}); the library is read-only here",
                           path=path.parent, read_only=True) from None
    with handle:
        deadline = time.monotonic() + GRACE_SECONDS
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                if time.monotonic() < deadline:  # maybe only a reader's probe: try again shortly
                    time.sleep(0.02)
                    continue
                raise LibraryLockedError(
                    f"another lookalike process (pid {holder or '?'}) is updating this library; wait for it "
                    "to finish (searches keep working meanwhile)", path=path.parent, holder=holder,
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
