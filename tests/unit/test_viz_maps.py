"""Maps of the embedding space: PCA against numpy's SVD, k-means capped and separating clear clusters,
self-contained HTML with one thumbnail per point (or per sampled point), every point drawn, and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import pattern_image
from PIL import Image
from viz_html import network_loads, parse

from lookalike.errors import LookalikeError
from lookalike.viz.maps import build_figure, prepare_map, write_map
from lookalike.viz.projection import kmeans, pca, project, sample_indices


def blobs(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Two well-separated groups of unit vectors: the first half and the second half."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, dim)) * 3
    vectors = centres[np.arange(n) * 2 // n] + rng.normal(size=(n, dim)) * 0.1
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    paths = []
    for seed in range(8):
        path = tmp_path / f"m{seed}.jpg"
        pattern_image(seed).save(path)
        paths.append(path)
    return paths


def test_pca_matches_numpy_svd() -> None:
    vectors = np.random.default_rng(1).normal(size=(300, 12)).astype(np.float32)
    projection = pca(vectors, 3)
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ right[:3].T
    np.testing.assert_allclose(np.abs(projection.coords), np.abs(expected), atol=1e-4)
    shares = singular**2 / (singular**2).sum()
    np.testing.assert_allclose(projection.explained, shares[:3], atol=1e-6)
    assert projection.axis_titles()[0] == f"PC1 ({shares[0]:.1%})"


def test_pca_on_wide_vectors_uses_the_top_components() -> None:
    rng = np.random.default_rng(2)
    vectors = (rng.normal(size=(200, 3)) * [5, 3, 2]) @ rng.normal(size=(3, 300)) + rng.normal(size=(200, 300)) * 0.01
    projection = pca(vectors.astype(np.float32), 2)  # d = 300: the Lanczos path
    full = np.linalg.eigvalsh(np.cov(vectors.T, bias=True))[::-1]
    np.testing.assert_allclose(projection.explained, full[:2] / full.sum(), rtol=1e-4)
    assert projection.explained[0] > projection.explained[1] > 0.1


def test_kmeans_separates_clusters_and_is_capped() -> None:
    vectors = blobs(40)
    assigned = kmeans(vectors, 2)
    assert set(assigned[:20].tolist()) | set(assigned[20:].tolist()) == {0, 1}
    assert len(set(assigned[:20].tolist())) == 1 and assigned[0] != assigned[-1]
    assert len(set(kmeans(vectors[:3], 50).tolist())) <= 3  # at most one cluster per point
    with pytest.raises(LookalikeError, match="at least 1"):
        kmeans(vectors, 0)


def test_projection_arguments() -> None:
    with pytest.raises(LookalikeError, match="2 or 3"):
        project(blobs(10), "pca", 4)
    with pytest.raises(LookalikeError, match="pca or umap"):
        project(blobs(10), "tsne", 2)
    assert sample_indices(10, 20).tolist() == list(range(10))
    picked = sample_indices(1000, 50, seed=3)
    assert len(set(picked.tolist())) == 50 and picked.tolist() == sample_indices(1000, 50, seed=3).tolist()


def test_html_map_is_self_contained_with_one_thumbnail_per_point(pictures: list[Path], tmp_path: Path) -> None:
    out = write_map(pictures, blobs(len(pictures)), tmp_path / "map.html", clusters=2, title="test map")
    page = parse(out)
    assert network_loads(page) == []
    thumbs = json.loads(page.script("lookalike-thumbnails"))
    assert sorted(int(k) for k in thumbs) == list(range(len(pictures)))
    assert all(v.startswith("data:image/jpeg;base64,") for v in thumbs.values())
    inline = [text for attrs, text in page.scripts if not attrs.get("src")]
    assert any("Plotly" in text and len(text) > 1_000_000 for text in inline)  # plotly.js itself, inlined
    assert "explained variance" in out.read_text()


def test_thumbnails_for_a_sample_but_every_point_drawn(pictures: list[Path], tmp_path: Path) -> None:
    paths = [pictures[i % len(pictures)] for i in range(60)]
    vectors = blobs(60)
    out = write_map(paths, vectors, tmp_path / "map.html", thumbnails=10, clusters=3)
    assert len(json.loads(parse(out).script("lookalike-thumbnails"))) == 10
    figure = build_figure(prepare_map(paths, vectors, clusters=3), "t")
    drawn = np.concatenate([np.asarray(trace.customdata) for trace in figure.data])
    assert sorted(drawn.tolist()) == list(range(60)) and len(figure.data) == 3


def test_labels_colour_the_points(pictures: list[Path]) -> None:
    labels = ["cat"] * 5 + ["dog"] * 3
    data = prepare_map(pictures, blobs(8), labels=labels)
    figure = build_figure(data, "t")
    assert [trace.name for trace in figure.data] == ["cat (5)", "dog (3)"]


def test_three_d_html_and_png(pictures: list[Path], tmp_path: Path) -> None:
    vectors = blobs(len(pictures))
    html3 = write_map(pictures, vectors, tmp_path / "map3.html", dims=3)
    assert '"type":"scatter3d"' in html3.read_text().replace(" ", "")
    png = write_map(pictures, vectors, tmp_path / "map.png", clusters=2)
    with Image.open(png) as picture:
        assert picture.size == (1200, 1000)
        colours = len(np.unique(np.asarray(picture.convert("RGB")).reshape(-1, 3), axis=0))
    assert colours > 500  # thumbnails were drawn, not just dots
    with pytest.raises(LookalikeError, match="PNG maps are 2-D"):
        write_map(pictures, vectors, tmp_path / "map3.png", dims=3)
    with pytest.raises(LookalikeError, match=".html .*or .png"):
        write_map(pictures, vectors, tmp_path / "map.svg")


def test_hundred_thousand_points_all_drawn(pictures: list[Path], tmp_path: Path) -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 32)).astype(np.float32)
    paths = [pictures[i % len(pictures)] for i in range(n)]
    data = prepare_map(paths, vectors, clusters=8)
    assert data.projection.coords.shape == (n, 2)
    figure = build_figure(data, "big")
    assert sum(len(trace.customdata) for trace in figure.data) == n
    out = write_map(paths, vectors, tmp_path / "big.html", thumbnails=25)
    assert len(json.loads(parse(out).script("lookalike-thumbnails"))) == 25
