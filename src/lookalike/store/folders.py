"""A folder as a store: its library for the model when it has one (brought up to date first, or used
as it is where its storage cannot be written), else the folder embedded now in memory (nothing
written). The one place that turns a folder into a store; the service and Python callers use it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from ..embedders import DEFAULT_MODEL, Embedder, create_embedder
from ..errors import ImageReadError, LookalikeError
from ..images import find_images
from ..pipeline import PipelineOptions
from .base import VectorStore
from .catalog import storage_writable
from .layout import LibraryPaths, folder_library, library_home
from .library import Library
from .memory import MemoryStore
from .opening import find_paths, models_in
from .scan import hash_files

log = logging.getLogger("lookalike")


def require_folder(folder: str | os.PathLike[str], argument: str = "folder") -> Path:
    """`folder` when it is a folder (a file given where a folder is expected says so)."""
    path = Path(folder)
    if path.is_dir():
        return path
    if path.exists() or path.is_symlink():
        raise LookalikeError("is a file, not a folder of images", path=path, argument=argument)
    raise LookalikeError("no such file or folder", path=path, argument=argument)


def open_folder(folder: str | os.PathLike[str], model: str | Embedder | None = None,
                options: PipelineOptions | None = None, home: Path | None = None,
                embedder: Callable[[], Embedder] | None = None, **embed_options: object) -> VectorStore:
    """The store for a folder command: the folder's library for `model` (a registry name or an
    `Embedder`; None: the default model) when it exists, else the folder embedded now. `embedder`
    builds the model when one is needed (default: `create_embedder`); `home` is settings.home."""
    root = require_folder(folder)
    name = model.spec.model if isinstance(model, Embedder) else (model or DEFAULT_MODEL)
    built: list[Embedder] = [model] if isinstance(model, Embedder) else []

    def make() -> Embedder:
        if not built:
            built.append(embedder() if embedder is not None else create_embedder(name, **embed_options))
        return built[0]

    paths = folder_library(root, name, home)
    if not paths.exists():
        store = MemoryStore(root, make, options)
        store.sync()
        return store
    writable = storage_writable(paths.catalog)
    library = Library.open(root, model=model if isinstance(model, Embedder) else name, readonly=not writable,
                           home=home)
    library.set_embedder_factory(make)
    if writable:
        library.sync(options=options)
    else:
        log.warning("%s is read-only here: using it as it is (new or changed files are not included)",
                    paths.directory)
    return library


def library_models(folder: Path | None, library: Path | None, home: Path | None = None) -> tuple[Path, list[str]]:
    """Where the libraries of a folder (or the `library` directory) live, and the models they hold."""
    where = library_home(folder, library, home)
    return where, models_in(where)


def library_paths(folder: Path | None, library: Path | None, model: str | None, create: bool,
                  home: Path | None = None) -> LibraryPaths:
    """The files of the library for `model` of a folder or a library directory (None: the only one
    there, else the default model's)."""
    return find_paths(library_home(folder, library, home), model, create)


def hash_folder(folder: str | os.PathLike[str]) -> tuple[list[Path], list[str], list[ImageReadError]]:
    """Every image file below `folder` with its content hash (read in parallel), and the files that
    could not be read; nothing is decoded and no model is needed."""
    root = require_folder(folder)
    paths = find_images(root)
    relative = [os.path.relpath(p, root) for p in paths]
    digests = hash_files(root, relative)
    kept = [(p, digests[r]) for p, r in zip(paths, relative, strict=True) if digests[r]]
    failures = [ImageReadError(p, "could not be read (not a regular file, or no permission)")
                for p, r in zip(paths, relative, strict=True) if not digests[r]]
    return [p for p, _ in kept], [h for _, h in kept], failures


def library_writable(library: Path, model: str | None, home: Path | None = None) -> bool:
    """Whether the library directory (for `model`, or its only one) can be written by this process."""
    try:
        paths = library_paths(None, library, model, False, home)
    except LookalikeError:
        return False
    return paths.exists() and storage_writable(paths.catalog)
