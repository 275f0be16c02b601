"""A library inside its folder travels with it: a copied or renamed folder answers from itself. A
library kept elsewhere records its folder and refuses another one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import lookalike.store.memory
from lookalike.errors import LibraryError
from lookalike.service import Lookalike
from lookalike.settings import Settings
from lookalike.similarity import search
from lookalike.store import Library
from lookalike.types import Query, Source

MODEL = "histogram"  # no network, fast: the point here is where vectors come from


def _index(folder: Path, library: Path | None = None) -> None:
    with Library.open(folder, model=MODEL, library=library, create=True) as opened:
        opened.sync()


def test_copied_folder_answers_from_the_copy(image_folder: Path, tmp_path: Path) -> None:
    _index(image_folder)
    copy = tmp_path / "copy"
    shutil.copytree(image_folder, copy)
    for removed in (copy / "b").iterdir():
        removed.unlink()
    with Lookalike(Settings()) as service:
        hits = service.search(Source(copy), Query(copy / "a" / "img_0.jpg"), k=10).matches
    assert {h.path.parent for h in hits} == {copy.resolve() / "a"}  # not the original, not the removed files
    assert len(hits) == 2
    with Library.open(copy) as opened:
        assert opened.root == copy.resolve() and opened.stats().indexed == 3


def test_renamed_folder_keeps_a_working_library(image_folder: Path, tmp_path: Path) -> None:
    _index(image_folder)
    renamed = tmp_path / "renamed"
    image_folder.rename(renamed)
    with Library.open(renamed) as opened:
        hits = search(opened, renamed / "a" / "img_1.jpg", k=3)
        assert opened._embedder is None  # answered from the stored vector
        assert all(h.path.is_relative_to(renamed.resolve()) and h.path.exists() for h in hits)
        assert opened.sync().embedded == 0  # nothing looks new after the rename


def test_library_elsewhere_refuses_another_folder(image_folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "libraries" / "photos"
    _index(image_folder, outside)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(LibraryError) as caught:
        Library.open(other, library=outside)
    assert caught.value.details["indexes"] == str(image_folder.resolve())
    assert "\n" not in str(caught.value)
    with Library.open(image_folder, library=outside) as opened:  # its own folder opens
        assert opened.root == image_folder.resolve()


def test_home_setting_keeps_libraries_out_of_the_folder(image_folder: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    with Lookalike(Settings(home=home)) as service:
        library = service.library(image_folder, model=MODEL, create=True)
        service.sync(library)
        assert library.paths.directory.is_relative_to(home) and not (image_folder / ".lookalike").exists()
        assert service.model_for(image_folder) == MODEL  # the folder's only library decides the model

        def no_embedding(*args: object, **kwargs: object) -> None:
            raise AssertionError("the folder was embedded again instead of read from its library")

        monkeypatch.setattr(lookalike.store.memory.MemoryStore, "sync", no_embedding)
        assert len(service.pairs(Source(image_folder), top=2).pairs) == 2


def test_a_folder_with_several_libraries_asks_for_a_model(image_folder: Path) -> None:
    from lookalike.cli.errors import with_hint

    for model in ("histogram", "phash"):
        _index_with(image_folder, model)
    with Lookalike(Settings()) as service, pytest.raises(LibraryError) as caught:
        service.model_for(image_folder)
    assert "histogram, phash" in str(caught.value) and with_hint(caught.value).endswith("pick one with --model")
    with Lookalike(Settings(model="phash")) as configured:
        assert configured.model_for(image_folder) == "phash"  # the configured default is one of them


def _index_with(folder: Path, model: str) -> None:
    with Library.open(folder, model=model, create=True) as opened:
        opened.sync()
