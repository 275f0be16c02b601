"""Train a projection head with a metric-learning loss, early-stopped on validation mAP.

Features come from a `FeatureSource`: stored base vectors (the usual case: an epoch is a few matrix
products) or a backbone whose last blocks are trained too (`finetune.BackboneFeatures`). Epoch 0 is
the untrained head (a PCA projection), so the kept head is never worse on validation than that.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..embedders.head import ProjectionHead
from ..errors import InvalidArgumentError, LookalikeError
from ..evaluation.evaluator import score_rankings
from .losses import LOSSES, LossOptions, MetricLoss
from .sampling import SplitBy, balanced_batches, split_indices


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how."""

    loss: str = "supcon"
    dim: int = 256
    hidden: int = 64
    epochs: int = 40
    patience: int = 6
    lr: float = 3e-3
    weight_decay: float = 0.05
    classes_per_batch: int = 16
    per_class: int = 8
    steps_per_epoch: int | None = None
    holdout: float = 0.2
    split_by: SplitBy = "image"
    seed: int = 0
    input_dropout: float = 0.5  # dropout on the base features while training (regularises small sets)
    threads: int | None = 1  # small matrices: one thread is fastest and reproducible (None: torch's choice)
    loss_options: LossOptions = field(default_factory=LossOptions)

    def check(self) -> None:
        """Raise a one-line error for a value that cannot work."""
        if self.loss not in LOSSES:
            raise InvalidArgumentError(f"loss must be one of {', '.join(LOSSES)}, not '{self.loss}'", argument="loss")
        for name in ("dim", "hidden", "epochs", "classes_per_batch", "per_class"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be at least 1, not {getattr(self, name)}", argument=name)
        if self.per_class < 2:
            raise InvalidArgumentError(f"per_class must be at least 2 (a batch needs positives), not {self.per_class}",
                                       argument="per_class")
        if self.patience < 1:
            raise InvalidArgumentError(f"patience must be at least 1, not {self.patience}", argument="patience")
        if self.lr <= 0:
            raise InvalidArgumentError(f"lr must be positive, not {self.lr}", argument="lr")


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch, for progress callbacks."""

    epoch: int
    epochs: int
    loss: float
    val_map: float | None
    val_p1: float | None
    best_epoch: int


Progress = Callable[[EpochReport], None]


class FeatureSource(Protocol):
    """Unit feature rows for positions of the training set: `batch` with gradients where something
    below the head is trained, `embed` without (for validation and the PCA start)."""

    def parameters(self) -> list[torch.nn.Parameter]: ...

    def batch(self, positions: np.ndarray) -> torch.Tensor: ...

    def embed(self, positions: np.ndarray) -> np.ndarray: ...

    def state(self) -> dict[str, torch.Tensor]: ...

    def load_state(self, state: dict[str, torch.Tensor]) -> None: ...


class StoredVectors:
    """Precomputed base vectors: nothing below the head is trained."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = torch.as_tensor(np.ascontiguousarray(vectors, dtype=np.float32))

    def parameters(self) -> list[torch.nn.Parameter]:
        return []

    def batch(self, positions: np.ndarray) -> torch.Tensor:
        return self.vectors[torch.as_tensor(positions)]

    def embed(self, positions: np.ndarray) -> np.ndarray:
        return self.vectors[torch.as_tensor(positions)].numpy()

    def state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        return None


@dataclass
class TrainResult:
    """The trained head (best epoch's weights) and how it got there."""

    head: ProjectionHead
    backbone: dict[str, torch.Tensor]
    curve: list[dict[str, float]]
    best_epoch: int
    base_scores: dict[str, float] | None
    best_scores: dict[str, float] | None
    train_size: int
    val_size: int
    classes: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        """The JSON-like record kept in the head file."""
        return {"best_epoch": self.best_epoch, "curve": self.curve, "base": self.base_scores,
                "best": self.best_scores, "train_images": self.train_size, "val_images": self.val_size,
                "classes": self.classes, "seconds": round(self.seconds, 3)}


def _scores(vectors: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    scores = score_rankings(vectors, labels.tolist())
    return {key: round(float(scores[key]), 6) for key in ("map", "precision@1", "allmatch@5")}


def _head_vectors(head: ProjectionHead, features: FeatureSource, positions: np.ndarray,
                  chunk: int = 1024) -> np.ndarray:
    """Unit head outputs for `positions`, without gradients."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(positions), chunk):
            base = torch.as_tensor(features.embed(positions[start : start + chunk]))
            rows.append(F.normalize(head(base), dim=1).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, head.linear.out_features), np.float32)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with `count` torch threads (unchanged for None), restoring the previous count after."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_head(features: FeatureSource, labels: list[str], config: TrainConfig,
               progress: Progress | None = None) -> TrainResult:
    """Train a head on `features` (one row per label) with `config`; see the module docstring."""
    config.check()
    with torch_threads(config.threads):
        return _train_head(features, labels, config, progress)


def _train_head(features: FeatureSource, labels: list[str], config: TrainConfig,
                progress: Progress | None) -> TrainResult:
    started = time.perf_counter()
    label_array = np.asarray(labels)
    if len(set(labels)) < 2:
        raise LookalikeError(f"training needs at least two labels, found {len(set(labels))}")
    split = split_indices(labels, config.holdout, config.split_by, config.seed)
    train_labels = label_array[split.train]
    classes, class_ids = np.unique(train_labels, return_inverse=True)
    if len(classes) < 2:
        raise InvalidArgumentError(f"holdout {config.holdout} by {config.split_by} leaves fewer than two labels "
                                   "to train on", argument="holdout")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    base_train = features.embed(split.train)
    head = ProjectionHead(base_train.shape[1], config.dim, config.hidden)
    head.init_projection(base_train, config.seed)
    loss_fn = MetricLoss(config.loss, config.dim, len(classes), config.loss_options)
    optimiser = torch.optim.AdamW(
        [*head.parameters(), *loss_fn.parameters(), *features.parameters()],
        lr=config.lr, weight_decay=config.weight_decay)
    val_labels = label_array[split.val]
    validate = len(val_labels) > len(set(val_labels.tolist()))  # some validation image has a positive
    base_scores = _scores(features.embed(split.val), val_labels) if validate else None
    batch = config.classes_per_batch * config.per_class
    steps = config.steps_per_epoch or max(5, len(split.train) // batch)

    def evaluate(epoch: int, loss: float) -> dict[str, float]:
        point: dict[str, float] = {"epoch": epoch}
        if epoch:
            point["loss"] = round(loss, 6)
        if validate:
            point.update(_scores(_head_vectors(head, features, split.val), val_labels))
        return point

    curve = [evaluate(0, float("nan"))]
    best_epoch, best_map = 0, curve[0].get("map", -1.0)
    best_state = (copy.deepcopy(head.state_dict()), copy.deepcopy(features.state()))
    for epoch in range(1, config.epochs + 1):
        head.train()
        losses = []
        for positions in balanced_batches(class_ids, config.classes_per_batch, config.per_class, steps, rng):
            inputs = F.dropout(features.batch(split.train[positions]), config.input_dropout, training=True)
            z = F.normalize(head(inputs), dim=1)
            loss = loss_fn(z, torch.as_tensor(class_ids[positions]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        head.eval()
        point = evaluate(epoch, float(np.mean(losses)))
        curve.append(point)
        if not validate or point["map"] > best_map:
            best_epoch, best_map = epoch, point.get("map", -1.0)
            best_state = (copy.deepcopy(head.state_dict()), copy.deepcopy(features.state()))
        if progress is not None:
            progress(EpochReport(epoch, config.epochs, point["loss"], point.get("map"), point.get("precision@1"),
                                 best_epoch))
        if validate and epoch - best_epoch >= config.patience:
            break
    head.load_state_dict(best_state[0])
    features.load_state(best_state[1])
    head.eval()
    best_scores = {k: v for k, v in curve[best_epoch].items() if k not in ("epoch", "loss")} if validate else None
    return TrainResult(head, best_state[1], curve, best_epoch, base_scores, best_scores, len(split.train),
                       len(split.val), len(classes), time.perf_counter() - started)
