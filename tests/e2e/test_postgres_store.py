"""The PostgreSQL + pgvector store on a real server: every command through `--store`, the store's only
model chosen without -m, HNSW recall against exact search, and halfvec vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image, run_cli

from lookalike.embedders import EmbeddingSpec
from lookalike.errors import ConfigError, LibraryError
from lookalike.evaluation.synthetic import clustered_vectors
from lookalike.settings import load_settings
from lookalike.store.postgres import PostgresStore
from lookalike.store.schema import NewFile


def _folder(root: Path, seeds: range) -> Path:
    root.mkdir(parents=True)
    for seed in seeds:
        pattern_image(seed, (64, 48)).save(root / f"img_{seed}.png")
    return root


def test_the_store_setting_takes_a_postgresql_url_only() -> None:
    assert load_settings(environ={"LOOKALIKE_STORE": "postgresql://u@h/db"}).store == "postgresql://u@h/db"
    with pytest.raises(ConfigError, match="LOOKALIKE_STORE"):
        load_settings(environ={"LOOKALIKE_STORE": "sqlite:///x.db"})


def test_every_command_runs_on_the_store(tmp_path: Path, fresh_database, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(6))
    pattern_image(0, (64, 48)).save(folder / "copy_of_0.png")
    first = run_cli("index", str(folder), "--store", url, "-m", "histogram", "-f", "json")
    assert json.loads(first.stdout)[0]["added"] == 7
    assert not (folder / ".lookalike").exists()  # nothing written beside the folder
    status = json.loads(run_cli("status", str(folder), "--store", url, "-f", "json").stdout)[0]  # no -m
    assert (status["model"], status["indexed"], status["pending"]) == ("histogram", 7, 0)
    assert "pgvector" in status["index"]
    hits = json.loads(run_cli("search", str(folder / "img_0.png"), str(folder), "--store", url, "-k", "2",
                              "-f", "json").stdout)  # the query itself is left out: its copy comes first
    assert Path(hits[0]["path"]).name == "copy_of_0.png" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 2 and all(Path(h["path"]).name != "img_0.png" for h in hits)
    monkeypatch.setenv("LOOKALIKE_STORE", url)  # the setting instead of the flag
    pairs = json.loads(run_cli("pairs", str(folder), "--top", "1", "-f", "json").stdout)
    monkeypatch.delenv("LOOKALIKE_STORE")
    assert {Path(pairs[0]["a"]).name, Path(pairs[0]["b"]).name} == {"img_0.png", "copy_of_0.png"}
    dupes = run_cli("duplicates", str(folder), "--store", url, "-f", "json")
    assert "copy_of_0.png" in dupes.stdout and "img_0.png" in dupes.stdout
    other = _folder(tmp_path / "other", range(3, 5))
    run_cli("index", str(other), "--store", url, "-m", "histogram")
    rows = json.loads(run_cli("match", str(other), str(folder), "--store", url, "-f", "json").stdout)
    assert sorted(Path(r["a"]).name for r in rows) == ["img_3.png", "img_4.png"]
    assert all(Path(r["a"]).name == Path(r["b"]).name for r in rows)
    out = tmp_path / "vectors.parquet"
    run_cli("export", str(out), str(folder), "--store", url)
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 7
    missing = run_cli("status", str(tmp_path / "other"), "--store", url, "-m", "clip", check=False)
    assert missing.returncode == 1 and "no library" in missing.stderr and "Traceback" not in missing.stderr


def _spec(dim: int) -> EmbeddingSpec:
    return EmbeddingSpec(model="synthetic", source="synthetic", dim=dim, preprocessing="none")


@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_hnsw_recall_at_10_against_exact_on_20k_clustered_vectors(tmp_path: Path, fresh_database) -> None:
    base, queries = clustered_vectors(20_000, dim=64, queries=50, seed=3)
    store = PostgresStore.create_from_spec(fresh_database(), tmp_path, _spec(64))
    try:
        store.add_vectors([NewFile(f"v{i}", 0, 0, f"h{i}") for i in range(len(base))], base)
        assert store.stats(scan=False).indexed == 20_000
        found = 0
        for query in queries:
            exact = {h.id for h in store.search_vector(query, k=10, exact=True)}
            approx = store.search_vector(query, k=10)
            assert [h.score for h in approx] == sorted((h.score for h in approx), reverse=True)
            found += len(exact & {h.id for h in approx})
        assert found / (10 * len(queries)) >= 0.95
        first = store.search_vector(base[7], k=3, exclude=8)  # ids start at 1: row 7 is id 8
        assert 8 not in {h.id for h in first} and len(first) == 3
    finally:
        store.close()


def test_halfvec_halves_the_vectors_and_still_finds_each_one(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    base, _ = clustered_vectors(500, dim=128, seed=1)
    sizes = {}
    for kind in ("vector", "halfvec"):
        store = PostgresStore.create_from_spec(url, tmp_path / kind, _spec(128), vector_type=kind)
        try:
            store.add_vectors([NewFile(f"v{i}", 0, 0, f"h{i}") for i in range(len(base))], base)
            hit = store.search_vector(base[42], k=1)[0]
            assert hit.id == 43 and hit.score == pytest.approx(1.0, abs=2e-3)
            stored = store.vector_of(43)
            assert stored is not None and np.allclose(stored, base[42], atol=2e-3)
            sizes[kind] = store.conn.execute(f"SELECT sum(pg_column_size(vector)) FROM {store.library.files}"
                                             ).fetchone()[0]
        finally:
            store.close()
    assert sizes["halfvec"] < 0.6 * sizes["vector"]


def test_the_url_asks_for_halfvec(tmp_path: Path, fresh_database) -> None:
    url = fresh_database()
    joined = "&" if "?" in url else "?"
    store = PostgresStore.create_from_spec(f"{url}{joined}vector=halfvec", tmp_path, _spec(8))
    try:
        assert store.library.vector_type == "halfvec" and "vector=" not in store.url
        assert "halfvec" in store.stats(scan=False).index
    finally:
        store.close()
    with pytest.raises(LibraryError, match="vector or halfvec"):
        PostgresStore(f"{url}{joined}vector=float8", tmp_path)


def test_readers_of_the_same_object_are_not_blocked_by_its_writer(tmp_path: Path, fresh_database) -> None:
    import threading

    from lookalike.embedders import create_embedder
    from lookalike.pipeline import PipelineOptions

    folder = _folder(tmp_path / "photos", range(8))
    store = PostgresStore(fresh_database(), folder, model=create_embedder("histogram"), create=True)
    inside, release = threading.Event(), threading.Event()

    def checkpoint(name: str) -> None:
        if name == "chunk-written" and not inside.is_set():  # second chunk's rows written, not committed
            inside.set()
            assert release.wait(30)

    try:
        store.sync(options=PipelineOptions(batch_size=4, workers=1))
        for seed in range(8, 12):
            pattern_image(seed, (64, 48)).save(folder / f"img_{seed}.png")
        writer = threading.Thread(target=store.sync, kwargs={"options": PipelineOptions(batch_size=4, workers=1),
                                                             "checkpoint": checkpoint})
        writer.start()
        assert inside.wait(30)
        assert store.stats(scan=False).indexed == 8  # answered while the writer's transaction is open
        assert len(store.search_vector(store.snapshot().vectors[0], k=20)) == 8
        release.set()
        writer.join(30)
        assert store.stats(scan=False).indexed == 12
    finally:
        release.set()
        store.close()


def test_a_read_only_role_searches_and_a_refused_write_is_one_line(tmp_path: Path, fresh_database) -> None:
    """A service's role that may only read: searches answer; an update the server refuses (permission
    denied) is one line naming the store's refusal, no traceback, and the library is as it was."""
    import psycopg

    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(4))
    run_cli("index", str(folder), "--store", url, "-m", "histogram")
    role = f"reader_{url.split('/')[3].split('?')[0]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    reader = url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    pattern_image(1, (64, 48)).save(tmp_path / "query.png")  # not in the library: embedded, then searched
    found = run_cli("search", str(tmp_path / "query.png"), str(folder), "--store", reader, "-k", "1", "-f", "json")
    assert [Path(hit["path"]).name for hit in json.loads(found.stdout)] == ["img_1.png"]
    pattern_image(9, (64, 48)).save(folder / "img_9.png")
    refused = run_cli("index", str(folder), "--store", reader, check=False)
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert lines[0].startswith("error: the PostgreSQL store refused: ") and "permission denied" in lines[0]
    assert "unexpected" not in lines[0]
    status = run_cli("status", str(folder), "--store", url, "-f", "json")
    assert json.loads(status.stdout)[0]["indexed"] == 4  # nothing was lost or half-written
