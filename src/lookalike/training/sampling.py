"""Seeded validation splits and class-balanced batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InvalidArgumentError
from ..evaluation.labelled import split_classes

SplitBy = Literal["image", "class"]


@dataclass(frozen=True)
class Split:
    """Positions of the training and validation items (each sorted)."""

    train: np.ndarray
    val: np.ndarray


def split_indices(labels: Sequence[str], holdout: float, split_by: SplitBy, seed: int) -> Split:
    """Hold out a seeded share of the images of every class (`image`), or whole classes (`class`).

    With `image`, a class keeps at least one training image and gives at least one to validation
    when it has two or more; with `class`, at least two classes are held out. `holdout` 0 means
    no validation set.
    """
    if not 0 <= holdout < 1:
        raise InvalidArgumentError(f"holdout must be at least 0 and below 1, not {holdout}", argument="holdout")
    if split_by not in ("image", "class"):
        raise InvalidArgumentError(f"split_by must be 'image' or 'class', not {split_by!r}", argument="split_by")
    array = np.asarray(labels)
    if holdout == 0:
        return Split(np.arange(len(array)), np.zeros(0, np.int64))
    if split_by == "class":
        chosen = split_classes(sorted(set(array.tolist())), holdout, seed)
        val_mask = np.isin(array, chosen.test)
        return Split(np.flatnonzero(~val_mask), np.flatnonzero(val_mask))
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for label in sorted(set(array.tolist())):
        members = np.flatnonzero(array == label)
        if len(members) < 2:
            continue
        count = min(len(members) - 1, max(1, round(holdout * len(members))))
        val.extend(rng.permutation(members)[:count].tolist())
    val_array = np.sort(np.asarray(val, np.int64))
    return Split(np.setdiff1d(np.arange(len(array)), val_array), val_array)


def balanced_batches(labels: np.ndarray, classes_per_batch: int, per_class: int, steps: int,
                     rng: np.random.Generator) -> Iterator[np.ndarray]:
    """`steps` batches of positions: `classes_per_batch` classes drawn without replacement, `per_class`
    images of each (with replacement only when a class has fewer), so every batch has positives."""
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    usable = [i for i, m in enumerate(members) if len(m) >= 2] or list(range(len(members)))
    take = min(classes_per_batch, len(usable))
    for _ in range(steps):
        picked = rng.choice(usable, size=take, replace=False)
        rows = [rng.choice(members[c], size=per_class, replace=len(members[c]) < per_class) for c in picked]
        yield np.concatenate(rows)
