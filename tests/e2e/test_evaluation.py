"""`lookalike eval` and `lookalike bench index`, checked against metrics computed directly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.embedders import create_embedder
from lookalike.evaluation import metrics
from lookalike.evaluation.evaluator import evaluate_model
from lookalike.evaluation.labelled import LabelledSet, load_labelled, split_classes
from lookalike.images import find_images
from lookalike.pipeline import embed_paths

COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200), "grey": (128, 128, 128)}


@pytest.fixture
def labelled_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    root = tmp_path / "labelled"
    for label, colour in COLOURS.items():
        (root / label).mkdir(parents=True)
        for index in range(5):
            pixels = np.clip(np.array(colour) + rng.normal(0, 60, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


def _direct(embedder, labelled: LabelledSet) -> dict[str, float]:
    """The same scores computed the long way: full similarity matrix, ranking, metric functions."""
    vectors = embed_paths(embedder, labelled.paths).vectors
    labels = np.asarray(labelled.labels)
    n = len(labels)
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    order = metrics.rank_by_scores(scores)[:, : n - 1]
    relevant = metrics.relevance(labels, labels[order])
    n_relevant = np.array([(labels == label).sum() - 1 for label in labels])
    return {"precision@1": metrics.precision_at_k(relevant, 1), "precision@5": metrics.precision_at_k(relevant, 5),
            "recall@5": metrics.recall_at_k(relevant, n_relevant, 5),
            "map": metrics.mean_average_precision(relevant, n_relevant),
            "allmatch@5": metrics.allmatch_at_k(relevant, 5)}


def test_eval_cli_matches_direct_metrics(labelled_folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", "eval", str(labelled_folder), "-m", "histogram",
         "-m", str(tiny_siglip_dir), "--precision", "fp32", "--json", "-q"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    table = {row["model"]: row for row in json.loads(done.stdout)}
    labelled = load_labelled(labelled_folder)
    for name in ("histogram", str(tiny_siglip_dir)):
        expected = _direct(create_embedder(name, precision="fp32"), labelled)
        row = table[name]
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=1e-4), (name, key)
        assert row["images"] == 20 and row["images_per_s"] > 0
        assert {"precision@10", "recall@1", "recall@10", "allmatch@1", "allmatch@10"} <= set(row)
        assert "ns" not in row  # groups of 5, not UKBench's 4
    assert table["histogram"]["precision@1"] > 0.9  # colour classes: the histogram must nail them


def test_eval_markdown_and_unseen_split(labelled_folder: Path, tmp_path: Path) -> None:
    split = tmp_path / "split.json"
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", "eval", str(labelled_folder), "-m", "histogram", "--protocol", "unseen",
         "--holdout", "0.5", "--seed", "4", "--split", str(split), "--markdown"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("| model |") and lines[1].startswith("|---|") and len(lines) == 3
    saved = json.loads(split.read_text())
    assert len(saved["test"]) == 2 and not set(saved["test"]) & set(saved["train"])
    assert f"{len(saved['test']) * 5} images" in done.stderr


def test_split_is_deterministic_and_disjoint() -> None:
    classes = [f"c{i}" for i in range(20)]
    first, again = split_classes(classes, 0.1, seed=11), split_classes(classes, 0.1, seed=11)
    assert first == again and len(first.test) == 2
    assert not set(first.test) & set(first.train) and sorted(first.test + first.train) == sorted(classes)
    assert split_classes(classes, 0.1, seed=12).test != first.test or split_classes(classes, 0.1, 13).test != first.test


def test_classical_methods(labelled_folder: Path, tmp_path: Path) -> None:
    labelled = load_labelled(labelled_folder)
    for name in ("histogram", "phash", "classical-combo"):
        result = evaluate_model(labelled, name)
        assert result.images == 20 and 0 <= result.scores["map"] <= 1
    phash = create_embedder("phash")
    import imagehash

    a, b = (Image.open(p).convert("RGB") for p in find_images(labelled_folder)[:2])
    vectors = phash.embed_images([a, b])
    hamming = imagehash.phash(a) - imagehash.phash(b)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1 - 2 * hamming / 64, abs=1e-6)
    combo = create_embedder("classical-combo")
    path = find_images(labelled_folder)[0]
    same = combo.pair_score(combo.pairwise_features(path), combo.pairwise_features(path))
    other = combo.pair_score(combo.pairwise_features(path), combo.pairwise_features(find_images(labelled_folder)[-1]))
    assert same > other


@pytest.mark.slow  # make test checks the same figures exactly in the README's eval block (test_readme)
@pytest.mark.shared_data
def test_eval_reports_ukbench_ns(shared_data: Path, effnet) -> None:
    result = evaluate_model(load_labelled(shared_data / "ukbench-a"), effnet)
    assert result.scores["ns"] >= 3.8 and result.scores["precision@1"] > 0.95


def test_bench_index_small_sizes(tmp_path: Path) -> None:
    plot = tmp_path / "bench.png"
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", "bench", "index", "--dim", "32", "--sizes", "200,2000", "--queries", "20",
         "--plot", str(plot), "-f", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    methods = {(row["size"], row["method"]) for row in rows}
    assert {(2000, m) for m in ("numpy", "faiss-flat", "faiss-ivf", "faiss-hnsw")} <= methods
    for row in rows:
        if row["method"] in ("numpy", "faiss-flat"):
            assert row["recall@10"] == 1.0
        assert row["p50_ms"] > 0 and row["memory_mb"] > 0
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_eval_reuses_the_folders_library(labelled_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from library_helpers import CountingEmbedder

    from lookalike.evaluation import evaluator
    from lookalike.store import Library

    labelled = load_labelled(labelled_folder)
    fresh = evaluate_model(labelled, "histogram")
    counting = CountingEmbedder(create_embedder("histogram"))
    with Library.open(labelled_folder, model=counting, create=True) as library:
        library.sync()
    counting.embedded = 0
    monkeypatch.setattr(evaluator, "THROUGHPUT_SAMPLE", 5)
    reused = evaluate_model(labelled, counting)
    assert counting.embedded == 5  # only the timing sample: the vectors came from the library
    assert reused.images == 20 and reused.images_per_s > 0
    for key, value in fresh.scores.items():
        assert reused.scores[key] == pytest.approx(value, abs=1e-6)


def test_bench_index_on_given_vectors(tmp_path: Path) -> None:
    from lookalike.evaluation.synthetic import clustered_vectors

    vectors, _ = clustered_vectors(500, 24, seed=5)
    np.save(tmp_path / "mine.npy", vectors * 3.0)  # not unit length: the benchmark normalises
    done = subprocess.run(
        [sys.executable, "-m", "lookalike", "bench", "index", "--vectors", str(tmp_path / "mine.npy"),
         "--sizes", "300,900", "--queries", "10", "--plot", str(tmp_path / "p.png"), "-f", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {row["size"] for row in rows} == {300} and "skipped N=900: only 500 vectors" in done.stderr
    assert all(row["recall@10"] == 1.0 for row in rows if row["method"] == "faiss-flat")
