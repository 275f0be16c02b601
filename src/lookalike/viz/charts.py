"""Charts of evaluation results (matplotlib, imported only when drawing)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError, LookalikeError, display_path
from ..extras import require

if TYPE_CHECKING:
    from ..evaluation.index_bench import BenchRow

_AT_K = re.compile(r"^precision@(\d+)$")


def precision_curves(scores: Mapping[str, Mapping[str, float]], out: str | os.PathLike[str],
                     title: str = "Retrieval precision@k") -> Path:
    """A PNG with one precision@k curve per model; `scores` maps a model to its metrics (the keys
    "precision@K" are plotted, K on the x axis). Returns the file written."""
    target = Path(out)
    if target.suffix.lower() != ".png":
        raise InvalidArgumentError("the plot is a PNG file; give a name ending in .png", path=target)
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"the folder {display_path(target.parent)} does not exist", path=target)
    curves: dict[str, list[tuple[int, float]]] = {}
    for model, metrics in scores.items():
        points = sorted((int(m.group(1)), float(v)) for key, v in metrics.items() if (m := _AT_K.match(key)))
        if points:
            curves[model] = points
    if not curves:
        raise LookalikeError("no precision@k scores to plot")
    matplotlib = require("matplotlib", "viz", "a plot")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for model, points in curves.items():
        axis.plot([k for k, _ in points], [v for _, v in points], marker="o", label=model)
    ks: Sequence[int] = sorted({k for points in curves.values() for k, _ in points})
    axis.set_xticks(list(ks))
    axis.set_xlabel("k (results looked at)")
    axis.set_ylabel("precision@k (share of relevant results)")
    axis.set_ylim(0, 1.02)
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=9)
    figure.tight_layout()
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def plot_recall_latency(rows: Sequence[BenchRow], out: Path) -> Path:
    """A PNG of recall@k against p50 latency, one panel per size, one marker series per method."""
    matplotlib = require("matplotlib", "viz", "the recall-latency plot")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r.size for r in rows})
    figure, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False)
    for axis, size in zip(axes[0], sizes, strict=True):
        for method in dict.fromkeys(r.method for r in rows):
            points = [r for r in rows if r.size == size and r.method == method]
            axis.plot([p.p50_ms for p in points], [p.recall for p in points], marker="o", label=method)
        axis.set_xscale("log")
        axis.set_xlabel("p50 latency per query (ms, log)")
        axis.set_ylabel("recall@10 vs exact")
        axis.set_title(f"N = {size:,}")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
