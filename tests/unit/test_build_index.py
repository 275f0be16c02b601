"""build-index: a library built from Parquet shards within a memory budget (IVF lists on disk when
the vectors do not fit) answers queries exactly like a library built directly from the same vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from lookalike.embedders import EmbeddingSpec
from lookalike.scale.build_index import build_library
from lookalike.scale.shards import write_shard, write_sidecar
from lookalike.store import Library

DIM = 64
COUNT = 3000


def _clustered(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, dim))
    vectors = centres[rng.integers(0, 30, count)] + 0.4 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("shards")
    vectors = _clustered(COUNT, DIM)
    for number, start in enumerate(range(0, COUNT, 1000)):
        rels = [f"dir{number}/img_{i:05d}.jpg" for i in range(start, start + 1000)]
        errors: list[str | None] = [None] * 1000
        if number == 1:
            errors[7] = "cannot identify image file"
        write_shard(folder / f"part-{number}.parquet", rels, vectors[start : start + 1000],
                    hashes=[f"h{i}" for i in range(start, start + 1000)], sizes=[100] * 1000,
                    mtimes=[1] * 1000, errors=errors)
    spec = EmbeddingSpec(model="synthetic-64", source="test:synthetic", dim=DIM, preprocessing="none")
    write_sidecar(folder, spec, tmp_path_factory.mktemp("photos"))
    return folder, vectors


def test_on_disk_build_answers_like_a_direct_library(shards: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, vectors = shards
    direct, direct_report = build_library(folder, tmp_path / "direct", budget=2**30)
    on_disk, disk_report = build_library(folder, tmp_path / "ondisk", budget=2**20)  # 1 MiB: lists on disk
    assert (direct_report.on_disk, disk_report.on_disk) == (False, True)
    assert (disk_report.indexed, disk_report.failed) == (COUNT - 1, 1)
    assert (on_disk.paths.directory / "vectors.ivfdata").is_file()
    nlist = int(on_disk.index().params.nlist)
    assert nlist > 1 and on_disk.index().count == COUNT - 1
    on_disk.close()
    reopened = Library.open(library=tmp_path / "ondisk" / "synthetic-64", readonly=True)
    assert [row[0] for row in reopened.stats(scan=False).failures] == ["dir1/img_01007.jpg"]
    queries = _clustered(100, DIM, seed=1)
    for query in queries:
        want = direct.search_vector(query, k=10)
        got = reopened.search_vector(query, k=10, nprobe=nlist)
        assert [m.path for m in got] == [m.path for m in want]
        assert np.allclose([m.score for m in got], [m.score for m in want], atol=1e-5)
    stored = reopened.vector_of(got[0].id)
    assert stored is not None and float(stored @ vectors[int(got[0].path.stem.split("_")[1])]) > 0.9999
    direct.close()
    reopened.close()


def test_build_index_cli(shards: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, _ = shards
    done = run_cli("build-index", str(folder), "--library", str(tmp_path / "lib"), "--memory", "64MB",
                   "--format", "csv")
    assert done.stdout.splitlines()[1].startswith(f"{COUNT - 1},1,flat,")
    again = run_cli("build-index", str(folder), "--library", str(tmp_path / "lib"), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    bad = run_cli("build-index", str(folder), "--library", str(tmp_path / "x"), "--memory", "lots", check=False)
    assert bad.returncode == 2 and "'lots' is not an amount of memory" in bad.stderr
