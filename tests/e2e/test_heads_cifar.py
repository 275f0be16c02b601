"""Heads on real data: CIFAR-10 test images (100 per class) embedded once with the offline
EfficientNet-Lite0, then SupCon heads trained on part of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookalike.embedders import l2_normalize
from lookalike.evaluation.evaluator import score_rankings
from lookalike.evaluation.labelled import split_classes
from lookalike.training.sampling import split_indices
from lookalike.training.trainer import StoredVectors, TrainConfig, train_head

pytestmark = pytest.mark.shared_data


@pytest.fixture
def cifar(cifar_sample) -> tuple[np.ndarray, list[str]]:
    """The first 100 images of every CIFAR-10 class and their EfficientNet-Lite0 vectors (embedded once
    per session by tests/conftest.py)."""
    return cifar_sample


def project(head: torch.nn.Module, vectors: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return l2_normalize(head(torch.as_tensor(vectors)).numpy())


@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_head_trained_on_half_of_each_class_lifts_the_other_half(cifar) -> None:
    vectors, labels = cifar
    halves = split_indices(labels, 0.5, "image", seed=0)
    train_labels = [labels[i] for i in halves.train]
    test_labels = [labels[i] for i in halves.val]
    result = train_head(StoredVectors(vectors[halves.train]), train_labels, TrainConfig(loss="supcon"))
    base = score_rankings(vectors[halves.val], test_labels)
    head = score_rankings(project(result.head, vectors[halves.val]), test_labels)
    print(f"held-out half: base mAP {base['map']:.4f} P@1 {base['precision@1']:.4f}; "
          f"head mAP {head['map']:.4f} P@1 {head['precision@1']:.4f} (best epoch {result.best_epoch})")
    assert head["map"] >= base["map"] + 0.15


@pytest.mark.slow  # make test-all: a long quality/scale run; the default run keeps a quick form
def test_head_trained_on_eight_classes_does_not_hurt_the_two_unseen(cifar) -> None:
    vectors, labels = cifar
    split = split_classes(sorted(set(labels)), 0.2, seed=0)
    seen = [i for i, label in enumerate(labels) if label in split.train]
    unseen = [i for i, label in enumerate(labels) if label in split.test]
    config = TrainConfig(loss="supcon", split_by="class", holdout=0.25)  # validation on classes it never trains on
    result = train_head(StoredVectors(vectors[seen]), [labels[i] for i in seen], config)
    unseen_labels = [labels[i] for i in unseen]
    base = score_rankings(vectors[unseen], unseen_labels)
    head = score_rankings(project(result.head, vectors[unseen]), unseen_labels)
    print(f"unseen classes {split.test}: base mAP {base['map']:.4f} P@1 {base['precision@1']:.4f}; "
          f"head mAP {head['map']:.4f} P@1 {head['precision@1']:.4f} (best epoch {result.best_epoch})")
    assert head["map"] >= base["map"] - 0.02
