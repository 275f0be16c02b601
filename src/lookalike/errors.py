"""The exceptions lookalike raises. Every message is one line that names the thing and the fix.

LookalikeError
├── ImageReadError        a file could not be decoded as an image (callers skip and report it)
├── UnknownModelError     a model name that is not in the registry and not a path / hub id
├── ModelLoadError        weights could not be loaded (no cache, no network, bad directory)
├── UnsupportedQueryError e.g. a text query for a model without a text tower
├── TooManyItemsError     a request whose output would be too large (e.g. `pairs --all` on a big folder)
├── SpecMismatchError     a query or vectors from another embedder than the index was built with
├── LibraryError          a library on disk is missing, corrupt or in use
│   ├── LibraryLockedError   another writer holds the lock
│   └── CorruptLibraryError  the manifest, index or catalog cannot be read
"""

from __future__ import annotations

import os


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can always be printed (undecodable bytes shown as U+FFFD)."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="replace")


class LookalikeError(Exception):
    """Base class of every error lookalike raises on purpose."""


class ImageReadError(LookalikeError):
    """A file that could not be read as an image."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{display_path(path)}: {reason}")


class UnknownModelError(LookalikeError):
    """A model name that is not registered and is neither a local directory nor a hub id."""


class ModelLoadError(LookalikeError):
    """A registered model whose weights could not be loaded."""


class UnsupportedQueryError(LookalikeError):
    """A query the model cannot answer, such as text for an image-only model."""


class TooManyItemsError(LookalikeError):
    """A request whose result would not fit in a sensible amount of memory or output."""


class SpecMismatchError(LookalikeError):
    """Vectors from a different embedder than the one an index was built with."""


class LibraryError(LookalikeError):
    """A library on disk that is missing, corrupt or busy."""


class LibraryLockedError(LibraryError):
    """Another process is writing to the library."""


class CorruptLibraryError(LibraryError):
    """A library file that cannot be read; nothing was overwritten."""
