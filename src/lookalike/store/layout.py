"""Where a library lives: `<folder>/.lookalike/<model-slug>/` unless `--library DIR` says otherwise,
with one sub-folder per model so several models can index one folder side by side."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import LibraryError

STATE_DIR = ".lookalike"
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


def library_home(folder: Path | None, library: Path | None) -> Path:
    """The directory that holds one sub-folder per model."""
    if library is not None:
        return library
    if folder is None:
        raise LibraryError("name the indexed folder or pass --library DIR")
    return folder / STATE_DIR


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
        raise LibraryError(f"{home}: no library here; create one with `lookalike index FOLDER`")
    raise LibraryError(f"{home} holds libraries for several models ({', '.join(present)}); pick one with --model")
