"""Videos through the vector files: `export` (library on disk and PostgreSQL) and `embed` write one row
per sampled frame with its `time` (null for photos), `import` makes a path's rows one file and its
frames again, so export -> import -> export gives the same rows and search and pairs keep the moments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import pattern_image, run_cli
from media import write_video

from lookalike.embedders import Embedder, create_embedder
from lookalike.errors import LookalikeError
from lookalike.evaluation.index_bench import load_vectors
from lookalike.similarity.pairs import find_pairs
from lookalike.similarity.search import search
from lookalike.store.base import VectorStore
from lookalike.store.exchange import export_library, import_library
from lookalike.store.library import Library

pytest.importorskip("av")
SIZE = (128, 96)
MOMENTS = [("a.png", None), ("c.png", None), ("clip.mp4", 0.0), ("clip.mp4", 2.0), ("clip.mp4", 4.0),
           ("cut.mov", 0.0)]


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """clip.mp4 (scenes 1, 2, 3), cut.mov (scene 2 alone, smaller), a.png (scene 1 as a photo), c.png."""
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(folder / "clip.mp4", [pattern_image(s, SIZE) for s in (1, 2, 3)])
    write_video(folder / "cut.mov", [pattern_image(2, SIZE)], size=(96, 72))
    pattern_image(1, SIZE).save(folder / "a.png")
    pattern_image(4, SIZE).save(folder / "c.png")
    return folder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return create_embedder("histogram")


def _rows(written: list[Path]) -> tuple[list[dict[str, Any]], np.ndarray, dict[str, Any]]:
    """(rows without their vectors, vectors, metadata) of an export or embed file, Parquet or .npy."""
    if written[0].suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(written[0])
        vectors = np.asarray(table.column("vector").to_pylist(), np.float32)
        return table.drop_columns(["vector"]).to_pylist(), vectors, json.loads(table.schema.metadata[b"lookalike"])
    meta = json.loads(written[0].with_suffix(".json").read_text())
    return meta.pop("rows"), np.load(written[0]), meta


def _moments(rows: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    return [(Path(row["path"]).name, row["time"]) for row in rows]


def _items(store: VectorStore) -> list[tuple[str, float | None, bytes]]:
    """Every vector the store holds: (file name, moment, vector bytes), as its snapshot lists them."""
    found = store.snapshot()
    times = found.times or [None] * len(found)
    return [(p.name, t, v.tobytes()) for p, t, v in zip(found.paths, times, found.vectors, strict=True)]


def _answers(store: VectorStore, query: Path) -> tuple[list[Any], set[Any]]:
    hits = [(h.path.name, h.time, round(h.score, 5)) for h in search(store, query, k=4, exact=True)]
    pairs = {(p.a.name, p.a_time, p.b.name, p.b_time, round(p.score, 5))
             for p in find_pairs(store, top=10, every=True).pairs}
    return hits, pairs


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_export_import_export_keeps_every_frame(clips: Path, tmp_path: Path, embedder: Embedder, fmt: str) -> None:
    query = tmp_path / "query.png"
    pattern_image(2, SIZE).save(query)
    with Library.open(clips, model=embedder, create=True) as original:
        assert original.sync().added == 4
        written = export_library(original, tmp_path / "first", fmt)
        rows, vectors, meta = _rows(written)
        assert sorted(_moments(rows), key=lambda m: (m[0], m[1] or 0.0)) == MOMENTS
        clip = [row for row in rows if row["path"] == "clip.mp4"]
        assert [row["time"] for row in clip] == [0.0, 2.0, 4.0]  # consecutive, first frame first
        assert rows.index(clip[0]) + 2 == rows.index(clip[-1]) and len({row["id"] for row in clip}) == 1
        assert len({(row["hash"], row["size"], row["width"]) for row in clip}) == 1  # the file's facts, shared
        assert (meta["count"], meta["vectors"]) == (4, 6) and vectors.shape == (6, embedder.spec.dim)
        assert sorted((n, t, v) for n, t, v in _items(original)) == \
            sorted((Path(r["path"]).name, r["time"], v.tobytes()) for r, v in zip(rows, vectors, strict=True))
        before = _answers(original, query)
        with import_library(written[0], tmp_path / "imported", None) as imported:
            stats = imported.stats()
            assert (stats.indexed, stats.pending, stats.missing) == (4, 0, 0)  # nothing to embed again
            assert imported.index().count == 6 and _items(imported) == _items(original)
            assert _answers(imported, query) == before
            assert ("clip.mp4", 2.0) in {(name, moment) for name, moment, _ in before[0]}
            again, again_vectors, again_meta = _rows(export_library(imported, tmp_path / "second", fmt))
    assert again_vectors.tobytes() == vectors.tobytes()
    assert [{k: v for k, v in row.items() if k != "id"} for row in again] == \
        [{k: v for k, v in row.items() if k != "id"} for row in rows]
    assert (again_meta["count"], again_meta["vectors"]) == (4, 6)


def test_a_postgres_export_has_the_same_rows(clips: Path, tmp_path: Path, fresh_database,
                                             embedder: Embedder) -> None:
    from lookalike.store.postgres import PostgresStore

    with Library.open(clips, model=embedder, create=True) as library, \
            PostgresStore(fresh_database(), clips, model=embedder, create=True) as store:
        library.sync()
        store.sync()
        want, want_vectors, _ = _rows(export_library(library, tmp_path / "lib.parquet", "parquet"))
        got, got_vectors, meta = _rows(export_library(store, tmp_path / "pg.parquet", "parquet"))
        by_moment = {(r["path"], r["time"]): v for r, v in zip(want, want_vectors, strict=True)}
        assert _moments(got) == _moments(want) and (meta["count"], meta["vectors"]) == (4, 6)
        assert all(float(by_moment[(r["path"], r["time"])] @ v) > 0.999 for r, v in zip(got, got_vectors, strict=True))
        with import_library(tmp_path / "pg.parquet", tmp_path / "imported", None) as imported:
            assert imported.index().count == 6
            assert [(n, t) for n, t, _ in _items(imported)] == [(n, t) for n, t, _ in _items(store)]
            hits = search(imported, clips / "a.png", k=1)
            assert (hits[0].path.name, hits[0].time) == ("clip.mp4", 0.0)


def test_embed_writes_one_row_per_frame(clips: Path, tmp_path: Path, embedder: Embedder) -> None:
    model = ["-m", "histogram", "-q"]
    done = run_cli("embed", str(clips), *model, "--out", str(tmp_path / "v.parquet"))
    assert "6 vector(s)" in done.stderr
    run_cli("embed", str(clips), *model, "--out", str(tmp_path / "v.npy"))
    parquet, vectors, _ = _rows([tmp_path / "v.parquet"])
    npy, npy_vectors, meta = _rows([tmp_path / "v.npy"])
    assert _moments(parquet) == _moments(npy) == MOMENTS  # files in order, a video's frames in order
    assert npy_vectors.tobytes() == vectors.tobytes() and (meta["count"], meta["vectors"]) == (4, 6)
    lines = [json.loads(line) for line in run_cli("embed", str(clips), *model, "--out", "-").stdout.splitlines()]
    assert [(Path(r["path"]).name, r["time"]) for r in lines] == MOMENTS
    with Library.open(clips, model=embedder, create=True) as library:  # the frames a library keeps
        library.sync()
        assert sorted((n, t, v) for n, t, v in _items(library)) == \
            sorted((Path(r["path"]).name, r["time"], v.tobytes()) for r, v in zip(parquet, vectors, strict=True))
    assert len(load_vectors(tmp_path / "v.parquet")) == len(load_vectors(library.location)) == 6  # every frame
    with import_library(tmp_path / "v.npy", tmp_path / "imported", clips) as imported:
        assert imported.stats().pending == 0 and imported.index().count == 6
        hits = search(imported, clips / "a.png", k=1)
        assert (hits[0].path.name, hits[0].time) == ("clip.mp4", 0.0)


def test_old_exports_without_time_import_one_vector_per_file(clips: Path, tmp_path: Path, embedder: Embedder) -> None:
    import pyarrow.parquet as pq

    with Library.open(clips, model=embedder, create=True) as library:
        library.sync()
        table = pq.read_table(export_library(library, tmp_path / "new.parquet", "parquet")[0])
    first = [row["time"] in (None, 0.0) for row in table.select(["time"]).to_pylist()]
    old = table.filter(first).drop_columns(["time"])  # what an export wrote before times: first frames only
    pq.write_table(old, tmp_path / "old.parquet")
    with import_library(tmp_path / "old.parquet", tmp_path / "imported", None) as imported:
        assert imported.stats().indexed == 4 and imported.index().count == 4
        assert imported.snapshot().times == []  # no moments known: every file one vector
    pq.write_table(table.drop_columns(["time"]), tmp_path / "ambiguous.parquet")  # clip.mp4 thrice, no times
    with pytest.raises(LookalikeError, match="3 rows for clip.mp4, not all with a time"):
        import_library(tmp_path / "ambiguous.parquet", tmp_path / "refused", None)
    done = run_cli("import", str(tmp_path / "ambiguous.parquet"), "--library", str(tmp_path / "cli"), check=False)
    assert done.returncode == 1 and "3 rows for clip.mp4" in done.stderr and "Traceback" not in done.stderr
