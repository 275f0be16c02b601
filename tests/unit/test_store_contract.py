"""The store contract: every implementation of `lookalike.store.base.VectorStore` behaves the same for
what callers rely on. A new store (PostgreSQL + pgvector) joins by adding one entry to STORES."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image

from lookalike.embedders import Embedder, create_embedder
from lookalike.errors import LibraryError, LibraryLockedError
from lookalike.store.base import VectorStore
from lookalike.store.library import Library
from lookalike.store.memory import MemoryStore

MODEL = "histogram"  # classical and fast: the contract is about the store, not the model


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return create_embedder(MODEL)


def _library(folder: Path, embedder: Embedder) -> VectorStore:
    library = Library.open(folder, model=embedder, create=True)
    library.sync()
    return library


def _memory(folder: Path, embedder: Embedder) -> VectorStore:
    store = MemoryStore(folder, lambda: embedder)
    store.sync()
    return store


def _postgres(folder: Path, embedder: Embedder, url: str) -> VectorStore:
    from lookalike.store.postgres import PostgresStore

    store = PostgresStore(url, folder, model=embedder, create=True)
    store.sync()
    return store


STORES: dict[str, Callable[..., VectorStore]] = {"library": _library, "memory": _memory, "postgres": _postgres}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Eight pictures, one of them an exact copy of another, plus a file that is not an image."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for seed in range(7):
        pattern_image(seed, (72, 56)).save(root / ("sub" if seed % 2 else ".") / f"img_{seed}.png")
    shutil.copyfile(root / "img_0.png", root / "sub" / "copy_of_0.png")
    (root / "notes.jpg").write_text("not a picture")
    return root


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, folder: Path, embedder: Embedder) -> Iterator[VectorStore]:
    extra = (request.getfixturevalue("postgres_url"),) if request.param == "postgres" else ()
    opened = STORES[request.param](folder, embedder, *extra)
    try:
        yield opened
    finally:
        opened.close()


def test_it_is_a_vector_store(store: VectorStore, folder: Path) -> None:
    assert isinstance(store, VectorStore)
    assert store.root.resolve() == folder.resolve()
    assert store.spec.model == MODEL and store.spec.dim > 0


def test_snapshot_holds_every_readable_image_with_unit_vectors(store: VectorStore, folder: Path) -> None:
    found = store.snapshot()
    names = sorted(p.name for p in found.paths)
    assert names == sorted([f"img_{s}.png" for s in range(7)] + ["copy_of_0.png"])
    assert found.vectors.shape == (8, store.spec.dim) and found.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(found.vectors, axis=1), 1.0, atol=1e-5)
    assert list(found.ids) == sorted(found.ids) and len(set(found.ids.tolist())) == 8
    by_name = dict(zip(names, (found.hashes[found.paths.index(p)] for p in sorted(found.paths, key=lambda p: p.name)),
                       strict=True))
    assert by_name["img_0.png"] == by_name["copy_of_0.png"] and by_name["img_0.png"] != by_name["img_1.png"]
    assert [Path(f.path or "").name for f in store.failures()] == ["notes.jpg"]
    assert [Path(f.path or "").name for f in found.failures] == ["notes.jpg"]


def test_search_vector_ranks_by_cosine_and_leaves_out_by_id(store: VectorStore, folder: Path) -> None:
    found = store.snapshot()
    row = [p.name for p in found.paths].index("img_3.png")
    query = found.vectors[row]
    hits = store.search_vector(query, k=3)
    assert hits[0].path.name == "img_3.png" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    scores = {int(i): float(v @ query) for i, v in zip(found.ids, found.vectors, strict=True)}
    expected = sorted((s for i, s in scores.items() if i != int(found.ids[row])), reverse=True)[:3]
    without = store.search_vector(query, k=3, exclude=int(found.ids[row]))
    assert [h.score for h in without] == pytest.approx(expected, abs=1e-5)
    assert all(h.score == pytest.approx(scores[h.id], abs=1e-5) for h in without if h.id is not None)
    assert all(h.path.name != "img_3.png" for h in without)
    exact = store.search_vector(query, k=3, exclude=int(found.ids[row]), exact=True)
    assert [h.score for h in exact] == pytest.approx([h.score for h in without], abs=1e-5)  # ties may reorder
    assert store.search_vector(query, k=8, threshold=1.01) == []


def test_ids_paths_vectors_and_files_agree(store: VectorStore, folder: Path) -> None:
    found = store.snapshot()
    for file_id, path, vector in zip(found.ids, found.paths, found.vectors, strict=True):
        known, current = store.id_of(path)
        assert known == int(file_id) and current
        stored = store.vector_of(int(file_id))
        assert stored is not None
        np.testing.assert_allclose(stored, vector, atol=1e-6)
    facts = store.files([int(i) for i in found.ids] + [10_000])
    assert set(facts) == {int(i) for i in found.ids}
    assert all(facts[int(i)].path.resolve() == p.resolve() for i, p in zip(found.ids, found.paths, strict=True))
    assert store.vector_of(10_000) is None and store.id_of(folder / "notes.jpg") == (None, False)
    chunks = list(store.iter_vectors(chunk=3))
    assert [len(ids) for ids, _ in chunks] == [3, 3, 2]
    np.testing.assert_allclose(np.concatenate([v for _, v in chunks]), found.vectors, atol=1e-6)
    assert store.next_id() > max(int(i) for i in found.ids)


def test_remove_drops_a_file_from_the_answers(store: VectorStore, folder: Path) -> None:
    assert store.remove([folder / "img_2.png"]) == 1
    found = store.snapshot()
    assert "img_2.png" not in {p.name for p in found.paths} and len(found) == 7
    assert store.stats(scan=False).indexed == 7


def test_decisions_and_settings(store: VectorStore, folder: Path) -> None:
    found = store.snapshot()
    a, b = found.hashes[0], found.hashes[1]
    if store.persistent:
        assert store.record_distinct([a, b, a]) == 1
        assert store.record_distinct([b, a]) == 0
        assert store.distinct_pairs() == {tuple(sorted((a, b)))}
        store.set_meta("duplicate_threshold", "0.9")
        assert store.get_meta("duplicate_threshold") == "0.9"
        assert store.update_meta("chosen", lambda current: (current or "") + "a") == "a"
        assert store.update_meta("chosen", lambda current: (current or "") + "b") == "ab"
        assert store.get_meta("chosen") == "ab"
    else:  # a folder embedded for one call keeps nothing: it says how to get a library
        assert store.distinct_pairs() == set() and store.get_meta("duplicate_threshold") is None
        with pytest.raises(LibraryError, match="index"):
            store.record_distinct([a, b])
        with pytest.raises(LibraryError, match="index"):
            store.set_meta("duplicate_threshold", "0.9")
        with pytest.raises(LibraryError, match="index"):
            store.update_meta("chosen", lambda current: "a")


def test_settings_changed_at_once_are_never_lost(store: VectorStore) -> None:
    """Threads appending to one setting at once: each append is kept or refused (the writer lock is
    busy), never read before another's write and then written over it."""
    if not store.persistent:
        return
    start = threading.Barrier(6)
    kept: list[str] = []

    def append(mark: str) -> None:
        start.wait()
        for _ in range(5):
            try:
                store.update_meta("marks", lambda current: (current or "") + mark)
                kept.append(mark)
            except LibraryLockedError:
                time.sleep(0.01)  # another thread holds the writer lock: refused, not lost

    threads = [threading.Thread(target=append, args=(mark,)) for mark in "abcdef"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert kept
    assert sorted(store.get_meta("marks") or "") == sorted(kept)


def test_verdicts_are_kept_by_hash_pair_in_either_order_and_method(store: VectorStore) -> None:
    from lookalike.types import PairVerdict

    hashes = sorted(set(store.snapshot().hashes))
    a, b, c = hashes[:3]
    assert store.verdicts([(a, b)], "m1") == {}
    assert store.record_verdicts([PairVerdict(a, b, "m1", 40, 0.99), PairVerdict(a, c, "m1", 0, -1.0)]) == 2
    found = store.verdicts([(b, a), (c, a), (b, c)], "m1")  # either order; (b, c) never checked
    assert found == {(a, b): PairVerdict(a, b, "m1", 40, 0.99), (a, c): PairVerdict(a, c, "m1", 0, -1.0)}
    assert store.verdicts([(a, b)], "m2") == {}  # another recipe's evidence is not reused
    store.record_verdicts([PairVerdict(a, b, "m1", 12, 0.5)])  # replaced, not duplicated
    assert store.verdicts([(a, b)], "m1")[(a, b)].inliers == 12


def test_sync_again_embeds_nothing_new(store: VectorStore, folder: Path) -> None:
    before = store.snapshot()
    report = store.sync()
    assert report.added == 0 and report.embedded == 0
    after = store.snapshot()
    assert [p.name for p in after.paths] == [p.name for p in before.paths]
    np.testing.assert_allclose(after.vectors, before.vectors, atol=1e-6)


def test_stats_count_indexed_and_failed(store: VectorStore) -> None:
    stats = store.stats(scan=False)
    assert (stats.indexed, stats.failed, stats.model) == (8, 1, MODEL)
    assert [Path(path).name for path, _ in stats.failures] == ["notes.jpg"]
