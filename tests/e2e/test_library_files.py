"""Library files: corrupted manifest/index/catalog give clear errors and are never overwritten
(until the user asks for a rebuild); export and import round-trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from library_helpers import assert_consistent

from lookalike.errors import CorruptLibraryError
from lookalike.similarity import search
from lookalike.store import Library
from lookalike.store.exchange import export_library, import_library


@pytest.fixture
def indexed(image_folder: Path, tiny_siglip) -> Library:
    library = Library.open(image_folder, model=tiny_siglip, create=True)
    library.sync()
    yield library
    library.close()


def test_index_not_matching_its_checksum_is_rebuilt_from_the_catalog(indexed: Library, image_folder: Path) -> None:
    query = image_folder / "a" / "img_0.jpg"
    before = [(h.path, round(h.score, 5)) for h in search(indexed, query, k=5)]
    indexed.paths.index.write_bytes(b"\x00garbage{")
    with Library.open(image_folder) as reopened:
        assert [(h.path, round(h.score, 5)) for h in search(reopened, query, k=5)] == before
        assert reopened.paths.index.read_bytes() == b"\x00garbage{"  # a reader never writes
        report = reopened.sync()
        assert report.index_rebuilt and report.embedded == 0
        assert reopened.paths.index.read_bytes() != b"\x00garbage{"
        assert_consistent(reopened)


@pytest.mark.parametrize("victim", ["manifest", "index"])
def test_corrupted_file_gives_clear_error_and_is_kept(indexed: Library, image_folder: Path, victim: str) -> None:
    target = indexed.paths.manifest if victim == "manifest" else indexed.paths.index
    if victim == "index":  # an index written before checksums: nothing to check it against
        manifest = json.loads(indexed.paths.manifest.read_text())
        manifest.pop("checksum")
        indexed.paths.manifest.write_text(json.dumps(manifest))
    target.write_bytes(b"\x00garbage{")
    with Library.open(image_folder) as reopened:
        from lookalike.cli.errors import with_hint

        with pytest.raises(CorruptLibraryError, match="nothing was changed") as caught:
            search(reopened, image_folder / "a" / "img_0.jpg", k=2)
        assert "\n" not in str(caught.value) and str(target) in str(caught.value)
        assert "--rebuild-index" in with_hint(caught.value)
        with pytest.raises(CorruptLibraryError):
            reopened.sync()
        assert target.read_bytes() == b"\x00garbage{"  # nothing overwritten
        report = reopened.sync(rebuild_index=True)
        assert report.index_rebuilt and report.embedded == 0
        assert_consistent(reopened)
        assert len(search(reopened, image_folder / "a" / "img_0.jpg", k=2)) == 2


def test_corrupted_catalog(indexed: Library, image_folder: Path) -> None:
    indexed.close()
    indexed.paths.catalog.write_bytes(b"not a database at all" * 100)
    for wal in indexed.paths.directory.glob("catalog.sqlite-*"):
        wal.unlink()
    with pytest.raises(CorruptLibraryError, match="not a readable catalog"):
        Library.open(image_folder)
    assert indexed.paths.catalog.read_bytes().startswith(b"not a database")


def test_manifest_from_another_model_is_refused(indexed: Library, image_folder: Path) -> None:
    manifest = json.loads(indexed.paths.manifest.read_text())
    manifest["spec"]["dim"] = 999
    indexed.paths.manifest.write_text(json.dumps(manifest))
    with Library.open(image_folder) as reopened, pytest.raises(CorruptLibraryError, match="spec differs"):
        search(reopened, image_folder / "a" / "img_0.jpg")


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_export_import_round_trip(indexed: Library, image_folder: Path, tmp_path: Path, fmt: str) -> None:
    written = export_library(indexed, tmp_path / "export", fmt)
    assert all(path.exists() for path in written)
    imported = import_library(written[0], tmp_path / "imported", None)
    try:
        assert imported.stats().indexed == 6 and imported.stats().pending == 0  # facts kept: nothing to redo
        query = image_folder / "b" / "img_3.jpg"
        assert [(h.path, round(h.score, 5)) for h in search(imported, query, k=5)] == \
            [(h.path, round(h.score, 5)) for h in search(indexed, query, k=5)]
        paths, vectors = imported.vectors()
        original = dict(zip(*indexed.vectors(), strict=True))
        for path, vector in zip(paths, vectors, strict=True):
            np.testing.assert_array_equal(vector, original[path])
    finally:
        imported.close()


def test_parquet_export_reads_as_a_table(indexed: Library, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(export_library(indexed, tmp_path / "lib.parquet", "parquet")[0])
    assert table.num_rows == 6
    assert {"id", "path", "hash", "vector"} <= set(table.column_names)
    assert len(table.column("vector")[0]) == indexed.spec.dim
    assert json.loads(table.schema.metadata[b"lookalike"])["spec"]["model"] == indexed.spec.model


def test_library_cli_end_to_end(image_folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lookalike", *args], capture_output=True, text=True,
                              timeout=300)

    library = tmp_path / "lib"
    (image_folder / "bad.jpg").write_text("nope")
    first = run("index", str(image_folder), "--library", str(library), "-m", str(tiny_siglip_dir), "-f", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)[0]["added"] == 6 and "bad.jpg: not an image" in first.stderr
    again = json.loads(run("index", str(image_folder), "--library", str(library), "-f", "json").stdout)[0]
    assert (again["added"], again["unchanged"]) == (0, 7)
    status = run("status", "--library", str(library), "-f", "json")
    assert json.loads(status.stdout)[0]["failed"] == 1 and "failed: bad.jpg" in status.stderr
    hits = run("search", str(image_folder / "a" / "img_0.jpg"), "--library", str(library), "-k", "3",
               "--exact", "-f", "json")
    assert hits.returncode == 0, hits.stderr
    assert len(json.loads(hits.stdout)) == 3
    text = run("search", "--text", "a red car", "--library", str(library), "-k", "2", "-f", "json")
    assert len(json.loads(text.stdout)) == 2, text.stderr
    exported = run("export", str(tmp_path / "out.parquet"), "--library", str(library))
    assert exported.returncode == 0 and (tmp_path / "out.parquet").exists()
    imported = run("import", str(tmp_path / "out.parquet"), "--library", str(tmp_path / "copy"))
    assert imported.returncode == 0 and "imported 6 vectors" in imported.stderr
    wrong = run("search", str(image_folder / "a" / "img_0.jpg"), "--library", str(library), "-m", "efficientnet-lite0")
    assert wrong.returncode == 1 and "pass --model" in wrong.stderr


def test_creation_killed_before_first_commit_is_redone(image_folder: Path, tiny_siglip) -> None:
    from lookalike.store.catalog import Catalog

    located = Library.open(image_folder, model=tiny_siglip, create=True)
    paths = located.paths
    located.close()
    for leftover in paths.directory.glob("catalog.sqlite*"):
        leftover.unlink()
    Catalog(paths.catalog, create=True).close()  # schema only, as an older version's killed creation left it
    with pytest.raises(CorruptLibraryError, match="no spec"):
        Library.open(image_folder, model=tiny_siglip)
    with Library.open(image_folder, model=tiny_siglip, create=True) as library:
        assert library.sync().added == 6
