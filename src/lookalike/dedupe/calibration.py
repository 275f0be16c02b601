"""Thresholds from labelled pairs: the F1-maximising threshold for a user's own pairs, and a
model's duplicate thresholds (a recall-oriented candidate threshold and an accept threshold above
which no check is needed) from an edited-copy set."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LookalikeError

SAME_LABELS = {"same", "duplicate", "1", "true", "yes"}
DIFFERENT_LABELS = {"different", "distinct", "0", "false", "no"}


@dataclass(frozen=True)
class Calibration:
    """A threshold and how labelled pairs fare at it (scores >= threshold count as duplicates)."""

    threshold: float
    precision: float
    recall: float
    f1: float
    pairs: int


def best_f1_threshold(scores: np.ndarray, same: np.ndarray) -> Calibration:
    """The threshold (one of the scores) that maximises F1; ties go to the higher threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if len(scores) == 0 or not same.any():
        raise LookalikeError("calibration needs at least one pair labelled 'same'")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], same[order]
    true_pos = np.cumsum(hits)
    predicted = np.arange(1, len(ranked) + 1)
    # a threshold equal to ranked[p] admits every pair with that score: use the last position of a tie
    last = np.r_[ranked[1:] != ranked[:-1], True]
    true_pos, predicted, candidates = true_pos[last], predicted[last], ranked[last]
    precision = true_pos / predicted
    recall = true_pos / hits.sum()
    f1 = np.where(true_pos > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best = int(np.flatnonzero(f1 == f1.max())[0])
    return Calibration(float(candidates[best]), float(precision[best]), float(recall[best]), float(f1[best]),
                       len(scores))


def read_pairs(csv_path: Path) -> tuple[list[tuple[Path, Path]], np.ndarray]:
    """(a, b) paths (relative ones resolved against the CSV's folder) and whether each pair is the same."""
    if not csv_path.is_file():
        raise LookalikeError(f"{csv_path}: no such pairs file")
    pairs: list[tuple[Path, Path]] = []
    labels: list[bool] = []
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        for number, row in enumerate(reader, 1):
            if not row or (number == 1 and row[0].strip().lower() in {"a", "path_a", "image_a"}):
                continue
            if len(row) < 3:
                raise LookalikeError(f"{csv_path}:{number}: expected three columns a,b,same|different")
            label = row[2].strip().lower()
            if label not in SAME_LABELS | DIFFERENT_LABELS:
                raise LookalikeError(f"{csv_path}:{number}: label '{row[2]}' is neither 'same' nor 'different'")
            a, b = (Path(value.strip()) for value in row[:2])
            pairs.append((a if a.is_absolute() else csv_path.parent / a, b if b.is_absolute() else csv_path.parent / b))
            labels.append(label in SAME_LABELS)
    if not pairs:
        raise LookalikeError(f"{csv_path}: no pairs")
    return pairs, np.asarray(labels)


@dataclass(frozen=True)
class DuplicateThresholds:
    """A model's measured duplicate thresholds and how they were measured."""

    candidate: float
    accept: float
    candidate_recall: float
    negatives_above_accept: int


def duplicate_thresholds(scores: np.ndarray, same: np.ndarray, recall: float = 0.98,
                         margin: float = 0.02) -> DuplicateThresholds:
    """candidate: the highest threshold that keeps `recall` of the same pairs, less `margin`;
    accept: `margin` above the best-scoring different pair (no negative is accepted unchecked)."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    positives = np.sort(scores[same])[::-1]
    negatives = scores[~same]
    keep = max(1, int(np.ceil(recall * len(positives))))
    candidate = float(positives[keep - 1]) - margin
    accept = min(1.0, float(negatives.max(initial=-1.0)) + margin)
    return DuplicateThresholds(round(candidate, 3), round(max(accept, candidate), 3),
                               float((positives >= candidate).mean()), int((negatives >= accept).sum()))
