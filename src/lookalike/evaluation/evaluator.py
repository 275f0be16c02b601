"""Evaluate embedders on a labelled image set: every image queries all the others (leave-one-out),
rankings are scored with `metrics`, and throughput is measured in the same run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..embedders import Embedder, create_embedder
from ..embedders.classical import Reranker
from ..errors import LookalikeError
from ..pipeline import EmbedResult, PipelineOptions, embed_paths
from . import metrics
from .labelled import LabelledSet

KS = (1, 5, 10)
_BLOCK = 512


@dataclass
class EvalResult:
    """One model's scores on one labelled set."""

    model: str
    images: int
    scores: dict[str, float]
    images_per_s: float
    seconds: float
    skipped: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON shape: model, precision@k, recall@k, map, allmatch@k, ns (groups of 4), images_per_s."""
        return {"model": self.model, **{k: round(v, 4) for k, v in self.scores.items()},
                "images": self.images, "images_per_s": round(self.images_per_s, 1)}


def _rerank(order: np.ndarray, queries: np.ndarray, reranker: Reranker, features: Sequence[Any]) -> np.ndarray:
    """Reorder each row's first `rerank_depth` candidates by the pairwise score."""
    depth = min(reranker.rerank_depth, order.shape[1])
    reordered = order.copy()
    for row, query in enumerate(queries):
        head = order[row, :depth]
        pair_scores = np.array([reranker.pair_score(features[query], features[c]) for c in head])
        reordered[row, :depth] = head[np.argsort(-pair_scores, kind="stable")]
    return reordered


def score_rankings(vectors: np.ndarray, labels: Sequence[str], reranker: Reranker | None = None,
                   features: Sequence[Any] | None = None) -> dict[str, float]:
    """Leave-one-out retrieval scores of `vectors` against their own labels."""
    label_array = np.asarray(labels)
    n = len(label_array)
    if n < 2:
        raise LookalikeError("evaluation needs at least two labelled images")
    _, inverse, counts = np.unique(label_array, return_inverse=True, return_counts=True)
    n_relevant = counts[inverse] - 1
    top_rows: list[np.ndarray] = []
    average_precisions: list[float] = []
    for start in range(0, n, _BLOCK):
        queries = np.arange(start, min(start + _BLOCK, n))
        scores = vectors[queries] @ vectors.T
        scores[np.arange(len(queries)), queries] = -np.inf  # leave the query itself out
        order = metrics.rank_by_scores(scores)[:, : n - 1]
        if reranker is not None and features is not None:
            order = _rerank(order, queries, reranker, features)
        relevant = metrics.relevance(label_array[queries], label_array[order])
        top_rows.append(relevant[:, : max(KS)])
        average_precisions.extend(
            metrics.average_precision(row, int(count)) for row, count in zip(relevant, n_relevant[queries],
                                                                                strict=True))
    top = np.vstack(top_rows)
    result: dict[str, float] = {}
    for k in KS:
        result[f"precision@{k}"] = metrics.precision_at_k(top, k)
    for k in KS:
        result[f"recall@{k}"] = metrics.recall_at_k(top, n_relevant, k)
    has = n_relevant > 0
    result["map"] = float(np.mean(np.asarray(average_precisions)[has])) if has.any() else 0.0
    for k in KS:
        result[f"allmatch@{k}"] = metrics.allmatch_at_k(top, k)
    if np.all(counts == 4):
        result["ns"] = metrics.ukbench_ns(top)
    return result


THROUGHPUT_SAMPLE = 64  # images timed when the vectors come from an existing library


def _stored(root: Path, embedder: Embedder, options: PipelineOptions | None,
            home: Path | None) -> EmbedResult | None:
    """The folder's vectors from its library for this model (brought up to date where it can be
    written), or None when it has none."""
    from ..store.folders import open_folder
    from ..store.layout import folder_library

    if not folder_library(root, embedder.spec.model, home).exists():
        return None
    store = open_folder(root, embedder, options, home)
    try:
        found = store.snapshot()
    finally:
        store.close()
    return EmbedResult(found.paths, found.vectors, found.failures)


