"""Finding, opening and creating a library on disk, and where its folder is.

A library inside its folder (`FOLDER/.lookalike/<model>/`) records the folder relative to itself
("../.."), so a copied or renamed folder keeps a working library of its own. A library elsewhere
(`library=DIR`) records the folder's absolute path and refuses to index any other folder.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..embedders import DEFAULT_MODEL, EmbeddingSpec
from ..errors import CorruptLibraryError, LibraryError, SpecMismatchError
from .catalog import Catalog
from .layout import LibraryPaths, is_model_dir, locate, model_slug
from .lock import writer_lock
from .vectors import remove_stale_temp_files, sync_directory


@dataclass
class OpenedCatalog:
    """A catalog with the spec and folder it records."""

    paths: LibraryPaths
    catalog: Catalog
    spec: EmbeddingSpec
    root: Path


def stored_root(paths: LibraryPaths, root: Path) -> str:
    """How the catalog records `root`: relative to the library when the library lies inside it."""
    directory = paths.directory.resolve()
    if directory.is_relative_to(root):
        return os.path.relpath(root, directory)
    return str(root)


def resolve_root(paths: LibraryPaths, recorded: str) -> Path:
    """The folder a catalog's recorded root names (a relative one counts from the library)."""
    candidate = Path(recorded)
    return candidate if candidate.is_absolute() else (paths.directory.resolve() / candidate).resolve()


def models_in(home: Path) -> list[str]:
    """The model names of the libraries under `home` (or of `home` itself when it is one model's library)."""
    names = []
    directories = [home] if is_model_dir(home) else sorted(home.iterdir()) if home.is_dir() else []
    for directory in directories:
        if (directory / "catalog.sqlite").is_file():
            catalog = Catalog(directory / "catalog.sqlite", readonly=True)
            try:
                spec_json = catalog.get_meta("spec")
            finally:
                catalog.close()
            if spec_json:
                names.append(str(json.loads(spec_json)["model"]))
    return names


def find_paths(home: Path, model: str | None, create: bool) -> LibraryPaths:
    """The directory of the library for `model` under `home` (None: the only one there, else the
    default model's)."""
    if home.is_dir() or not create:
        return locate(home, model, DEFAULT_MODEL)
    return LibraryPaths(home / model_slug(model or DEFAULT_MODEL))


def missing_library_error(paths: LibraryPaths, home: Path, model: str | None) -> LibraryError | SpecMismatchError:
    """Why there is no library to open: another model's library, or none at all."""
    others = models_in(home)
    if others and model is not None:
        return SpecMismatchError(
            f"{home} holds libraries built with {', '.join(repr(o) for o in others)}, not with '{model}'",
            expected=others[0], given=model,
        )
    return LibraryError("no library here", path=paths.directory, missing=True)


def open_catalog(paths: LibraryPaths, root: Path | None, inside_folder: bool, readonly: bool) -> OpenedCatalog:
    """The catalog at `paths` with its spec and folder. A library opened from inside its folder
    indexes that folder (whatever an older version recorded); any other must record `root`."""
    catalog = Catalog(paths.catalog, readonly=readonly)
    spec_json = catalog.get_meta("spec")
    recorded = catalog.get_meta("root")
    if spec_json is None or recorded is None:
        catalog.close()
        raise CorruptLibraryError("catalog has no spec or root; nothing was changed", path=paths.catalog,
                                  unfinished=True)
    try:
        spec = EmbeddingSpec.from_dict(json.loads(spec_json))
    except (ValueError, TypeError, KeyError) as exc:
        catalog.close()
        raise CorruptLibraryError(f"unreadable model spec ({exc}); nothing was changed", path=paths.catalog) \
            from None
    found_root = root if inside_folder and root is not None else resolve_root(paths, recorded)
    if root is not None and root != found_root:
        catalog.close()
        raise LibraryError(f"this library indexes {found_root}, not {root}", path=paths.directory,
                           indexes=str(found_root))
    portable = stored_root(paths, found_root)
    if inside_folder and not readonly and recorded != portable:
        with catalog.transaction():  # a library written by an older version: record the folder relatively
            catalog.set_meta("root", portable)
    return OpenedCatalog(paths, catalog, spec, found_root)


def unfinished_creation(paths: LibraryPaths) -> bool:
    """Whether `paths` holds a catalog whose creation (by a version that did not create catalogs
    atomically) was killed between its schema and its first commit: tables, but no spec, no creation
    time and no rows; it may be created again. An empty (0-byte) or unreadable catalog is an error
    (`CorruptLibraryError`), never recreated."""
    catalog = Catalog(paths.catalog)
    try:
        return catalog.get_meta("spec") is None and catalog.get_meta("created") is None and not catalog.counts()
    finally:
        catalog.close()


def remove_unfinished(paths: LibraryPaths) -> None:
    for leftover in paths.directory.glob("catalog.sqlite*"):
        leftover.unlink()


def create_catalog(paths: LibraryPaths, root: Path, spec: EmbeddingSpec,
                   exist_ok: bool = False) -> OpenedCatalog | None:
    """A new, empty catalog for vectors of `spec` indexing `root` (no model is loaded).

    The catalog is built under a temporary name and renamed into place, under the writer lock: a
    catalog.sqlite is always complete, a second creator reports the lock (or, with `exist_ok`, gets
    None when the library appeared meanwhile: open that one instead)."""
    if paths.exists() and not exist_ok:
        raise LibraryError("a library already exists here; nothing was changed", path=paths.directory)
    if not root.is_dir():
        raise LibraryError("no such folder to index", path=root)
    try:
        paths.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"cannot create the library here ({exc.strerror})", path=paths.directory,
                           unwritable=True) from None
    with writer_lock(paths.lock):
        if paths.exists():
            if exist_ok:
                return None
            raise LibraryError("a library already exists here; nothing was changed", path=paths.directory)
        remove_stale_temp_files(paths.directory)
        temp = paths.directory / f".{paths.catalog.name}.{os.getpid()}.creating"
        catalog = Catalog(temp, create=True)
        try:
            with catalog.transaction():
                catalog.set_meta("spec", spec.to_json())
                catalog.set_meta("root", stored_root(paths, root))
                catalog.set_meta("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        finally:
            catalog.close()
        os.replace(temp, paths.catalog)
        sync_directory(paths.directory)
    return OpenedCatalog(paths, Catalog(paths.catalog), spec, root)
