"""Train the convolutional autoencoder baseline on the images' pixels (64x64).

Unsupervised: the loss is the reconstruction error. Labels, when there are any, serve only the
validation split and early stopping on validation mAP; without labels it stops on the validation
reconstruction error instead.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..embedders.autoencoder import SIDE, ConvAutoencoder, pixels
from ..errors import ImageReadError, LookalikeError
from ..images import DecodeOptions, load_image
from .sampling import Split, split_indices
from .trainer import EpochReport, Progress, TrainConfig, TrainResult, _scores, torch_threads


def load_pixels(paths: Sequence[Path], side: int = SIDE) -> tuple[np.ndarray, list[int], list[ImageReadError]]:
    """(n, 3, side, side) uint8 pixels of the readable images, their positions in `paths`, failures."""
    rows, kept, failures = [], [], []
    for position, path in enumerate(paths):
        try:
            picture = load_image(path, DecodeOptions(draft_short_side=side))
        except ImageReadError as exc:
            failures.append(exc)
            continue
        rows.append((pixels(picture, side) * 255).round().to(torch.uint8).numpy())
        kept.append(position)
    if not rows:
        raise LookalikeError("no readable image to train the autoencoder on")
    return np.stack(rows), kept, failures


def _batches(count: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(count)
    return [order[start : start + size] for start in range(0, count, size)]


def train_autoencoder(images: np.ndarray, labels: list[str] | None, config: TrainConfig,
                      progress: Progress | None = None, batch_size: int = 64) -> TrainResult:
    """Train on uint8 pixels (n, 3, side, side); `config.dim` is the bottleneck. The returned result's
    `head` is the autoencoder (typed loosely: it is not a projection head)."""
    with torch_threads(config.threads):
        return _train_autoencoder(images, labels, config, progress, batch_size)


def _train_autoencoder(images: np.ndarray, labels: list[str] | None, config: TrainConfig,
                       progress: Progress | None, batch_size: int) -> TrainResult:
    if config.epochs < 1 or config.dim < 1:
        raise LookalikeError("epochs and dim must be at least 1")
    started = time.perf_counter()
    count = len(images)
    if labels is not None and len(set(labels)) >= 2:
        split = split_indices(labels, config.holdout, config.split_by, config.seed)
    else:
        order = np.random.default_rng(config.seed).permutation(count)
        cut = int(round(config.holdout * count))
        split = Split(np.sort(order[cut:]), np.sort(order[:cut]))
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = ConvAutoencoder(config.dim, images.shape[-1])
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    label_array = np.asarray(labels) if labels is not None else None
    by_map = label_array is not None and len(split.val) > len(set(label_array[split.val].tolist()))

    def tensor(positions: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(images[positions]).float() / 255.0

    def evaluate(epoch: int, loss: float | None) -> dict[str, float]:
        point: dict[str, float] = {"epoch": epoch}
        if loss is not None:
            point["loss"] = round(loss, 6)
        if len(split.val) == 0:
            return point
        model.eval()
        codes, errors = [], []
        with torch.no_grad():
            for start in range(0, len(split.val), 256):
                batch = tensor(split.val[start : start + 256])
                code, rebuilt = model(batch)
                codes.append(F.normalize(code, dim=1).numpy())
                errors.append(float(F.mse_loss(rebuilt, batch, reduction="sum")))
        point["val_mse"] = round(sum(errors) / (len(split.val) * images[0].size), 6)
        if by_map and label_array is not None:
            point.update(_scores(np.concatenate(codes), label_array[split.val]))
        return point

    def goodness(point: dict[str, float]) -> float:
        return point["map"] if by_map else -point.get("val_mse", 0.0)

    curve = [evaluate(0, None)]
    best_epoch, best_value = 0, goodness(curve[0])
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        for positions in _batches(len(split.train), batch_size, rng):
            batch = tensor(split.train[positions])
            _, rebuilt = model(batch)
            loss = F.mse_loss(rebuilt, batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        point = evaluate(epoch, float(np.mean(losses)))
        curve.append(point)
        if len(split.val) == 0 or goodness(point) > best_value:
            best_epoch, best_value = epoch, goodness(point)
            best_state = copy.deepcopy(model.state_dict())
        if progress is not None:
            progress(EpochReport(epoch, config.epochs, point["loss"], point.get("map"), point.get("precision@1"),
                                 best_epoch))
        if len(split.val) and epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    best = {k: v for k, v in curve[best_epoch].items() if k not in ("epoch", "loss")} if len(split.val) else None
    n_classes = len(set(labels)) if labels is not None else 0
    return TrainResult(model, {}, curve, best_epoch, None, best, len(split.train), len(split.val), n_classes,  # type: ignore[arg-type]
                       time.perf_counter() - started)
