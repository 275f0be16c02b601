"""Search with --invariant: the query's mirror and 90/180/270 rotations are matched too (the best score
kept, each file once), so a rotated copy finds its original; the library keeps one vector per image."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lookalike.similarity import search
from lookalike.store import Library
from lookalike.store.folders import open_folder
from lookalike.types import Query


@pytest.mark.shared_data
def test_a_rotated_mirrored_query_finds_its_original(shared_data: Path, tmp_path: Path, effnet) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    originals = sorted((shared_data / "ukbench-a" / "images").glob("*.jpg"))[:40:4]  # 10 different objects
    for path in originals:
        (photos / path.name).write_bytes(path.read_bytes())
    target = originals[3]
    query = tmp_path / "query.jpg"
    Image.open(target).transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(query)
    with Library.open(photos, model=effnet, create=True) as library:
        library.sync()
        plain = search(library, Query(query), k=10)
        turned = search(library, Query(query, invariant=True), k=10)
        assert library.stats(scan=False).indexed == 10  # one vector per image
    assert turned[0].path.name == target.name
    assert turned[0].score > next(m.score for m in plain if m.path.name == target.name) + 0.05
    assert len({m.id for m in turned}) == len(turned) == 10  # each file once
    folder_answer = search(open_folder(photos, effnet), Query(query, invariant=True), k=3)  # the folder's library
    assert folder_answer[0].path.name == target.name
