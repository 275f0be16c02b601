"""`embed`'s .npy writer: the memory map sized for the files grows when videos give more rows than
files, and the file written holds exactly the rows given, in order, with the export's sidecar."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from lookalike.corpus.vectorfile import Chunk, write_npy
from lookalike.embedders import create_embedder


def _chunk(name: str, times: list[float | None], seed: int) -> Chunk:
    rows = [{"path": name, "path_bytes": name.encode(), "hash": name, "size": 1, "mtime_ns": 1, "width": 2,
             "height": 2, "time": moment} for moment in times]
    return Chunk(rows, np.random.default_rng(seed).random((len(times), 256), dtype=np.float32))


def test_more_rows_than_files_grow_the_block(tmp_path: Path) -> None:
    spec = create_embedder("histogram").spec
    chunks = [_chunk("a.mp4", [0.0, 1.5, 3.0], 1), _chunk("b.png", [None], 2), _chunk("c.mp4", [0.0, 2.0, 4.0, 6.0], 3)]
    out = tmp_path / "v.npy"
    passed = list(write_npy(out, iter(chunks), spec, tmp_path, capacity=3))  # 3 files, 8 rows
    assert passed == chunks
    np.testing.assert_array_equal(np.load(out), np.concatenate([c.vectors for c in chunks]))
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert (sidecar["count"], sidecar["vectors"]) == (3, 8)
    assert [(base64.b64decode(r["path_b64"]).decode(), r["time"]) for r in sidecar["rows"]] == \
        [(r["path"], r["time"]) for c in chunks for r in c.rows]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json", "v.npy"]  # no part files left


def test_fewer_rows_than_files_are_cut(tmp_path: Path) -> None:
    spec = create_embedder("histogram").spec
    chunks = [_chunk("a.png", [None], 1)]
    out = tmp_path / "v.npy"
    list(write_npy(out, iter(chunks), spec, tmp_path, capacity=5))  # four files were skipped
    np.testing.assert_array_equal(np.load(out), chunks[0].vectors)
