"""The service's verbs about models: the registry, evaluation on labelled folders, index benchmarks,
training similarity heads, and maps of the embedding space."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..embedders import DEFAULT_MODEL, ModelInfo, list_models
from ..errors import LookalikeError
from ..pipeline import Progress
from ..types import Source
from .core import ServiceCore

if TYPE_CHECKING:  # the heavy parts (torch, plotting) load only when a verb needs them
    from ..evaluation.evaluator import EvalResult
    from ..evaluation.index_bench import BenchRow
    from ..training.run import TrainOutcome
    from ..training.trainer import EpochReport, TrainConfig


@dataclass
class EvalOutcome:
    """Each model's scores, and what the run noted on the way (the class split used)."""

    results: list[EvalResult]
    notes: list[str] = field(default_factory=list)

    def table(self) -> tuple[list[str], list[list[object]]]:
        """Columns and one row per model, for the output formats."""
        from ..evaluation.evaluator import result_rows

        return result_rows(self.results)


@dataclass
class MapOutcome:
    written: Path
    images: int


class LearningVerbs(ServiceCore):
    """models, evaluate, bench_index, train, map."""

    def models(self) -> list[ModelInfo]:
        """The models lookalike knows (registry), with dimensions, text support and availability."""
        return list(list_models())

    def evaluate(self, folder: Path, models: list[str] | None = None, labels: Path | None = None,
                 limit: int | None = None, seed: int = 0, unseen: float | None = None, split: Path | None = None,
                 progress: Progress | None = None) -> EvalOutcome:
        """Retrieval quality and speed of each model on a labelled folder (leave-one-out); `unseen`:
        only a held-out share of the classes is queried (the split is kept in `split`)."""
        from ..evaluation.evaluator import default_split_path, evaluate
        from ..evaluation.labelled import ClassSplit, load_labelled, sample, split_classes

        labelled = load_labelled(folder, labels)
        notes = []
        if unseen is not None:
            split_path = split or default_split_path(seed)
            if split_path.exists():
                chosen = ClassSplit.load(split_path)
            else:
                chosen = split_classes(labelled.classes(), unseen, seed)
                chosen.save(split_path)
                notes.append(f"wrote the class split to {split_path}")
            held_out = set(chosen.test)
            labelled = labelled.subset([i for i, label in enumerate(labelled.labels) if label in held_out])
            notes.append(f"unseen classes: {', '.join(chosen.test)} ({len(labelled.paths)} images)")
        labelled = sample(labelled, limit, seed)
        names = models or [self.model_for(folder, None)]
        results = evaluate(labelled, [self.embedder(name) for name in names], self.pipeline_options(progress),
                           home=self.settings.home)
        return EvalOutcome(results, notes)

    def bench_index(self, sizes: list[int], dim: int = 768, vectors: Path | None = None, queries: int = 200,
                    seed: int = 0, note: Callable[[str], None] | None = None) -> list[BenchRow]:
        """Brute force vs FAISS Flat, IVF and HNSW at each size (synthetic clustered vectors, or samples
        of real ones): build time, size, latency, batch QPS and recall@10."""
        from ..evaluation.index_bench import bench_size, load_vectors
        from ..evaluation.synthetic import clustered_vectors

        real = load_vectors(vectors) if vectors is not None else None
        rows: list[BenchRow] = []
        for count in sizes:
            if real is not None:
                if count > len(real):
                    if note:
                        note(f"skipped N={count}: only {len(real)} vectors in {vectors}")
                    continue
                rng = np.random.default_rng(seed)
                base = real[rng.permutation(len(real))[:count]]
                query = base[rng.permutation(count)[: min(queries, count)]]
            else:
                base, query = clustered_vectors(count, dim, queries=queries, seed=seed)
            rows.extend(bench_size(base, query))
            if note:
                note(f"done N={count:,}")
        if not rows:
            raise LookalikeError("no size could be benchmarked")
        return rows

    def train(self, folder: Path, out: Path, config: TrainConfig, base: str | None = None,
              labels: Path | None = None, library: Path | None = None, with_text: float | None = None,
              finetune_last: int = 0, progress: Progress | None = None,
              epochs: Callable[[EpochReport], None] | None = None) -> tuple[TrainOutcome, str]:
        """Train a projection head (or the autoencoder) on a labelled folder; returns it and the base
        model it was trained on."""
        from ..embedders.headfile import is_head_name
        from ..training.run import train_folder

        chosen = self.model_for(folder, base, library)
        if base is None and is_head_name(chosen):  # the folder's only library is a head's: not a base
            chosen = self.settings.model or DEFAULT_MODEL
        outcome = train_folder(folder, out, base=chosen, labels_csv=labels, config=config, library=library,
                               home=self.settings.home, with_text=with_text, finetune_last=finetune_last,
                               options=self.pipeline_options(progress), progress=epochs,
                               **{**self.settings.embed_options(), "backend": "torch"})  # training: torch
        return outcome, chosen

    def quantize(self, folder: Path, model: str | None = None, labels: Path | None = None,
                 progress: Progress | None = None) -> dict[str, object]:
        """Make `model`'s int8 ONNX export and measure it against fp32 on a labelled folder; it is used
        (with precision int8) only when the measurement passes. Returns the stored record."""
        from ..embedders import create_embedder
        from ..embedders.onnx_runtime import OnnxEmbedder
        from ..embedders.quantize import make_int8, record_measurement
        from ..evaluation.labelled import load_labelled
        from ..evaluation.quantized import measure_int8

        name = model or self.settings.model or DEFAULT_MODEL
        labelled = load_labelled(folder, labels)
        fp32 = create_embedder(name, backend="onnx", precision="fp32", cache_dir=self.settings.model_cache)
        if not isinstance(fp32, OnnxEmbedder):
            raise LookalikeError(f"model '{name}' has no ONNX export to quantise")
        int8 = make_int8(name, fp32, self.settings.model_cache)
        measured = measure_int8(labelled, fp32, int8, self.pipeline_options(progress))
        return {"model": name, **record_measurement(int8, measured)}

    def map(self, target: Source, out: Path, method: str = "pca", dims: int = 2, labels: Path | None = None,
            clusters: int = 8, thumbnails: int | None = None, seed: int = 0,
            progress: Progress | None = None) -> MapOutcome:
        """A map of the images (a folder, embedded when it has no library, or a library): similar
        images land close together; coloured by `labels` or by k-means clusters."""
        from ..viz.maps import write_map
        from ..viz.projection import require_umap

        if method == "umap":
            require_umap()
        store = self.store(target, progress)
        found = store.snapshot()
        if len(found) < 2:
            raise LookalikeError(f"{len(found)} image(s); a map needs at least 2", path=store.root)
        chosen = _labels_for(found.paths, store.root, labels) if labels is not None else None
        written = write_map(found.paths, found.vectors, out, method=method, dims=dims, labels=chosen,
                            clusters=clusters, seed=seed, title=f"{store.root.name} ({found.spec.model})",
                            root=store.root, thumbnails=thumbnails)
        return MapOutcome(written, len(found))


def _labels_for(paths: list[Path], root: Path, labels_csv: Path) -> list[str]:
    from ..evaluation.labelled import load_labelled

    labelled = load_labelled(root, labels_csv)
    by_path = {path.resolve(): label for path, label in zip(labelled.paths, labelled.labels, strict=True)}
    return [by_path.get(path.resolve(), "unlabelled") for path in paths]
