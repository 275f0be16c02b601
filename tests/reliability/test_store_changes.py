"""Store behaviour behind the fixes: ctime change detection and --rehash, catalog migration 2 (also
read by a read-only open of an older catalog), file names as bytes through export/import (and exports
from before that change), newline-safe output rows."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lookalike.embedders import create_embedder
from lookalike.output import OutputFormat, render
from lookalike.store import Library
from lookalike.store.catalog import _MIGRATIONS, SCHEMA_VERSION, Catalog
from lookalike.store.exchange import export_library, import_library
from reliability.hostile_files import encoded, picture


@pytest.fixture
def library(tmp_path: Path) -> Library:
    root = tmp_path / "photos"
    root.mkdir()
    for seed in range(4):
        picture(seed).save(root / f"p{seed}.png")
    opened = Library.open(root, model=create_embedder("histogram"), create=True)
    opened.sync()
    yield opened
    opened.close()


def _vector(library: Library, path: Path) -> np.ndarray:
    return dict(zip(*library.vectors(), strict=True))[path]


def _same_size_swap(path: Path, seed: int) -> None:
    """Replace the content with another picture of exactly the same size, and restore the mtime."""
    info = path.stat()
    data = encoded(picture(seed), "PNG")
    while len(data) != info.st_size:  # PNG sizes vary: pad or trim a private chunk
        data = encoded(picture(seed), "PNG")
        padding = info.st_size - len(data) - 12
        if padding < 0:
            seed += 1
            continue
        import struct
        import zlib

        chunk = b"zzZz" + b"x" * padding
        data = data[:-12] + struct.pack(">I", padding) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[-12:]
    path.write_bytes(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_same_size_content_with_restored_mtime_is_caught_by_ctime(library: Library) -> None:
    victim = library.root / "p1.png"
    before = _vector(library, victim)
    _same_size_swap(victim, 77)
    report = library.sync()
    assert report.updated == 1 and report.unchanged == 3
    assert not np.allclose(_vector(library, victim), before)


def test_rehash_looks_at_every_file(library: Library) -> None:
    victim = library.root / "p2.png"
    _same_size_swap(victim, 78)
    with library.catalog.transaction():  # as if the ctime had been restored too (it cannot be, normally)
        stat = victim.stat()
        row = library.catalog.row_for_path("p2.png")
        assert row is not None
        library.catalog.touch(row.id, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    assert library.sync().updated == 0  # size, mtime and ctime all agree: trusted
    report = library.sync(rehash=True)
    assert report.updated == 1 and report.touched == 3  # the others hashed, found equal


def test_a_version_1_catalog_is_migrated_and_readable_read_only(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_MIGRATIONS[1] + "; PRAGMA user_version=1;")
    db.execute("INSERT INTO meta VALUES ('spec', '{}')")
    db.execute("INSERT INTO files(path, size, mtime_ns, hash, status, vector) VALUES (?, 1, 2, 'h', 'indexed', ?)",
               (b"a.png", b"\0" * 8))
    db.commit()
    db.close()
    reader = Catalog(path, readonly=True)
    assert reader.rows()["a.png"].ctime_ns == 0  # no ctime column yet: read as 0
    reader.close()
    writer = Catalog(path)
    assert writer.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert writer.rows()["a.png"].ctime_ns == 0
    writer.close()


def test_file_names_round_trip_as_bytes(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    names = [b"caf\xe9-latin1.png", b"new\nline.png", b"plain.png"]
    for seed, name in enumerate(names):
        with open(os.path.join(os.fsencode(root), name), "wb") as handle:
            handle.write(encoded(picture(seed), "PNG"))
    with Library.open(root, model=create_embedder("histogram"), create=True) as original:
        original.sync()
        for fmt in ("parquet", "npy"):
            written = export_library(original, tmp_path / f"out-{fmt}", fmt)
            with import_library(written[0], tmp_path / f"imported-{fmt}", None) as imported:
                stats = imported.stats()
                assert stats.indexed == 3 and stats.pending == 0 and stats.missing == 0
                assert sorted(os.fsencode(p) for p in imported.catalog.rows()) == sorted(names)


def test_exports_written_before_path_bytes_still_import(library: Library, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    written = export_library(library, tmp_path / "new", "parquet")[0]
    old = pq.read_table(written).drop_columns(["path_bytes"])
    pq.write_table(old, tmp_path / "old.parquet")
    with import_library(tmp_path / "old.parquet", tmp_path / "imported", None) as imported:
        assert imported.stats().indexed == 4 and imported.stats().pending == 0
    npy = export_library(library, tmp_path / "side", "npy")
    sidecar = json.loads(npy[1].read_text())
    for row in sidecar["rows"]:
        row.pop("path_b64")
    npy[1].write_text(json.dumps(sidecar))
    with import_library(npy[0], tmp_path / "imported-npy", None) as imported:
        assert imported.stats().indexed == 4


@pytest.mark.parametrize("fmt", [OutputFormat.table, OutputFormat.markdown])
def test_newlines_in_values_do_not_break_rows(fmt: OutputFormat) -> None:
    text = render(["path", "score"], [["a\nb.png", 0.5], ["c\rd.png", 0.25]], fmt)
    lines = text.splitlines()
    assert len(lines) == (3 if fmt is OutputFormat.table else 4)
    assert "a\\nb.png" in text and "c\\rd.png" in text
