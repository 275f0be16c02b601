"""Metric-learning losses on L2-normalised embeddings with integer class labels.

- `triplet`: batch-hard mining (each anchor's farthest positive and closest negative), margin.
- `contrastive`: every pair in the batch; positives pulled together, negatives pushed beyond a margin.
- `supcon`: supervised contrastive (Khosla et al. 2020), temperature-scaled.
- `arcface`: additive angular margin on learned class centres (Deng et al. 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError

LOSSES = ("triplet", "contrastive", "supcon", "arcface")


@dataclass(frozen=True)
class LossOptions:
    """Hyper-parameters of the losses (each loss reads its own)."""

    triplet_margin: float = 0.2
    contrastive_margin: float = 0.5
    temperature: float = 0.1
    arcface_scale: float = 30.0
    arcface_margin: float = 0.3


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def batch_hard_triplet(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over anchors of relu(d(hardest positive) - d(hardest negative) + margin)."""
    distance = torch.cdist(z, z).clamp_min(0)
    positive, negative = _masks(labels)
    has = positive.any(1) & negative.any(1)
    if not has.any():
        return z.sum() * 0
    hardest_positive = (distance * positive).max(1).values
    hardest_negative = distance.masked_fill(~negative, float("inf")).min(1).values
    return F.relu(hardest_positive - hardest_negative + margin)[has].mean()


def contrastive(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Hadsell et al. 2006 over all pairs: d^2 for positives, relu(margin - d)^2 for negatives,
    the two halves averaged separately so the many negatives do not drown the few positives."""
    distance = torch.cdist(z, z).clamp_min(1e-9)
    positive, negative = _masks(labels)
    pull = (distance[positive] ** 2).mean() if positive.any() else z.sum() * 0
    push = (F.relu(margin - distance[negative]) ** 2).mean() if negative.any() else z.sum() * 0
    return pull + push


def supcon(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """For each anchor, the mean log-probability of its positives among all other batch items."""
    positive, _ = _masks(labels)
    logits = z @ z.T / temperature
    eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    counts = positive.sum(1)
    has = counts > 0
    if not has.any():
        return z.sum() * 0
    mean_positive = log_prob.masked_fill(~positive, 0).sum(1)[has] / counts[has]
    return -mean_positive.mean()


class ArcFace(torch.nn.Module):
    """Class centres on the sphere; logits cos(theta + m) for the true class, scaled by s."""

    def __init__(self, dim: int, classes: int, scale: float, margin: float) -> None:
        super().__init__()
        self.centres = torch.nn.Parameter(torch.randn(classes, dim) / math.sqrt(dim))
        self.scale, self.margin = scale, margin

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = z @ F.normalize(self.centres, dim=1).T
        theta = torch.acos(cosine.clamp(-1 + 1e-6, 1 - 1e-6))
        target = torch.cos(theta + self.margin)
        one_hot = F.one_hot(labels, cosine.shape[1]).bool()
        logits = torch.where(one_hot, target, cosine) * self.scale
        return F.cross_entropy(logits, labels)


class MetricLoss(torch.nn.Module):
    """One of `LOSSES` as a module (ArcFace has trainable class centres)."""

    def __init__(self, name: str, dim: int, classes: int, options: LossOptions | None = None) -> None:
        super().__init__()
        if name not in LOSSES:
            raise InvalidArgumentError(f"loss must be one of {', '.join(LOSSES)}, not '{name}'", argument="loss")
        self.name = name
        self.options = options or LossOptions()
        self.arcface = ArcFace(dim, classes, self.options.arcface_scale, self.options.arcface_margin) \
            if name == "arcface" else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.arcface is not None:
            return self.arcface(z, labels)
        if self.name == "triplet":
            return batch_hard_triplet(z, labels, self.options.triplet_margin)
        if self.name == "contrastive":
            return contrastive(z, labels, self.options.contrastive_margin)
        return supcon(z, labels, self.options.temperature)
