"""Fixtures for the web tests: a small library of the shared sample photos (copied into a temporary
folder, so the library is written there) with a broken file and an EXIF-rotated photo, served by an app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")


def copy_samples(shared_data: Path, target: Path) -> Path:
    """The six sample photos (Cat_1..3, Dog_1..3) in `target`."""
    target.mkdir(parents=True)
    for image in sorted((shared_data / "samples" / "Images").glob("*.jpg")):
        shutil.copy(image, target / image.name)
    return target


def rotated_photo(path: Path) -> None:
    """A landscape 120x60 JPEG whose EXIF says 'rotate 90° clockwise' (upright it is portrait 60x120)."""
    picture = Image.new("RGB", (120, 60), (200, 30, 30))
    picture.paste((30, 30, 200), (0, 0, 60, 60))
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(path, exif=exif.tobytes(), quality=90)


@pytest.fixture(scope="module")
def sample_folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_samples(shared_data, tmp_path_factory.mktemp("web") / "photos")
    (folder / "broken.jpg").write_bytes(b"this is not a picture")
    rotated_photo(folder / "rotated.jpg")
    return folder


@pytest.fixture(scope="module")
def service(sample_folder: Path) -> Iterator[object]:
    from lookalike.service import Lookalike
    from lookalike.settings import load_settings

    with Lookalike(load_settings(sample_folder, device="cpu", precision="fp32")) as built:
        library = built.library(sample_folder, model="efficientnet-lite0", create=True)
        built.sync(library)
        yield built


@pytest.fixture(scope="module")
def served_library(service, sample_folder: Path):  # type: ignore[no-untyped-def]
    return service.library(sample_folder, readonly=True)
