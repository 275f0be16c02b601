"""Retrieval quality with the real offline EfficientNet-Lite0 on images nobody here made."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.images import find_images, load_image
from lookalike.join.exact import knn
from lookalike.pipeline import PipelineOptions, embed_paths
from lookalike.similarity import find_pairs, search
from lookalike.similarity.query import embed_image
from lookalike.store.folders import open_folder

pytestmark = pytest.mark.shared_data


def test_samples_most_similar_pair_is_dog2_dog3(shared_data: Path, effnet) -> None:
    result = find_pairs(open_folder(shared_data / "samples" / "Images", effnet), top=3)
    best = result.pairs[0]
    assert {best.a.name, best.b.name} == {"Dog_2.jpg", "Dog_3.jpg"}
    assert result.count == 6 and not result.failures
    assert [p.score for p in result.pairs] == sorted((p.score for p in result.pairs), reverse=True)


def test_samples_query_finds_dog2_first(shared_data: Path, effnet) -> None:
    samples = shared_data / "samples"
    matches = search(open_folder(samples, effnet), samples / "Query_Image.jpg", k=3)
    assert matches[0].path.name == "Dog_2.jpg"
    assert all(m.path.name != "Query_Image.jpg" for m in matches)  # excluded by identity
    assert matches[0].score > 0.7


def test_every_cat_nearest_other_image_is_a_cat(shared_data: Path, effnet) -> None:
    embedded = embed_paths(effnet, find_images(shared_data / "samples" / "Images"))
    _, neighbours = knn(embedded.vectors, embedded.vectors, 1, exclude=np.arange(len(embedded.vectors)))
    for position, path in enumerate(embedded.paths):
        if path.name.startswith("Cat"):
            assert embedded.paths[neighbours[position][0]].name.startswith("Cat")


def _near_duplicate(path: Path, target: Path) -> Path:
    picture = load_image(path)
    width, height = picture.size
    dx, dy = int(width * 0.05), int(height * 0.05)
    cropped = picture.crop((dx, dy, width - dx, height - dy)).resize((int(width * 0.6), int(height * 0.6)))
    buffer = io.BytesIO()
    cropped.save(buffer, "JPEG", quality=60)
    target.write_bytes(buffer.getvalue())
    return target


def test_near_duplicates_are_their_originals_top1(shared_data: Path, effnet, tmp_path: Path) -> None:
    originals = find_images(shared_data / "samples")
    embedded = embed_paths(effnet, originals)
    for position, original in enumerate(embedded.paths):
        copy = _near_duplicate(original, tmp_path / f"copy_{position}.jpg")
        scores, indices = knn(embedded.vectors, embed_image(copy, effnet)[None, :], k=1)
        assert indices[0][0] == position, original.name
        assert scores[0][0] > 0.85, (original.name, scores[0][0])


@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_ukbench_ns_score(shared_data: Path, effnet) -> None:
    folder = shared_data / "ukbench-a"
    with open(folder / "labels.csv", newline="") as handle:
        groups = {row["path"]: int(row["group"]) for row in csv.DictReader(handle)}
    paths = [folder / name for name in sorted(groups)]
    embedded = embed_paths(effnet, paths, PipelineOptions(batch_size=32))
    assert not embedded.failures and len(embedded.paths) == len(paths)
    labels = np.array([groups[p.relative_to(folder).as_posix()] for p in embedded.paths])
    _, top4 = knn(embedded.vectors, embedded.vectors, k=4)  # the query itself counts, as in N-S
    ns = float((labels[top4] == labels[:, None]).sum(axis=1).mean())
    assert ns >= 3.8, ns


def test_bad_files_are_skipped_and_good_ones_answered(shared_data: Path, effnet, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("Cat_1.jpg", "Dog_2.jpg", "Dog_3.jpg"):
        (folder / name).write_bytes((shared_data / "samples" / "Images" / name).read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("hello")
    (folder / "half.jpg").write_bytes((folder / "Cat_1.jpg").read_bytes()[:3000])
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    with open(bytes(folder) + b"/\xff\xfe.jpg", "wb") as handle:
        handle.write(b"garbage")
    result = find_pairs(open_folder(folder, effnet), top=1)
    assert {result.pairs[0].a.name, result.pairs[0].b.name} == {"Dog_2.jpg", "Dog_3.jpg"}
    reasons = {Path(f.path).name: f.reason for f in result.failures}
    assert len(reasons) == 5
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["text.jpg"]
    assert "truncated" in reasons["half.jpg"] and "too small" in reasons["dot.png"]
