"""Labelled image sets for evaluation: labels from a CSV (path,label) or one class per sub-folder,
and a seeded split of the classes into seen (training) and unseen (evaluation) ones."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, LookalikeError
from ..images import find_images

LABEL_COLUMNS = ("label", "class", "group", "category")


@dataclass
class LabelledSet:
    """Image paths and their labels (same order)."""

    root: Path
    paths: list[Path]
    labels: list[str]

    def subset(self, keep: np.ndarray | list[int]) -> LabelledSet:
        return LabelledSet(self.root, [self.paths[i] for i in keep], [self.labels[i] for i in keep])

    def classes(self) -> list[str]:
        return sorted(set(self.labels))


@dataclass(frozen=True)
class ClassSplit:
    """Which classes training may see and which are held out for evaluation."""

    seed: int
    holdout: float
    train: list[str]
    test: list[str]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ClassSplit:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise LookalikeError(f"{path}: not a split file ({exc})") from None


def _from_csv(root: Path, labels_csv: Path) -> LabelledSet:
    if not labels_csv.is_file():
        what = "is not a regular file" if labels_csv.exists() else "no such file"
        raise LookalikeError(f"{labels_csv}: {what} (the labels CSV)")
    try:
        with open(labels_csv, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            label_column = next((c for c in fields if c.lower() in LABEL_COLUMNS), None)
            if "path" not in fields or label_column is None:
                raise LookalikeError(f"{labels_csv}: needs a 'path' column and one of {', '.join(LABEL_COLUMNS)}")
            rows = [(row["path"], row[label_column]) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LookalikeError(f"{labels_csv}: cannot read the labels CSV ({exc})") from None
    paths, labels = [], []
    for rel, label in rows:
        candidate = root / rel
        if not candidate.is_file():
            raise LookalikeError(f"{labels_csv}: {rel} is not a file under {root}")
        paths.append(candidate)
        labels.append(label)
    return LabelledSet(root, paths, labels)


def load_labelled(root: Path, labels_csv: Path | None = None) -> LabelledSet:
    """Labels from `labels_csv` (or `root/labels.csv` when present), else the first sub-folder."""
    if not root.is_dir():
        raise LookalikeError(f"{root}: no such folder of labelled images")
    if labels_csv is None and (root / "labels.csv").is_file():
        labels_csv = root / "labels.csv"
    if labels_csv is not None:
        return _from_csv(root, labels_csv)
    paths = [p for p in find_images(root) if p.parent != root]
    if not paths:
        raise LookalikeError(f"{root}: no labels.csv and no images in class sub-folders")
    return LabelledSet(root, paths, [p.relative_to(root).parts[0] for p in paths])


def split_classes(classes: list[str], holdout: float, seed: int) -> ClassSplit:
    """Hold out a seeded share of the classes (at least 2, so retrieval is not trivial; at least one
    left for training)."""
    if not 0 < holdout < 1:
        raise InvalidArgumentError(f"holdout must be between 0 and 1, not {holdout}", argument="holdout")
    ordered = sorted(classes)
    if len(ordered) < 3:
        raise LookalikeError(f"the unseen-classes protocol needs at least 3 classes, found {len(ordered)}")
    count = min(len(ordered) - 1, max(2, round(holdout * len(ordered))))
    order = np.random.default_rng(seed).permutation(len(ordered))
    test = sorted(ordered[i] for i in order[:count])
    return ClassSplit(seed, holdout, sorted(set(ordered) - set(test)), test)


def sample(labelled: LabelledSet, limit: int | None, seed: int) -> LabelledSet:
    """At most `limit` images, drawn with a seed (all of them without a limit)."""
    if limit is None or limit >= len(labelled.paths):
        return labelled
    keep = np.sort(np.random.default_rng(seed).permutation(len(labelled.paths))[:limit])
    return labelled.subset(keep)
