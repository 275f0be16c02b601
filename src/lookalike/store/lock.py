"""One writer at a time: an advisory `flock` on a file in the library, released by the kernel when
the process ends (even on kill -9), so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LibraryError, LibraryLockedError


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the library's writer lock, or fail at once with who holds it."""
    try:
        handle = open(path, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise LibraryError(
            f"{path.parent}: cannot take the writer lock ({exc.strerror}); the library is read-only here"
        ) from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LibraryLockedError(
                f"{path.parent}: another lookalike process (pid {holder}) is updating this library; "
                "wait for it to finish (searches keep working meanwhile)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
