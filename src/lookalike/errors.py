"""The exceptions lookalike raises. Each says, in one line, what went wrong and with which file or
value; the command line adds which flag fixes it (see `hint`), so the same error reads right from the
Python API or the web server.

LookalikeError
├── ImageReadError        a file could not be decoded as an image (callers skip and report it)
├── UnknownModelError     a model name that is not in the registry and not a path / hub id
├── ModelLoadError        weights could not be loaded (no cache, no network, bad directory)
├── UnsupportedQueryError e.g. a text query for a model without a text tower
├── InvalidArgumentError  a value out of range or of the wrong kind (checked before any work starts)
├── TooManyItemsError     a request whose output would be too large (e.g. every pair of a big folder)
├── SpecMismatchError     a query or vectors from another embedder than the index was built with
├── ConfigError           a settings file or LOOKALIKE_* variable that cannot be used
├── Cancelled             long work stopped on request (its caller cancelled it)
├── LibraryError          a library on disk is missing, corrupt or in use
│   ├── LibraryLockedError   another writer holds the lock
│   └── CorruptLibraryError  the manifest, index or catalog cannot be read

Every error carries structured fields: `reason` (the message without the path), `path` (the file or
folder concerned, when there is one), `kind` (a stable short name of the class, for JSON) and `details`
(a dict of extra facts, e.g. the model a library was built with). Errors pickle and unpickle equal, so
they cross process pools and Ray workers intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can always be printed (undecodable bytes shown as U+FFFD)."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="replace")


def _restore(cls: type[LookalikeError], reason: str, path: str | None, details: dict[str, Any]) -> LookalikeError:
    error = cls.__new__(cls)
    LookalikeError.__init__(error, reason, path=path, **details)
    return error


class LookalikeError(Exception):
    """Base class of every error lookalike raises on purpose."""

    kind = "error"

    def __init__(self, reason: str = "", *, path: str | os.PathLike[str] | None = None, **details: Any) -> None:
        self.reason = reason
        self.path = None if path is None else os.fspath(path)
        self.details = details
        super().__init__(self._message())

    def _message(self) -> str:
        if self.path is None:
            return self.reason
        return f"{display_path(self.path)}: {self.reason}" if self.reason else display_path(self.path)

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore, (type(self), self.reason, self.path, self.details)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, LookalikeError)
        return (self.reason, self.path, self.details) == (other.reason, other.path, other.details)

    def __hash__(self) -> int:
        return hash((type(self), self.reason, self.path))

    def record(self) -> dict[str, Any]:
        """The error as JSON-ready fields."""
        return {"error": str(self), "kind": self.kind, "reason": self.reason,
                "path": None if self.path is None else display_path(self.path), **self.details}


class ImageReadError(LookalikeError):
    """A file (or uploaded bytes) that could not be read as an image."""

    kind = "image_read"

    def __init__(self, path: str | os.PathLike[str], reason: str, **details: Any) -> None:
        super().__init__(reason, path=path, **details)


class UnknownModelError(LookalikeError):
    """A model name that is not registered and is neither a local directory nor a hub id."""

    kind = "unknown_model"


class ModelLoadError(LookalikeError):
    """A registered model whose weights could not be loaded (`details['offline']`: the cause is a
    missing cache with no network, where an offline model would help)."""

    kind = "model_load"


class UnsupportedQueryError(LookalikeError):
    """A query the model cannot answer, such as text for an image-only model."""

    kind = "unsupported_query"


class InvalidArgumentError(LookalikeError):
    """A value that cannot be used (`details['argument']` names the parameter)."""

    kind = "invalid_argument"


class TooManyItemsError(LookalikeError):
    """A request whose result would not fit in a sensible amount of memory or output."""

    kind = "too_many_items"


class SpecMismatchError(LookalikeError):
    """Vectors from a different embedder than the one an index was built with
    (`details['expected']`: the library's model, `details['given']`: the query's)."""

    kind = "spec_mismatch"


class ConfigError(LookalikeError):
    """A settings file or environment variable whose value cannot be used."""

    kind = "config"


class Cancelled(LookalikeError):
    """Long work (a duplicates run) stopped because its caller asked it to, between steps."""

    kind = "cancelled"


def check_cancel(cancel: Callable[[], bool] | None) -> None:
    """Raise Cancelled when `cancel` (long work's callback, types.Cancel) says the caller gave up."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled")


class LibraryError(LookalikeError):
    """A library on disk that is missing, corrupt or busy."""

    kind = "library"


class LibraryLockedError(LibraryError):
    """Another process is writing to the library."""

    kind = "library_locked"


class CorruptLibraryError(LibraryError):
    """A library file that cannot be read; nothing was overwritten (`details['repair']`: a rebuild of
    the index from the catalog fixes it)."""

    kind = "corrupt_library"


ERROR_CLASSES: tuple[type[LookalikeError], ...] = (
    LookalikeError, ImageReadError, UnknownModelError, ModelLoadError, UnsupportedQueryError,
    InvalidArgumentError, TooManyItemsError, SpecMismatchError, ConfigError, Cancelled, LibraryError,
    LibraryLockedError, CorruptLibraryError,
)
