"""A folder embedded on the fly and the same folder's library run the same code: for each verb (search,
pairs, match, duplicates) the folder's answer equals the library's, on the shared sample photos and on
UKBench objects (with an edited copy mixed in, so that duplicates has something to find)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from lookalike.service import Lookalike
from lookalike.settings import Settings
from lookalike.types import DuplicateOptions, Query, Source

pytestmark = pytest.mark.shared_data
MODEL = "efficientnet-lite0"


def _answers(service: Lookalike, folder: Path, other: Path, query: Path) -> dict[str, object]:
    source = Source(folder, model=MODEL)
    hits = service.search(source, Query(query), k=5).matches
    pairs = service.pairs(source, top=5).pairs
    rows = service.match(Source(other, model=MODEL), source, k=2).rows
    found = service.duplicates(source, DuplicateOptions())
    return {
        "search": [(h.path.name, round(h.score, 4)) for h in hits],
        "pairs": [(p.a.name, p.b.name, round(p.score, 4)) for p in pairs],
        "match": [(r.a.name, r.b.name, round(r.score, 4), r.rank) for r in rows],
        "duplicates": [(g.kind(), sorted(p.name for p in g.members), g.keeper.name) for g in found.groups],
    }


def _folder_then_library(folder: Path, other: Path, query: Path) -> tuple[dict[str, object], dict[str, object]]:
    with Lookalike(Settings(precision="fp32")) as service:
        embedded = _answers(service, folder, other, query)
        assert not (folder / ".lookalike").exists()  # a folder command writes nothing
        service.index(folder, model=MODEL)
        assert (folder / ".lookalike").is_dir()
        indexed = _answers(service, folder, other, query)
    return embedded, indexed


def test_samples(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    shutil.copytree(shared_data / "samples" / "Images", folder)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(shared_data / "samples" / "Query_Image.jpg", other)
    embedded, indexed = _folder_then_library(folder, other, folder / "Dog_2.jpg")
    assert embedded == indexed
    assert embedded["search"][0][0] == "Dog_3.jpg" and embedded["pairs"][0][:2] == ("Dog_2.jpg", "Dog_3.jpg")


def test_ukbench_objects_with_an_edited_copy(shared_data: Path, tmp_path: Path) -> None:
    images = sorted((shared_data / "ukbench-a" / "images").glob("*.jpg"))
    folder, other = tmp_path / "objects", tmp_path / "queries"
    folder.mkdir()
    other.mkdir()
    for path in images[:16]:  # four objects, four photos each
        shutil.copy(path, folder)
    for path in images[16:18]:
        shutil.copy(path, other)
    picture = Image.open(images[5]).convert("RGB")
    width, height = picture.size
    picture.crop((width // 10, height // 10, width, height)).resize((width // 2, height // 2)).save(
        folder / "edited_copy.jpg", quality=70)
    embedded, indexed = _folder_then_library(folder, other, folder / images[0].name)
    assert embedded == indexed
    groups = embedded["duplicates"]
    assert isinstance(groups, list) and any("edited_copy.jpg" in members for _, members, _ in groups)
