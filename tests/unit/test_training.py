"""Training heads on generated vectors with known structure: splits, batches, losses, the trainer
and the head file format (no image model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lookalike.embedders import l2_normalize
from lookalike.embedders.head import ProjectionHead, build_head
from lookalike.embedders.headfile import load_head, save_head
from lookalike.errors import InvalidArgumentError, LookalikeError, ModelLoadError
from lookalike.training.losses import MetricLoss, batch_hard_triplet, supcon
from lookalike.training.sampling import balanced_batches, split_indices
from lookalike.training.trainer import StoredVectors, TrainConfig, train_head


def structured_vectors(classes: int = 12, per_class: int = 40, dim: int = 64, seed: int = 0):
    """Class identity lives in 8 low-variance dimensions; the other 56 are loud noise, so cosine on
    the raw vectors retrieves poorly and a learned projection can do much better."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, 8))
    labels = np.repeat(np.arange(classes), per_class)
    raw = np.zeros((len(labels), dim))
    raw[:, :8] = centres[labels] * 0.6 + 0.2 * rng.standard_normal((len(labels), 8))
    raw[:, 8:] = 0.5 * rng.standard_normal((len(labels), dim - 8))
    return l2_normalize(raw), [f"class{c:02d}" for c in labels]


SMALL = dict(dim=16, hidden=32, epochs=12, classes_per_batch=8, per_class=4)


@pytest.mark.parametrize("loss", ["triplet", "contrastive", "supcon", "arcface"])
def test_trained_head_improves_validation_map(loss: str) -> None:
    vectors, labels = structured_vectors()
    result = train_head(StoredVectors(vectors), labels, TrainConfig(loss=loss, **SMALL))
    assert result.base_scores is not None and result.best_scores is not None
    print(loss, result.base_scores, result.best_scores)
    assert result.best_scores["map"] >= result.base_scores["map"] + 0.25
    assert result.best_epoch >= 1
    assert result.curve[result.best_epoch]["map"] == max(point["map"] for point in result.curve)
    assert result.train_size + result.val_size == len(labels)


def test_training_is_deterministic_for_a_seed() -> None:
    vectors, labels = structured_vectors()
    config = TrainConfig(loss="supcon", **{**SMALL, "epochs": 4})
    first = train_head(StoredVectors(vectors), labels, config)
    second = train_head(StoredVectors(vectors), labels, config)
    assert first.curve == second.curve
    for key, value in first.head.state_dict().items():
        assert torch.equal(value, second.head.state_dict()[key])
    other = train_head(StoredVectors(vectors), labels, TrainConfig(loss="supcon", seed=1, **{**SMALL, "epochs": 4}))
    assert other.curve != first.curve


def test_early_stopping_keeps_the_best_epoch() -> None:
    vectors, labels = structured_vectors()
    # a huge learning rate wrecks the head after its first steps: the kept head is an early epoch
    result = train_head(StoredVectors(vectors), labels,
                        TrainConfig(loss="supcon", lr=5.0, patience=2, **{**SMALL, "epochs": 30}))
    assert len(result.curve) - 1 < 30  # stopped early
    assert len(result.curve) - 1 - result.best_epoch == 2
    head_vectors = l2_normalize(result.head(torch.as_tensor(vectors)).detach().numpy())
    from lookalike.evaluation.evaluator import score_rankings

    split = split_indices(labels, 0.2, "image", 0)
    kept = score_rankings(head_vectors[split.val], [labels[i] for i in split.val])["map"]
    assert kept == pytest.approx(result.curve[result.best_epoch]["map"], abs=1e-5)


def test_split_by_image_keeps_every_class_on_both_sides() -> None:
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2 + ["d"]
    split = split_indices(labels, 0.2, "image", seed=3)
    assert sorted(np.concatenate([split.train, split.val]).tolist()) == list(range(len(labels)))
    val_labels = [labels[i] for i in split.val]
    assert val_labels.count("a") == 2 and val_labels.count("b") == 1 and val_labels.count("c") == 1
    assert "d" not in val_labels  # a single image stays in training
    assert np.array_equal(split.val, split_indices(labels, 0.2, "image", seed=3).val)
    assert not np.array_equal(split.val, split_indices(labels, 0.2, "image", seed=4).val)


