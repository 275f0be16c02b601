"""Incremental sync, case by case: after each change the catalog and the index agree exactly and
only the expected files were embedded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from library_helpers import CountingEmbedder, assert_consistent

from lookalike.errors import LibraryLockedError, SpecMismatchError
from lookalike.similarity import find_pairs, search
from lookalike.store import Library
from lookalike.store.folders import open_folder
from lookalike.store.lock import writer_lock


@pytest.fixture
def counting(tiny_siglip) -> CountingEmbedder:
    return CountingEmbedder(tiny_siglip)


@pytest.fixture
def library(image_folder: Path, counting: CountingEmbedder) -> Library:
    opened = Library.open(image_folder, model=counting, create=True)
    report = opened.sync()
    assert (report.added, counting.embedded) == (6, 6)
    counting.embedded = 0
    yield opened
    opened.close()


def _sync(library: Library, counting: CountingEmbedder, **kwargs):
    counting.embedded = 0
    report = library.sync(**kwargs)
    assert_consistent(library)
    return report


def _paths(library: Library) -> set[str]:
    return {p.relative_to(library.root).as_posix() for p in library.vectors()[0]}


def test_unchanged_folder_embeds_nothing(library: Library, counting: CountingEmbedder) -> None:
    report = _sync(library, counting)
    assert counting.embedded == 0 and report.unchanged == 6 and not report.index_rebuilt


def test_add(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    pattern_image(40).save(image_folder / "a" / "new.png")
    report = _sync(library, counting)
    assert (report.added, counting.embedded, report.unchanged) == (1, 1, 6)
    assert "a/new.png" in _paths(library)


def test_touch_same_content_is_not_embedded(library: Library, counting: CountingEmbedder,
                                            image_folder: Path) -> None:
    target = image_folder / "a" / "img_0.jpg"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    report = _sync(library, counting)
    assert counting.embedded == 0 and report.touched == 1


def test_modify_same_size_new_mtime(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    target = image_folder / "a" / "img_0.jpg"
    before = search(library, target, k=6)
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF  # same size, different bytes (in the entropy-coded data)
    target.write_bytes(bytes(data))
    report = _sync(library, counting)
    assert (report.updated, counting.embedded) == (1, 1)
    assert len(search(library, target, k=6)) == len(before)


def test_modify_keeping_mtime(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    target = image_folder / "b" / "img_4.jpg"
    stat = target.stat()
    pattern_image(99, size=(80, 60)).save(target, quality=70)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime, new content and size
    report = _sync(library, counting)
    assert (report.updated, counting.embedded) == (1, 1)


def test_rename_and_move_keep_vectors(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    ids_before, vectors_before = library.catalog.vectors(library.spec.dim)
    (image_folder / "a" / "img_1.jpg").rename(image_folder / "a" / "renamed.jpg")
    (image_folder / "c").mkdir()
    shutil.move(image_folder / "b" / "img_5.jpg", image_folder / "c" / "img_5.jpg")
    report = _sync(library, counting)
    assert (report.moved, counting.embedded, report.deleted) == (2, 0, 0)
    assert {"a/renamed.jpg", "c/img_5.jpg"} <= _paths(library)
    ids_after, vectors_after = library.catalog.vectors(library.spec.dim)
    assert ids_after.tolist() == ids_before.tolist()
    np.testing.assert_array_equal(vectors_after, vectors_before)


def test_delete(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    (image_folder / "b" / "img_3.jpg").unlink()
    report = _sync(library, counting)
    assert (report.deleted, counting.embedded) == (1, 0)
    assert "b/img_3.jpg" not in _paths(library) and len(_paths(library)) == 5


def test_broken_then_fixed(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    target = image_folder / "a" / "img_2.jpg"
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 3])
    report = _sync(library, counting)
    assert len(report.failures) == 1 and "truncated" in report.failures[0].reason
    assert "a/img_2.jpg" not in _paths(library)
    stats = library.stats()
    assert (stats.indexed, stats.failed) == (5, 1) and stats.failures[0][0] == "a/img_2.jpg"
    report = _sync(library, counting)  # unchanged broken file: not retried
    assert counting.embedded == 0 and not report.failures
    report = _sync(library, counting, retry_failed=True)
    assert len(report.failures) == 1
    target.write_bytes(good)  # fixed
    report = _sync(library, counting)
    assert (report.updated, counting.embedded, len(report.failures)) == (1, 1, 0)
    assert library.stats().failed == 0 and "a/img_2.jpg" in _paths(library)


def test_second_writer_fails_fast(library: Library) -> None:
    with writer_lock(library.paths.lock), pytest.raises(LibraryLockedError, match=f"pid {os.getpid()}"):
        library.sync()


def test_spec_mismatch_is_one_clear_line(library: Library, image_folder: Path, tiny_clip_dir: Path) -> None:
    from lookalike.cli.errors import with_hint
    from lookalike.embedders import create_embedder

    other = create_embedder(str(tiny_clip_dir), precision="fp32")
    with pytest.raises(SpecMismatchError) as caught:
        Library.open(library=library.paths.directory, model=other)
    assert "\n" not in str(caught.value) and "--" not in str(caught.value)  # the core names no flag
    assert caught.value.details["expected"] == library.spec.model
    assert f"pass --model {library.spec.model}" in with_hint(caught.value)  # the CLI does
    with pytest.raises(SpecMismatchError) as by_name:
        Library.open(library=library.paths.directory, model="efficientnet-lite0")
    assert "index the folder with --model efficientnet-lite0" in with_hint(by_name.value)


def test_query_in_library_is_excluded_and_needs_no_model(library: Library, image_folder: Path) -> None:
    reopened = Library.open(image_folder)  # no model given, none loaded
    target = image_folder / "a" / "img_0.jpg"
    hits = search(reopened, target, k=10)
    assert len(hits) == 5 and target not in [h.path for h in hits]
    assert reopened._embedder is None
    exact = search(reopened, target, k=10, exact=True)
    assert [h.path for h in exact] == [h.path for h in hits]
    scores = [h.score for h in hits]
    cut = (scores[1] + scores[2]) / 2  # two hits above the cut, three below
    kept = search(reopened, target, k=10, threshold=cut)
    assert [h.path for h in kept] == [h.path for h in hits[:2]]
    assert search(reopened, target, k=10, threshold=1.0) == []
    reopened.close()


def test_index_types_and_removal(library: Library, counting: CountingEmbedder, image_folder: Path) -> None:
    from lookalike.store.vectors import IndexParams

    target = image_folder / "a" / "img_0.jpg"
    exact = [h.path for h in search(library, target, k=5, exact=True)]
    for kind in ("hnsw", "ivf", "flat"):
        report = _sync(library, counting, index_params=IndexParams(kind=kind))
        assert report.index_rebuilt and library.index().kind == kind and counting.embedded == 0
        assert [h.path for h in search(library, target, k=5)] == exact
    library.sync(index_params=IndexParams(kind="hnsw"))
    assert library.remove([image_folder / "b" / "img_4.jpg"]) == 1
    assert_consistent(library)
    assert library.index().kind == "hnsw" and library.stats().indexed == 5


def test_folder_commands_use_and_update_the_library(library: Library, counting: CountingEmbedder,
                                                    image_folder: Path) -> None:
    pattern_image(2).save(image_folder / "b" / "copy_of_2.png")
    with open_folder(image_folder, counting) as store:
        result = find_pairs(store, top=1)
        assert {result.pairs[0].a.name, result.pairs[0].b.name} == {"img_2.jpg", "copy_of_2.png"}
        assert counting.embedded == 1  # only the new file
        assert library.stats().indexed == 7
        found = search(store, image_folder / "b" / "copy_of_2.png", k=1)
    assert found[0].path.name == "img_2.jpg"


def test_several_models_side_by_side(library: Library, image_folder: Path, tiny_clip_dir: Path) -> None:
    from lookalike.embedders import create_embedder

    clip = create_embedder(str(tiny_clip_dir), precision="fp32")
    with Library.open(image_folder, model=clip, create=True) as second:
        second.sync()
        assert second.paths.directory != library.paths.directory
        assert second.stats().indexed == 6 and second.spec.dim != library.spec.dim
    assert library.stats().indexed == 6
