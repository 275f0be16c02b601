"""embed, clusters, outliers and formats through the command line and the service, on generated images
and (when ../shared/data is present) on UKBench and CIFAR-10 images with EfficientNet-Lite0."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image, run_cli
from PIL import Image, features

MODEL = ["-m", "efficientnet-lite0", "--precision", "fp32", "-q"]


def _folder_with_broken(image_folder: Path) -> Path:
    (image_folder / "broken.jpg").write_bytes(b"not a picture")
    return image_folder


def test_embed_parquet_reads_back_and_imports(image_folder: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    folder = _folder_with_broken(image_folder)
    out = tmp_path / "vectors.parquet"
    done = run_cli("embed", str(folder), *MODEL, "--out", str(out))
    assert f"skipped: {folder / 'broken.jpg'}" in done.stderr or "broken.jpg" in done.stderr
    table = pq.read_table(out)
    assert {"path", "hash", "vector"} <= set(table.column_names)
    assert table.num_rows == 6
    meta = json.loads(table.schema.metadata[b"lookalike"])
    assert meta["spec"]["model"] == "efficientnet-lite0" and meta["spec"]["dim"] == 1280
    vectors = np.asarray(table.column("vector").to_pylist(), np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert sorted(table.column("path").to_pylist()) == sorted(
        str(p.relative_to(folder)) for p in folder.rglob("img_*.jpg"))
    # the file is an export: a library is built from it without embedding again
    library = tmp_path / "lib"
    run_cli("import", str(out), "--library", str(library), "--root", str(folder))
    pairs = run_cli("pairs", "--library", str(library / "efficientnet-lite0"), "--top", "1", "-f", "json")
    assert len(json.loads(pairs.stdout)) == 1


def test_embed_npy_and_json_lines_agree(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "vectors.npy"
    run_cli("embed", str(image_folder), *MODEL, "--out", str(out))
    stored = np.load(out)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert stored.shape == (6, 1280) and len(sidecar["rows"]) == 6
    lines = run_cli("embed", str(image_folder), *MODEL, "--out", "-").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["hash"] for r in records] == [r["hash"] for r in sidecar["rows"]]
    assert np.allclose(np.asarray([r["vector"] for r in records]), stored, atol=1e-5)


def test_embed_text_needs_a_text_tower(tmp_path: Path, tiny_siglip_dir: Path) -> None:
    refused = run_cli("embed", "--text", "a cat", "-m", "efficientnet-lite0", check=False)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "text tower" in refused.stderr
    done = run_cli("embed", "--text", "a cat", "--text", "a dog", "-m", str(tiny_siglip_dir), "--precision",
                   "fp32", "--out", "-")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in records] == ["a cat", "a dog"]
    assert abs(np.linalg.norm(records[0]["vector"]) - 1.0) < 1e-4


def test_embed_refuses_an_unknown_output_kind(image_folder: Path, tmp_path: Path) -> None:
    done = run_cli("embed", str(image_folder), "--out", str(tmp_path / "v.csv"), check=False)
    assert done.returncode == 2 and ".parquet or .npy" in done.stderr and "Traceback" not in done.stderr


def test_clusters_find_the_copies_of_each_picture(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(4):  # four pictures, three slightly different copies of each
        base = pattern_image(seed, (96, 72))
        for copy in range(3):
            base.rotate(copy * 2, fillcolor=(128, 128, 128)).save(folder / f"p{seed}_{copy}.png")
    grid, report = tmp_path / "clusters.png", tmp_path / "clusters.html"
    args = ["clusters", str(folder), *MODEL, "--min-size", "2", "-f", "json"]
    done = run_cli(*args, "--grid", str(grid), "--report", str(report))
    rows = json.loads(done.stdout)
    assert len(rows) == 12
    by_picture: dict[str, set[int]] = {}
    for row in rows:
        by_picture.setdefault(Path(row["path"]).name[:2], set()).add(row["cluster"])
    assert all(len(found) == 1 and -1 not in found for found in by_picture.values())
    assert len({row["cluster"] for row in rows}) == 4
    assert sum(row["representative"] == "true" for row in rows) == 4
    assert grid.is_file() and report.is_file()
    assert run_cli(*args).stdout == done.stdout  # stable on a re-run


def test_outliers_put_the_odd_picture_first(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    base = pattern_image(1, (96, 72))
    for copy in range(6):
        base.rotate(copy, fillcolor=(128, 128, 128)).save(folder / f"same_{copy}.png")
    Image.effect_mandelbrot((96, 72), (-2, -1.5, 1, 1.5), 50).convert("RGB").save(folder / "odd.png")
    done = run_cli("outliers", str(folder), *MODEL, "-k", "3", "--top", "2", "-f", "csv",
                   "--grid", str(tmp_path / "odd.png"))
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert len(rows) == 2 and Path(rows[0]["path"]).name == "odd.png"
    assert float(rows[0]["score"]) < float(rows[1]["score"])


def test_formats_lists_what_this_install_reads() -> None:
    rows = {row["format"]: row for row in json.loads(run_cli("formats", "-f", "json").stdout)}
    assert rows["JPEG"]["reads"] == "yes" and rows["WebP"]["reads"] == ("yes" if features.check("webp") else "no")
    assert rows["AVIF"]["reads"] == ("yes" if features.check("avif") else "no")
    for name, module, extra in (("Camera RAW", "rawpy", "raw"), ("Video", "av", "video")):
        present = importlib.util.find_spec(module) is not None
        assert rows[name]["reads"] == ("yes" if present else "no")
        assert rows[name]["install"] == ("" if present else f"pip install 'lookalike[{extra}]'")


def test_webp_multipage_tiff_and_avif_index_and_search(tmp_path: Path) -> None:
    folder = tmp_path / "formats"
    folder.mkdir()
    first, second = pattern_image(3, (96, 72)), pattern_image(4, (96, 72))
    first.save(folder / "a.webp", quality=90)
    first.save(folder / "pages.tiff", save_all=True, append_images=[second])  # first page is `first`
    second.save(folder / "b.png")
    if features.check("avif"):
        first.save(folder / "c.avif", quality=90)
    query = tmp_path / "query.png"
    first.save(query)
    done = run_cli("index", str(folder), *MODEL)
    assert "skipped" not in done.stderr
    hits = json.loads(run_cli("search", str(query), str(folder), *MODEL, "-k", "10", "-f", "json").stdout)
    names = [Path(hit["path"]).name for hit in hits]
    expected = {"a.webp", "pages.tiff", *(["c.avif"] if features.check("avif") else [])}
    assert set(names[: len(expected)]) == expected and names[-1] == "b.png"


@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_outliers_find_foreign_images_in_ukbench(shared_data: Path, tmp_path: Path, effnet: object) -> None:
    """1% foreign images (CIFAR-10, one per class for 5 classes) among 495 UKBench ones: at least 4 of
    5 in the top 1% at the defaults."""
    from lookalike import find_images, outlier_scores
    from lookalike.pipeline import embed_paths

    ukbench, cifar = shared_data / "ukbench-a", shared_data / "cifar10-test"
    if not ukbench.is_dir() or not cifar.is_dir():
        pytest.skip("ukbench-a or cifar10-test is not in ../shared/data")
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in sorted((ukbench / "images").glob("*.jpg"))[:495]:
        shutil.copy(path, folder / path.name)
    foreign = []
    for class_dir in sorted(p for p in cifar.iterdir() if p.is_dir())[:5]:
        picked = sorted(class_dir.iterdir())[0]
        foreign.append(f"foreign_{class_dir.name}{picked.suffix}")
        shutil.copy(picked, folder / foreign[-1])
    embedded = embed_paths(effnet, find_images(folder))  # type: ignore[arg-type]
    scores, _ = outlier_scores(embedded.vectors)  # the defaults: k = 10
    order = np.argsort(scores, kind="stable")
    top = {embedded.paths[i].name for i in order[: len(order) // 100]}
    assert len(order) == 500
    assert len(top & set(foreign)) >= 4, (top, foreign)
