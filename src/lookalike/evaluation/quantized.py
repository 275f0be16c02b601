"""Is an int8 model safe to use? Both precisions embed one labelled set; int8 must find what fp32 finds
(recall@10 of fp32's own top 10, leave-one-out) and score about the same N-S (mAP where the set is not
in groups of 4)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..embedders import Embedder
from ..errors import LookalikeError
from ..pipeline import PipelineOptions, embed_paths
from .evaluator import score_rankings
from .labelled import LabelledSet

K = 10


def neighbours(vectors: np.ndarray, k: int = K) -> np.ndarray:
    """Each row's top-k other rows by cosine (the row itself left out)."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def recall_against(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The mean share of each reference row's neighbours that the candidate row also holds."""
    hits = [len(set(a) & set(b)) / len(a) for a, b in zip(reference, candidate, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def measure_int8(labelled: LabelledSet, fp32: Embedder, int8: Embedder,
                 options: PipelineOptions | None = None) -> dict[str, Any]:
    """recall@10 of int8 against fp32's answers, each precision's N-S (or mAP) and images/s."""
    timed = {}
    results = {}
    for label, embedder in (("fp32", fp32), ("int8", int8)):
        started = time.perf_counter()
        results[label] = embed_paths(embedder, labelled.paths, options)
        timed[label] = len(results[label].paths) / max(time.perf_counter() - started, 1e-9)
    if results["fp32"].paths != results["int8"].paths or len(results["fp32"].paths) <= K:
        raise LookalikeError(f"the int8 measurement needs more than {K} images that both precisions read")
    by_path = dict(zip(labelled.paths, labelled.labels, strict=True))
    labels = [by_path[path] for path in results["fp32"].paths]
    scores = {label: score_rankings(result.vectors, labels) for label, result in results.items()}
    metric = "ns" if "ns" in scores["fp32"] else "map"
    return {
        "set": str(labelled.root), "images": len(labels), "metric": metric,
        "recall_vs_fp32": round(recall_against(neighbours(results["fp32"].vectors),
                                               neighbours(results["int8"].vectors)), 4),
        "ns_fp32": round(scores["fp32"][metric], 4), "ns_int8": round(scores["int8"][metric], 4),
        "images_per_s_fp32": round(timed["fp32"], 1), "images_per_s_int8": round(timed["int8"], 1),
    }