def _embed_labelled(labelled: LabelledSet, embedder: Embedder, options: PipelineOptions | None,
                    home: Path | None = None) -> tuple[EmbedResult, float]:
    """The set's vectors and the images/s of producing them: reused from the folder's library for
    this model when there is one (then a sample is embedded afresh to time the model), else embedded."""
    stored = _stored(labelled.root, embedder, options, home)
    if stored is None:
        started = time.perf_counter()
        embedded = embed_paths(embedder, labelled.paths, options)
        return embedded, len(embedded.paths) / max(time.perf_counter() - started, 1e-9)
    stored_paths, stored_vectors, failures = stored.paths, stored.vectors, stored.failures
    by_path = {path.resolve(): vector for path, vector in zip(stored_paths, stored_vectors, strict=True)}
    wanted = [path.resolve() for path in labelled.paths]
    kept = [(original, by_path[path]) for original, path in zip(labelled.paths, wanted, strict=True)
            if path in by_path]
    vectors = np.stack([v for _, v in kept]) if kept else np.zeros((0, embedder.spec.dim), np.float32)
    sample_paths = labelled.paths[:THROUGHPUT_SAMPLE]
    started = time.perf_counter()
    timed = embed_paths(embedder, sample_paths, options)
    rate = len(timed.paths) / max(time.perf_counter() - started, 1e-9)
    return EmbedResult([p for p, _ in kept], vectors, failures), rate


def evaluate_model(labelled: LabelledSet, model: str | Embedder, options: PipelineOptions | None = None,
                   home: Path | None = None, **embed_options: Any) -> EvalResult:
    """Embed the set with `model` (timed: decode + model, plus pairwise reranking where the method
    has it) and score leave-one-out retrieval."""
    embedder = model if isinstance(model, Embedder) else create_embedder(model, **embed_options)
    started = time.perf_counter()
    embedded, embed_rate = _embed_labelled(labelled, embedder, options, home)
    keep = {path: i for i, path in enumerate(labelled.paths)}
    labels = [labelled.labels[keep[path]] for path in embedded.paths]
    reranker = embedder if isinstance(embedder, Reranker) else None
    rerank_started = time.perf_counter()
    features = [reranker.pairwise_features(path) for path in embedded.paths] if reranker else None
    scores = score_rankings(embedded.vectors, labels, reranker, features)
    rerank_seconds = time.perf_counter() - rerank_started if reranker else 0.0
    count = len(embedded.paths)
    per_image = 1.0 / embed_rate + (rerank_seconds / count if count else 0.0)
    return EvalResult(
        model=embedder.spec.model, images=count, scores=scores, images_per_s=1.0 / per_image,
        seconds=time.perf_counter() - started, skipped=[str(f) for f in embedded.failures],
    )


def evaluate(labelled: LabelledSet, models: Sequence[str | Embedder], options: PipelineOptions | None = None,
             home: Path | None = None, **embed_options: Any) -> list[EvalResult]:
    """`evaluate_model` for each model, in order (`home`: where folders' libraries live, settings.home)."""
    return [evaluate_model(labelled, model, options, home, **embed_options) for model in models]


def result_rows(results: Sequence[EvalResult]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows for the output formats (one row per model)."""
    records = [r.record() for r in results]
    columns = ["model"] + [k for k in records[0] if k not in ("model", "images", "images_per_s")] + \
        ["images", "images_per_s"]
    rows = [[record.get(c, "") for c in columns] for record in records]
    for row in rows:  # throughput reads better without four decimals
        row[-1] = f"{row[-1]:.1f}"
    return columns, rows


def default_split_path(seed: int) -> Path:
    return Path(f"lookalike-split-seed{seed}.json")
