"""The Ray Data engine against the in-process one, on a real local Ray (started once for the module
on 127.0.0.1 with 2 CPUs, stopped at the end): the same vectors and the same library for a folder,
and a corrupt file comes back with its reason."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lookalike.service import Lookalike, RayOptions
from lookalike.settings import Settings

ray = pytest.importorskip("ray", reason="the Ray engine needs pip install 'lookalike[scale]'")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


def _library_vectors(service: Lookalike, folder: Path, library: Path) -> dict[str, np.ndarray]:
    store = service.library(folder, library=library)
    paths, vectors = store.vectors()
    return {p.relative_to(folder).as_posix(): v for p, v in zip(paths, vectors, strict=True)}


def test_ray_and_local_engines_build_the_same_library(local_ray: None, image_folder: Path, tiny_siglip_dir: Path,
                                                      tmp_path: Path) -> None:
    (image_folder / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    settings = Settings(model=str(tiny_siglip_dir), precision="fp32", device="cpu")
    with Lookalike(settings) as service:
        local = service.index(image_folder, library=tmp_path / "local")
        shards = tmp_path / "shards"
        on_ray = service.index(image_folder, library=tmp_path / "ray", engine="ray",
                               ray=RayOptions(actors=2, cpus_per_actor=0.5, batch_size=3, shards=shards))
        assert on_ray.ray is not None
        assert (on_ray.ray.files, on_ray.ray.embedded, on_ray.ray.failed, on_ray.ray.actors) == (7, 6, 1, 2)
        assert (on_ray.report.added, local.report.added) == (6, 6)
        [failure] = on_ray.report.failures
        assert Path(failure.path or "").name == "broken.jpg"
        assert failure.reason == local.report.failures[0].reason
        by_local = _library_vectors(service, image_folder, tmp_path / "local")
        by_ray = _library_vectors(service, image_folder, tmp_path / "ray")
        assert sorted(by_local) == sorted(by_ray)
        for rel, vector in by_local.items():
            assert float(vector @ by_ray[rel]) > 0.999, rel
        assert service.status(service.library(image_folder, library=tmp_path / "ray")).failed == 1
        assert sorted(p.name for p in shards.iterdir() if p.suffix != ".parquet") == ["lookalike-shards.json"]
        # the kept shards build the same library without a model
        built, location = service.build_index(shards, tmp_path / "built", memory="64MB")
        assert (built.indexed, built.failed) == (6, 1)
        by_shards = _library_vectors(service, image_folder, location)
        assert all(np.array_equal(by_shards[rel], by_ray[rel]) for rel in by_ray) and by_shards.keys() == by_ray.keys()
        # a second run embeds nothing: the same scan decides what is new
        shutil.rmtree(shards)
        again = service.index(image_folder, library=tmp_path / "ray", engine="ray", ray=RayOptions(shards=shards))
        assert (again.report.added, again.report.unchanged, again.ray.files if again.ray else -1) == (0, 7, 0)


def test_bad_ray_options_are_one_line_before_any_work(image_folder: Path) -> None:
    from conftest import run_cli

    done = run_cli("index", str(image_folder), "--engine", "ray", "--address", "nowhere", check=False)
    assert done.returncode == 1 and "'nowhere' is not a Ray address" in done.stderr
    assert "Traceback" not in done.stderr and not (image_folder / ".lookalike").exists()
