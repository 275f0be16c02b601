"""The Ray Data actor that holds one model: it decodes its batch's files (threads, as the local
pipeline does) and embeds them, and returns every row with its vector or its failure reason."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


class EmbedActor:
    """A callable class for `Dataset.map_batches`: built once per actor, then called per batch."""

    def __init__(self, model: str, root: str, spec: dict[str, Any], embed_options: dict[str, Any],
                 batch_size: int | None, workers: int, max_pixels: int | None, threads: int) -> None:
        from ..embedders import EmbeddingSpec, create_embedder
        from ..pipeline import Pipeline, PipelineOptions

        self.embedder = create_embedder(model, **embed_options)
        if threads > 0 and "torch" in __import__("sys").modules:
            import torch

            torch.set_num_threads(threads)
        EmbeddingSpec.from_dict(spec).check_compatible(self.embedder.spec, f"the library's model {model}")
        self.root = Path(root)
        self.pipeline = Pipeline(self.embedder, PipelineOptions(batch_size=batch_size, workers=workers,
                                                                max_pixels=max_pixels))

    def __call__(self, batch: Any) -> Any:
        """A `pyarrow.Table` of files in (path_bytes, hash, size, mtime_ns, ctime_ns), the same rows
        out with path, width, height, error and vector added."""
        import pyarrow as pa

        raw = [bytes(b) for b in batch.column("path_bytes").to_pylist()]
        paths = [self.root / os.fsdecode(b) for b in raw]
        where = {path: row for row, path in enumerate(paths)}
        dim = self.embedder.spec.dim
        vectors = np.zeros((len(paths), dim), np.float32)
        widths: list[int | None] = [None] * len(paths)
        heights: list[int | None] = [None] * len(paths)
        errors: list[str | None] = [None] * len(paths)
        done_rows: set[int] = set()
        for done in self.pipeline.iter_batches(paths):
            for path, vector, size in zip(done.paths, done.vectors, done.sizes, strict=True):
                row = where[path]
                if row in done_rows:  # a video's later frames: a shard row holds its first frame only
                    continue
                done_rows.add(row)
                vectors[row] = vector
                widths[row], heights[row] = size
            for failure in done.failures:
                errors[where[Path(failure.path or "")]] = str(failure.reason)
        texts = [b.decode("utf-8", "replace") for b in raw]
        return batch.append_column("path", pa.array(texts, pa.string())) \
            .append_column("width", pa.array(widths, pa.int32())) \
            .append_column("height", pa.array(heights, pa.int32())) \
            .append_column("error", pa.array(errors, pa.string())) \
            .append_column("vector", pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim))
