"""The join over vectors left on disk (`DiskVectors`, read with pread) answers exactly as over the
same vectors in memory; Parquet shards convert to such a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import LookalikeError
from lookalike.evaluation.synthetic import write_clustered_npy
from lookalike.join import JoinOptions, knn_join, top_pairs
from lookalike.join.sources import DiskVectors, parquet_to_npy


def test_disk_vectors_read_like_the_array(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    write_clustered_npy(str(path), 5000, dim=24, seed=3)
    memory = np.load(path)
    disk = DiskVectors(path)
    assert disk.shape == memory.shape and len(disk) == 5000 and disk.ndim == 2
    rows = np.random.default_rng(0).choice(5000, 700, replace=False)  # any order, some runs
    assert np.array_equal(disk[rows], memory[rows])
    assert np.array_equal(disk[100:900], memory[100:900]) and np.array_equal(disk[-1], memory[-1])
    raw = tmp_path / "v.f32"
    memory.tofile(raw)
    assert np.array_equal(DiskVectors(raw, dim=24)[rows[:50]], memory[rows[:50]])
    with pytest.raises(IndexError):
        disk[np.array([0, 5000])]
    with pytest.raises(LookalikeError, match="float32"):
        np.save(tmp_path / "d.npy", memory.astype(np.float64))
        DiskVectors(tmp_path / "d.npy")


def test_join_on_disk_equals_join_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    write_clustered_npy(str(path), 6000, dim=16, seed=1, planted=20)
    memory, disk = np.load(path), DiskVectors(path)
    options = JoinOptions(exact=False, nlist=12, budget=2**20, recall=0.9, sample=300)
    pairs_memory, report = top_pairs(memory, 200, options)
    pairs_disk, report_disk = top_pairs(disk, 200, options)
    assert report.method == report_disk.method == "ivf"
    assert [(p.i, p.j) for p in pairs_disk] == [(p.i, p.j) for p in pairs_memory]
    _, near_memory, _ = knn_join(memory[:3000], 5, JoinOptions(exact=True))
    _, near_disk, _ = knn_join(DiskVectors(path)[:3000], 5, JoinOptions(exact=True))
    assert np.array_equal(near_memory, near_disk)


def test_parquet_shards_to_npy(tmp_path: Path) -> None:
    from lookalike.scale.shards import write_shard

    vectors = np.random.default_rng(0).standard_normal((2500, 8)).astype(np.float32)
    write_shard(tmp_path / "a.parquet", [f"{i}.jpg" for i in range(1500)], vectors[:1500])
    write_shard(tmp_path / "b.parquet", [f"{i}.jpg" for i in range(1000)], vectors[1500:])
    count, dim = parquet_to_npy([tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "all.npy", rows=700)
    assert (count, dim) == (2500, 8)
    assert np.array_equal(np.load(tmp_path / "all.npy"), vectors)
