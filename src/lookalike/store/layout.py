"""Where a library lives: `<folder>/.lookalike/<model-slug>/` unless `--library DIR` says otherwise,
with one sub-folder per model so several models can index one folder side by side."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import LibraryError
from ..types import STATE_DIR  # noqa: F401  (re-exported: the one name of the state folder)

CATALOG = "catalog.sqlite"
INDEX = "vectors.faiss"
MANIFEST = "manifest.json"
LOCK = "writer.lock"


def model_slug(model: str) -> str:
    """A folder name for a model: the registry name as is, a path or hub id shortened plus a hash."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.") or "model"
    if cleaned == model:
        return model
    tail = cleaned.rsplit("-", 1)[-1] if "/" in model else cleaned
    return f"{tail[:40]}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class LibraryPaths:
    """The files of one model's library."""

    directory: Path

    @property
    def catalog(self) -> Path:
        return self.directory / CATALOG

    @property
    def index(self) -> Path:
        return self.directory / INDEX

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST

    @property
    def lock(self) -> Path:
        return self.directory / LOCK

    def exists(self) -> bool:
        return self.catalog.is_file()


def library_home(folder: Path | None, library: Path | None, home: Path | None = None) -> Path:
    """The directory that holds one sub-folder per model: `library` when given; else the folder's own
    `.lookalike` when it exists or no `home` is configured; else a sub-folder of `home` named after
    the folder (for folders that should not be written to)."""
    if library is not None:
        return library
    if folder is None:
        raise LibraryError("a library needs the folder it indexes or its own directory", argument="library")
    own = folder / STATE_DIR
    if home is None or own.is_dir():
        return own
    resolved = folder.resolve()
    digest = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:12]
    return home / f"{model_slug(resolved.name or 'root')}-{digest}"


def folder_library(folder: Path, model: str, home: Path | None = None) -> LibraryPaths:
    """Where the library of `folder` for `model` lives (`FOLDER/.lookalike/<model>`, or under `home`):
    the one place that decides it."""
    return LibraryPaths(library_home(folder, None, home) / model_slug(model))


def is_inside(folder: Path | None, home: Path) -> bool:
    """Whether `home` is the folder's own `.lookalike` (so the library travels with the folder)."""
    return folder is not None and home == folder / STATE_DIR


def is_model_dir(path: Path) -> bool:
    return (path / CATALOG).is_file()


def locate(home: Path, model: str | None, default_model: str) -> LibraryPaths:
    """The library for `model` under `home` (which may itself be one model's directory).

    Without a model: the only one there, else the default model's, else an error listing them.
    """
    if is_model_dir(home):
        return LibraryPaths(home)
    if model is not None:
        return LibraryPaths(home / model_slug(model))
    present = sorted(p.name for p in home.iterdir() if is_model_dir(p)) if home.is_dir() else []
    if len(present) == 1:
        return LibraryPaths(home / present[0])
    if default_model in present:
        return LibraryPaths(home / default_model)
    if not present:
        raise LibraryError("no library here", path=home, missing=True)
    raise LibraryError(f"holds libraries for several models ({', '.join(present)})", path=home,
                       choose_model=present)