def test_split_by_class_holds_out_whole_classes() -> None:
    labels = [c for c in "abcdefghij" for _ in range(3)]
    split = split_indices(labels, 0.2, "class", seed=0)
    train_classes = {labels[i] for i in split.train}
    val_classes = {labels[i] for i in split.val}
    assert len(val_classes) == 2 and not train_classes & val_classes
    with pytest.raises(LookalikeError, match="holdout"):
        split_indices(labels, 1.5, "image", 0)


def test_balanced_batches_draw_distinct_classes_with_positives() -> None:
    labels = np.repeat(np.arange(6), [10, 10, 10, 3, 10, 1])
    batches = list(balanced_batches(labels, 4, 3, 20, np.random.default_rng(0)))
    assert len(batches) == 20
    for batch in batches:
        classes, counts = np.unique(labels[batch], return_counts=True)
        assert len(classes) == 4 and set(counts) == {3}
        assert 5 not in classes  # a class with one image cannot give a positive pair


def test_losses_prefer_clustered_embeddings() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    clustered = torch.nn.functional.normalize(torch.eye(3)[labels] + 0.01 * torch.randn(6, 3), dim=1)
    mixed = torch.nn.functional.normalize(torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])], dim=1)
    assert batch_hard_triplet(clustered, labels, 0.2) == 0  # positives close, negatives beyond the margin
    assert batch_hard_triplet(mixed, labels, 0.2) > 1.0
    assert supcon(clustered, labels, 0.1) < supcon(mixed, labels, 0.1)
    for name in ("contrastive", "arcface"):
        torch.manual_seed(0)
        loss = MetricLoss(name, 3, 3)
        if name == "arcface":
            with torch.no_grad():
                loss.arcface.centres.copy_(torch.eye(3))  # type: ignore[union-attr]
        assert loss(clustered, labels) < loss(mixed, labels)
    with pytest.raises(InvalidArgumentError, match="loss must be one of"):
        MetricLoss("hinge", 3, 3)


def _saved_head(tmp_path: Path) -> tuple[Path, ProjectionHead]:
    torch.manual_seed(0)
    head = ProjectionHead(8, 4, 6)
    torch.nn.init.normal_(head.mlp[2].weight)
    path = tmp_path / "head.pt"
    save_head({"kind": "projection", "loss": "supcon", "in_dim": 8, "dim": 4, "hidden": 6,
               "training": {"curve": [{"epoch": 0, "map": 0.5}]}, "state": head.state_dict()}, path)
    return path, head


def test_head_file_round_trip(tmp_path: Path) -> None:
    path, head = _saved_head(tmp_path)
    content = load_head(path)
    assert content["training"]["curve"][0]["map"] == 0.5 and len(content["hash"]) == 64
    loaded = build_head(content)
    x = torch.randn(5, 8)
    assert torch.equal(loaded(x), head.eval()(x))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "foreign", "empty"])
def test_damaged_head_file_is_a_one_line_error(tmp_path: Path, damage: str) -> None:
    path, _ = _saved_head(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "flip":  # one byte inside a weight tensor: loads, but the hash no longer matches
        content = torch.load(path, weights_only=True)
        content["state"]["mlp.2.weight"][0, 0] += 1.0
        torch.save(content, path)
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "garbage":
        path.write_bytes(b"not a head at all\n" * 10)
    elif damage == "foreign":
        torch.save({"weight": torch.zeros(3)}, path)
    else:
        path.write_bytes(b"")
    with pytest.raises(ModelLoadError) as caught:
        load_head(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    expected = {"flip": "content hash", "foreign": "not a lookalike head"}.get(damage, "not a readable head")
    assert expected in message


def test_missing_head_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such head file"):
        load_head(tmp_path / "absent.pt")


def test_progress_reports_every_epoch() -> None:
    vectors, labels = structured_vectors()
    reports = []
    result = train_head(StoredVectors(vectors), labels, TrainConfig(loss="triplet", **{**SMALL, "epochs": 3}),
                        progress=reports.append)
    assert [r.epoch for r in reports] == [1, 2, 3] and all(r.epochs == 3 for r in reports)
    assert [r.val_map for r in reports] == [point["map"] for point in result.curve[1:]]
    assert reports[-1].best_epoch == result.best_epoch
    assert all(r.loss > 0 for r in reports)
