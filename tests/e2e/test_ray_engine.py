"""The Ray Data engine against the in-process one, on a real local Ray (started once for the module
on 127.0.0.1 with 2 CPUs, stopped at the end): the same vectors and the same library for a folder
(a video's every sampled frame with its moment too), a corrupt file comes back with its reason, and
a PostgreSQL store is filled from Ray's shards as the local engine fills it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from media import write_video

from lookalike.service import Lookalike, RayOptions
from lookalike.settings import Settings
from lookalike.store.base import VectorStore

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


def _items(store: VectorStore, folder: Path) -> dict[tuple[str, float | None], np.ndarray]:
    """(path, moment) -> vector of every item a store holds (a video once per sampled frame)."""
    snapshot = store.snapshot()
    times = snapshot.times or [None] * len(snapshot.paths)
    return {(p.relative_to(folder).as_posix(), t): v for p, t, v in zip(snapshot.paths, times, snapshot.vectors,
                                                                        strict=True)}


def _assert_same_items(want: dict[tuple[str, float | None], np.ndarray],
                       got: dict[tuple[str, float | None], np.ndarray]) -> None:
    assert sorted(got, key=str) == sorted(want, key=str)
    for key, vector in want.items():
        assert float(vector @ got[key]) > 0.999, key


def test_ray_indexes_a_videos_every_frame_as_the_local_engine_does(local_ray: None, tiny_siglip_dir: Path,
                                                                  tmp_path: Path) -> None:
    pytest.importorskip("av")
    folder = tmp_path / "media"
    folder.mkdir()
    pattern_image(1).save(folder / "a.png")
    pattern_image(4).save(folder / "b.jpg", quality=92)
    size = (128, 96)
    write_video(folder / "clip.mp4", [pattern_image(1, size), pattern_image(2, size), pattern_image(3, size)])
    settings = Settings(model=str(tiny_siglip_dir), precision="fp32", device="cpu")
    with Lookalike(settings) as service:
        local = service.index(folder, library=tmp_path / "local")
        on_ray = service.index(folder, library=tmp_path / "ray", engine="ray",
                               ray=RayOptions(actors=2, cpus_per_actor=0.5, batch_size=2))
        assert on_ray.ray is not None and (on_ray.ray.files, on_ray.ray.embedded, on_ray.ray.failed) == (3, 3, 0)
        assert (on_ray.report.added, on_ray.report.embedded) == (local.report.added, local.report.embedded) == (3, 3)
        want = _items(service.library(folder, library=tmp_path / "local"), folder)
        got = _items(service.library(folder, library=tmp_path / "ray"), folder)
        assert len([key for key in want if key[0] == "clip.mp4"]) == 3  # one item per scene
        assert ("clip.mp4", 0.0) in got and ("a.png", None) in got
        _assert_same_items(want, got)
        by_ray = service.library(folder, library=tmp_path / "ray")
        assert by_ray.catalog.db.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == 2
        assert by_ray.index().count == 5  # two photos, three frames


def test_ray_fills_a_postgresql_store_as_the_local_engine_does(local_ray: None, image_folder: Path,
                                                              tiny_siglip_dir: Path,
                                                              fresh_database: Callable[[], str]) -> None:
    pytest.importorskip("av")
    (image_folder / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    write_video(image_folder / "b" / "clip.mp4", [pattern_image(s, (128, 96)) for s in (1, 2, 3)])
    stores = {}
    temp = Path(tempfile.gettempdir())
    before = set(temp.glob("lookalike-ray-shards-*"))
    for engine in ("local", "ray"):
        settings = Settings(model=str(tiny_siglip_dir), precision="fp32", device="cpu", store=fresh_database())
        with Lookalike(settings) as service:
            done = service.index(image_folder, engine=engine, ray=RayOptions(batch_size=3))
            assert (done.report.added, len(done.report.failures)) == (7, 1), engine
            stores[engine] = _items(service.postgres(image_folder), image_folder)
            if engine == "ray":
                assert done.ray is not None and (done.ray.files, done.ray.embedded, done.ray.failed) == (8, 7, 1)
                assert Path(done.report.failures[0].path or "").name == "broken.jpg"
                again = service.index(image_folder, engine=engine)  # the same scan: nothing new
                assert (again.report.added, again.report.unchanged) == (0, 8)
                assert again.ray is not None and again.ray.files == 0
    moments = [key[1] for key in stores["ray"] if key[0] == "b/clip.mp4"]
    assert len(moments) == 3 and moments[0] == 0.0  # every sampled frame, in the store's frames table
    _assert_same_items(stores["local"], stores["ray"])
    assert set(temp.glob("lookalike-ray-shards-*")) == before  # the shards' temporary folder is gone


def test_bad_ray_options_are_one_line_before_any_work(image_folder: Path) -> None:
    from conftest import run_cli

    done = run_cli("index", str(image_folder), "--engine", "ray", "--address", "nowhere", check=False)
    assert done.returncode == 1 and "'nowhere' is not a Ray address" in done.stderr
    assert "Traceback" not in done.stderr and not (image_folder / ".lookalike").exists()
