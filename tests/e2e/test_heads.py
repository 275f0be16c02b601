"""Trained heads as models, on the tiny random SigLIP/CLIP and generated images: the head file drives
`create_embedder`, libraries, the CLI, fine-tuning, image + text training and the autoencoder."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import pattern_image

from lookalike.cli.errors import with_hint
from lookalike.embedders import create_embedder, l2_normalize
from lookalike.embedders.autoencoder import AutoencoderEmbedder
from lookalike.embedders.head import HeadEmbedder
from lookalike.embedders.headfile import load_head
from lookalike.errors import LookalikeError, SpecMismatchError, UnsupportedQueryError
from lookalike.images import load_image
from lookalike.similarity import search
from lookalike.store.library import Library
from lookalike.training.run import train_folder, with_text_vectors
from lookalike.training.trainer import TrainConfig

FP32 = {"precision": "fp32"}
QUICK = TrainConfig(loss="supcon", dim=8, hidden=16, epochs=3, classes_per_batch=3, per_class=2, holdout=0.34)
TEXTS = {"red": "a red car", "green": "the grass is green", "dog": "a photo of a dog"}


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three classes of six generated pictures, with a labels.csv that has a text column."""
    folder = tmp_path_factory.mktemp("heads") / "photos"
    rows = []
    for class_index, name in enumerate(TEXTS):
        for item in range(6):
            target = folder / name / f"{name}_{item}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            pattern_image(100 * class_index + item).save(target)
            rows.append({"path": f"{name}/{target.name}", "label": name, "text": TEXTS[name]})
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "text"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def trained(labelled_folder: Path, tiny_siglip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two heads on the tiny SigLIP (different seeds), trained from a library kept outside the folder."""
    work = tmp_path_factory.mktemp("trained")
    heads = {}
    for name, seed in (("a", 0), ("b", 1)):
        outcome = train_folder(labelled_folder, work / f"head-{name}.pt", base=str(tiny_siglip_dir),
                               config=TrainConfig(**{**QUICK.__dict__, "seed": seed}), library=work / "base-lib",
                               **FP32)
        heads[name] = outcome
    return {"work": work, **heads}


def pictures(folder: Path) -> list:
    return [load_image(p) for p in sorted(folder.rglob("*.png"))]


def test_head_file_records_its_training(trained: dict, tiny_siglip_dir: Path) -> None:
    content = load_head(trained["a"].path)
    assert content["kind"] == "projection" and content["loss"] == "supcon"
    assert content["base_model"] == str(tiny_siglip_dir.resolve())
    assert content["base_spec"]["source"] == str(tiny_siglip_dir.resolve())
    assert (content["in_dim"], content["dim"]) == (32, 8)
    assert content["training"]["train_images"] + content["training"]["val_images"] == 18
    assert content["training"]["curve"][0]["epoch"] == 0 and "map" in content["training"]["curve"][0]
    assert content["hash"] == trained["a"].hash


def test_head_is_a_model_with_unit_vectors_and_a_round_trip(trained: dict, labelled_folder: Path) -> None:
    embedder = create_embedder(str(trained["a"].path), **FP32)
    assert isinstance(embedder, HeadEmbedder)
    assert embedder.spec.dim == 8 and embedder.spec.extra["head"] == trained["a"].hash
    assert trained["a"].hash[:16] in embedder.spec.source
    images = pictures(labelled_folder)
    vectors = embedder.embed_images(images)
    assert vectors.shape == (18, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = l2_normalize(embedder.project(embedder.base.embed_images(images)))
    assert np.allclose(vectors, expected, atol=1e-6)
    again = create_embedder(str(trained["a"].path), **FP32).embed_images(images)
    assert np.array_equal(vectors, again)  # save/load gives identical vectors
    text = embedder.embed_texts(["a red car"])  # the base's text tower goes through the head too
    assert text.shape == (1, 8)


def test_library_built_with_a_head_refuses_the_base_and_another_head(
        trained: dict, labelled_folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "lib"
    head_a, head_b = str(trained["a"].path), str(trained["b"].path)
    with Library.open(labelled_folder, model=head_a, library=home, create=True, **FP32) as library:
        library.sync()
        model_dir = library.paths.directory
        hits = search(library, labelled_folder / "red" / "red_0.png", k=3)
        assert len(hits) == 3
    for other in (str(tiny_siglip_dir), head_b):
        for where in (home, model_dir):
            with pytest.raises(SpecMismatchError) as caught:
                Library.open(library=where, model=other, **FP32)
            error = caught.value
            assert error.details["expected"] == head_a and error.details["given"] == other
            assert f"pass --model {head_a}" in with_hint(error) and "\n" not in with_hint(error)
    # the same path now holding a different head: caught by the spec check when the model loads
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(head_a, swapped / "head.pt")
    with Library.open(labelled_folder, model=str(swapped / "head.pt"), library=tmp_path / "lib2", create=True,
                      **FP32) as library:
        library.sync()
    shutil.copy(head_b, swapped / "head.pt")
    query = tmp_path / "new.png"
    pattern_image(999).save(query)
    with Library.open(library=tmp_path / "lib2", model=str(swapped / "head.pt"), **FP32) as library, \
            pytest.raises(SpecMismatchError, match="head:"):
        search(library, query, k=2)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "lookalike", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_train_then_index_and_search_with_the_head(labelled_folder: Path, tiny_siglip_dir: Path,
                                                      tmp_path: Path) -> None:
    head = tmp_path / "cli-head.pt"
    done = run_cli("train", str(labelled_folder), "--base", str(tiny_siglip_dir), "--out", str(head), "--epochs", "2",
                   "--dim", "8", "--holdout", "0.34", "--library", str(tmp_path / "base"), "--precision", "fp32",
                   "--format", "csv", "-q")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split(",") == ["vectors", "val_images", "map", "precision@1", "allmatch@5"]
    assert lines[1].startswith("base (") and lines[2].startswith("head (supcon)")
    assert "wrote" in done.stderr and head.is_file()
    done = run_cli("index", str(labelled_folder), "--model", str(head), "--library", str(tmp_path / "head-lib"),
                   "--precision", "fp32", "-q")
    assert done.returncode == 0, done.stderr
    done = run_cli("search", str(labelled_folder / "dog" / "dog_1.png"), "--model", str(head),
                   "--library", str(tmp_path / "head-lib"), "-k", "2", "--precision", "fp32", "--format", "csv", "-q")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 3  # header + 2 hits
    bad = tmp_path / "bad.pt"
    bad.write_bytes(head.read_bytes()[:500])
    done = run_cli("index", str(labelled_folder), "--model", str(bad), "--library", str(tmp_path / "bad-lib"), "-q")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "bad.pt: not a readable head file" in done.stderr


def test_finetune_last_block_of_a_tiny_backbone(labelled_folder: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    no_validation = TrainConfig(**{**QUICK.__dict__, "lr": 1e-2, "holdout": 0.0})  # keeps the last epoch
    outcome = train_folder(labelled_folder, tmp_path / "ft.pt", base=str(tiny_siglip_dir), finetune_last=1,
                           config=no_validation, **FP32)
    content = load_head(outcome.path)
    assert content["finetune_last"] == 1 and content["backbone"]
    assert all(key.startswith("vision_model.encoder.layers.1.") for key in content["backbone"])
    fresh = create_embedder(str(tiny_siglip_dir), **FP32)
    original = fresh.model.state_dict()  # type: ignore[attr-defined]
    changed = [k for k, v in content["backbone"].items() if not torch.equal(v, original[k])]
    assert changed  # the block was trained
    untouched = "vision_model.encoder.layers.0.mlp.fc1.weight"
    embedder = create_embedder(str(outcome.path))
    assert isinstance(embedder, HeadEmbedder)
    loaded = embedder.base.model.state_dict()  # type: ignore[attr-defined]
    assert all(torch.equal(loaded[k], v) for k, v in content["backbone"].items())
    assert torch.equal(loaded[untouched], original[untouched])
    images = pictures(labelled_folder)[:4]
    assert not np.allclose(embedder.base.embed_images(images), fresh.embed_images(images))
    with pytest.raises(LookalikeError, match="between 1 and 2"):
        train_folder(labelled_folder, tmp_path / "ft3.pt", base=str(tiny_siglip_dir), finetune_last=3, config=QUICK,
                     **FP32)


@pytest.mark.parametrize("model_dir", ["tiny_siglip_dir", "tiny_clip_dir"])
def test_with_text_mixes_captions_into_training(labelled_folder: Path, model_dir: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    base = str(request.getfixturevalue(model_dir))
    outcome = train_folder(labelled_folder, tmp_path / "text.pt", base=base, config=QUICK, with_text=0.5,
                           library=tmp_path / "lib", **FP32)
    assert load_head(outcome.path)["with_text"] == 0.5
    embedder = create_embedder(base, **FP32)
    images = embedder.embed_images(pictures(labelled_folder)[:2])
    texts = ["a red car", "two cats"]
    mixed = with_text_vectors(embedder, images, texts, 0.25)
    manual = l2_normalize(0.75 * images + 0.25 * embedder.embed_texts(texts))
    assert np.allclose(mixed, manual, atol=1e-6)
    assert not np.allclose(mixed, images, atol=1e-3)


def test_with_text_needs_a_text_tower_and_a_text_column(effnet, labelled_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedQueryError):
        with_text_vectors(effnet, np.zeros((1, 1280), np.float32), ["a dog"], 0.5)
    plain = tmp_path / "plain.csv"
    plain.write_text("path,label\nred/red_0.png,red\n")
    from lookalike.training.run import read_texts

    with pytest.raises(LookalikeError, match="'text' column"):
        read_texts(plain, labelled_folder)


def test_autoencoder_trains_on_pixels_and_is_a_model(labelled_folder: Path, tmp_path: Path) -> None:
    config = TrainConfig(loss="autoencoder", dim=16, epochs=2, holdout=0.34)
    outcome = train_folder(labelled_folder, tmp_path / "ae.pt", config=config)
    content = load_head(outcome.path)
    assert content["kind"] == "autoencoder" and content["side"] == 64
    assert "val_mse" in content["training"]["curve"][1] and "map" in content["training"]["curve"][1]
    embedder = create_embedder(str(outcome.path))
    assert isinstance(embedder, AutoencoderEmbedder) and embedder.spec.dim == 16
    vectors = embedder.embed_images(pictures(labelled_folder))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, create_embedder(str(outcome.path)).embed_images(pictures(labelled_folder)))
    with Library.open(labelled_folder, model=str(outcome.path), library=tmp_path / "ae-lib", create=True) as library:
        library.sync()
        assert len(library.vectors()[0]) == 18


def test_autoencoder_refuses_text_and_fine_tuning(labelled_folder: Path, tmp_path: Path) -> None:
    config = TrainConfig(loss="autoencoder", dim=8, epochs=1)
    for extra in ({"with_text": 0.5}, {"finetune_last": 1}):
        with pytest.raises(LookalikeError, match="pixels alone"):
            train_folder(labelled_folder, tmp_path / "ae.pt", config=config, **extra)  # type: ignore[arg-type]
    assert not (tmp_path / "ae.pt").exists()


def test_autoencoder_without_labels_stops_on_reconstruction(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    for seed in range(8):
        pattern_image(seed).save(folder / f"{seed}.png")
    outcome = train_folder(folder, tmp_path / "ae.pt", config=TrainConfig(loss="autoencoder", dim=8, epochs=2,
                                                                          holdout=0.25))
    curve = outcome.result.curve
    assert all("map" not in point for point in curve) and all("val_mse" in point for point in curve)
    assert outcome.result.best_scores is not None
    assert outcome.result.best_scores["val_mse"] == min(point["val_mse"] for point in curve)
